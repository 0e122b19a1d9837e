"""What a new user hits (issue #24): implausible inputs and results are warned about, failed arms
and raising user models are one clear line, ``simulate`` refuses what cannot fit in memory.

Every command runs as a user runs it: ``python -m tumorimmune`` in a temporary directory (the
user's models in it), with the shell's environment."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from tumorimmune.model import PEMBROLIZUMAB, Regimen, two_compartment_bolus

QUICKSTART = Path(__file__).parents[2] / "examples" / "quickstart.toml"

MODELS = '''
from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import ArrayLike, Float
from tumorimmune.model import Model, parameter


class Boom(Model):
    """A vector field that raises."""

    r: Float[ArrayLike, "*N"] = parameter(0.01, unit="1/day", description="growth rate")
    state_names: ClassVar[tuple[str, ...]] = ("E", "T")

    def vector_field(self, t, y, args):
        raise ZeroDivisionError("rate table is empty")


class Nan(Model):
    """Growth rate NaN (a failed solve) where r > 0.02."""

    r: Float[ArrayLike, "*N"] = parameter(0.01, unit="1/day", description="growth rate")
    state_names: ClassVar[tuple[str, ...]] = ("E", "T")

    def vector_field(self, t, y, args):
        r = jnp.where(self.r > 0.02, jnp.nan, self.r)
        return jnp.stack([0.0 * y[0], r * y[1]])


class Runaway(Model):
    """Exponential tumor and effectors, capacity 1e11 cells (ignored by the dynamics)."""

    r: Float[ArrayLike, "*N"] = parameter(0.05, unit="1/day", description="tumor growth")
    q: Float[ArrayLike, "*N"] = parameter(0.2, unit="1/day", description="effector growth")
    state_names: ClassVar[tuple[str, ...]] = ("E", "T")

    def vector_field(self, t, y, args):
        return jnp.stack([self.q * y[0], self.r * y[1]])

    def carrying_capacity(self):
        return 1e11
'''


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tumorimmune", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _quickstart(tmp_path: Path, name: str, *, t0: str = "2e10", arms: str = "") -> Path:
    """The quickstart example, 4 patients, 84 days, with its baseline tumor and arms."""
    text = QUICKSTART.read_text().split("[[arms]]")[0]
    text = re.sub(r"(?m)^T0 = 2e10", f"T0 = {t0}", text)
    text = re.sub(r"(?m)^cohort_size = 200", "cohort_size = 4", text)
    text = re.sub(r"(?m)^chunk_size = 200", "chunk_size = 4", text)
    text = re.sub(r"(?m)^follow_up_days = 365", "follow_up_days = 84", text)
    text = re.sub(r"(?m)^n_trajectories = 8", "n_trajectories = 2", text)
    path = tmp_path / f"{name}.toml"
    path.write_text(text + '[[arms]]\nname = "untreated"\n' + arms)
    return path


def _peak(dose_mg: float, interval: float, follow_up: float) -> float:
    """Closed-form concentration (µg/mL) right after the last dose, typical patient."""
    days = Regimen(dose=dose_mg, interval=interval).dose_times(0.0, follow_up)
    pk = {k: getattr(PEMBROLIZUMAB, k) for k in ("CL", "V1", "Q", "V2")}
    return float(two_compartment_bolus([days[-1]], days, np.full(days.size, dose_mg), **pk)[0])


def _warnings(stderr: str) -> list[str]:
    return [x for x in stderr.splitlines() if x.startswith("warning: ")]


def test_validate_warns_about_a_baseline_above_capacity(tmp_path):
    spec = _quickstart(tmp_path, "big", t0="1e14")
    res = _cli(tmp_path, "validate", spec.name)
    assert res.returncode == 0, res.stderr
    (line,) = [w for w in _warnings(res.stderr) if "initial.T0" in w]
    # quickstart: b = 2e-11, capacity 1/b = 5e10 cells
    assert "1e+14 cells" in line and "carrying capacity 5e+10 cells" in line, line
    ok = _cli(tmp_path, "validate", _quickstart(tmp_path, "fine").name)
    assert ok.returncode == 0 and not _warnings(ok.stderr), ok.stderr


@pytest.mark.parametrize(
    ("arm", "dose_mg", "interval", "follow_up"),
    [
        ('dose = 200.0\nunit = "mg/kg"\ninterval = 21\n', 200 * 76.8, 21.0, 84.0),
        ("dose = 200.0\ninterval = 0.001\n", 200.0, 0.001, 28.0),
    ],
)
def test_validate_warns_about_exposures_far_above_the_clinic(
    tmp_path, arm, dose_mg, interval, follow_up
):
    spec = _quickstart(tmp_path, "dose", arms=f'[[arms]]\nname = "absurd"\n{arm}')
    text = spec.read_text().replace("follow_up_days = 84", f"follow_up_days = {follow_up:g}")
    spec.write_text(text.replace("scan_interval_days = 42", "scan_interval_days = 14"))
    res = _cli(tmp_path, "validate", spec.name)
    assert res.returncode == 0, res.stderr
    (line,) = _warnings(res.stderr)
    assert line.startswith("warning: arms[1] ('absurd'): peak pembrolizumab concentration "), line
    assert f"{_peak(dose_mg, interval, follow_up):,.0f} µg/mL" in line, line
    # the bound: the highest studied regimen, 10 mg/kg q2w, at steady state
    assert "10 mg/kg q2w: 409 µg/mL" in line, line


def test_run_warns_at_start_stores_and_reports_the_warnings(tmp_path):
    arms = '[[arms]]\nname = "absurd"\ndose = 200.0\nunit = "mg/kg"\ninterval = 21\n'
    spec = _quickstart(tmp_path, "both", t0="1e14", arms=arms)
    res = _cli(tmp_path, "run", spec.name, "--out", "out")
    assert res.returncode == 0, res.stderr
    said = _warnings(res.stderr)
    assert any("initial.T0" in w for w in said) and any("arms[1]" in w for w in said), said
    # printed before the run starts (the progress and the table come after)
    assert res.stderr.index("warning: initial.T0") < res.stderr.index("warning: arms[1]")
    stored = json.loads(
        str(zarr.open_group(str(tmp_path / "out" / "results.zarr")).attrs["warnings"])
    )
    assert [f"warning: {w}" for w in stored][:2] == said[:2]
    peak = f"{_peak(200 * 76.8, 21.0, 84.0):,.0f} µg/mL"
    for html in ("out/report.html", "again.html"):
        if html == "again.html":  # `tumorimmune report` repeats them from the store
            rep = _cli(tmp_path, "report", "out/results.zarr", "-o", html)
            assert rep.returncode == 0, rep.stderr
        page = (tmp_path / html).read_text(encoding="utf-8")
        box = page[
            page.index('id="warnings"') : page.index("</aside>", page.index('id="warnings"'))
        ]
        assert "baseline tumor 1e+14 cells is above the carrying capacity" in box
        assert peak in box
        # said once, in the box (not again as a raw attribute in the metadata table)
        assert page.count("baseline tumor 1e+14 cells is above the carrying capacity") == 1


def test_runaway_states_are_warned_after_the_run_and_reported(tmp_path):
    (tmp_path / "my_models.py").write_text(MODELS)
    (tmp_path / "run.toml").write_text(
        'name = "runaway"\nmodel = "my_models:Runaway"\nfollow_up_days = 84.0\n'
        "n_trajectories = 2\n[initial]\nT0 = 5e10\n[sampling]\ncohort_size = 2\n"
        '[[arms]]\nname = "untreated"\n'
    )
    before = _cli(tmp_path, "validate", "run.toml")
    assert before.returncode == 0 and not _warnings(before.stderr), before.stderr
    res = _cli(tmp_path, "run", "run.toml", "--out", "out")
    assert res.returncode == 0, res.stderr
    said = _warnings(res.stderr)
    # T = 5e10·e^(0.05·84) = 3.3e12 > 2 × 1e11; E = 3.2e5·e^(0.2·84) = 6.3e12 > 1e12
    assert any("2 of 2 patients have a tumor above 2× the carrying capacity" in w for w in said)
    assert any("2 of 2 stored trajectories have effectors above 1e+12" in w for w in said)
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert 'id="warnings"' in page and "stored trajectories have effectors above" in page


def _failing_spec(tmp_path: Path, name: str, extra: str, n: int) -> str:
    (tmp_path / "my_models.py").write_text(MODELS)
    (tmp_path / f"{name}.toml").write_text(
        f'name = "{name}"\nmodel = "my_models:Nan"\nfollow_up_days = 84.0\n{extra}'
        f'[initial]\nT0 = 2e10\n[sampling]\ncohort_size = {n}\n[[arms]]\nname = "untreated"\n'
    )
    return f"{name}.toml"


def test_an_arm_whose_every_patient_failed_exits_1_and_says_so(tmp_path):
    spec = _failing_spec(tmp_path, "nan", "[parameters]\nr = 0.03\n", 4)
    res = _cli(tmp_path, "run", spec, "--out", "out", "--no-report")
    assert res.returncode == 1, res.stdout + res.stderr
    (row,) = [x for x in res.stdout.splitlines() if x.strip().startswith("untreated")]
    assert "all 4 failed" in row and "NR" not in row, row
    errors = [x for x in res.stderr.splitlines() if x.startswith("error: ")]
    assert errors == [
        "error: no result for arm 'untreated': all 4 patients failed (4 failed solves, status "
        "10); check the model's parameters or raise max_steps / loosen rtol"
    ], res.stderr
    assert (tmp_path / "out" / "results.zarr").is_dir()  # nothing lost


def test_some_failed_patients_are_a_warning_and_exit_0(tmp_path):
    extra = '[variability.r]\ndist = "uniform"\nlow = 0.01\nhigh = 0.03\n'
    res = _cli(tmp_path, "run", _failing_spec(tmp_path, "half", extra, 8), "--out", "out")
    assert res.returncode == 0, res.stderr
    ds = xr.open_zarr(tmp_path / "out" / "results.zarr")
    bad = int(np.sum(ds["status"].values != 0))
    assert 0 < bad < 8
    assert (
        f"warning: {bad} of 8 patients of arm 'untreated' failed and are left out of its rates "
        f"({bad} failed solves, status 10)" in res.stderr
    ), res.stderr


@pytest.mark.parametrize("command", ["run", "simulate"])
def test_a_raising_user_model_is_one_line(tmp_path, command):
    (tmp_path / "my_models.py").write_text(MODELS)
    (tmp_path / "boom.toml").write_text(
        'name = "boom"\nmodel = "my_models:Boom"\nfollow_up_days = 84.0\nn_trajectories = 0\n'
        '[sampling]\ncohort_size = 4\n[[arms]]\nname = "untreated"\n'
    )
    if command == "run":
        res = _cli(tmp_path, "run", "boom.toml", "--out", "out")
    else:
        res = _cli(tmp_path, "simulate", "--model", "my_models:Boom", "--days", "14")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) <= 3, res.stderr
    line = lines[-1]
    assert line.startswith("error: model my_models:Boom raised ZeroDivisionError: ")
    where = MODELS.splitlines().index('        raise ZeroDivisionError("rate table is empty")') + 1
    assert "rate table is empty" in line and f"(my_models.py:{where}, in vector_field)" in line


def test_simulate_refuses_what_does_not_fit_in_memory(tmp_path):
    res = _cli(tmp_path, "simulate", "--days", "1e9", "-o", "out.csv")
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    m = re.fullmatch(
        r"error: --days 1e\+09 needs about [\d.]+ GiB of memory \([\d,]+ output times every 7 "
        r"days\), more than the ([\d.]+) GiB this machine allows; use --days (\d+) or less",
        line,
    )
    assert m, line
    assert not (tmp_path / "out.csv").exists()
    from tumorimmune.cli._guards import simulate_memory_error
    from tumorimmune.model import TumorImmunePD1

    fits = float(m.group(2))
    assert simulate_memory_error(TumorImmunePD1, fits, 7.0) is None
    assert simulate_memory_error(TumorImmunePD1, 2 * fits, 7.0) is not None


def test_nikolopoulou_E0_is_cells_like_T0(tmp_path):
    res = _cli(tmp_path, "simulate", "--model", "Nikolopoulou2018", "--days", "7", "-o", "n.csv")
    assert res.returncode == 0, res.stderr
    first = (tmp_path / "n.csv").read_text().splitlines()[:2]
    row = dict(zip(first[0].split(","), first[1].split(","), strict=True))
    # 3.2e5 cells at 1e9 cells per g/cm³ (it was 3.2e5 g/cm³)
    assert float(row["Tc"]) == pytest.approx(3.2e-4, rel=1e-12)

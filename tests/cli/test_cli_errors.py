"""What a user hits on the command line: one-line errors instead of tracebacks, the
``simulate`` defaults and output, clean help. Each case failed before its fix."""

from __future__ import annotations

import functools

import pandas as pd
import pytest
from typer.testing import CliRunner

import tumorimmune
from tumorimmune.cli import app

from .test_run import SPEC

runner = CliRunner()


def _one_line_error(res, code: int = 2, *, alone: bool = True) -> str:
    """The result failed with ``code`` and ended with one ``error:`` line, no traceback
    (``alone``: nothing else was printed)."""
    assert res.exit_code == code, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert lines[-1].startswith("error: "), res.output
    assert not alone or len(lines) == 1, res.output
    assert "Traceback" not in res.output
    return lines[-1]


def test_simulate_model_without_drug_defaults_to_no_regimen():
    res = runner.invoke(app, ["simulate", "--model", "Kuznetsov1994", "--days", "14"])
    assert res.exit_code == 0, res.output
    assert "regimen: none" in res.output


def test_simulate_printout_has_units_and_includes_the_last_day():
    res = runner.invoke(app, ["simulate", "--days", "365"])
    assert res.exit_code == 0, res.output
    header = next(x for x in res.output.splitlines() if "[cells]" in x)
    assert "E [cells]" in header and "T [cells]" in header and "C [µg/mL]" in header
    assert res.output.splitlines()[-1].split()[0] == "365.0"


def test_simulate_writes_and_says_so(tmp_path):
    out = tmp_path / "t.csv"
    res = runner.invoke(app, ["simulate", "--days", "30", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert f"wrote {out}" in res.output
    assert list(pd.read_csv(out)["time"]) == [0, 7, 14, 21, 28, 30]


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--out", "{tmp}/x.json"], "unsupported format '.json'"),
        (["--out", "{tmp}"], "is a directory"),
        (["--out", "{tmp}/missing/x.csv"], "does not exist"),
        (["--regimen", "pembro"], "unknown regimen 'pembro'"),
        (["--model", "Gompertz"], "unknown model 'Gompertz'"),
        (["-p", "a=abc"], "--param a: 'abc' is not a number"),
        (["--days", "inf"], "--days"),
        (["--days", "-3"], "--days"),
        (["--model", "Kuznetsov1994", "--regimen", "pembrolizumab_200mg_q3w"], "no drug"),
    ],
)
def test_simulate_bad_input_is_one_line(tmp_path, args, expect):
    res = runner.invoke(app, ["simulate", *[a.format(tmp=tmp_path) for a in args]])
    assert expect in _one_line_error(res)
    assert not (tmp_path / "x.json").exists()


def test_simulate_failed_solve_exits_nonzero(monkeypatch):
    real = tumorimmune._simulate.simulate
    # the command imports simulate from its defining module (not the package root) on use
    monkeypatch.setattr(tumorimmune._simulate, "simulate", functools.partial(real, max_steps=2))
    res = runner.invoke(app, ["simulate", "--days", "14"])
    assert res.exit_code == 1
    assert "error: the solve failed" in res.output


def test_validate_directory_and_binary_file(tmp_path):
    assert "is a directory" in _one_line_error(runner.invoke(app, ["validate", str(tmp_path)]))
    assert "is a directory" in _one_line_error(runner.invoke(app, ["run", str(tmp_path)]))
    binary = tmp_path / "x.toml"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    assert "not a text" in _one_line_error(runner.invoke(app, ["validate", str(binary)]))


def test_validate_singular_and_warnings(tmp_path):
    spec = tmp_path / "s.toml"
    one_arm = SPEC.split("[[arms]]")[0] + '[[arms]]\nname = "control"\n'
    spec.write_text(one_arm.replace("chunk_size = 6", "chunk_size = 6\nmax_steps = 500"))
    res = runner.invoke(app, ["validate", str(spec)])
    assert res.exit_code == 0, res.output
    assert "1 arm," in res.output and "1 arms" not in res.output
    assert "warning: max_steps: 500" in res.output


def test_validate_refuses_what_run_would_crash_on(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.replace("cohort_size = 12", "cohort_size = 1000000000000"))
    assert "sampling.cohort_size" in _one_line_error(runner.invoke(app, ["validate", str(spec)]))
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(spec), "--out", str(out)])
    assert "sampling.cohort_size" in _one_line_error(res)
    assert not out.exists()  # no stub store


def test_run_into_unwritable_place_is_one_line(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = runner.invoke(app, ["run", str(spec), "--out", str(blocker / "out"), "--no-report"])
    msg = _one_line_error(res, alone=False)
    assert "cannot access" in msg and str(blocker) in msg


@pytest.mark.slow
def test_refused_rerun_prints_no_progress_bar_and_warnings_are_stored(tmp_path):
    from tumorimmune.sweeps import load

    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.replace("chunk_size = 6", "chunk_size = 6\nmax_steps = 500"))
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(spec), "--out", str(out), "--no-report"])
    assert res.exit_code == 0, res.output
    assert "warning: max_steps" in res.output
    assert "max_steps" in load(out / "results.zarr").attrs["warnings"]
    res = runner.invoke(app, ["run", str(spec), "--out", str(out), "--no-report"])
    assert res.exit_code == 2
    assert "--overwrite" in res.output
    assert "solves" not in res.output.split("→")[-1]  # no (empty) progress bar line


def test_help_has_clean_metavars():
    for cmd in (["run"], ["validate"], ["simulate"], ["report"], ["fit"]):
        res = runner.invoke(app, [*cmd, "--help"])
        assert res.exit_code == 0, res.output
        assert "<bool>" not in res.output and "{" not in res.output, res.output
    res = runner.invoke(app, ["validate", "--help"])
    assert "Usage: tumorimmune validate [OPTIONS] SPEC" in " ".join(res.output.split())


def test_summary_table_fits_80_columns():
    import numpy as np
    import xarray as xr
    from rich.console import Console

    from tumorimmune.cli._run import summary_table

    arms = ["untreated", "pembrolizumab 200 mg q3w", "nivolumab 240 mg q2w"]
    values = {
        "n": [10000] * 3,
        "n_failed": [0, 0, 3],
        "orr": [0.0, 0.352, 0.351],
        "orr_lo": [0.0, 0.343, 0.342],
        "orr_hi": [0.0004, 0.361, 0.36],
        "dcr": [0.1, 0.5, 0.5],
        "dcr_lo": [0.09, 0.49, 0.49],
        "dcr_hi": [0.11, 0.51, 0.51],
        "median_pfs_days": [42.0, 245.0, np.nan],
    }
    ds = xr.Dataset({k: ("arm", v) for k, v in values.items()}, coords={"arm": arms})
    console = Console(width=80, record=True)
    console.print(summary_table(ds))
    text = console.export_text()
    assert max(len(x) for x in text.splitlines()) <= 80
    for cell in ("35.2 (34.3–36.1)", "50.0 (49.0–51.0)", "10000", " NR", " 245"):
        assert cell in text, text


def test_fit_output_problems_are_one_line_before_fitting(tmp_path):
    table = tmp_path / "m.csv"
    table.write_text("patient,day,value,unit\np1,0,10,mm\np1,42,12,mm\n")
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, expect in ((afile, "is a file"), (afile / "sub", "cannot create")):
        res = runner.invoke(app, ["fit", str(table), "--free", "a", "--out", str(out)])
        assert expect in _one_line_error(res)

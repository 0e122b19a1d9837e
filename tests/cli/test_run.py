"""``tumorimmune run`` / ``tumorimmune validate`` through typer's CliRunner."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from tumorimmune.cli import app
from tumorimmune.sweeps import SweepPlan, load, validate_spec

EXAMPLES = Path(__file__).parents[2] / "examples"

SPEC = """
name = "cli-tiny"
model = "TumorImmunePD1"
follow_up_days = 84
chunk_size = 6
precision = "float64"
backend = "diffrax"
n_trajectories = 1
trajectory_step_days = 7.0

[parameters]
b = 2e-11
g = 2.019e9
m = 3.422e-12

[initial]
T0 = 1.5e10

[variability.L]
dist = "uniform"
low = 0.0
high = 1.0

[sampling]
cohort_size = 12
seed = 2

[[arms]]
name = "control"

[[arms]]
name = "pembro"
regimen = "pembrolizumab_200mg_q3w"
"""

runner = CliRunner()


def test_validate_ok_and_errors(tmp_path):
    res = runner.invoke(app, ["validate", str(EXAMPLES / "pd1_virtual_trial.toml")])
    assert res.exit_code == 0, res.output
    assert "10000 patients" in res.output and "5 arms" in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text(SPEC.replace("follow_up_days", "followup_days"))
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 2
    assert "followup_days" in res.output and "follow_up_days" in res.output


def test_run_writes_store_prints_summary_and_protects_results(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(spec_path), "--out", str(out), "--no-report"])
    assert res.exit_code == 0, res.output
    ds = load(out / "results.zarr")
    stored = validate_spec(tomllib.loads(ds.attrs["spec"]))
    # the stored spec names the store written (--out), not the spec's default output
    assert stored.output == str(out / "results.zarr")
    given = validate_spec(tomllib.loads(SPEC))
    assert stored == given.model_copy(update={"output": str(out / "results.zarr")})
    # the table shows N and the ORR of each arm as stored
    for i, arm in enumerate(["control", "pembro"]):
        row = next(line for line in res.output.splitlines() if arm in line)
        assert " 12 " in row
        orr = 100 * float(ds["orr"].values[i])
        assert re.search(rf" {orr:.1f} \(", row), row
    assert np.all(ds["status"].values == 0)
    res = runner.invoke(app, ["run", str(spec_path), "--out", str(out), "--no-report"])
    assert res.exit_code == 2 and "--overwrite" in res.output
    res = runner.invoke(
        app, ["run", str(spec_path), "--out", str(out), "--overwrite", "--no-report"]
    )
    assert res.exit_code == 0, res.output


def test_embedded_default_spec_is_the_virtual_trial_example():
    from pathlib import Path

    from tumorimmune.cli._run import default_spec_path
    from tumorimmune.sweeps import load_spec

    example = Path(__file__).parents[2] / "examples" / "pd1_virtual_trial.toml"
    assert default_spec_path().read_text() == example.read_text()
    s = load_spec(default_spec_path())
    assert SweepPlan.from_spec(s).n_patients == 10_000 and len(s.arms) == 5
    assert s.population is not None and s.population.file == "keynote006"
    assert {t.fitted for t in s.targets} == {True, False}  # calibration and validation rows

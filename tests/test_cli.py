"""The command line entry point."""

import subprocess
import sys

import pandas as pd
from typer.testing import CliRunner

import tumorimmune
from tumorimmune.cli import app

runner = CliRunner()


def test_version_and_help():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and tumorimmune.__version__ in r.output
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "simulate" in r.output


def test_console_script_installed():
    r = subprocess.run(
        [sys.executable, "-m", "tumorimmune", "--version"], capture_output=True, text=True
    )
    assert r.returncode == 0 and tumorimmune.__version__ in r.stdout


def test_simulate_writes_csv(tmp_path):
    out = tmp_path / "traj.csv"
    r = runner.invoke(app, ["simulate", "--days", "63", "-p", "L=0.5", "-o", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert list(df["time"]) == [0, 7, 14, 21, 28, 35, 42, 49, 56, 63]
    assert {"E", "T", "C", "RO"} <= set(df.columns)
    assert df["C"].iloc[3] > 12 and df["C"].iloc[0] == 0  # pre-dose trough on day 21


def test_simulate_bad_parameter_is_clear():
    r = runner.invoke(app, ["simulate", "-p", "foo=1"])
    assert r.exit_code == 2
    assert "unknown parameter 'foo'" in r.output


def test_simulate_weight_scales_pk(tmp_path):
    """--param weight=W with a mg/kg regimen gives the PK of a W-kg patient (with_drug), the
    same concentrations as the Python API, not weight-proportional ones."""
    import numpy as np

    out = tmp_path / "traj.csv"
    args = ["simulate", "--days", "21", "--regimen", "nivolumab_3mgkg_q2w", "-p", "weight=50", "-o"]
    r = runner.invoke(app, [*args, str(out)])
    assert r.exit_code == 0, r.output
    model = tumorimmune.TumorImmunePD1.with_drug("nivolumab", weight=50.0)
    reg = tumorimmune.model.NIVOLUMAB_3MGKG_Q2W
    ref = tumorimmune.simulate(
        model, {"E": 3.2e5, "T": 5e6}, np.arange(0.0, 22.0, 7.0), regimen=reg
    )
    np.testing.assert_allclose(pd.read_csv(out)["C"].to_numpy()[1:], ref["C"].values[1:], rtol=1e-6)

"""``tumorimmune fit`` (tumorimmune/cli/_fit.py)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

import tumorimmune as ti
from tumorimmune.cli import app
from tumorimmune.model import ClaretTGI


def _csv(path, P=4):
    rng = np.random.default_rng(1)
    a = 0.18 * np.exp(0.2 * rng.standard_normal(P))
    n = 1.101e-7 * np.exp(0.2 * rng.standard_normal(P))
    days = np.arange(0.0, 85.0, 7.0)
    T = ti.simulate(ti.Kuznetsov1994(a=a, n=n), {"E": 3.2e5, "T": 5e6}, days)["T"].values
    mm3 = T / 1e6  # 1 mm³ = 1e6 cells at 1e9 cells/cm³
    pd.DataFrame(
        [
            {"patient": f"p{i:02d}", "day": d, "value": v, "unit": "mm3"}
            for i in range(P)
            for d, v in zip(days, mm3[i], strict=True)
        ]
    ).to_csv(path, index=False)
    return a, n


def test_fit_reports_bad_table(tmp_path):
    pd.DataFrame({"patient": [1], "day": [0.0]}).to_csv(tmp_path / "bad.csv", index=False)
    res = CliRunner().invoke(
        app, ["fit", str(tmp_path / "bad.csv"), "--free", "a", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2
    assert "missing column 'value'" in res.output


@pytest.mark.slow
def test_fit_writes_estimates_and_report(tmp_path):
    a, n = _csv(tmp_path / "m.csv")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "fit",
            str(tmp_path / "m.csv"),
            "--model",
            "Kuznetsov1994",
            "--free",
            "a,n",
            "--out",
            str(out),
            "--sigma",
            "0.1",
            "--starts",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "fitted 4 patients (per-patient): 4 ok;" in res.output
    assert "Warning" not in res.output and "Consolidated metadata" not in res.output
    assert all(f"p{i:02d}" in res.output for i in range(4))  # the estimates table
    est = pd.read_csv(out / "estimates.csv").pivot(
        index="patient", columns="param", values="estimate"
    )
    np.testing.assert_allclose(est["a"].to_numpy(), a, rtol=1e-3)
    np.testing.assert_allclose(est["n"].to_numpy(), n, rtol=1e-3)
    html = (out / "report.html").read_text()
    assert "plotly" in html.lower() and len(html) > 1_000_000  # plotly.js inlined
    # the estimates table with intervals, and sizes in the table's unit (mm³)
    assert "<th>a [95% CI]</th>" in html and "<th>n [95% CI]</th>" in html
    assert html.count('<td class="flag">') == 0 and html.count("<td>ok</td>") == 4
    assert "tumor volume (mm" in html and "tumor cells" not in html  # y axis in mm³
    ds = xr.open_zarr(out / "fit.zarr")
    np.testing.assert_allclose(ds["estimate"].sel(param="a").values, a, rtol=1e-3)


def test_preset_auto_is_clinical_only_for_data_above_the_published_capacity():
    from tumorimmune.calibrate import CLINICAL_FIXED
    from tumorimmune.cli._fit import _clinical, _preset

    mouse = ti.Kuznetsov1994()
    cap = float(mouse.carrying_capacity())  # 5e8 cells (20.5 mm)
    assert _preset("auto", mouse, 0.5 * cap) == "published"  # mouse-sized data
    assert _preset("auto", mouse, 2.0 * cap) == "clinical"  # human-sized data
    assert _preset("published", mouse, 2.0 * cap) == "published"
    assert _preset("auto", ClaretTGI(), 1e12) == "published"  # no clinical fields
    with pytest.raises(ValueError, match="--preset must be auto, clinical or published"):
        _preset("human", mouse, 1.0)
    clinical, values = _clinical(mouse)
    # the population values the model has, and the centres of the patient ranges
    assert {k: values[k] for k in ("b", "g", "d")} == {k: CLINICAL_FIXED[k] for k in "bgd"}
    assert float(clinical.carrying_capacity()) == pytest.approx(1 / CLINICAL_FIXED["b"])
    assert values["a"] == pytest.approx(np.sqrt(0.004 * 0.05))


def _human_csv(path):
    """Two patients, sums of diameters (mm) of human size: 60 → 44 → 47 mm and 30 → 66 mm."""
    rows = [(p, d, v) for p, ys in (("A", (60, 52, 45, 44, 47)), ("B", (30, 36, 44, 55, 66)))
            for d, v in zip((0, 42, 84, 126, 168), ys, strict=True)]  # fmt: skip
    pd.DataFrame(rows, columns=["patient", "day", "value"]).assign(unit="mm").to_csv(path)


@pytest.mark.slow
def test_fit_of_human_sized_data_warns_up_front_and_stops_at_the_time_limit(tmp_path):
    # (the auto preset's choice of clinical values for such data: the test above)
    import subprocess
    import sys

    _human_csv(tmp_path / "h.csv")
    cmd = [sys.executable, "-m", "tumorimmune", "fit", "h.csv", "--free", "a,n", "--out"]
    # the mouse parameters: refused nothing, but said before the fit; a tiny time limit
    res = subprocess.run(
        [*cmd, "pub", "--preset", "published", "--starts", "1", "--time-limit", "0.001"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    head = res.stderr.splitlines()
    assert head[0].startswith("warning: the data reach 66 mm (1.67e+10 cells) but Kuznetsov1994")
    assert "is 20.5 mm (5e+08 cells)" in head[0] and head[0].endswith("use --preset clinical")
    assert "Kuznetsov1994 (published parameters)" in head[1]
    assert "stopped at the time limit: 2" in res.stdout

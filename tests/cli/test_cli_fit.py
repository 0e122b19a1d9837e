"""``tumorimmune fit`` (tumorimmune/cli/_fit.py)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

import tumorimmune as ti
from tumorimmune.cli import app


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

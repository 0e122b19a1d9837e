"""Report parts of RECIST over time: time-to-response histogram, duration-of-response
Kaplan–Meier, the per-arm time-course table."""
# plotly ships no type information; the attribute reads below are plotly's API.
# pyright: reportAttributeAccessIssue=false

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import xarray as xr

from tumorimmune.reports import (
    duration_of_response_figure,
    render_report,
    time_to_response_figure,
    timecourse_rows,
)


def _dataset() -> xr.Dataset:
    """Two arms (control, treated) of 4 patients; the spec names the control."""
    nan = np.nan
    ttr = [[nan, nan, nan, nan], [42.0, 42.0, 84.0, nan]]
    dor = [[nan, nan, nan, nan], [84.0, 42.0, 42.0, nan]]
    ev = [[False] * 4, [True, False, True, False]]
    spec = (
        'model = "TumorImmunePD1"\n[[arms]]\nname = "control"\n[[arms]]\nname = "pembro"\n'
        'regimen = "pembrolizumab_200mg_q3w"\n'
    )
    return xr.Dataset(
        {
            "ttr_days": (("arm", "patient"), np.asarray(ttr)),
            "dor_days": (("arm", "patient"), np.asarray(dor)),
            "dor_event": (("arm", "patient"), np.asarray(ev)),
            "status": (("arm", "patient"), np.zeros((2, 4), np.int32)),
        },
        coords={
            "arm": ["control", "pembro"],
            "patient": np.arange(4),
            "scan_day": (("scan",), [0.0, 42.0, 84.0, 126.0]),
        },
        attrs={"spec": spec},
    )


def test_time_to_response_bars_by_hand():
    fig = time_to_response_figure(_dataset())
    (bars,) = fig.data  # the control has no responders: only the treated arm
    np.testing.assert_array_equal(np.asarray(bars.x), [42.0, 84.0, 126.0])
    np.testing.assert_allclose(np.asarray(bars.y), [2 / 3, 1 / 3, 0.0])
    np.testing.assert_array_equal(np.asarray(bars.customdata), [2, 1, 0])
    assert "pembro (3 responders, median 42 days)" == bars.name


def test_duration_of_response_km_by_hand():
    fig = duration_of_response_figure(_dataset())
    curves = [t for t in fig.data if t.meta == "km-curve"]
    assert len(curves) == 1 and curves[0].name.startswith("pembro (n = 3, 2 events")
    # DoR 42 (event), 42 (censored), 84 (event): S = 2/3 from 42, 0 from 84
    np.testing.assert_allclose(np.asarray(curves[0].x), [0.0, 42.0, 84.0])
    np.testing.assert_allclose(np.asarray(curves[0].y), [1.0, 2 / 3, 0.0])
    assert "Duration of response" in fig.layout.title.text
    assert fig.layout.xaxis.title.text == "days since the first response scan"


def test_figures_name_missing_variables():
    with pytest.raises(ValueError, match="dor_event"):
        duration_of_response_figure(_dataset().drop_vars("dor_event"))
    with pytest.raises(ValueError, match="ttr_days"):
        time_to_response_figure(_dataset().drop_vars("ttr_days"))


def _figures(html: str) -> list[dict]:
    m = re.search(r"var figures = (\[.*?\]);\n", html, flags=re.S)
    assert m is not None
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_report_has_the_new_figures_and_table(results):
    html = render_report(results)
    figs = {f["id"]: f["figure"] for f in _figures(html)}
    assert "fig-time-to-response" in figs and "fig-duration-of-response" in figs
    ttr = figs["fig-time-to-response"]
    assert [t["type"] for t in ttr["data"]] == ["bar"]  # the control arm has no responders
    dor = figs["fig-duration-of-response"]
    assert any(t.get("meta") == "km-curve" for t in dor["data"])
    # readable at 1000 px: the titles are one line and the legend sits below the plot
    for fig in (ttr, dor):
        assert len(fig["layout"]["title"]["text"]) <= 90
        assert fig["layout"]["legend"]["y"] < 0
    assert 'id="timecourse-table"' in html
    rows = timecourse_rows(results)
    assert [r[0] for r in rows] == [str(a) for a in results["arm"].values]
    k = int(results["n_responders"].values[1])
    assert rows[1][1] == f"{k:,}" and k > 0
    assert rows[0][2] == "–"  # no responders in the control


def test_report_without_responders_says_why(results):
    ds = results.copy()
    for k in ("ttr_days", "dor_days"):
        ds[k] = ds[k] * np.nan
    html = render_report(ds)
    ids = [f["id"] for f in _figures(html)]
    assert "fig-time-to-response" not in ids and "fig-duration-of-response" not in ids
    assert "no treated arm has a responder" in html

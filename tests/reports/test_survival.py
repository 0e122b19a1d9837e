"""Tests of tumorimmune.reports._survival (Kaplan–Meier figure)."""
# plotly ships no type information and pyright infers its figure properties (`fig.data`,
# `fig.layout`) from the implementation, wrongly; the attribute reads below are plotly's API.
# pyright: reportAttributeAccessIssue=false

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tumorimmune.reports import kaplan_meier_figure as kaplan_meier
from tumorimmune.reports._survival import coinciding_groups


def _pfs_dataset(days, events, status) -> xr.Dataset:
    return xr.Dataset(
        {
            "pfs_days": (("arm", "patient"), np.asarray([days], dtype=float)),
            "pfs_event": (("arm", "patient"), np.asarray([events], dtype=bool)),
            "status": (("arm", "patient"), np.asarray([status], dtype=np.int32)),
        },
        coords={"arm": ["treated"], "patient": np.arange(len(days))},
    )


def test_km_steps_hand_computed():
    # times 2, 3, 3(censored), 5, 8(censored); a failed solve (status 1) must be ignored.
    # S: 1 on [0,2); 4/5 = 0.8 on [2,3); 0.8·3/4 = 0.6 on [3,5); 0.6·1/2 = 0.3 from 5 on.
    ds = _pfs_dataset(
        [2.0, 3.0, 3.0, 5.0, 8.0, 1.0],
        [True, True, False, True, False, True],
        [0, 0, 0, 0, 0, 1],
    )
    fig = kaplan_meier(ds)
    curve = next(t for t in fig.data if t.line.width == 2.5)
    assert curve.line.shape == "hv"
    np.testing.assert_allclose(np.asarray(curve.x), [0.0, 2.0, 3.0, 5.0, 8.0])
    np.testing.assert_allclose(np.asarray(curve.y), [1.0, 0.8, 0.6, 0.3, 0.3])
    assert "n = 5, 3 events" in curve.name
    lower, upper = (np.asarray(t.y) for t in fig.data[:2])
    assert fig.data[1].fill == "tonexty"
    assert np.all(lower <= np.asarray(curve.y) + 1e-12)
    assert np.all(np.asarray(curve.y) <= upper + 1e-12)
    assert np.all(lower[1:] < np.asarray(curve.y)[1:])  # a real band after the first event
    # one censoring tick, at day 3 on the curve (S(3) = 0.6); day 8 is the end of follow-up
    ticks = [t for t in fig.data if t.mode == "markers"]
    assert len(ticks) == 1
    np.testing.assert_allclose(np.asarray(ticks[0].x), [3.0])
    np.testing.assert_allclose(np.asarray(ticks[0].y), [0.6])


def test_km_curve_extends_to_last_follow_up(results):
    fig = kaplan_meier(results)
    curves = [t for t in fig.data if t.line.width == 2.5]
    assert len(curves) == results.sizes["arm"]
    for i, c in enumerate(curves):
        y = np.asarray(c.y)
        assert y[0] == 1.0 and np.all(np.diff(y) <= 0)
        assert np.asarray(c.x)[-1] == np.nanmax(results["pfs_days"].values[i])


def test_km_missing_variable(results):
    with pytest.raises(ValueError, match="'pfs_event'"):
        kaplan_meier(results.drop_vars("pfs_event"))


def _three_arms_two_identical() -> xr.Dataset:
    days = np.array(
        [[2.0, 3.0, 3.0, 5.0, 8.0], [4.0, 6.0, 6.0, 7.0, 8.0], [4.0, 6.0, 6.0, 7.0, 8.0]]
    )
    events = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0]], dtype=bool)
    return xr.Dataset(
        {"pfs_days": (("arm", "patient"), days), "pfs_event": (("arm", "patient"), events)},
        coords={"arm": ["control", "drug A", "drug B"], "patient": np.arange(5)},
    )


def test_coinciding_curves_stay_visible():
    # drug A and drug B have identical PFS: without distinct styles B hides A exactly
    fig = kaplan_meier(_three_arms_two_identical())
    curves = {c.legendgroup: c for c in fig.data if c.meta == "km-curve"}
    a, b, control = curves["arm1"], curves["arm2"], curves["arm0"]
    np.testing.assert_array_equal(np.asarray(a.y), np.asarray(b.y))  # truly the same curve
    assert a.line.dash != b.line.dash  # b (drawn on top) is dashed, a shows through the gaps
    assert a.line.width > b.line.width  # and a, drawn first, is wider: visible around b
    assert "coincides with drug B" in a.name and "coincides with drug A" in b.name
    assert control.line.dash == "solid" and "coincides" not in control.name
    notes = [n.text for n in fig.layout.annotations if n.name == "coincide-note"]
    assert notes == ["Curves drug A and drug B coincide (drawn solid, dash)."]


def test_distinct_curves_get_no_note(results):
    fig = kaplan_meier(results)
    assert not [n for n in fig.layout.annotations if n.name == "coincide-note"]
    assert {c.line.dash for c in fig.data if c.meta == "km-curve"} == {"solid"}


def test_coinciding_groups_tolerance():
    t = np.array([0.0, 10.0, 20.0])
    base = (t, np.array([1.0, 0.5, 0.5]))
    near = (t, np.array([1.0, 0.503, 0.503]))
    far = (t, np.array([1.0, 0.6, 0.6]))
    short = (np.array([0.0, 10.0]), np.array([1.0, 0.5]))  # same values, ends at day 10
    assert coinciding_groups([base, near, far, short]) == [[0, 1], [2], [3]]


def test_figure_name_and_former_alias():
    """The figure is ``kaplan_meier_figure``; ``reports.kaplan_meier`` stays as its alias and is
    not the statistic (``tumorimmune.response.kaplan_meier``)."""
    from tumorimmune import reports, response

    assert reports.kaplan_meier is reports.kaplan_meier_figure
    assert reports.kaplan_meier_figure is not response.kaplan_meier


def _with_os(results: xr.Dataset) -> xr.Dataset:
    """``results`` with deaths drawn from its diameters at the scans (as a sweep with
    ``[survival]`` stores them), the per-arm OS summary and two published OS targets."""
    import json

    from tumorimmune import response

    ds = results.copy()
    link = response.SurvivalLink(scale_days=400.0, shape=1.3, beta=1.0, sld_ref_mm=30.0)
    diam = ds["diameter_mm"].transpose("arm", "patient", "scan").values
    u = response.patient_uniforms(1, np.arange(ds.sizes["patient"]))
    fu = float(ds["scan_day"].values[-1])
    days, event = response.sample_death_days(diam, ds["scan_day"].values, u, link, follow_up=fu)
    ds["os_days"] = (("arm", "patient"), days)
    ds["os_event"] = (("arm", "patient"), event)
    summary = response.os_summary(ds["best_response"].values, days, event, follow_up=fu)
    for k, v in summary.items():
        ds[k] = ("arm", v)
    arm = str(ds["arm"].values[1])
    targets = [
        {
            "name": f"{arm}: OS at 6 months",
            "arm": arm,
            "kind": "os_at",
            "day": 182.0,
            "target": 0.7,
            "target_lo": 0.6,
            "target_hi": 0.8,
            "simulated": 0.7,
            "unit": "fraction",
            "fitted": False,
            "source": "made up",
        },
        {
            "name": f"{arm}: median OS",
            "arm": arm,
            "kind": "median_os",
            "target": 250.0,
            "target_lo": 200.0,
            "target_hi": 300.0,
            "simulated": 260.0,
            "unit": "days",
            "fitted": False,
            "source": "made up",
        },
    ]
    ds.attrs["calibration"] = json.dumps({"targets": targets, "caveats": [], "notes": ""})
    return ds


def test_overall_survival_figure_and_report_section(results):
    from tumorimmune.reports import overall_survival_figure, render_report, summary_header

    ds = _with_os(results)
    fig = overall_survival_figure(ds)
    curves = [t for t in fig.data if t.meta == "km-curve"]
    assert len(curves) == ds.sizes["arm"] and "Overall survival" in fig.layout.title.text
    assert "OS" in curves[0].hovertemplate
    km = ti_km(ds, 0)
    np.testing.assert_allclose(np.asarray(curves[0].y)[: km.size], km)
    targets = [t for t in fig.data if t.meta == "target"]
    assert len(targets) == 2
    (landmark,) = [t for t in targets if "6 months" in t.name]
    assert tuple(landmark.x) == (182.0,) and tuple(landmark.y) == (0.7,)
    assert tuple(landmark.error_y.array) == pytest.approx((0.1,))
    (median,) = [t for t in targets if "median" in t.name]
    assert tuple(median.x) == (250.0,) and tuple(median.y) == (0.5,)
    assert fig.layout.xaxis.range[1] >= 300.0  # the target's interval is in view
    # the PFS figure is unchanged: no target markers, its own variables
    assert not [t for t in kaplan_meier(ds).data if t.meta == "target"]
    html = render_report(ds)
    assert 'id="fig-os"' in html and "Overall survival" in html
    assert "Median OS, days (95% CI)" in summary_header(ds)
    assert "Median OS" in html
    plain = render_report(results)
    assert 'id="fig-os"' not in plain and "Median OS" not in plain


def ti_km(ds: xr.Dataset, arm: int) -> np.ndarray:
    from tumorimmune.response import kaplan_meier as km

    d = ds["os_days"].values[arm]
    d = np.where(ds["status"].values[arm] != 0, np.nan, d)
    return km(d, ds["os_event"].values[arm]).survival

"""Tests of tumorimmune.reports._response (response map, waterfall, spider)."""
# plotly ships no type information and pyright infers its figure properties (`fig.data`,
# `fig.layout`) from the implementation, wrongly; the attribute reads below are plotly's API.
# pyright: reportAttributeAccessIssue=false

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune.reports import response_map, spider, waterfall
from tumorimmune.reports._style import RESPONSE_COLORS


def _panel_bars(fig, axis: str):
    """All waterfall bars of the panel on x axis ``axis``: rank, shown y, patient, true value."""
    parts = [t for t in fig.data if t.type == "bar" and t.xaxis == axis]
    rank = np.concatenate([np.asarray(t.x) for t in parts])
    y = np.concatenate([np.asarray(t.y) for t in parts])
    custom = np.concatenate([np.asarray(t.customdata) for t in parts])
    order = np.argsort(rank)
    return rank[order], y[order], custom[order, 0].astype(int), custom[order, 1], parts


def test_waterfall_sorted_and_coloured_by_response(results):
    fig = waterfall(results)
    best = results["best_pct_change"].values
    resp = results["best_response"].values
    for i, axis in enumerate(("x", "x2")):
        rank, y, pid, true, parts = _panel_bars(fig, axis)
        ok = np.isfinite(best[i])
        assert np.array_equal(rank, np.arange(ok.sum()))  # every evaluable patient, once
        assert np.all(np.diff(true) <= 0)  # largest increase left, largest decrease right
        assert np.all(np.diff(y) <= 0)
        np.testing.assert_allclose(true, best[i, pid])
        np.testing.assert_allclose(y, np.minimum(best[i, pid], 100.0), rtol=1e-6)
        assert set(pid) == set(np.flatnonzero(ok))
        for t in parts:  # one trace per response class, in its colour
            ids = np.asarray(t.customdata)[:, 0].astype(int)
            codes = set(resp[i, ids].tolist())
            assert len(codes) == 1
            assert t.marker.color == RESPONSE_COLORS[codes.pop()]
    # failed solve (arm 1, patient 3) is not drawn
    _, _, pid, _, _ = _panel_bars(fig, "x2")
    assert 3 not in pid


def test_waterfall_threshold_lines(results):
    fig = waterfall(results)
    levels = sorted({s.y0 for s in fig.layout.shapes if s.line.dash == "dash"})
    assert levels == [-30.0, 20.0]
    # their labels sit in the right margin beside the line, never over the bars (#24)
    marks = [a for a in fig.layout.annotations if a.text in ("+20 % (PD)", "−30 % (PR)")]
    assert len(marks) == 2 * results.sizes["arm"]
    assert all(a.xref.endswith(" domain") and a.x == 1 and a.xanchor == "left" for a in marks)
    assert fig.layout.margin.r >= 90


def test_waterfall_sampling_keeps_extremes(results_factory):
    ds = results_factory(n_per_cell=50)  # 600 patients per arm
    fig = waterfall(ds, max_points=101)
    best = ds["best_pct_change"].values
    for i, axis in enumerate(("x", "x2")):
        rank, _, _, true, _ = _panel_bars(fig, axis)
        assert rank.size == 101
        assert true[0] == np.nanmax(best[i]) and true[-1] == np.nanmin(best[i])
        assert np.all(np.diff(true) <= 0)
    with pytest.raises(ValueError, match="max_points"):
        waterfall(ds, max_points=1)


def test_response_map_heatmaps_match_cells(results):
    fig = response_map(results, level=0.5)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == results.sizes["arm"]
    for i, t in enumerate(heat):
        np.testing.assert_array_equal(np.asarray(t.x), results["axis_eps_n"].values)
        np.testing.assert_array_equal(np.asarray(t.y), results["axis_L"].values)
        # rows are the y axis (L), columns the x axis (eps_n)
        np.testing.assert_allclose(np.asarray(t.z), results["cell_orr"].values[i].T)
    contours = [t for t in fig.data if t.type == "contour"]
    # the control arm has ORR 0 everywhere: no contour at 50 % there
    assert len(contours) == 1
    assert contours[0].contours.start == contours[0].contours.end == 0.5
    assert fig.layout.coloraxis.cmin == 0.0 and fig.layout.coloraxis.cmax == 1.0


def test_response_map_swapped_axes_and_metric(results):
    fig = response_map(results, metric="mean_best_pct_change", x="axis_L", y="axis_eps_n")
    t = [t for t in fig.data if t.type == "heatmap"][1]
    np.testing.assert_allclose(np.asarray(t.z), results["cell_mean_best_pct_change"].values[1])
    assert "L" in fig.layout.xaxis.title.text


def test_response_map_averages_extra_axes(results):
    ds = results.copy()
    extra = ds["cell_orr"].expand_dims(axis_d=[0.1, 0.2], axis=1).copy()
    extra[:, 1] = 1.0 - extra[:, 1]  # second slice differs: mean is 0.5 everywhere
    ds = ds.drop_vars("cell_orr").assign(cell_orr=extra)
    fig = response_map(ds)
    z = np.asarray([t for t in fig.data if t.type == "heatmap"][1].z)
    np.testing.assert_allclose(z, 0.5)
    assert "averaged over d" in fig.layout.title.text


def test_response_map_needs_two_axes(results_factory):
    with pytest.raises(ValueError, match="two grid axes"):
        response_map(results_factory(grid=False))


def test_response_map_bad_options(results):
    with pytest.raises(ValueError, match="metric"):
        response_map(results, metric="nope")
    with pytest.raises(ValueError, match="axis_foo"):
        response_map(results, x="axis_foo")


def test_spider_same_sample_in_every_arm(results):
    fig = spider(results, n_patients=10, seed=3)
    days = results["scan_day"].values
    pct = results["pct_change"].values
    per_arm: dict[str, set[int]] = {}
    for t in fig.data:
        ids = np.asarray(t.customdata)
        x, y = np.asarray(t.x), np.asarray(t.y)
        arm = 0 if t.xaxis == "x" else 1
        for pid in np.unique(ids):
            sel = (ids == pid) & np.isfinite(x)
            np.testing.assert_array_equal(x[sel], days)
            np.testing.assert_allclose(y[sel], pct[arm, int(pid)])
            per_arm.setdefault(t.xaxis, set()).add(int(pid))
    assert len(per_arm["x"]) == 10
    # the failed patient (3) may be drawn in the control arm only
    assert per_arm["x2"] <= per_arm["x"]
    again = spider(results, n_patients=10, seed=3)
    assert again.to_json() == fig.to_json()
    other = spider(results, n_patients=10, seed=4)
    assert other.to_json() != fig.to_json()

"""Tests of tumorimmune.reports._trajectories (median and quantile bands)."""
# plotly ships no type information and pyright infers its figure properties (`fig.data`,
# `fig.layout`) from the implementation, wrongly; the attribute reads below are plotly's API.
# pyright: reportAttributeAccessIssue=false

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune.reports import trajectory_bands
from tumorimmune.reports._trajectories import LOG_TICK_PX, MIN_BAND_PATIENTS, log_dtick


def _traces(fig, yaxis: str):
    return [t for t in fig.data if t.yaxis == yaxis]


def test_bands_match_quantiles(results):
    fig = trajectory_bands(results)
    T = np.maximum(results["traj_T"].values, 1.0)
    for i, arm in enumerate(results["arm"].values):
        lo, hi, med = [t for t in _traces(fig, "y") if t.legendgroup == f"arm{i}"]
        assert med.name == str(arm)
        good = np.isfinite(T[i]).all(axis=1)
        np.testing.assert_allclose(np.asarray(med.y), np.median(T[i][good], axis=0), rtol=1e-6)
        np.testing.assert_allclose(
            np.asarray(lo.y), np.quantile(T[i][good], 0.05, axis=0), rtol=1e-6
        )
        np.testing.assert_allclose(
            np.asarray(hi.y), np.quantile(T[i][good], 0.95, axis=0), rtol=1e-6
        )
        assert hi.fill == "tonexty"
    assert fig.layout.yaxis.type == "log"


def test_drug_panels_only_for_treated_arms(results):
    fig = trajectory_bands(results)
    # panels: T, E, C, RO; C and RO show the treated arm only (3 traces each)
    assert [len(_traces(fig, a)) for a in ("y", "y2", "y3", "y4")] == [6, 6, 3, 3]
    ro_median = _traces(fig, "y4")[2]
    assert ro_median.name == str(results["arm"].values[1])
    ro = results["traj_RO"].values[1] * 100.0
    good = np.isfinite(ro).all(axis=1)
    np.testing.assert_allclose(np.asarray(ro_median.y), np.median(ro[good], axis=0), rtol=1e-6)
    assert "(%)" in fig.layout.yaxis4.title.text


def test_no_drug_panels_without_treated_arm(results):
    control_only = results.isel(arm=[0])
    fig = trajectory_bands(control_only)
    assert {t.yaxis for t in fig.data} == {"y", "y2"}
    fig = trajectory_bands(results.drop_vars(["traj_C", "traj_RO"]))
    assert {t.yaxis for t in fig.data} == {"y", "y2"}


def test_bad_quantiles_and_missing_traj(results):
    with pytest.raises(ValueError, match="lower"):
        trajectory_bands(results, lower=0.6, upper=0.4)
    with pytest.raises(ValueError, match="'traj_T'"):
        trajectory_bands(results.drop_vars("traj_T"))


def test_band_says_how_many_patients(results, results_factory):
    fig = trajectory_bands(results)  # 24 stored of 60 simulated
    title = fig.layout.title.text.replace("<br>", " ")  # a long title is wrapped
    assert "5%–95% band of 24 stored patients per arm (of 60 simulated)" in title
    # with fewer stored patients than MIN_BAND_PATIENTS the band is their range, and says so
    few = results_factory(n_traj=8)
    assert few.sizes["traj_patient"] == 8 < MIN_BAND_PATIENTS
    fig = trajectory_bands(few)
    title = fig.layout.title.text.replace("<br>", " ")
    assert "range (min–max; too few for a 5%–95% band) of 8" in title
    T = np.maximum(few["traj_T"].values[0], 1.0)
    lo, hi, med = [t for t in _traces(fig, "y") if t.legendgroup == "arm0"]
    np.testing.assert_allclose(np.asarray(lo.y), T.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(hi.y), T.max(axis=0), rtol=1e-6)
    assert "min–max" in lo.name and "min–max" in med.hovertemplate


def test_log_axes_label_only_as_many_decades_as_fit(results):
    # issue #24: 13 decades of effector cells in a ~200 px panel printed 14 labels on top of
    # each other; the axis labels every second power of ten instead (the browser test checks
    # the drawn labels)
    ds = results.copy()
    e = np.broadcast_to(np.geomspace(1.0, 1e13, ds.sizes["time"]), ds["traj_E"].shape)
    ds["traj_E"] = ds["traj_E"].copy(data=np.array(e))
    fig = trajectory_bands(ds)
    assert fig.layout.yaxis2.type == "log" and fig.layout.yaxis2.dtick == 2
    assert log_dtick(1.0, 1e13, 200.0) == 2 and log_dtick(1.0, 1e13, 400.0) == 1
    # few decades in the same panel: every power of ten
    assert log_dtick(1.0, 1e5, 200.0) == 1
    # the spacing of labelled ticks is at least LOG_TICK_PX for any span
    for decades in range(1, 40):
        for px in (120.0, 200.0, 330.0):
            step = log_dtick(1.0, 10.0**decades, px)
            assert px / (1.1 * decades / step) >= LOG_TICK_PX

"""What decides response (tumorimmune.analysis): maps against hand counts, the given-data
ranking against an analytic function, treatment effects of constructed arm pairs, thresholds
at their extremes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr

from tumorimmune import analysis, response

SPEC = """
name = "constructed"
[[arms]]
name = "untreated"
[[arms]]
name = "drug"
regimen = "pembrolizumab_200mg_q3w"
"""


def _cohort(n: int = 400, seed: int = 0) -> xr.Dataset:
    """Two arms of ``n`` patients: response decided by ``L`` and ``T0`` (known rule), PFS
    and tumor cells at three scans constructed so that every quantity has a hand value."""
    rng = np.random.default_rng(seed)
    L = rng.uniform(0.0, 1.0, n)
    T0 = 10 ** rng.uniform(9.0, 11.0, n)
    noise = rng.uniform(0.0, 1.0, n)  # a parameter that decides nothing
    resp = (L > 0.5) & (T0 < 1e10)  # responders on the treated arm
    best = np.stack([np.full(n, 3), np.where(resp, 1, 3)]).astype(np.int8)
    best[1, 0] = -1  # one failed solve on the treated arm
    scan_day = np.array([0.0, 84.0, 189.0])
    pfs_u = np.full(n, 84.0)
    pfs_t = np.where(resp, 400.0, np.where(L > 0.8, 189.0, 84.0))  # some non-responders gain
    pfs = np.stack([pfs_u, pfs_t])
    event = np.stack([np.ones(n, bool), ~resp])  # responders censored at 400
    cells_u = T0[:, None] * np.array([1.0, 2.0, 4.0])
    cells_t = T0[:, None] * np.where(resp, 0.1, 1.0)[:, None] * np.array([1.0, 1.0, 1.0])
    tumor = np.stack([cells_u, cells_t])
    diam = np.cbrt(tumor / 1e9) * 10.0
    return xr.Dataset(
        {
            "best_response": (("arm", "patient"), best),
            "pfs_days": (("arm", "patient"), pfs),
            "pfs_event": (("arm", "patient"), event),
            "tumor_cells": (("arm", "patient", "scan"), tumor),
            "diameter_mm": (("arm", "patient", "scan"), diam, {"units": "mm"}),
            "best_pct_change": (("arm", "patient"), np.where(best == 1, -50.0, 30.0)),
            "param_L": (("patient",), L, {"units": "1"}),
            "param_T0": (("patient",), T0, {"units": "cells"}),
            "param_noise": (("patient",), noise),
            "param_a": (("patient",), np.full(n, 0.2)),  # constant: not a covariate
            "param_u_death": (("patient",), rng.uniform(size=n)),
        },
        coords={"arm": ["untreated", "drug"], "patient": np.arange(n), "scan_day": scan_day},
        attrs={"spec": SPEC},
    )


def test_covariates_are_the_varying_parameters_and_baseline_size():
    ds = _cohort()
    cov = analysis.covariates(ds)
    assert list(cov.data_vars) == ["L", "T0", "noise", "baseline_sld_mm"]  # no a, no u_death
    np.testing.assert_array_equal(cov["baseline_sld_mm"], ds["diameter_mm"].isel(arm=0, scan=0))
    assert analysis.covariate_label(ds, "baseline_sld_mm") == "baseline sum of diameters (mm)"
    with pytest.raises(ValueError, match="no varying patient covariate 'a'"):
        analysis.covariates(ds, include=("a",))
    assert analysis.control_arm(ds) == "untreated"


def test_binned_map_equals_hand_counts():
    ds = _cohort()
    edges_L, edges_T = [0.0, 0.5, 1.0], [1e9, 1e10, 1e11]
    m = analysis.covariate_map(ds, "L", "T0", bins=edges_L, y_bins=edges_T, arms="drug")
    L, T0 = ds["param_L"].values, ds["param_T0"].values
    ok = ds["best_response"].sel(arm="drug").values >= 0
    resp = ds["best_response"].sel(arm="drug").values == 1
    for i, (a, b) in enumerate(itertools.pairwise(edges_L)):
        for j, (c, d) in enumerate(itertools.pairwise(edges_T)):
            inx = (L >= a) & ((L < b) | (b == edges_L[-1]))
            iny = (T0 >= c) & ((T0 < d) | (d == edges_T[-1]))
            cell = ok & inx & iny
            k, n = int((resp & cell).sum()), int(cell.sum())
            assert int(m["n"].sel(arm="drug")[i, j]) == n
            assert float(m["rate"].sel(arm="drug")[i, j]) == pytest.approx(k / n)
            lo, hi = response.wilson_ci(k, n)
            assert float(m["rate_lo"].sel(arm="drug")[i, j]) == pytest.approx(float(lo))
            assert float(m["rate_hi"].sel(arm="drug")[i, j]) == pytest.approx(float(hi))
    # the rule: response only for L > 0.5 and T0 < 1e10
    np.testing.assert_array_equal(m["rate"].sel(arm="drug").values, [[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(m["x_lo"], [0.0, 0.5])
    assert int(m["n"].sum()) == int(ok.sum())  # every evaluable patient in one cell
    # quantile bins: equal counts; 6-month PFS = share progression-free past day 182.6
    q = analysis.covariate_map(ds, "L", "noise", bins=4, outcome="pfs")
    assert q.sizes == {"arm": 2, "x_bin": 4, "y_bin": 4}
    np.testing.assert_array_equal(q["n"].sum("y_bin").sel(arm="untreated"), [100] * 4)
    assert np.all(q["rate"].sel(arm="untreated") == 0.0)  # everyone progresses at day 84
    drug = ds.sel(arm="drug")
    pf = (drug["pfs_days"] > 182.625) & (drug["best_response"] >= 0)
    top = (ds["param_L"] >= float(q["x_lo"][3])) & (drug["best_response"] >= 0)
    assert float(q["n"].sel(arm="drug")[3].sum()) == int(top.sum())
    overall = float((pf & top).sum() / top.sum())
    w = q["n"].sel(arm="drug")[3] / q["n"].sel(arm="drug")[3].sum()
    assert float((q["rate"].sel(arm="drug")[3] * w).sum()) == pytest.approx(overall)
    with pytest.raises(ValueError, match="increasing"):
        analysis.covariate_map(ds, "L", "T0", bins=[0.5, 0.1])
    with pytest.raises(ValueError, match="two different covariates"):
        analysis.covariate_map(ds, "L", "L")


#: First-order Sobol' indices of the Ishigami function (a = 7, b = 0.1) on U(−π, π)³
#: (Ishigami & Homma 1990; Saltelli et al. 2008, §4.6): V1 = (1 + bπ⁴/5)²/2, V2 = a²/8,
#: V13 = b²π⁸(1/18 − 1/50), V = V1 + V2 + V13; S1 = 0.3139, S2 = 0.4424, S3 = 0.
def _ishigami_s1(a: float = 7.0, b: float = 0.1) -> np.ndarray:
    pi = np.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return np.array([v1 / v, v2 / v, 0.0])


def test_rbd_fast_recovers_ishigami_indices_from_a_random_sample():
    s1_true = _ishigami_s1()
    assert s1_true == pytest.approx([0.3139, 0.4424, 0.0], abs=1e-4)
    rng = np.random.default_rng(42)
    X = rng.uniform(-np.pi, np.pi, (10_000, 3))
    Y = np.sin(X[:, 0]) + 7 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0])
    r = analysis.rbd_fast(X, Y, names=["x1", "x2", "x3"], seed=1)
    assert list(r["param"].values) == ["x1", "x2", "x3"]
    lo, hi = r["S1_lo"].values, r["S1_hi"].values
    assert np.all(lo <= s1_true) and np.all(s1_true <= hi), (lo, hi)
    assert np.all(hi - lo < 0.06)  # intervals narrow enough to order the three
    assert np.argsort(-r["S1"].values).tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match="finite"):
        analysis.rbd_fast(np.where(X > 3, np.nan, X), Y)


def test_ranking_finds_the_deciding_parameters_of_a_cohort():
    ds = _cohort(n=2_000)
    r = analysis.response_ranking(ds, arms="drug", num_resamples=30)
    s = r["S1"].sel(arm="drug", output="response")
    assert set(r["param"].values[:2]) == {"L", "T0"}  # the rule's two parameters first
    assert float(s.sel(param="noise")) < 0.02 < float(s.sel(param="L"))
    assert int(r["n"].sel(arm="drug", output="response")) == 1_999  # the failed solve dropped
    # a calibrated-like correlation: rho of a parameter with itself 1, independent ~0
    rho = analysis.parameter_correlation(ds)
    np.testing.assert_allclose(np.diag(rho.values), 1.0)
    assert abs(float(rho.sel(param="L", param_2="noise"))) < 0.1
    with pytest.raises(ValueError, match="unknown ranking output"):
        analysis.response_ranking(ds, outputs=("survival",))


def test_treatment_effect_of_a_constructed_pair_is_exact():
    ds = _cohort()
    eff = analysis.treatment_effect(ds)
    assert eff.attrs["control"] == "untreated" and eff.attrs["scan_day"] == 189.0
    d = eff.sel(arm="drug")
    resp = ds["best_response"].sel(arm="drug").values == 1
    L = ds["param_L"].values
    ok = ds["best_response"].sel(arm="drug").values >= 0
    # day 189: untreated 4·T0, treated 0.1·T0 (responders) or T0
    want = np.where(resp, 0.1 / 4.0, 1.0 / 4.0)
    np.testing.assert_allclose(d["size_ratio"].values[ok], want[ok], rtol=1e-12)
    assert np.isnan(d["size_ratio"].values[0]) and not bool(d["evaluable"][0])
    gain = np.where(resp, 400.0 - 84.0, np.where(L > 0.8, 189.0 - 84.0, 0.0))
    np.testing.assert_array_equal(d["pfs_gain_days"].values[ok], gain[ok])
    np.testing.assert_array_equal(d["benefit"].values, ok & (gain > 0))
    s = analysis.effect_summary(eff).sel(arm="drug")
    non = ok & ~resp
    assert int(s["n_nonresponders"]) == int(non.sum())
    assert float(s["nonresponder_benefit"]) == pytest.approx((non & (L > 0.8)).sum() / non.sum())
    assert float(s["benefit"]) == pytest.approx((ok & (gain > 0)).sum() / ok.sum())
    assert float(s["median_size_ratio"]) == pytest.approx(np.median(want[ok]))
    # a stricter benefit: more than one scan interval of gain
    strict = analysis.treatment_effect(ds, min_gain_days=200.0).sel(arm="drug")
    np.testing.assert_array_equal(strict["benefit"].values, ok & (gain > 200.0))
    no_control = ds.assign_attrs(spec="").drop_sel(arm="untreated")
    with pytest.raises(ValueError, match="no untreated arm"):
        analysis.treatment_effect(no_control)


def test_thresholds_at_the_extremes_are_the_whole_cohort_and_nobody():
    ds = _cohort()
    L = ds["param_L"].values
    thr = analysis.biomarker_thresholds(ds, "L", thresholds=[L.min(), 0.5, L.max() + 1.0])
    whole = response.arm_summary(
        ds["best_response"].values, ds["pfs_days"].values, ds["pfs_event"].values
    )
    first = thr.isel(threshold=0)
    np.testing.assert_array_equal(first["share_treated"], 1.0)
    np.testing.assert_array_equal(first["n"], whole["n"])
    np.testing.assert_allclose(first["orr"], whole["orr"])
    np.testing.assert_allclose(first["orr_lo"], whole["orr_lo"])
    np.testing.assert_allclose(first["median_pfs_days"], whole["median_pfs_days"], equal_nan=True)
    last = thr.isel(threshold=2)
    assert np.all(last["share_treated"] == 0.0) and np.all(last["n"] == 0)
    assert np.all(np.isnan(last["orr"])) and np.all(np.isnan(last["median_pfs_days"]))
    mid = thr.sel(arm="drug").isel(threshold=1)
    keep = (L >= 0.5) & (ds["best_response"].sel(arm="drug").values >= 0)
    assert float(mid["share_treated"]) == pytest.approx((L >= 0.5).mean())
    assert float(mid["orr"]) == pytest.approx(
        (ds["best_response"].sel(arm="drug").values[keep] == 1).mean()
    )
    # default thresholds: quantiles 0..95 %, the first keeps everyone
    default = analysis.biomarker_thresholds(ds)
    assert default.sizes["threshold"] == 20 and float(default["share_treated"][0, 0]) == 1.0
    assert np.all(np.diff(default["share_treated"].values, axis=1) <= 0)

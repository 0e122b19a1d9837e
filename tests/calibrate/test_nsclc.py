"""The NSCLC virtual population: KEYNOTE-024 as a trial definition, its PD-L1 draw, the
read-out classes when the median PFS falls after the landmark, the calibration regression
(seeded, small), the packaged population and KEYNOTE-006 unchanged by the generalization."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import numpy as np
import pytest

from tumorimmune.calibrate import (
    KEYNOTE006_TRIAL,
    KEYNOTE024_TRIAL,
    TRIALS,
    OSTarget,
    calibrate_population,
    get_trial,
    load_population,
    target_class_probabilities,
    tps_quantile,
)
from tumorimmune.calibrate._trial import (
    CHEMO_CLASSES,
    CLASSES_LATE_MEDIAN,
    class_names,
    classify,
    classify_chemo,
    fit_hazard_ratio,
    fit_link_to_sampled_deaths,
    joint_class_targets,
    sampled_os,
)
from tumorimmune.model import KEYNOTE024_SCREENING, tps_from_L
from tumorimmune.response import SurvivalLink, sample_death_days
from tumorimmune.sweeps import POPULATIONS

MONTH = 365.25 / 12


def test_keynote024_definition_holds_the_published_numbers():
    t = get_trial("KEYNOTE-024")
    assert t is KEYNOTE024_TRIAL and set(TRIALS) == {"keynote006", "keynote024"}
    by = {e.kind: e for e in t.endpoints}
    assert round(by["orr"].value * 154) == 69 and by["orr"].n == 154  # 44.8 %
    assert by["cr"].value == pytest.approx(6 / 154)
    assert (by["pfs_at"].value, by["pfs_at"].day) == (0.621, 182.6)
    assert by["median_pfs"].value == pytest.approx(10.3 * MONTH)
    assert t.cutoff_day == pytest.approx(11.2 * MONTH)  # median follow-up 11.2 months
    assert t.scan_days[:4] == (0.0, 63.0, 126.0, 189.0)  # every 9 weeks
    assert t.regimen.dose == 200.0 and t.regimen.unit == "mg" and t.regimen.interval == 21.0
    assert len(t.regimen.dose_times(0.0, 1095.0)) == 35  # up to 35 cycles
    assert {o.name: o.value for o in t.os_targets} == {
        "6-month OS": 0.802,
        "median OS (days)": pytest.approx(26.3 * MONTH),
    }
    ca = t.chemo_arm
    assert ca is not None and ca.name == "platinum doublet (KEYNOTE-024)"
    assert ca.chemo.name == "platinum_doublet" and ca.chemo.cycles == 4
    assert ca.chemo.end_day == 84.0  # 4 cycles q3w
    cb = {e.kind: e.value for e in ca.endpoints}  # fitted
    assert cb == {"orr": pytest.approx(42 / 151), "pfs_at": 0.503}
    # its 6-month OS fits the arm's hazard ratio of death (one parameter, one number)
    (os6,) = ca.os_targets()
    assert (os6.kind, os6.value, os6.day, os6.n, os6.source) == (
        "landmark",
        0.724,
        182.6,
        151,
        "Reck et al. 2016, N Engl J Med 375:1823 (KEYNOTE-024)",
    )
    (held,) = t.pending  # the chemotherapy arm's held-out endpoints
    assert held.name == ca.name and "held out" in held.reason
    hb = {e.kind: e for e in held.endpoints}
    assert hb["median_pfs"].value == pytest.approx(6.0 * MONTH)
    mos = hb["median_os"]  # 5-year update: 13.4 months (95 % CI 9.4–18.3)
    assert (mos.value, mos.lo, mos.hi) == pytest.approx((13.4 * MONTH, 9.4 * MONTH, 18.3 * MONTH))
    assert "5-year" in mos.source and ca.predicted == held.endpoints
    assert all(e.source for e in (*t.endpoints, *ca.endpoints, *held.endpoints))
    assert KEYNOTE006_TRIAL.chemo_arm is None
    with pytest.raises(ValueError, match="unknown trial"):
        get_trial("keynote042")


def test_every_virtual_tumor_has_tps_of_at_least_50():
    u = np.linspace(0.0, 1.0, 101)
    tps = tps_quantile(KEYNOTE024_SCREENING, u, tps_min=50.0)
    np.testing.assert_allclose(tps, 50.0 + 50.0 * u)  # uniform within the >= 50 % category
    full = tps_quantile(KEYNOTE024_SCREENING, np.array([0.0, 507 / 1653, 1.0]))
    np.testing.assert_allclose(full, [0.0, 1.0, 100.0])  # the screening distribution's cut-off
    with pytest.raises(ValueError, match="no probability mass"):
        tps_quantile(KEYNOTE024_SCREENING, u, tps_min=100.0)


def test_late_median_classes_reproduce_the_published_endpoints():
    t = KEYNOTE024_TRIAL
    med = t.median_scan_day()
    assert med == 315.0 and med > t.landmark_day()
    assert class_names(landmark=182.6, median_day=med) == CLASSES_LATE_MEDIAN
    p = target_class_probabilities(t.endpoints, responder_pf=0.85, median_day=med)
    assert p.sum() == pytest.approx(1.0) and np.all(p >= 0)
    assert p[0] == pytest.approx(6 / 154) and p[:3].sum() == pytest.approx(69 / 154)
    assert 1 - p[3] == pytest.approx(0.621)  # progression-free at 6 months
    assert (p[0] + p[1]) / p[:3].sum() == pytest.approx(0.85)
    # just before the median scan 0.5 + 1.5 points are progression-free, just after 0.5 − 1.5
    assert p[[0, 1, 5, 6]].sum() == pytest.approx(0.515)
    assert p[[0, 1, 6]].sum() == pytest.approx(0.485)
    r = {
        "bor": np.array([0, 1, 1, 2, 3, 2, 2, 2]),
        "pfs_days": np.array([400, 400, 252, 126, 63, 252, 315, 378]),
        "pfs_event": np.array([0, 0, 1, 1, 1, 1, 1, 0], bool),
    }
    got = classify(r, landmark=182.6, median_day=315.0, durability_day=340.9)
    np.testing.assert_array_equal(got, [0, 1, 2, 3, 3, 4, 5, 6])


def test_chemo_classes_reproduce_orr_and_landmark_pfs():
    ca = KEYNOTE024_TRIAL.chemo_arm
    assert ca is not None
    p = ca.target_class_probabilities()
    assert p.sum() == pytest.approx(1.0) and np.all(p >= 0) and len(p) == len(CHEMO_CLASSES)
    assert p[:2].sum() == pytest.approx(42 / 151)  # ORR
    assert p[0] + p[2] == pytest.approx(0.503)  # progression-free at 6 months
    assert p[0] / p[:2].sum() == pytest.approx(0.8)  # responders' durability (assumption)
    r = {
        "bor": np.array([0, 1, 1, 2, 3, 2, -1]),
        "pfs_days": np.array([400, 400, 126, 189, 63, 126, 0]),
        "pfs_event": np.array([0, 0, 1, 1, 1, 1, 0], bool),
    }
    np.testing.assert_array_equal(classify_chemo(r, landmark=182.6), [0, 0, 1, 2, 3, 3, -1])
    sens = ca.sample_sensitivity(4096, seed=2016)
    for k, med, sd in (("k_chemo", 0.03, 1.0), ("lam_chemo", 0.02, 0.5)):
        z = np.log(sens[k] / med) / sd
        assert np.all(np.abs(z) <= 3.0 + 1e-9) and abs(np.median(z)) < 0.01


def test_joint_targets_keep_both_margins_and_the_association():
    counts = np.array([[30.0, 5.0, 1.0], [10.0, 20.0, 4.0], [0.0, 5.0, 25.0]])
    row, col = np.array([0.2, 0.3, 0.5]), np.array([0.25, 0.25, 0.5])
    q = joint_class_targets(counts, row, col)
    np.testing.assert_allclose(q.sum(1), row, atol=1e-10)
    np.testing.assert_allclose(q.sum(0), col, atol=1e-10)
    assert q[2, 0] == 0.0  # an empty plausible cell stays empty
    # the odds ratios of the plausible table are kept (the I-projection on the margins)
    odds = lambda t: t[0, 0] * t[1, 1] / (t[0, 1] * t[1, 0])  # noqa: E731
    assert odds(q) == pytest.approx(odds(counts))
    empty = counts.copy()
    empty[:, 1] = 0.0  # no plausible patient in a class the second arm needs
    with pytest.raises(ValueError, match="second arm"):
        joint_class_targets(empty, row, col)


def test_sampled_os_counts_the_drawn_deaths():
    grid = np.arange(0.0, 1095.0 + 1e-9, 14.0)
    sld = np.full((1000, grid.size), 80.0)
    u = np.random.default_rng(0).uniform(size=1000)
    link = SurvivalLink(scale_days=900.0, shape=1.0, beta=1.5, background_per_year=0.0)
    targets = (
        OSTarget("6-month OS", "landmark", 0.8, day=182.6, n=154),
        OSTarget("median OS", "median", 800.0, se_log=0.2),
    )
    got = sampled_os(sld, grid, u, link, targets, follow_up=1095.0)
    days, event = sample_death_days(sld, grid, u, link, follow_up=1095.0)
    assert got[0] == np.mean(~(event & (days <= 182.6)))
    assert got[1] == np.sort(days[event])[499]
    fitted, info = fit_link_to_sampled_deaths(sld, grid, u, link, targets=targets, follow_up=1095.0)
    assert fitted.beta == 1.5 and info["beta_fixed"]
    pred = sampled_os(sld, grid, u, fitted, targets, follow_up=1095.0)
    # the targets are met up to the steps of 1,000 drawn deaths
    assert pred[0] == pytest.approx(0.8, abs=0.01) and pred[1] == pytest.approx(800.0, rel=0.02)


def test_fit_hazard_ratio_recovers_the_ratio_of_drawn_deaths():
    """Deaths drawn under ``link`` times 2.5: fitted on expected survival and then on the
    drawn deaths, the ratio lands on the target to the step of one death of 1,000; ``link``
    itself is not refitted."""
    grid = np.arange(0.0, 1095.0 + 1e-9, 14.0)
    rng = np.random.default_rng(4)
    sld = rng.uniform(20.0, 200.0, (1000, 1)) * np.linspace(1.0, 2.0, grid.size)[None, :]
    u = rng.uniform(size=1000)
    link = SurvivalLink(scale_days=2000.0, shape=0.8, beta=1.6, background_per_year=0.01)
    probe = (OSTarget("6-month OS", "landmark", 0.5, day=182.6, n=151),)
    (truth,) = sampled_os(sld, grid, u, link.with_hazard_ratio(2.5), probe, follow_up=1095.0)
    target = (dataclasses.replace(probe[0], value=truth),)
    hr, info = fit_hazard_ratio(sld, grid, u, link, targets=target, follow_up=1095.0)
    assert hr == pytest.approx(2.5, rel=0.03) and info["hazard_ratio"] == hr
    assert info["expected_fit"] == pytest.approx(2.5, rel=0.1)
    (row,) = cast("list[dict[str, Any]]", info["targets"])
    assert abs(row["fitted"] - truth) <= 1 / 1000 + 1e-12
    hr_e, info_e = fit_hazard_ratio(
        sld, grid, u, link, targets=target, follow_up=1095.0, sampled=False
    )
    assert hr_e == info_e["expected_fit"] and info_e["fit"] == "expected survival"


@pytest.mark.slow
def test_nsclc_calibration_regression():
    """Seeded, small: the survival link lands on its two OS targets (on the deaths drawn with
    the selected patients' own quantiles), the selection on the published class probabilities
    within sampling tolerance (4 binomial SE + 1 point), ORR and 6-month PFS within 10 points,
    every tumor TPS >= 50 %."""
    vp = calibrate_population(trial="keynote024", n_candidates=4096, survival_passes=1)
    info = cast("dict[str, Any]", vp.info)
    assert info["trial"] == "keynote024" and info["seed"] == 2016
    assert info["classes"] == list(CLASSES_LATE_MEDIAN)
    assert np.all(tps_from_L(vp.table["L"]) >= 50.0 - 1e-9)
    sv = info["survival"]
    assert sv["beta_fixed"] and sv["beta"] == pytest.approx(1.5845359761024889)
    for t in sv["targets"]:  # two parameters, two targets: an exact fit
        assert t["fitted"] == pytest.approx(t["target"], rel=1e-2)
    n = info["n_selected"]
    assert n > 100
    freq = np.asarray(info["selected_class_n"]) / n
    target = np.asarray(info["target_class_p"])
    assert np.all(np.abs(freq - target) < 4 * np.sqrt(target * (1 - target) / n) + 0.01)
    by = {e["kind"]: e for e in cast("list[dict[str, Any]]", vp.endpoints)}
    assert abs(by["orr"]["simulated"] - 69 / 154) < 0.1
    assert abs(by["pfs_at"]["simulated"] - 0.621) < 0.1
    # the chemotherapy arm, selected jointly: its classes on target within the same sampling
    # tolerance, ORR and 6-month PFS within 10 points, each patient its own sensitivity
    ch = info["chemo_arm"]
    assert ch["classes"] == list(CHEMO_CLASSES) and ch["regimen"] == "platinum_doublet × 4 q3w"
    freq_c = np.asarray(ch["selected_class_n"]) / n
    target_c = np.asarray(ch["target_class_p"])
    assert np.all(np.abs(freq_c - target_c) < 4 * np.sqrt(target_c * (1 - target_c) / n) + 0.01)
    bc = {e["kind"]: e for e in ch["endpoints"]}
    assert abs(bc["orr"]["simulated"] - 42 / 151) < 0.1
    assert abs(bc["pfs_at"]["simulated"] - 0.503) < 0.1
    # its 6-month OS by one hazard ratio of death over the pembrolizumab arm's link, fitted on
    # the drawn deaths (to the step of one death, plus the last pass's re-selection)
    hr = ch["survival"]
    assert 1.2 < hr["hazard_ratio"] < 3.0 and hr["fit"].startswith("sampled")
    assert hr["targets"][0]["fitted"] == pytest.approx(0.724, abs=1.5 / n)
    assert abs(bc["os_at"]["simulated"] - 0.724) < 0.05
    assert {e["kind"] for e in ch["predicted"]} == {"median_pfs", "median_os"}
    assert vp.table["k_chemo"].size == n and np.unique(vp.table["k_chemo"]).size == n
    assert info["not_fitted"][0]["arm"] == "platinum doublet (KEYNOTE-024)"


def test_packaged_keynote024_population_meets_its_targets():
    e = POPULATIONS["keynote024"]
    table, meta_ = load_population(e.path())
    meta = cast("dict[str, Any]", meta_)
    info = meta["info"]
    assert info["trial"] == "keynote024" and info["n_candidates"] == 131072
    assert np.all(tps_from_L(table["L"]) >= 50.0 - 1e-9)
    by = {r["kind"]: r for r in meta["endpoints"]}
    assert abs(by["orr"]["simulated"] - 69 / 154) < 0.02
    assert abs(by["cr"]["simulated"] - 6 / 154) < 0.01
    assert abs(by["pfs_at"]["simulated"] - 0.621) < 0.02
    assert by["median_pfs"]["within"]
    for t in info["survival"]["targets"]:
        assert t["fitted"] == pytest.approx(t["target"], rel=1e-2)
    # the platinum-doublet arm, selected jointly: ORR and 6-month PFS within 2 points (about a
    # binomial SE at the file's ~2,700 patients, plus the class split), χ² not rejected
    ch = info["chemo_arm"]
    assert ch["regimen"] == "platinum_doublet × 4 q3w" and ch["chi2_p"] > 0.01
    bc = {r["kind"]: r for r in ch["endpoints"]}
    assert abs(bc["orr"]["simulated"] - 42 / 151) < 0.02
    assert abs(bc["pfs_at"]["simulated"] - 0.503) < 0.02
    assert {"k_chemo", "lam_chemo"} <= set(table)
    # its 6-month OS by the arm's hazard ratio of death (on the drawn deaths, to a death of
    # ~6,800), read with the final link and ratio as a sweep reads them
    hr = ch["survival"]
    assert 1.5 < hr["hazard_ratio"] < 2.5 and hr["fit"].startswith("sampled")
    assert hr["targets"][0]["fitted"] == pytest.approx(0.724, abs=1e-3)
    assert bc["os_at"]["simulated"] == pytest.approx(0.724, abs=1e-3)
    held = info["not_fitted"][0]
    assert held["arm"] == "platinum doublet (KEYNOTE-024)"
    assert [e["kind"] for e in held["endpoints"]] == ["median_pfs", "median_os"]
    assert [e["kind"] for e in ch["predicted"]] == ["median_pfs", "median_os"]
    # the example spec runs the population with its link and the chemotherapy arm's ratio
    from pathlib import Path

    from tumorimmune.sweeps import load_spec

    spec = load_spec(Path(__file__).parents[2] / "examples" / "nsclc_keynote024.toml")
    assert spec.survival is not None
    sv = info["survival"]
    for k in ("scale_days", "shape", "beta"):
        assert getattr(spec.survival, k) == pytest.approx(sv[k], rel=1e-5)
    (arm,) = [a for a in spec.arms if a.name == ch["arm"]]
    assert arm.hazard_ratio == pytest.approx(hr["hazard_ratio"], rel=1e-5)


@pytest.mark.slow
def test_keynote006_population_unchanged_by_the_generalization():
    """The same seeded selection as before trials became data (recorded on the pre-change code:
    2,048 candidates, seed 7, one survival pass)."""
    vp = calibrate_population(n_candidates=2048, seed=7, survival_passes=1)
    again = calibrate_population(
        trial=KEYNOTE006_TRIAL, n_candidates=2048, seed=7, survival_passes=1
    )
    for k, v in vp.table.items():
        np.testing.assert_array_equal(again.table[k], v)
    info = cast("dict[str, Any]", vp.info)
    assert info["n_plausible"] == 1258 and info["n_selected"] == 282
    assert info["selected_class_n"] == [16, 73, 2, 42, 137, 5, 7]
    np.testing.assert_allclose(
        [float(cast("float", e["simulated"])) for e in vp.endpoints],
        [0.322695, 0.056738, 0.464539, 126.0, 0.978022],
        atol=1e-6,
    )
    assert float(vp.table["a"].sum()) == pytest.approx(4.361956587463247, rel=1e-12)


def test_cli_names_the_trial(tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "tumorimmune", "calibrate-population", "--trial", "keynote042"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    assert res.returncode == 2 and "unknown trial 'keynote042'" in res.stderr
    assert "keynote024" in res.stderr  # lists the known trials

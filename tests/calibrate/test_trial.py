"""Multi-endpoint virtual-population calibration (Allen et al. 2016) to KEYNOTE-006."""

from typing import Any, cast

import numpy as np
import pytest

from tumorimmune.calibrate import (
    KEYNOTE006_Q3W_ENDPOINTS,
    calibrate_population,
    load_population,
    target_class_probabilities,
)
from tumorimmune.calibrate._trial import (
    CLASSES,
    classify,
    median_scan,
    prevalence_weights,
)
from tumorimmune.sweeps._spec import PopulationSpec


def test_target_classes_reproduce_the_published_endpoints():
    p = target_class_probabilities(KEYNOTE006_Q3W_ENDPOINTS)
    assert p.sum() == pytest.approx(1.0)
    assert np.all(p >= 0) and len(p) == len(CLASSES)
    excess = 1 + 91 / 277 * (1 - 0.967)  # responders progressing by 6 months, normalized away
    assert (p[0] + p[1]) * excess == pytest.approx(91 / 277, rel=1e-9)  # ORR
    assert p[0] * excess == pytest.approx(17 / 277, rel=1e-9)  # CR
    # progression-free at 6 months: durable responders + non-responders without PD
    assert ((p[0] + p[1]) * 0.967 + p[2]) * excess == pytest.approx(0.464, rel=1e-9)
    # the Kaplan–Meier curve crosses 0.5 at the median scan (126 d ≈ 4.1 months)
    assert 1 - p[3] * excess > 0.5 > 1 - (p[3] + p[4]) * excess
    assert median_scan([0, 84, 126, 168], 124.8) == 126


def test_prevalence_selection_hits_the_target_in_expectation():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 6, size=50_000)
    target = np.array([0.05, 0.25, 0.15, 0.45, 0.05, 0.05])
    accept, _ = prevalence_weights(classes, target)
    expected = np.bincount(classes, weights=accept, minlength=6)
    np.testing.assert_allclose(expected / expected.sum(), target, rtol=1e-12)
    assert accept.max() == pytest.approx(1.0)  # α = 1/max ratio keeps the most patients
    with pytest.raises(ValueError, match="widen the parameter ranges"):
        prevalence_weights(np.zeros(10, int), target)


def test_classify_constructed_readouts():
    r = {
        "bor": np.array([0, 1, 2, 3, 3, 3, 2, -1]),
        "pfs_days": np.array([365, 365, 365, 84, 126, 168, 300, np.nan]),
        "pfs_event": np.array([0, 0, 0, 1, 1, 1, 1, 0], bool),
    }
    got = classify(r, landmark=182.6, median_day=126.0)
    np.testing.assert_array_equal(got, [0, 1, 2, 3, 4, 5, 2, -1])


@pytest.mark.slow
def test_calibration_regression_small_population():
    vp = calibrate_population(n_candidates=2048, seed=7)
    rows = {r["name"]: cast("dict[str, Any]", r) for r in vp.endpoints}  # JSON-like rows
    # the selection is on target within sampling error of the selected population
    for name in ("ORR", "CR rate", "6-month PFS"):
        r = rows[name]
        assert r["simulated_lo"] <= r["target"] <= r["simulated_hi"], r
    info = cast("dict[str, float]", vp.info)  # JSON-like: the numbers read here are floats
    assert info["chi2_p"] > 0.01
    assert info["untreated_pfs_at_365"] < 0.05  # untreated tumors progress within a year
    # reproducible from the seed
    again = calibrate_population(n_candidates=2048, seed=7)
    for k, v in vp.table.items():
        np.testing.assert_array_equal(again.table[k], v)


def test_shipped_population_meets_its_targets():
    table, meta = load_population(PopulationSpec(file="keynote006").path())
    n = {len(v) for v in table.values()}
    assert len(n) == 1 and n.pop() >= 10_000
    assert {"a", "m", "s", "h_kill", "L", "weight", "T0", "E0"} <= set(table)
    for r in cast("list[dict[str, Any]]", meta["endpoints"]):  # JSON metadata
        if r["kind"] in ("orr", "cr", "pfs_at"):
            assert r["target_lo"] <= r["simulated"] <= r["target_hi"], r
    # untreated tumors progress: essentially no one is progression-free at one year
    assert cast("dict[str, Any]", meta["info"])["untreated_pfs_at_365"] < 0.05

"""PD-L1 as an assay: the L ↔ TPS mapping round trip, the trials' categories, the screening
distributions and their sampler."""

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune.model import (
    KEYNOTE006_PDL1,
    KEYNOTE024_SCREENING,
    LINEAR_TPS_MAP,
    L_from_tps,
    TPSMap,
    category_labels,
    pdl1_positive,
    sample_tps,
    tps_category,
    tps_from_L,
)


@pytest.mark.parametrize("mapping", [LINEAR_TPS_MAP, TPSMap.quantile(KEYNOTE024_SCREENING)])
def test_round_trip_both_ways(mapping):
    L = np.linspace(0.0, 1.0, 1001)
    assert np.allclose(L_from_tps(tps_from_L(L, mapping=mapping), mapping=mapping), L, atol=1e-12)
    tps = np.linspace(0.0, 100.0, 1001)
    assert np.allclose(tps_from_L(L_from_tps(tps, mapping=mapping), mapping=mapping), tps)
    assert np.all(np.diff(tps_from_L(L, mapping=mapping)) > 0)  # strictly increasing


def test_linear_map_is_percent_of_L_and_keeps_shapes():
    assert float(tps_from_L(0.5)) == 50.0 and float(L_from_tps(1.0)) == 0.01
    assert tps_from_L(np.ones((2, 3))).shape == (2, 3)
    assert float(tps_from_L(1.5)) == 100.0 and float(L_from_tps(-3.0)) == 0.0  # clipped
    assert np.isnan(tps_from_L(np.nan))


def test_quantile_map_sends_a_uniform_L_onto_the_screening_shares():
    m = TPSMap.quantile(KEYNOTE024_SCREENING)
    L = (np.arange(100_000) + 0.5) / 100_000
    cat = tps_category(tps_from_L(L, mapping=m))
    shares = [np.mean(cat == c) for c in ("<1%", "1-49%", ">=50%")]
    assert np.allclose(shares, KEYNOTE024_SCREENING.shares, atol=1e-4)


def test_categories_as_the_trials_define_them():
    t = np.array([0.0, 0.99, 1.0, 49.9, 50.0, 100.0, np.nan])
    assert tps_category(t).tolist() == ["<1%", "<1%", "1-49%", "1-49%", ">=50%", ">=50%", ""]
    assert category_labels(cutoffs=(1.0,)) == ("<1%", ">=1%")
    assert tps_category([0.5, 1.0], cutoffs=(1.0,)).tolist() == ["<1%", ">=1%"]
    assert pdl1_positive([0.5, 1.0, 80.0]).tolist() == [False, True, True]


def test_published_screening_shares():
    # KEYNOTE-024 screening: 500 of 1,653 (30.2 %) TPS >= 50 %, 646 (39.1 %) TPS 1-49 %
    assert round(100 * KEYNOTE024_SCREENING.share_at_least(50.0), 1) == 30.2
    assert round(100 * KEYNOTE024_SCREENING.shares[1], 1) == 39.1
    assert KEYNOTE006_PDL1.share_at_least(1.0) == pytest.approx(0.806)


def test_sampler_is_seeded_and_follows_the_shares():
    a = sample_tps(KEYNOTE024_SCREENING, 20_000, rng=np.random.default_rng(7))
    b = sample_tps(KEYNOTE024_SCREENING, 20_000, rng=np.random.default_rng(7))
    assert np.array_equal(a, b) and a.shape == (20_000,)
    assert a.min() >= 0.0 and a.max() <= 100.0
    cat = tps_category(a)
    for label, share in zip(category_labels(), KEYNOTE024_SCREENING.shares, strict=True):
        assert abs(np.mean(cat == label) - share) < 0.015
    assert np.all((L_from_tps(a) >= 0) & (L_from_tps(a) <= 1))


def test_invalid_maps_and_distributions_are_refused():
    with pytest.raises(ValueError, match="increasing"):
        TPSMap(L_knots=(0.0, 0.5, 0.5, 1.0), tps_knots=(0.0, 1.0, 50.0, 100.0))
    with pytest.raises(ValueError, match="onto"):
        TPSMap(L_knots=(0.0, 1.0), tps_knots=(0.0, 50.0))
    with pytest.raises(ValueError, match="shares"):
        type(KEYNOTE024_SCREENING)("x", "y", (1.0,), (0.5, 0.6), 1, "")

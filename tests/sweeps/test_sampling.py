"""Patient table: determinism, independence of the block size, grid layout, distributions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from tumorimmune.sweeps import DistSpec, SweepPlan, patient_table, validate_spec
from tumorimmune.sweeps._sampling import transform


def test_blocks_equal_whole_table_for_any_block_size(tiny):
    spec = validate_spec(tiny())
    whole = patient_table(spec)
    for size in (1, 3, 7, 20):
        parts = [
            patient_table(spec, s, s + size)
            for s in range(0, SweepPlan.from_spec(spec).n_patients, size)
        ]
        for k, v in whole.items():
            np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), v)


def test_same_seed_same_table_other_seed_other_table(tiny):
    a = patient_table(validate_spec(tiny()))
    b = patient_table(validate_spec(tiny()))
    c = patient_table(validate_spec(tiny(sampling={"method": "lhs", "cohort_size": 10, "seed": 4})))
    np.testing.assert_array_equal(a["a"], b["a"])
    assert not np.allclose(a["a"], c["a"])


def test_grid_cells_in_c_order(tiny):
    spec = validate_spec(
        tiny(
            axes={"eps_m": {"values": [0.0, 0.5]}, "a": {"linspace": [0.1, 0.3, 3]}},
            variability={},
            pk={},
            sampling={"cohort_size": 2},
        )
    )
    t = patient_table(spec)
    assert SweepPlan.from_spec(spec).n_patients == 12
    np.testing.assert_array_equal(t["cell"], np.repeat(np.arange(6), 2))
    em, aa = np.meshgrid([0.0, 0.5], [0.1, 0.2, 0.3], indexing="ij")
    np.testing.assert_allclose(t["eps_m"], np.repeat(em.ravel(), 2))
    np.testing.assert_allclose(t["a"], np.repeat(aa.ravel(), 2))


def test_lhs_stratifies_every_margin(tiny):
    n = 50
    spec = validate_spec(
        tiny(
            axes={},
            variability={
                "L": {"dist": "uniform", "low": 0.0, "high": 1.0},
                "a": {"dist": "uniform", "low": 0.1, "high": 0.2},
            },
            pk={},
            sampling={"method": "lhs", "cohort_size": n, "seed": 1},
        )
    )
    t = patient_table(spec)
    np.testing.assert_array_equal(np.sort(np.floor(t["L"] * n)), np.arange(n))
    np.testing.assert_array_equal(np.sort(np.floor((t["a"] - 0.1) / 0.1 * n)), np.arange(n))


@pytest.mark.parametrize("method", ["random", "lhs", "sobol"])
def test_lognormal_matches_scipy(method, tiny):
    n = 4096
    spec = validate_spec(
        tiny(
            axes={},
            variability={"a": {"dist": "lognormal", "median": 0.2, "cv": 0.4}},
            pk={},
            sampling={"method": method, "cohort_size": n, "seed": 11},
        )
    )
    x = patient_table(spec)["a"]
    sigma = np.sqrt(np.log1p(0.4**2))
    ks = scipy.stats.kstest(x, scipy.stats.lognorm(s=sigma, scale=0.2).cdf)
    assert ks.pvalue > 1e-3
    assert np.std(x) / np.mean(x) == pytest.approx(0.4, rel=0.1)


def test_distribution_transforms_against_scipy_ppf():
    u = np.linspace(0.01, 0.99, 99)
    d = DistSpec(dist="normal", mean=2.0, sd=0.5)
    np.testing.assert_allclose(transform(d, u, 0.0), scipy.stats.norm(2.0, 0.5).ppf(u))
    d = DistSpec(dist="loguniform", low=1e-3, high=1e1)
    np.testing.assert_allclose(transform(d, u, 0.0), scipy.stats.loguniform(1e-3, 1e1).ppf(u))
    d = DistSpec(dist="normal", sd=1.0, low=0.0, high=1.5)  # mean from the base/grid value
    ref = scipy.stats.truncnorm(-0.5, 1.0, loc=0.5, scale=1.0).ppf(u)
    np.testing.assert_allclose(transform(d, u, 0.5), ref, rtol=1e-10)
    d = DistSpec(dist="lognormal", cv=0.5, high=1.0)
    x = transform(d, u, 0.8)
    assert np.all(x <= 1.0) and np.all(np.diff(x) > 0)


def test_discrete_distribution_frequencies(tiny):
    d = DistSpec(dist="discrete", values=[1, 2, 3, 5], weights=[0.1, 0.2, 0.3, 0.4])
    u = (np.arange(1000) + 0.5) / 1000  # evenly spread: frequencies exact to 1/1000
    x = transform(d, u, 0.0)
    for v, w in zip([1, 2, 3, 5], [0.1, 0.2, 0.3, 0.4], strict=True):
        assert np.mean(x == v) == pytest.approx(w, abs=1e-3)
    assert np.all(np.diff(x) >= 0)  # inverse CDF: monotone in u
    equal = DistSpec(dist="discrete", values=[4, 2])  # default: equal weights, given order
    np.testing.assert_array_equal(transform(equal, np.array([0.2, 0.7]), 0.0), [4.0, 2.0])
    spec = validate_spec(
        tiny(
            variability={"n_lesions": {"dist": "discrete", "values": [1, 2, 3, 4, 5]}},
            pk={},
            axes={},
            sampling={"method": "lhs", "cohort_size": 500, "seed": 1},
        )
    )
    k = patient_table(spec)["n_lesions"]
    np.testing.assert_array_equal(np.bincount(k.astype(int))[1:], [100] * 5)  # LHS: exact strata


def test_variability_centered_on_grid_value(tiny):
    spec = validate_spec(
        tiny(
            axes={"a": {"values": [0.1, 0.3]}},
            variability={"a": {"dist": "lognormal", "cv": 0.2}},
            pk={},
            sampling={"method": "lhs", "cohort_size": 401, "seed": 0},
        )
    )
    t = patient_table(spec)
    assert np.median(t["a"][:401]) == pytest.approx(0.1, rel=0.02)
    assert np.median(t["a"][401:]) == pytest.approx(0.3, rel=0.02)

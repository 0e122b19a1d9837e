"""Estimators against analytic indices: Ishigami, Sobol' G function, dummy parameters, Morris
ranking of a constructed model, PRCC signs; failed evaluations; determinism."""

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune.sensitivity import analyze, convergence, convergence_sizes, sample


def ishigami(X: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    """Ishigami & Homma (1990) on [-π, π]^3; further columns do not enter (dummies)."""
    z = -np.pi + 2 * np.pi * X
    return np.sin(z[:, 0]) + a * np.sin(z[:, 1]) ** 2 + b * z[:, 2] ** 4 * np.sin(z[:, 0])


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> dict[str, np.ndarray]:
    """Analytic first-, total- and second-order indices (Sobol' & Levitan 1999)."""
    pi = np.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return {
        "S1": np.array([v1, v2, 0.0]) / v,
        "ST": np.array([v1 + v13, v2, v13]) / v,
        "S2_13": np.array(v13 / v),
    }


def g_function(X: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Sobol' G function: prod_i (|4 x_i - 2| + a_i) / (1 + a_i)."""
    return np.prod((np.abs(4 * X - 2) + a) / (1 + a), axis=1)


def g_indices(a: np.ndarray) -> dict[str, np.ndarray]:
    vi = 1 / (3 * (1 + a) ** 2)
    v = np.prod(1 + vi) - 1
    st = np.array([vi[i] * np.prod(np.delete(1 + vi, i)) for i in range(a.size)]) / v
    return {"S1": vi / v, "ST": st}


def _inside(res, key: str, truth: np.ndarray) -> None:
    lo, hi = res[f"{key}_lo"].values, res[f"{key}_hi"].values
    ok = (lo <= truth) & (truth <= hi)
    assert ok.all(), f"{key}: analytic {truth} outside CI [{lo}, {hi}] (estimate {res[key].values})"


def test_sobol_reproduces_ishigami_within_bootstrap_ci():
    X = sample("sobol", 4, 2**12, second_order=True, seed=11)  # 4th column: a dummy
    res = analyze("sobol", X, ishigami(X), second_order=True, seed=11)
    truth = ishigami_indices()
    _inside(res.isel(param=slice(0, 3)), "S1", truth["S1"])
    _inside(res.isel(param=slice(0, 3)), "ST", truth["ST"])
    s2 = res.isel(param=0, param2=2)
    assert float(s2["S2_lo"]) <= truth["S2_13"] <= float(s2["S2_hi"])
    assert float(res["S2"].isel(param=2, param2=0)) == float(s2["S2"])  # symmetric
    # the CIs are informative, not just wide: half-widths below 0.05
    assert float((res["ST_hi"] - res["ST_lo"]).max()) < 0.1


def test_sobol_reproduces_g_function_within_bootstrap_ci():
    a = np.array([0.0, 1.0, 4.5, 9.0, 99.0, 99.0])
    X = sample("sobol", a.size, 2**13, seed=5)
    res = analyze("sobol", X, g_function(X, a), seed=5)
    truth = g_indices(a)
    _inside(res, "S1", truth["S1"])
    _inside(res, "ST", truth["ST"])
    assert list(np.argsort(-res["ST"].values)[:4]) == [0, 1, 2, 3]


@pytest.mark.parametrize("method", ["sobol", "prcc", "morris"])
def test_parameter_not_entering_the_model_has_ci_containing_zero(method):
    rng = np.random.default_rng(0)
    X = sample(method, 4, 1024 if method != "morris" else 40, seed=3)
    # x3 does not enter; x0..x2 do. PRCC is sample-based: add noise so no index is exact. (For
    # Sobol' estimators per-evaluation noise is variance "explained" by every column, so the
    # model stays deterministic as the ODE model is.)
    Y = ishigami(X) + (0.2 * rng.normal(size=len(X)) if method == "prcc" else 0.0)
    res = analyze(method, X, Y, seed=3, names=["x0", "x1", "x2", "dummy"])
    key = {"sobol": ("S1", "ST"), "prcc": ("prcc",), "morris": ("mu_star",)}[method]
    for k in key:
        lo = float(res[f"{k}_lo"].sel(param="dummy"))
        hi = float(res[f"{k}_hi"].sel(param="dummy"))
        if method == "morris":  # μ* >= 0: the dummy's μ* is the noise's; far below x1's
            assert hi < 0.2 * float(res["mu_star"].sel(param="x1"))
        else:
            assert lo <= 0.0 <= hi, f"{k}: CI [{lo}, {hi}] misses 0"
        # and an influential parameter's CI lies above 0 (x0: monotone in part, so PRCC too)
        assert float(res[f"{k}_lo"].sel(param="x0")) > 0


def test_morris_ranks_constructed_model():
    """y = 8 x0 + 4 x1 + 2 x2 + x3 + 3 x4 x5 (interaction), x6 absent: expected μ* (per unit
    range) 8, 4, 2, 1, 3 E[x5] = 1.5, 1.5, 0, so the ranking is x0 x1 x2 {x4 x5} x3 x6."""
    X = sample("morris", 7, 60, seed=2)
    Y = 8 * X[:, 0] + 4 * X[:, 1] + 2 * X[:, 2] + X[:, 3] + 3 * X[:, 4] * X[:, 5]
    res = analyze("morris", X, Y, seed=2)
    mu = res["mu_star"].values
    # exact for linear terms: μ* = coefficient, σ = 0
    np.testing.assert_allclose(mu[:4], [8, 4, 2, 1], rtol=1e-12)
    np.testing.assert_allclose(res["sigma"].values[:4], 0.0, atol=1e-12)
    assert mu[6] == 0.0
    order = list(np.argsort(-mu, kind="stable"))
    assert order[:3] == [0, 1, 2] and set(order[3:5]) == {4, 5} and order[5:] == [3, 6]
    # the interacting pair: the effect depends on the other, so σ > 0
    assert np.all(res["sigma"].values[4:6] > 0.3)
    assert np.all((mu[4:6] > 1.1) & (mu[4:6] < 1.9))


def test_prcc_signs_of_monotone_effects():
    X = sample("prcc", 3, 2000, seed=1)
    rng = np.random.default_rng(1)
    Y = np.exp(3 * X[:, 0]) - 2 * X[:, 1] + 0.3 * rng.normal(size=len(X))
    res = analyze("prcc", X, Y, seed=1)
    assert float(res["prcc_lo"][0]) > 0.9  # monotone increasing, nonlinear: PRCC near 1
    assert float(res["prcc_hi"][1]) < -0.5
    assert float(res["prcc_lo"][2]) <= 0 <= float(res["prcc_hi"][2])


def test_failed_evaluations_drop_their_whole_block():
    X = sample("sobol", 3, 256, seed=4)
    Y = ishigami(X)
    block = 3 + 2
    bad = [7, 100, 101, 1000]  # rows in base samples 1, 20 and 200
    Yn = Y.copy()
    Yn[bad] = np.nan
    res = analyze("sobol", X, Yn, seed=4)
    keep = np.ones(256, bool)
    keep[[1, 20, 200]] = False
    rows = np.repeat(keep, block)
    ref = analyze("sobol", X[rows], Y[rows], seed=4)
    assert res.attrs["n_used"] == 253 and res.attrs["n_dropped"] == 3
    np.testing.assert_allclose(res["S1"].values, ref["S1"].values)
    np.testing.assert_allclose(res["ST"].values, ref["ST"].values)


def test_constant_output_gives_nan_not_an_error():
    X = sample("sobol", 3, 64, seed=0)
    res = analyze("sobol", X, np.ones(len(X)))
    assert np.all(np.isnan(res["ST"].values))


def test_seed_zero_is_deterministic():
    """SALib treats seed 0 as unseeded; ours must give the same CIs every call."""
    X = sample("sobol", 3, 128, seed=0)
    a = analyze("sobol", X, ishigami(X), seed=0)
    b = analyze("sobol", X, ishigami(X), seed=0)
    np.testing.assert_array_equal(a["ST_lo"].values, b["ST_lo"].values)


def test_designs_prefixes_and_convergence():
    big = sample("sobol", 3, 512, seed=9)
    small = sample("sobol", 3, 64, seed=9)
    np.testing.assert_array_equal(big[: len(small)], small)  # prefix = smaller design
    assert convergence_sizes("sobol", 512) == [32, 64, 128, 256, 512]
    conv = convergence("sobol", big, ishigami(big), [64, 512], seed=9)
    direct = analyze("sobol", small, ishigami(small), seed=9)
    np.testing.assert_allclose(conv["ST"].sel(n=64).values, direct["ST"].values)
    truth = ishigami_indices()["ST"]
    err = np.abs(conv["ST"].values - truth)
    assert err[1].max() < err[0].max()  # more samples, closer to the analytic values


@pytest.mark.usefixtures("unchecked")  # Y of the wrong length on purpose
def test_bad_input_messages():
    X = sample("sobol", 3, 64)
    with pytest.raises(ValueError, match="do not match the design"):
        analyze("sobol", X, np.ones(10))
    with pytest.raises(ValueError, match="allowed: \\['morris', 'prcc', 'sobol'\\]"):
        sample("fast", 3, 64)


def test_sobol_fast_path_equals_salib():
    """Without second order the indices and CIs are SALib's, computed from resample counts."""
    from SALib.analyze import sobol

    X = sample("sobol", 5, 512, seed=8)
    Y = g_function(X, np.array([0.0, 1.0, 4.5, 9.0, 99.0])) + X[:, 0] * X[:, 1]
    res = analyze("sobol", X, Y, n_bootstrap=100, confidence=0.9, seed=6)
    problem = {"num_vars": 5, "names": list("abcde"), "bounds": [[0, 1]] * 5}
    ref = sobol.analyze(
        problem, Y, calc_second_order=False, num_resamples=100, conf_level=0.9, seed=7
    )
    for k in ("S1", "ST"):
        np.testing.assert_allclose(res[k].values, ref[k], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(
            (res[f"{k}_hi"] - res[k]).values, ref[f"{k}_conf"], rtol=1e-10, atol=1e-14
        )
        np.testing.assert_allclose(
            (res[k] - res[f"{k}_lo"]).values, ref[f"{k}_conf"], rtol=1e-10, atol=1e-14
        )

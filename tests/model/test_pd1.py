"""PD-1 blockade model: reduction to Kuznetsov, batching, positivity, effect direction."""

import jax.numpy as jnp
import numpy as np
import pytest

import tumorimmune as ti
from tumorimmune.model import Kuznetsov1994, TumorImmunePD1

T = np.linspace(0.0, 365.0, 27)
Y0 = {"E": 3.2e5, "T": 5e6}


def test_no_drug_vector_field_is_exactly_kuznetsov():
    rng = np.random.default_rng(1)
    k, p = Kuznetsov1994(a=0.25), TumorImmunePD1(a=0.25)
    for E, Tc in rng.uniform(1e3, 1e9, size=(20, 2)):
        fk = np.asarray(k.vector_field(3.0, jnp.array([E, Tc]), None))
        fp = np.asarray(p.vector_field(3.0, jnp.array([E, Tc, 0.0, 0.0, 0.0, 0.0]), None))
        np.testing.assert_array_equal(fp[:2], fk)  # bitwise: RO = 0 leaves n and m untouched
        np.testing.assert_array_equal(fp[2:], 0.0)


def test_no_drug_trajectory_is_kuznetsov():
    k = ti.simulate(Kuznetsov1994(a=0.25), Y0, T)
    p = ti.simulate(TumorImmunePD1(a=0.25), Y0, T)  # no regimen: RO = 0 throughout
    # same equations; step sizes differ only through the RMS error norm over 4 vs 2 states
    np.testing.assert_allclose(p["T"].values, k["T"].values, rtol=1e-7)
    np.testing.assert_allclose(p["E"].values, k["E"].values, rtol=1e-7)
    assert np.all(p["RO"].values == 0.0)


def test_zero_effect_size_with_drug_is_kuznetsov():
    k = ti.simulate(Kuznetsov1994(), Y0, T)
    p = ti.simulate(
        TumorImmunePD1(eps_n=0.0, eps_m=0.0), Y0, T, regimen=ti.model.PEMBROLIZUMAB_200MG_Q3W
    )
    assert p["RO"].values.max() > 0.9  # drug is there ...
    np.testing.assert_allclose(p["T"].values, k["T"].values, rtol=1e-6)  # ... and does nothing


def test_zero_pdl1_expression_is_kuznetsov():
    k = ti.simulate(Kuznetsov1994(), Y0, T)
    p = ti.simulate(TumorImmunePD1(L=0.0), Y0, T, regimen=ti.model.PEMBROLIZUMAB_200MG_Q3W)
    np.testing.assert_allclose(p["T"].values, k["T"].values, rtol=1e-6)


def test_batch_equals_single_solves():
    L = np.array([0.0, 0.3, 0.7, 1.0])
    a = np.array([0.15, 0.18, 0.2, 0.22])
    T0 = np.array([2e6, 5e6, 1e7, 3e7])
    reg = ti.model.PEMBROLIZUMAB_200MG_Q3W
    batch = ti.simulate(TumorImmunePD1(L=L, a=a), {"E": 3.2e5, "T": T0}, T, regimen=reg)
    assert batch["T"].dims == ("patient", "time")
    for i in range(len(L)):
        one = ti.simulate(TumorImmunePD1(L=L[i], a=a[i]), {"E": 3.2e5, "T": T0[i]}, T, regimen=reg)
        assert one["T"].dims == ("time",)
        np.testing.assert_allclose(batch["T"].values[i], one["T"].values, rtol=1e-7)
        np.testing.assert_allclose(batch["C"].values[i], one["C"].values, rtol=1e-7)


def test_blockade_shrinks_tumor_more_with_higher_pdl1():
    L = np.linspace(0.0, 1.0, 5)
    ds = ti.simulate(TumorImmunePD1(L=L), Y0, T, regimen=ti.model.PEMBROLIZUMAB_200MG_Q3W)
    final = ds["T"].values[:, 10]  # day ~140
    assert np.all(np.diff(final) < 0)


def test_positivity_and_receptor_occupancy_bounds():
    rng = np.random.default_rng(0)
    n = 32
    model = TumorImmunePD1(
        a=rng.uniform(0.05, 0.4, n), L=rng.uniform(0, 1, n), eps_n=rng.uniform(0, 5, n)
    )
    ds = ti.simulate(
        model,
        {"E": rng.uniform(1e4, 1e7, n), "T": rng.uniform(1e3, 1e8, n)},
        T,
        regimen=ti.model.PEMBROLIZUMAB_200MG_Q3W,
    )
    assert np.all(ds["status"].values == 0)
    for v in ("E", "T", "C", "A1", "A2"):
        assert np.all(ds[v].values >= 0), v
    assert np.all((ds["RO"].values >= 0) & (ds["RO"].values < 1))


def test_extinct_tumor_stays_at_zero():
    # strong blockade clears a small tumor; below one cell it is extinct (absorbing).
    ds = ti.simulate(
        TumorImmunePD1(eps_n=20.0),
        {"E": 1e6, "T": 1e3},
        T,
        regimen=ti.model.PEMBROLIZUMAB_200MG_Q3W,
    )
    Tv = ds["T"].values
    first = int(np.argmax(Tv == 0.0))
    assert first > 0 and np.all(Tv[first:] == 0.0)


def test_with_drug_sets_pk_and_name():
    m = TumorImmunePD1.with_drug("nivolumab", L=0.5)
    assert m.drug == "nivolumab" and float(np.asarray(m.CL)) == pytest.approx(0.2256)
    assert float(np.asarray(m.L)) == 0.5
    with pytest.raises(ValueError, match="unknown drug"):
        TumorImmunePD1.with_drug("atezolizumab")

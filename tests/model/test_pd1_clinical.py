"""Clinical terms of the PD-1 model: reduction, target engagement, PD-L1, saturating kill."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import ArrayLike

import tumorimmune as ti
from tumorimmune.model import TumorImmunePD1, two_compartment_bolus


def _old_form(model: TumorImmunePD1, y: np.ndarray, cl: float) -> np.ndarray:
    """The model's first form, written out by hand (n_eff ∝ L·RO, RO = C/(C+EC50), mass action)."""
    E, T, A1, A2 = y
    C = A1 / model.V1
    ro = C / (C + model.EC50)
    n_eff = model.n * (1 + model.eps_n * model.L * ro)
    m_eff = model.m * (1 - model.eps_m * model.L * ro)
    dE = model.s + model.p * E * T / (model.g + T) - m_eff * E * T - model.d * E
    dT = model.a * T * (1 - model.b * T) - n_eff * E * T
    dA1 = -cl / model.V1 * A1 - model.Q / model.V1 * A1 + model.Q / model.V2 * A2
    dA2 = model.Q / model.V1 * A1 - model.Q / model.V2 * A2
    return np.array([dE, dT, dA1, dA2])


def test_new_terms_switched_off_reduce_to_the_first_form():
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        m = TumorImmunePD1(L=0.6, eps_n=1.3, eps_m=0.4)  # Imax = 1, f_indep = 0, h_kill = 0
        for E, T, A1, A2 in rng.uniform([1e3, 1e5, 0, 0], [1e7, 1e10, 300, 200], size=(25, 4)):
            y = np.array([E, T, A1, A2])
            got = np.asarray(m.vector_field(5.0, jnp.asarray([*y, 0.0, 0.0]), None))
            np.testing.assert_allclose(
                got[:4], _old_form(m, y, float(np.asarray(m.CL))), rtol=1e-14, atol=0
            )
            assert got[4] == 0.0 and got[5] == 0.0  # no escape variants, no infiltrate


def test_occupancy_has_published_potency():
    m = TumorImmunePD1(Imax=0.961, EC50=0.535)  # Elassaiss-Schaap et al. 2017
    assert float(m.occupancy(jnp.asarray(0.535))) == pytest.approx(0.961 / 2)
    assert float(m.occupancy(jnp.asarray(1e6))) == pytest.approx(0.961, rel=1e-5)


def test_pdl1_negative_tumors_keep_the_independent_share():
    m = TumorImmunePD1(Imax=0.961, EC50=0.535, f_indep=0.3, L=0.0)
    C = jnp.asarray(20.0)
    assert float(m.blockade(C)) == pytest.approx(0.3 * float(m.occupancy(C)))
    full = TumorImmunePD1(Imax=0.961, EC50=0.535, f_indep=0.3, L=1.0)
    assert float(full.blockade(C)) == pytest.approx(float(m.occupancy(C)))


def test_kill_saturates_at_one_over_handling_time():
    m = TumorImmunePD1(h_kill=25.0)
    with jax.enable_x64(True):
        assert float(m.kill_rate(jnp.asarray(1e15), m.n)) == pytest.approx(1 / 25.0, rel=1e-6)
        small = float(m.kill_rate(jnp.asarray(10.0), m.n))
        assert small == pytest.approx(m.n * 10.0, rel=1e-4)  # mass action for few effectors


def test_quasi_steady_effectors_are_on_the_nullcline():
    m = TumorImmunePD1(s=700.0, d=0.01, m=5e-12, p=0.1245, g=1e9)
    with jax.enable_x64(True):
        T = np.array([5e10, 1e11, 2e11])
        E = np.asarray(m.quasi_steady_effectors(T))
        for e, t in zip(E, T, strict=True):
            f = np.asarray(m.vector_field(0.0, jnp.asarray([e, t, 0.0, 0.0, 0.0, 0.0]), None))
            assert abs(f[0]) < 1e-9 * m.s
        # small tumors: recruitment beats exhaustion and decay → no steady state
        assert np.isinf(np.asarray(m.quasi_steady_effectors(np.array([1e10]))))[0]


def test_low_doses_matter_clinical_doses_do_not():
    """With IC50 0.535 µg/mL, RO at the first trough: 2 vs 10 mg/kg q3w within 5 %, 0.1 mg/kg
    far lower (KEYNOTE-001/-002 found no difference between 2 and 10 mg/kg)."""
    pk = TumorImmunePD1.with_drug("pembrolizumab", Imax=0.961, EC50=0.535)
    CL, V1, Q, V2 = (float(np.asarray(v)) for v in (pk.CL, pk.V1, pk.Q, pk.V2))
    ro = {}
    for dose in (0.1, 2.0, 10.0):
        C = two_compartment_bolus([21.0], [0.0], [dose * 70.0], CL=CL, V1=V1, Q=Q, V2=V2)[0]
        ro[dose] = float(pk.occupancy(jnp.asarray(C)))
    assert ro[10.0] - ro[2.0] < 0.05 * ro[10.0]
    assert ro[0.1] < 0.75 * ro[2.0]


def test_clinical_model_runs_on_the_fast_backend_like_diffrax():
    from tumorimmune.calibrate import CLINICAL_FIXED

    patient: dict[str, ArrayLike] = {"a": 0.012, "m": 5e-12, "s": 700.0, "h_kill": 60.0, "L": 0.7}
    m = TumorImmunePD1.with_drug("pembrolizumab", **{**CLINICAL_FIXED, **patient})
    T0 = 6e10
    E0 = float(m.quasi_steady_effectors(T0))
    t = np.array([0.0, 84, 126, 168, 252, 365])
    reg = ti.model.PEMBROLIZUMAB_200MG_Q3W
    a = ti.simulate(m, {"E": E0, "T": T0}, t, regimen=reg, backend="fused")
    b = ti.simulate(m, {"E": E0, "T": T0}, t, regimen=reg, backend="diffrax")
    np.testing.assert_allclose(a["T"].values, b["T"].values, rtol=1e-5)
    assert int(a["status"]) == 0

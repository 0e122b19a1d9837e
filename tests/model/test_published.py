"""Published models checked against analytic results and independent SciPy solves."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import ArrayLike
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from tumorimmune import simulate
from tumorimmune.model import ClaretTGI, DePillis2005, Nikolopoulou2018


def _num(x: ArrayLike) -> float:
    """A scalar model field (typed ``ArrayLike``) as a Python float."""
    return float(np.asarray(x))


def _root(f, lo: float, hi: float) -> float:
    """Root of ``f`` in ``[lo, hi]`` by Brent's method to near machine precision."""
    root, _ = brentq(f, lo, hi, xtol=1e-16, rtol=np.float64(1e-14), full_output=True)
    return float(root)


def _jacobian(model, y):
    with jax.enable_x64(True):
        f = lambda v: model.vector_field(0.0, v, None)  # noqa: E731
        return np.asarray(jax.jacfwd(f)(jnp.asarray(y, jnp.float64)))


# ------------------------------------------------------------------ de Pillis et al. (2005)
def _depillis_rhs(p):
    """Independent NumPy right-hand side of de Pillis et al. (2005), eqs. (1)–(3)."""

    def rhs(t, y):
        T, N, L = y
        D = p["d"] * (L / T) ** p["lam"] / (p["s"] + (L / T) ** p["lam"]) if L > 0 else 0.0
        return [
            p["a"] * T * (1 - p["b"] * T) - p["c"] * N * T - D * T,
            p["sigma"] - p["f"] * N + p["g"] * T**2 / (p["h"] + T**2) * N - p["p"] * N * T,
            -p["m"] * L
            + p["j"] * (D * T) ** 2 / (p["k"] + (D * T) ** 2) * L
            - p["q"] * L * T
            + p["r"] * N * T,
        ]

    return rhs


def test_depillis_human_parameters_and_tumor_free_equilibrium():
    m = DePillis2005()
    # the human (patient 9) set of de Pillis et al. (2005), as tabulated in de Pillis 2006
    assert (m.a, m.b, m.c, m.d, m.lam, m.s) == (0.431, 1.02e-9, 6.41e-11, 2.34, 2.09, 0.0839)
    N_star = _num(m.sigma) / _num(m.f)  # tumor-free equilibrium (0, σ/f, 0)
    y = np.array([0.0, N_star, 0.0])
    np.testing.assert_allclose(np.asarray(m.vector_field(0.0, jnp.asarray(y))), 0.0, atol=1e-9)
    J = _jacobian(m, y)
    # tumor direction: the linear growth rate a − c·σ/f (positive: the equilibrium is unstable)
    np.testing.assert_allclose(J[0, 0], _num(m.a) - _num(m.c) * N_star, rtol=1e-12)
    assert J[0, 0] > 0
    np.testing.assert_allclose(J[1, 1], -_num(m.f), rtol=1e-12)
    np.testing.assert_allclose(J[2, 2], -_num(m.m), rtol=1e-12)


def test_depillis_matches_independent_scipy_solve():
    m = DePillis2005()
    p = m.parameters()
    y0 = [1e6, 3.2e5, 1e4]
    t = np.linspace(0.0, 30.0, 7)
    ref = solve_ivp(_depillis_rhs(p), (0, 30), y0, t_eval=t, method="LSODA", rtol=1e-10,
                    atol=1e-6)  # fmt: skip
    ds = simulate(m, dict(zip("TNL", y0, strict=True)), t, backend="diffrax", rtol=1e-10,
                  atol=1e-6)  # fmt: skip
    for i, k in enumerate("TNL"):
        np.testing.assert_allclose(ds[k].values, ref.y[i], rtol=1e-6)


# ------------------------------------------------------------- Nikolopoulou et al. (2018)
def _nik_activation(m):
    a1 = m.lambda_TI_12 * m.T_N * m.I_12 / (m.K_I_12 + m.I_12)
    a2 = m.lambda_TI_2 * m.I_2 / (m.K_I_2 + m.I_2)
    return a1, a2


def _nik_T_nullcline(m, C):
    """g(T) = (a1 + a2·T)/(1 + Q/K_TQ) − d_T·T at cancer level C, untreated (A = 0)."""
    a1, a2 = _nik_activation(m)

    def g(T):
        Q = m.sigma * m.rho_P * T * m.rho_L * (T + m.epsilon_C * C)
        return (a1 + a2 * T) / (1 + Q / m.K_TQ) - m.d_T * T

    return g


def _nik_tumor_free(m):
    return _root(_nik_T_nullcline(m, 0.0), 1e-12, 1.0)


def test_nikolopoulou_tumor_free_equilibrium_and_stability_condition():
    m = Nikolopoulou2018()
    T0 = _nik_tumor_free(m)
    y = np.array([0.0, T0, 0.0])
    f = np.asarray(m.vector_field(0.0, jnp.asarray(y)))
    np.testing.assert_allclose(f, 0.0, atol=1e-15)
    J = _jacobian(m, y)
    # eigenvalue in the cancer direction: λ_C − η·T0* (the paper's stability condition)
    np.testing.assert_allclose(J[0, 0], _num(m.lambda_C) - _num(m.eta) * T0, rtol=1e-10)
    eig_T = J[1, 1]
    assert eig_T < 0  # T-cell direction is stable
    # both regimes: change lambda_C across the threshold η·T0*
    for factor, stable in ((0.5, True), (1.5, False)):
        mm = m.replace(lambda_C=factor * _num(m.eta) * T0)
        ds = simulate(mm, {"C": 1e-3, "Tc": T0}, np.array([0.0, 1500.0, 3000.0]),
                      backend="diffrax", rtol=1e-10, atol=1e-14)  # fmt: skip
        C_end = float(ds["C"].values[-1])
        if stable:
            assert C_end < 1e-6
        else:
            # converges to the tumorous equilibrium: C* = C_K(1 − ηT*/λ_C) with g(T*; C*) = 0
            lam = _num(mm.lambda_C)

            def h(T, mm=mm, lam=lam):
                return _nik_T_nullcline(mm, mm.C_K * (1 - mm.eta * T / lam))(T)

            T_star = _root(h, 1e-12, lam / _num(mm.eta))
            C_star = _num(mm.C_K) * (1 - _num(mm.eta) * T_star / lam)
            np.testing.assert_allclose(C_end, C_star, rtol=1e-5)
            np.testing.assert_allclose(float(ds["Tc"].values[-1]), T_star, rtol=1e-5)


def test_nikolopoulou_defaults_bistable_and_drug_input():
    m = Nikolopoulou2018()
    T0 = _nik_tumor_free(m)
    # defaults: the tumor-free state is locally stable (λ_C < η·T0*): a small tumor is
    # eliminated, while the BioModels initial tumor (C = 0.3968) grows (bistability)
    assert _num(m.lambda_C) < _num(m.eta) * T0
    t = np.array([0.0, 100.0, 300.0])
    small = simulate(m, {"C": 1e-4, "Tc": T0}, t, backend="diffrax", rtol=1e-10, atol=1e-14)
    large = simulate(m, {"C": 0.3968, "Tc": 0.006}, t, backend="diffrax", rtol=1e-10,
                     atol=1e-14)  # fmt: skip
    assert small["C"].values[-1] < 1e-8 and large["C"].values[-1] > 0.3968
    # anti-PD-1 input without PD-1 binding (μ_PA = 0): dA/dt = γ_A − d_A·A, closed form
    ds = simulate(m.replace(gamma_A=1e-10, mu_PA=0.0), {"C": 0.0, "Tc": 0.0, "A": 0.0},
                  np.array([0.0, 5.0, 40.0]), backend="diffrax", rtol=1e-10,
                  atol=1e-20)  # fmt: skip
    d_A = _num(m.d_A)
    a_exact = 1e-10 / d_A * (1 - np.exp(-d_A * np.array([5.0, 40.0])))
    np.testing.assert_allclose(ds["A"].values[1:], a_exact, rtol=1e-8)


# --------------------------------------------------------------------- Claret et al. (2009)
def test_claret_matches_closed_form():
    m = ClaretTGI(KL=0.004, KD=0.03, lam=0.02, exposure=1.0)
    t = np.linspace(0.0, 365.0, 13)
    ds = simulate(m, {"SLD": 60.0}, t, backend="diffrax", rtol=1e-11, atol=1e-10)
    exact = 60.0 * np.exp(0.004 * t - 0.03 * (1 - np.exp(-0.02 * t)) / 0.02)
    np.testing.assert_allclose(ds["SLD"].values, exact, rtol=1e-8)
    with jax.enable_x64(True):
        np.testing.assert_allclose(np.asarray(m.closed_form(t, 60.0)), exact, rtol=1e-12)
    # nadir where K_L = K_D·E·e^{−λt}: t* = ln(K_D·E/K_L)/λ
    t_nadir = np.log(0.03 / 0.004) / 0.02
    tt = np.linspace(0.0, 365.0, 3651)
    y = 60.0 * np.exp(0.004 * tt - 0.03 * (1 - np.exp(-0.02 * tt)) / 0.02)
    assert abs(tt[np.argmin(y)] - t_nadir) < 0.1


def test_claret_tumor_size_roundtrip_matches_sweep_diameter():
    from tumorimmune.sweeps import diameter_mm

    m = ClaretTGI()
    cells = np.array([1e8, 5e9, 2e11])
    np.testing.assert_allclose(m.tumor_size(cells), diameter_mm(cells), rtol=1e-12)
    np.testing.assert_allclose(m.tumor_cells(m.tumor_size(cells)), cells, rtol=1e-12)


# ------------------------------------------------------------------ backends × models
CASES = {
    "DePillis2005": (DePillis2005(), {"T": 1e6, "N": 3.2e5, "L": 1e4}, 1e-6),
    "Nikolopoulou2018": (Nikolopoulou2018(gamma_A=1e-10), {"C": 0.3968, "Tc": 0.006}, 1e-14),
    "ClaretTGI": (ClaretTGI(), {"SLD": 50.0}, 1e-9),
}


@pytest.mark.slow  # compiles the fused loop / pallas kernel once per model
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("backend", ["fused", "pallas"])
def test_fast_backends_agree_with_diffrax(name, backend):
    model, y0, atol = CASES[name]
    model = model.replace(**{model.parameter_names()[0]: np.full(2, model.parameters()[
        model.parameter_names()[0]]) * np.array([1.0, 1.1])})  # fmt: skip
    t = np.array([0.0, 10.0, 30.0, 60.0])
    kw = {"rtol": 1e-10, "atol": atol}
    ref = simulate(model, y0, t, backend="diffrax", **kw)
    ds = simulate(model, y0, t, backend=backend, **kw)
    assert ds.attrs["backend"] == backend
    for k in model.state_names:
        np.testing.assert_allclose(ds[k].values, ref[k].values, rtol=1e-6, atol=10 * atol)

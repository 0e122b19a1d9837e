"""Kuznetsov et al. (1994): published equilibria and an independent SciPy reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import tumorimmune as ti
from tumorimmune.model import Kuznetsov1994, kuznetsov_equilibria

# science.md §1: nondimensional parameters as published.
PUBLISHED = dict(
    sigma=0.1181, rho=1.131, eta=20.19, mu=0.00311, delta=0.3743, alpha=1.636, beta=2.0e-3
)
# science.md §1 table: (x, y, eigenvalues, type), nondimensional.
TABLE = [
    (0.3155, 0.0, [-0.3743, 1.3205], "saddle"),
    (1.6092, 8.1897, [-0.0501 + 0.5763j, -0.0501 - 0.5763j], "stable focus"),
    (0.7598, 267.80, [-1.3565, 0.3248], "saddle"),
    (0.1730, 447.13, [-1.6931, -0.4527], "stable node"),
]


def _sorted_ev(ev):
    return np.array(sorted(np.asarray(ev, complex), key=lambda z: (z.real, z.imag)))


def test_published_equilibria_and_stability():
    n, T0 = 1.101e-7, 1e6
    model = Kuznetsov1994.from_nondimensional(**PUBLISHED, n=n)
    eqs = kuznetsov_equilibria(model)
    assert len(eqs) == 4
    for q, (x, y, ev, kind) in zip(eqs, TABLE, strict=True):
        np.testing.assert_allclose(q.E / 1e6, x, rtol=2e-4, atol=1e-4)
        np.testing.assert_allclose(q.T / T0, y, rtol=2e-4, atol=1e-4)
        # eigenvalues in units of the nondimensional time τ = n·T0·t
        np.testing.assert_allclose(_sorted_ev(q.eigenvalues / (n * T0)), _sorted_ev(ev), atol=2e-4)
        assert q.kind == kind
    # dormant focus period ≈ 99 days (science.md)
    period = 2 * np.pi / abs(eqs[1].eigenvalues[0].imag)
    assert 95 < period < 103


def test_dimensional_defaults_match_nondimensional():
    nd = Kuznetsov1994().nondimensional()
    for k, v in PUBLISHED.items():
        np.testing.assert_allclose(float(nd[k]), v, rtol=3e-3, err_msg=k)


def test_equilibria_are_roots_of_the_vector_field():
    m = Kuznetsov1994()
    for q in kuznetsov_equilibria(m):
        with jax.enable_x64(True):
            f = np.asarray(m.vector_field(0.0, jnp.array([q.E, q.T], jnp.float64), None))
        scale = np.array([m.s + m.d * q.E, m.a * max(q.T, 1.0)])
        assert np.all(np.abs(f) <= 1e-9 * scale)


def test_transcritical_bifurcation_at_sigma_alpha_delta():
    # Tumor-free point A changes stability where σ = α·δ (science.md §1).
    base = dict(PUBLISHED)
    for factor, expected in [(0.9, "saddle"), (1.1, "stable node")]:
        base["sigma"] = factor * PUBLISHED["alpha"] * PUBLISHED["delta"]
        A = kuznetsov_equilibria(Kuznetsov1994.from_nondimensional(**base))[0]
        assert A.T == 0.0
        assert A.kind == expected


def _scipy_reference(E0, T0, t):
    m = Kuznetsov1994()
    p = {k: float(np.asarray(v)) for k, v in m.parameters().items()}

    def rhs(_, y):
        E, T = y
        return [
            p["s"] + p["p"] * E * T / (p["g"] + T) - p["m"] * E * T - p["d"] * E,
            p["a"] * T * (1 - p["b"] * T) - p["n"] * E * T,
        ]

    sol = solve_ivp(rhs, (t[0], t[-1]), [E0, T0], method="DOP853", rtol=1e-10, atol=1e-6, t_eval=t)
    assert sol.success
    return sol.y.T


@pytest.mark.parametrize("backend", ["diffrax", "fused"])
@pytest.mark.parametrize(
    "E0,T0,final",
    [(3.2e5, 5e6, "dormant"), (3.2e5, 1e8, "escape")],
)
def test_trajectories_match_scipy_dop853(E0, T0, final, backend):
    t = np.array([0.0, 7.0, 30.0, 90.0, 180.0, 365.0, 500.0, 730.0])
    ds = ti.simulate(Kuznetsov1994(), {"E": E0, "T": T0}, t, backend=backend)
    assert ds.attrs["backend"] == backend
    ref = _scipy_reference(E0, T0, t)
    np.testing.assert_allclose(ds["E"].values, ref[:, 0], rtol=1e-5)
    np.testing.assert_allclose(ds["T"].values, ref[:, 1], rtol=1e-5)
    eqs = kuznetsov_equilibria()
    target = eqs[1] if final == "dormant" else eqs[3]
    if final == "escape":  # the stable node attracts within two years
        np.testing.assert_allclose(ds["T"].values[-1], target.T, rtol=1e-3)
    else:  # the focus spirals in slowly: within 10 % after two years
        np.testing.assert_allclose(ds["T"].values[-1], target.T, rtol=0.1)

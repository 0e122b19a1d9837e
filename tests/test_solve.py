"""``tumorimmune.solve``: the pure functional core against central finite differences,
``simulate``, ``jit``/``vmap``, adjoints, and the fast-backend fallback under tracing."""

import dataclasses
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tumorimmune as ti
from tumorimmune import Dosing, solve
from tumorimmune.calibrate import CLINICAL_FIXED

RTOL, ATOL = 1e-11, 1e-7  # tight solves: central differences are then good to ~1e-8


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


# model parameters only (typed for the ``**params`` of ``with_drug``, not its keyword options)
_FIXED: dict[str, Any] = dict(CLINICAL_FIXED)


def _patient() -> tuple[ti.TumorImmunePD1, dict]:
    """One clinical patient of the packaged KEYNOTE-006 population (scalar parameters)."""
    m = ti.TumorImmunePD1.with_drug(
        "pembrolizumab", **_FIXED, a=0.0095, m=6.9e-13, s=170.0, h_kill=36.7, L=0.63
    )
    return m, {"E": 4539.0, "T": 2.19e11}


def _central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


def _check_params(model, y0, t, dosing, index):
    """d T(t_index)/d p for every (non-zero) parameter p vs central differences, relative 1e-5."""
    names = [k for k in model.parameter_names() if float(getattr(model, k)) != 0]
    vals = {k: jnp.asarray(float(getattr(model, k))) for k in names}

    @jax.jit
    def f(v):
        m = dataclasses.replace(model, **v)
        return solve(m, y0, t, dosing=dosing, rtol=RTOL, atol=ATOL).ys[index, 1]

    grad = jax.grad(f)(vals)
    f0 = float(f(vals))
    for k in names:
        x = float(vals[k])
        h = 1e-4 * abs(x)
        fd = _central(lambda u, k=k: float(f({**vals, k: jnp.asarray(u)})), x, h)
        g = float(grad[k])
        # a sensitivity below 1e-6 of T per unit relative change is numerically zero
        scale = max(abs(fd), 1e-6 * abs(f0) / abs(x))
        assert abs(g - fd) <= 1e-5 * scale, (k, g, fd)
    assert len(names) >= 8


def test_grad_parameters_kuznetsov_no_doses():
    t = jnp.array([0.0, 10.0, 25.0, 40.0])
    y0 = jnp.array([3.2e5, 5e6])
    _check_params(ti.Kuznetsov1994(), y0, t, None, -1)


def test_grad_parameters_pd1_with_doses():
    model, y0 = _patient()
    t = jnp.array([0.0, 42.0, 84.0, 126.0])
    _check_params(model, y0, t, Dosing(dose=760.0, interval=21.0, n_max=6), 2)


@pytest.mark.parametrize("dosed", [False, True])
def test_grad_initial_state(dosed):
    model, y0 = _patient()
    t = jnp.array([0.0, 30.0, 84.0])
    dosing = Dosing(dose=760.0, interval=21.0, n_max=4) if dosed else None
    y = jnp.array([y0["E"], y0["T"], 0.0, 0.0, 0.0, 0.0])
    f = jax.jit(lambda y_: solve(model, y_, t, dosing=dosing, rtol=RTOL, atol=ATOL).ys[-1, 1])
    g = jax.grad(f)(y)
    for i in (0, 1):
        h = 1e-4 * float(y[i])
        fd = _central(lambda v, i=i: float(f(y.at[i].set(v))), float(y[i]), h)
        np.testing.assert_allclose(float(g[i]), fd, rtol=1e-5)


def test_grad_dose_amount_interval_start():
    """Dose amount, interval and first-dose day: the dose times enter via the segment bounds."""
    model, y0 = _patient()
    t = jnp.array([0.0, 50.0, 100.0])

    @jax.jit
    def f(dose, interval, start):
        d = Dosing(dose=dose, interval=interval, start=start, n_max=8)
        return solve(model, y0, t, dosing=d, rtol=RTOL, atol=ATOL).ys[-1, 1]

    x = (760.0, 19.0, 3.0)
    g = jax.grad(f, argnums=(0, 1, 2))(*x)
    for i, h in enumerate((0.5, 1e-3, 1e-3)):
        fd = _central(lambda v, i=i: float(f(*[v if j == i else x[j] for j in range(3)])), x[i], h)
        np.testing.assert_allclose(float(g[i]), fd, rtol=1e-5)
        assert abs(fd) > 0  # every regimen quantity matters here


@pytest.mark.slow
def test_backsolve_adjoint_dose_amount_and_clear_error_for_dose_times():
    model, y0 = _patient()
    t = jnp.array([0.0, 50.0, 100.0])

    def f(dose, interval, adjoint):
        d = Dosing(dose=dose, interval=interval, n_max=6)
        return solve(model, y0, t, dosing=d, rtol=RTOL, atol=ATOL, adjoint=adjoint).ys[-1, 1]

    g_back = jax.grad(f)(760.0, 21.0, "backsolve")
    g_ckpt = jax.grad(f)(760.0, 21.0, "checkpoint")
    np.testing.assert_allclose(float(g_back), float(g_ckpt), rtol=1e-5)
    with pytest.raises(ValueError, match="backsolve"):
        jax.grad(f, argnums=1)(760.0, 21.0, "backsolve")


@pytest.mark.slow
def test_jacfwd_forward_mode_matches_reverse():
    model, y0 = _patient()
    t = jnp.array([0.0, 60.0])

    def f(dose, adjoint):
        d = Dosing(dose=dose, interval=21.0, n_max=3)
        return solve(model, y0, t, dosing=d, rtol=RTOL, atol=ATOL, adjoint=adjoint).ys[-1]

    fwd = jax.jacfwd(lambda d: f(d, "forward"))(500.0)
    rev = jax.jacrev(lambda d: f(d, "checkpoint"))(500.0)
    np.testing.assert_allclose(fwd, rev, rtol=1e-8)


def test_matches_simulate_with_regimen_and_batches():
    """Regimen input, batches, vmap and jit agree with simulate(backend='diffrax')."""
    L = np.array([0.1, 0.5, 0.9])
    model = ti.TumorImmunePD1(L=L)
    y0 = {"E": 3.2e5, "T": 5e6}
    t = np.linspace(0.0, 120.0, 9)
    reg = ti.Regimen(dose=200.0, interval=21.0)
    ds = ti.simulate(model, y0, t, regimen=reg, backend="diffrax")
    sol = solve(model, y0, t, dosing=reg)
    assert sol.ys.shape == (3, 9, 6) and sol.status.shape == (3,)
    np.testing.assert_allclose(sol.ys[..., 1], ds["T"].values, rtol=1e-7)
    np.testing.assert_allclose(sol.ys[..., 2], ds["A1"].values, rtol=1e-7, atol=1e-9)
    dosing = Dosing.from_regimen(reg, t)

    def one(L_):
        return solve(ti.TumorImmunePD1(L=L_), y0, t, dosing=dosing).ys

    vm = jax.jit(jax.vmap(one))(jnp.asarray(L))
    np.testing.assert_allclose(vm, sol.ys, rtol=1e-10)


@pytest.mark.slow
def test_extinct_tumor_stays_zero_and_grad_finite():
    m = ti.Kuznetsov1994(n=1e-5)  # strong kill: extinction within days
    t = jnp.linspace(0.0, 30.0, 7)
    f = lambda a: solve(m.replace(a=a), jnp.array([3.2e5, 1e3]), t).ys  # noqa: E731
    ys = f(0.18)
    T = np.asarray(ys[:, 1])
    assert T[-1] == 0.0 and np.all(np.diff((T == 0).astype(int)) >= 0)
    assert np.isfinite(jax.grad(lambda a: jnp.sum(f(a)[:, 0]))(0.18))


def test_fast_backend_under_grad_falls_back_with_warning():
    model, y0 = _patient()
    t = jnp.array([0.0, 40.0, 80.0])
    d = Dosing(dose=760.0, interval=21.0, n_max=4)

    def f(dose, backend):
        dd = dataclasses.replace(d, dose=dose)
        return solve(model, y0, t, dosing=dd, backend=backend).ys[-1, 1]

    ref = jax.grad(f)(760.0, "diffrax")
    with pytest.warns(UserWarning, match="diffrax"):
        g = jax.grad(f)(760.0, "fused")
    assert float(g) == float(ref)
    with warnings.catch_warnings():  # concrete inputs: the fast engine itself, no warning
        warnings.simplefilter("error")
        fast = solve(model, y0, t, dosing=d, backend="fused")
    slow = solve(model, y0, t, dosing=d)
    np.testing.assert_allclose(fast.ys, slow.ys, rtol=1e-5)


def test_simulate_under_grad_gives_clear_error():
    t = np.linspace(0.0, 10.0, 3)
    f = lambda a: ti.simulate(ti.Kuznetsov1994(a=a), {"E": 3.2e5, "T": 5e6}, t)["T"].values[-1]  # noqa: E731
    with pytest.raises(TypeError, match=r"tumorimmune\.solve"):
        jax.grad(f)(0.18)


@pytest.mark.usefixtures("unchecked")  # an unknown adjoint literal on purpose
def test_bad_inputs_name_the_argument():
    m = ti.Kuznetsov1994()
    t = np.linspace(0.0, 10.0, 3)
    with pytest.raises(ValueError, match="adjoint"):
        solve(m, {"E": 1.0, "T": 1.0}, t, adjoint="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="drug compartment"):
        solve(m, {"E": 1.0, "T": 1.0}, t, dosing=Dosing(dose=1.0, interval=7.0))
    with pytest.raises(ValueError, match="missing state 'T'"):
        solve(m, {"E": 1.0}, t)
    with pytest.raises(ValueError, match="strictly increasing"):
        solve(m, {"E": 1.0, "T": 1.0}, np.array([0.0, 2.0, 1.0]))

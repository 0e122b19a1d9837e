"""optax minimisation loop (tumorimmune.calibrate._optimize) and the bounded transform."""

import functools
import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tumorimmune.calibrate import minimize, optimizer_for
from tumorimmune.calibrate._transform import dlogparam_dx, to_param, to_unconstrained


def rosenbrock(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


@pytest.mark.parametrize(
    ("method", "kw", "tol"),
    [("lbfgs", {}, 1e-6), ("adam", {"max_iter": 5000, "gtol": 1e-5}, 1e-3)],
)
def test_rosenbrock_minimum(method, kw, tol):
    opt = optimizer_for(method, learning_rate=0.02)
    with jax.enable_x64(True):
        res = minimize(rosenbrock, jnp.array([-1.2, 1.0]), optimizer=opt, **kw)
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=tol)
    assert bool(res.converged)
    assert float(res.grad_norm) <= kw.get("gtol", 1e-6)


def test_vmap_over_starts_and_quadratic_exact():
    # f(x) = ½ (x - c)ᵀ A (x - c): minimum c, for every start
    A = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    c = jnp.array([0.5, -2.0])
    f = lambda x: 0.5 * (x - c) @ A @ (x - c)  # noqa: E731
    with jax.enable_x64(True):
        x0 = jnp.array([[0.0, 0.0], [10.0, -7.0], [-3.0, 4.0]])
        res = jax.vmap(lambda s: minimize(f, s, gtol=1e-10))(x0)
    np.testing.assert_allclose(res.x, np.tile(c, (3, 1)), atol=1e-8)
    assert res.converged.all()


def test_non_finite_objective_is_survived():
    # log barrier: NaN left of 0 (like a failed solve); minimum at x = 1
    f = lambda x: jnp.sum(x - jnp.log(x))  # noqa: E731
    with jax.enable_x64(True):
        res = minimize(f, jnp.array([3.0]))
    np.testing.assert_allclose(res.x, [1.0], atol=1e-6)


@pytest.mark.usefixtures("unchecked")  # an unknown method literal on purpose
def test_bad_method():
    with pytest.raises(ValueError, match="method must be 'lbfgs' or 'adam'; got 'sgd'"):
        optimizer_for("sgd")  # type: ignore[arg-type]


def test_transform_roundtrip_and_derivative():
    lo, hi = np.array([1e-3, 0.1]), np.array([10.0, 0.5])
    p = np.array([0.02, 0.3])
    with jax.enable_x64(True):
        x = to_unconstrained(p, lo, hi)
        np.testing.assert_allclose(to_param(x, lo, hi), p, rtol=1e-12)
        g = jax.vmap(jax.grad(lambda xx, a, b: jnp.log(to_param(xx, a, b))))(jnp.asarray(x), lo, hi)
        np.testing.assert_allclose(dlogparam_dx(x, lo, hi), g, rtol=1e-12)
        big = np.asarray(to_param(np.array([-50.0, 50.0]), lo, hi))
    assert lo[0] <= big[0] < lo[0] * 1.0001 and hi[1] * 0.9999 < big[1] <= hi[1]


def test_time_limit_stops_the_loop_and_progress_reports_each_iteration():
    calls: list[tuple[int, float]] = []

    def slow(it, best):  # 20 ms per iteration: Rosenbrock needs ~35 of them (0.7 s)
        calls.append((it, best))
        time.sleep(0.02)

    x0 = jnp.array([-1.2, 1.0])
    with jax.enable_x64(True):
        free = minimize(rosenbrock, x0, max_iter=500)
        limited = functools.partial(minimize, max_iter=500, time_limit_s=0.2, progress=slow)
        res = jax.jit(lambda x: limited(rosenbrock, x))(x0)
    assert bool(free.converged) and not bool(free.timed_out) and int(free.n_iter) > 20
    # stopped at the first iteration ending 0.2 s after the start: about 10 of ~35
    assert bool(res.timed_out) and not bool(res.converged)
    assert 5 <= int(res.n_iter) < int(free.n_iter)
    # one report per iteration, in order, with the best value so far (non-increasing)
    assert [c[0] for c in calls] == list(range(1, int(res.n_iter) + 1))
    best = [c[1] for c in calls]
    assert all(b1 <= b0 for b0, b1 in itertools.pairwise(best))
    assert best[-1] == pytest.approx(float(res.value))


def test_time_limit_under_vmap_stops_every_member():
    calls: list[int] = []

    def slow(it, best):
        calls.append(it)
        time.sleep(0.01)

    starts = jnp.array([[-1.2, 1.0], [0.5, 0.5], [2.0, 3.0]])
    with jax.enable_x64(True):
        limited = functools.partial(minimize, max_iter=500, time_limit_s=0.2, progress=slow)
        run = jax.jit(jax.vmap(lambda x: limited(rosenbrock, x)))
        res = run(starts)
    assert np.all(res.timed_out) and not np.any(res.converged)
    assert len(calls) == 3 * int(res.n_iter[0])  # one report per member and iteration


def test_time_limit_must_be_positive():
    with pytest.raises(ValueError, match="time_limit_s must be > 0"):
        minimize(rosenbrock, jnp.array([0.0, 0.0]), time_limit_s=0.0)

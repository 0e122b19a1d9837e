"""One extinction rule and one definition of failure for every backend (diffrax, fused,
Pallas in interpret mode), and results independent of batch, pool and lane sizes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tumorimmune.model import PEMBROLIZUMAB_200MG_Q3W, Kuznetsov1994, TumorImmunePD1
from tumorimmune.solvers import (
    DEFAULT_TOLERANCES,
    Schedule,
    make_schedule,
    prepare_batch,
    solve_diffrax,
    solve_fused,
)
from tumorimmune.solvers._pallas import solve_pallas

BACKENDS = {
    "diffrax": solve_diffrax,
    "fused": solve_fused,
    "pallas-stop": lambda *a, **k: solve_pallas(*a, block=4, **k),
    "pallas-thread": lambda *a, **k: solve_pallas(*a, block=4, sync="thread", **k),
}


def _batch(model, E0, T0, ts, regimen=None):
    n = len(np.atleast_1d(E0))
    batched, y0, _ = prepare_batch(model, {"E": np.broadcast_to(E0, (n,)), "T": T0})
    schedule, doses = make_schedule(batched, np.asarray(ts, float), regimen)
    return batched, y0, schedule, np.zeros((n, 0)) if doses is None else doses


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cure_does_not_depend_on_the_backend(dtype):
    """Kuznetsov defaults, E0 = 1e7, T0 = 1e5: the tumor falls below one cell within days.
    Before, diffrax (zeroing only at segment starts) let it regrow to 2.3e6 cells by day 200
    while the fused backend reported 0."""
    args = _batch(Kuznetsov1994(), np.full(4, 1e7), np.full(4, 1e5), [0, 50, 100, 150, 200])
    rtol, atol = DEFAULT_TOLERANCES[dtype]
    for name, solve in BACKENDS.items():
        ys, status, _ = solve(*args, rtol=rtol, atol=atol, dtype=dtype)
        assert np.all(status == 0), name
        np.testing.assert_array_equal(ys[:, 1:, 1], 0.0, err_msg=name)  # extinct, stays 0
        assert np.all(ys[:, 0, 1] == 1e5), name


def test_fast_tumor_kill_is_not_a_failure_in_float32():
    """Kill rate n·E0 ≈ 4.5e5 / day: before, the fused float32 backend flagged these patients
    (status 10, step size 'underflow') while diffrax solved them (T = 0, status 0)."""
    n = np.array([0.0082, 0.0015, 0.0043, 1.1e-7])
    model = Kuznetsov1994(a=np.array([1.0, 0.056, 1.5, 0.18]), n=n)
    E0 = np.array([5.5e7, 7.7e9, 5.2e8, 3.2e5])
    T0 = np.array([6.4e6, 1.2e9, 7e5, 1e7])
    args = _batch(model, E0, T0, np.append(np.arange(0.0, 365.0, 42.0), 365.0))
    rtol, atol = DEFAULT_TOLERANCES["float32"]
    out = {k: f(*args, rtol=rtol, atol=atol, dtype="float32") for k, f in BACKENDS.items()}
    for name, (ys, status, _) in out.items():
        np.testing.assert_array_equal(status, 0, err_msg=name)
        np.testing.assert_array_equal(ys[:3, -1, 1], 0.0, err_msg=name)  # cured
        assert ys[3, -1, 1] > 1e6, name  # the slow patient is not


def test_failures_agree_across_backends():
    """max_steps counts per segment between doses in every backend (before, the Pallas kernel
    reset it at every output time and solved patients the others flag), and a non-finite
    vector field fails everywhere."""
    rng = np.random.default_rng(3)
    k = 8
    g = np.full(k, 2.019e7)
    g[2] = -5e6  # division by zero at T = 5e6: non-finite vector field
    model = Kuznetsov1994(a=0.18 * rng.lognormal(0, 0.2, k), g=g)
    ts = np.arange(0.0, 366.0, 14.0)  # 27 outputs, no dose: one segment
    batched = model.replace(  # by hand: prepare_batch refuses the negative g
        **{n: np.broadcast_to(np.asarray(v, float), (k,)) for n, v in model.parameters().items()}
    )
    y0 = np.stack([np.full(k, 3.2e5), np.full(k, 5e6)], axis=1)
    args = (batched, y0, Schedule(ts=ts, dose_times=np.zeros(0)), np.zeros((k, 0)))
    statuses = {}
    for name, solve in BACKENDS.items():
        ys, status, _ = solve(*args, rtol=1e-8, atol=1e-6, dtype="float64", max_steps=40)
        statuses[name] = status != 0
        assert np.all(np.isnan(ys[status != 0])), name
    ref = statuses["diffrax"]
    assert ref.all()  # > 40 steps over one year at rtol 1e-8
    for name, failed in statuses.items():
        np.testing.assert_array_equal(failed, ref, err_msg=name)
    free = {k: f(*args, rtol=1e-8, atol=1e-6, dtype="float64")[1] for k, f in BACKENDS.items()}
    for name, status in free.items():
        np.testing.assert_array_equal(status != 0, np.arange(k) == 2, err_msg=name)


def _pd1_cohort(n, seed=0):
    rng = np.random.default_rng(seed)
    model = TumorImmunePD1(
        b=2e-11,
        g=2.019e9,
        m=3.422e-12,
        a=0.25 * rng.lognormal(0, 0.3, n),
        L=rng.random(n),
        eps_n=0.6,
        eps_m=0.3,
    )
    T0 = 2e10 * rng.lognormal(0, 0.5, n)
    return _batch(
        model, np.full(n, 3.2e5), T0, np.arange(0.0, 201.0, 42.0), PEMBROLIZUMAB_200MG_Q3W
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_results_do_not_depend_on_pool_or_lane_size(dtype):
    """Before, a patient's numbers changed with the pool and lane sizes (XLA's CPU reduction
    over the state axis associated differently for arrays of 1024 lanes): 18,667 of 36,864
    float32 values differed between 512 and 1024 lanes."""
    model, y0, schedule, doses = _pd1_cohort(1024)
    rtol, atol = DEFAULT_TOLERANCES[dtype]
    kw: dict[str, Any] = dict(rtol=rtol, atol=atol, dtype=dtype)
    ref = solve_fused(model, y0, schedule, doses, chunk_size=512, lanes=512, **kw)
    for chunk, lanes, threads in [(1024, 1024, 1), (1024, 128, 1), (700, 512, 2)]:
        out = solve_fused(
            model, y0, schedule, doses, chunk_size=chunk, lanes=lanes, n_threads=threads, **kw
        )
        for a, b in zip(ref, out, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"chunk {chunk}, lanes {lanes}")


def test_diffrax_results_do_not_depend_on_batch_size():
    """Batches of at least MIN_DEVICE_BATCH (16) patients, as the sweep engine pads them
    (XLA's CPU code for the Tsit5 stage sums of smaller batches rounds differently)."""
    model, y0, schedule, doses = _pd1_cohort(40, seed=1)
    kw: dict[str, Any] = dict(rtol=1e-8, atol=1e-6, dtype="float64")
    ref = solve_diffrax(model, y0, schedule, doses, **kw)
    for sel in (slice(0, 16), slice(3, 20), slice(5, 37)):
        sub = model.replace(
            **{k: np.asarray(getattr(model, k))[sel] for k in model.parameter_names()}
        )
        out = solve_diffrax(sub, y0[sel], schedule, doses[sel], **kw)
        for a, b in zip(ref, out, strict=True):
            np.testing.assert_array_equal(a[sel], b)


def test_rms_norm_matches_optimistix_and_is_differentiable():
    import jax
    import jax.numpy as jnp
    import optimistix as optx

    from tumorimmune.solvers._diffrax import rms_norm

    x = jnp.array([3.0, -4.0, 1e-3, 7.5])
    np.testing.assert_allclose(rms_norm(x), optx.rms_norm(x), rtol=1e-6)
    g = jax.grad(lambda v: rms_norm(v))(x)
    np.testing.assert_allclose(g, jax.grad(lambda v: optx.rms_norm(v))(x), rtol=1e-6)
    np.testing.assert_array_equal(jax.grad(lambda v: rms_norm(v))(jnp.zeros(3)), 0.0)

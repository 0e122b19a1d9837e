"""Pallas kernels (one thread per patient; the GPU default), checked in interpret mode on CPU."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tumorimmune.model import PEMBROLIZUMAB_200MG_Q3W, Kuznetsov1994, TumorImmunePD1
from tumorimmune.solvers import Schedule, make_schedule, prepare_batch, solve_fused
from tumorimmune.solvers._pallas import solve_pallas

SCANS = np.append(np.arange(0.0, 365.0, 42.0), 365.0)


def test_pallas_matches_fused_engine_with_dosing():
    rng = np.random.default_rng(0)
    n = 12
    model = TumorImmunePD1(
        a=0.18 * rng.lognormal(0, 0.2, n), s=1.3e4 * rng.lognormal(0, 0.3, n), L=rng.random(n)
    )
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": 5e6})
    schedule, doses = make_schedule(batched, SCANS, PEMBROLIZUMAB_200MG_Q3W)
    assert doses is not None
    ref = solve_fused(batched, y0, schedule, doses, rtol=1e-8, atol=1e-6)
    out = solve_pallas(batched, y0, schedule, doses, rtol=1e-8, atol=1e-6, dtype="float64", block=8)
    assert np.all(out[1] == 0)
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-9)
    np.testing.assert_array_equal(out[0][:, 0], y0)  # output at t0 is pre-dose
    assert np.all(np.abs(out[2] - ref[2]) <= 2)


def test_pallas_flags_failures_and_extinction():
    rng = np.random.default_rng(1)
    n = 8
    g = np.full(n, 2.019e7)
    g[2] = -5e6  # division by zero at T = 5e6: non-finite vector field
    model = Kuznetsov1994(a=0.18 * rng.lognormal(0, 0.2, n), g=g)
    T0 = np.full(n, 5e6)
    T0[5] = 10.0  # tiny tumor, strong immune response: extinct
    E0 = np.where(np.arange(n) == 5, 1e7, 3.2e5)
    batched = model.replace(
        **{k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in model.parameters().items()}
    )
    y0 = np.stack([E0, T0], axis=1)
    schedule = Schedule(ts=np.array([0.0, 30.0, 365.0]), dose_times=np.zeros(0))
    ys, status, _ = solve_pallas(
        batched, y0, schedule, np.zeros((n, 0)), rtol=1e-6, atol=1e-6, dtype="float64", block=4
    )
    assert status[2] != 0 and np.all(np.isnan(ys[2]))
    ok = np.arange(n) != 2
    assert np.all(status[ok] == 0)
    assert np.all(ys[5, 1:, 1] == 0.0)
    ref = solve_fused(batched, y0, schedule, np.zeros((n, 0)), rtol=1e-6, atol=1e-6)
    # the kernel refreshes the FSAL derivative at every stop: a slightly different step sequence
    np.testing.assert_allclose(ys[ok], ref[0][ok], rtol=1e-5)


def test_pallas_bad_block_raises():
    batched, y0, _ = prepare_batch(Kuznetsov1994(), {"E": 3.2e5, "T": 5e6})
    schedule = Schedule(ts=np.array([0.0, 1.0]), dose_times=np.zeros(0))
    with pytest.raises(ValueError, match="block"):
        solve_pallas(batched, y0, schedule, np.zeros((1, 0)), rtol=1e-6, atol=1e-6, block=3)


@pytest.mark.parametrize("sync", ["stop", "thread"])
def test_pallas_per_patient_doses(sync):
    """Doses differing between patients go through the per-patient table (both kernels)."""
    rng = np.random.default_rng(2)
    n = 10
    model = TumorImmunePD1(a=0.18 * rng.lognormal(0, 0.2, n), L=rng.random(n))
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": 5e6})
    schedule, doses = make_schedule(batched, SCANS, PEMBROLIZUMAB_200MG_Q3W)
    assert doses is not None
    doses = doses * rng.uniform(0.5, 1.5, (n, 1))  # e.g. weight-based dosing
    ref = solve_fused(batched, y0, schedule, doses, rtol=1e-8, atol=1e-6)
    ys, status, steps = solve_pallas(
        batched, y0, schedule, doses, rtol=1e-8, atol=1e-6, dtype="float64", block=4, sync=sync
    )
    assert np.all(status == 0)
    np.testing.assert_allclose(ys, ref[0], rtol=1e-9)
    if sync == "thread":  # the fused engine's step sequence exactly
        np.testing.assert_array_equal(steps, ref[2])


def test_pallas_thread_sync_matches_fused_and_flags_failures():
    rng = np.random.default_rng(1)
    n = 8
    g = np.full(n, 2.019e7)
    g[2] = -5e6  # non-finite vector field at T = 5e6
    model = Kuznetsov1994(a=0.18 * rng.lognormal(0, 0.2, n), g=g)
    T0 = np.full(n, 5e6)
    T0[5] = 10.0  # extinct
    E0 = np.where(np.arange(n) == 5, 1e7, 3.2e5)
    batched = model.replace(
        **{k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in model.parameters().items()}
    )
    y0 = np.stack([E0, T0], axis=1)
    schedule = Schedule(ts=np.array([0.0, 30.0, 100.0, 365.0]), dose_times=np.zeros(0))
    none = np.zeros((n, 0))
    ys, status, steps = solve_pallas(
        batched, y0, schedule, none, rtol=1e-6, atol=1e-6, dtype="float64", block=4, sync="thread"
    )
    ref = solve_fused(batched, y0, schedule, none, rtol=1e-6, atol=1e-6, dtype="float64")
    np.testing.assert_array_equal(status, ref[1])
    assert status[2] != 0 and np.all(np.isnan(ys[2]))
    assert np.all(ys[5, 1:, 1] == 0.0)
    ok = status == 0
    np.testing.assert_allclose(ys[ok], ref[0][ok], rtol=1e-9)
    np.testing.assert_array_equal(steps[ok], ref[2][ok])


def test_pallas_float32_thread_and_bad_sync():
    rng = np.random.default_rng(3)
    n = 16
    model = TumorImmunePD1(a=0.18 * rng.lognormal(0, 0.2, n), L=rng.random(n))
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": 5e6})
    schedule, doses = make_schedule(batched, SCANS, PEMBROLIZUMAB_200MG_Q3W)
    assert doses is not None
    ref = solve_fused(batched, y0, schedule, doses, rtol=1e-8, atol=1e-6)
    ys, status, _ = solve_pallas(
        batched, y0, schedule, doses, rtol=1e-5, atol=1e-3, dtype="float32", sync="thread", block=8
    )
    assert ys.dtype == np.float32 and np.all(status == 0)
    np.testing.assert_allclose(ys[..., 1], ref[0][..., 1], rtol=2e-3, atol=1.0)
    with pytest.raises(ValueError, match="sync"):
        solve_pallas(batched, y0, schedule, doses, rtol=1e-5, atol=1e-3, sync="warp")


@pytest.mark.parametrize("sync", ["stop", "thread"])
def test_pallas_groups_equal_the_per_arm_kernels(sync):
    """Issue #27: the arms of a trial (untreated, flat q3w, per-kg q2w, an empty one) in one
    Pallas kernel, each block following its arm's stop table: every patient's states equal
    those of its arm's own kernel to float64 rounding (parameters shared within an arm become
    per-patient inputs, so the last bits may differ), status and step counts exactly."""
    from tumorimmune.model import Regimen
    from tumorimmune.solvers._pallas import solve_pallas_groups

    from .test_fused import _arm, _empty

    q2w = Regimen(drug="pembrolizumab", dose=10.0, unit="mg/kg", interval=14)
    groups = [
        _arm(None, 5, seed=1),
        _arm(PEMBROLIZUMAB_200MG_Q3W, 11, seed=2),
        _empty(_arm(q2w, 3, seed=3)),
        _arm(q2w, 7, seed=4),
    ]
    kw: dict[str, Any] = dict(rtol=1e-8, atol=1e-6, dtype="float64", block=8, sync=sync)
    together = solve_pallas_groups(groups, **kw)
    assert [r[0].shape[0] for r in together] == [5, 11, 0, 7]
    for g, grp in enumerate(groups):
        if grp[1].shape[0] == 0:
            continue
        alone = solve_pallas(*grp, **kw)
        np.testing.assert_allclose(together[g][0], alone[0], rtol=1e-12, atol=1e-9)
        np.testing.assert_array_equal(together[g][1], alone[1])
        np.testing.assert_array_equal(together[g][2], alone[2])
    assert np.all(together[0][0][..., 2:] == 0.0)  # no antibody leaks into the untreated arm
    assert np.all(together[3][0][:, 1:, 2] > 0)

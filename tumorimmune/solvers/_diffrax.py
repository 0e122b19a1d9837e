"""Reference batch backend: ``jax.vmap`` over ``diffrax.diffeqsolve`` (Tsit5, PID control).

Dose events are exact: the solve restarts at every dose time (a ``lax.scan`` over the segments
between doses), adding the bolus to the dosing state. Every patient of a batch shares the
schedule; doses may differ per patient (mg/kg dosing).
"""

from __future__ import annotations

import math
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..model import Model
from ._common import MAX_STEPS, Result, tumor_state_index
from ._extinction import EXTINCTION_CELLS, absorbing_field, zero_extinct
from ._schedule import Schedule

#: Checkpoints of the default reverse-mode adjoint per segment
#: (``diffrax.RecursiveCheckpointAdjoint``): diffrax's own choice for 16 384 steps, so that
#: gradient memory does not grow with the step limit (:data:`MAX_STEPS`); a segment that takes
#: more steps is recomputed more often, not refused.
GRADIENT_CHECKPOINTS = 180


def _flat(x: object) -> Array:
    """All leaves of a pytree as one 1-D array (a plain array: its ravel)."""
    leaves = [jnp.ravel(leaf) for leaf in jax.tree_util.tree_leaves(x)]
    return leaves[0] if len(leaves) == 1 else jnp.concatenate(leaves)


@jax.custom_jvp
def rms_norm(x: Any) -> Array:
    """RMS norm of an array or pytree, summed in a fixed order (the controller's error norm).

    A pytree (e.g. the augmented state of ``diffrax.BacksolveAdjoint``) is flattened leaf by
    leaf, as ``optimistix.rms_norm`` does.

    Same value and derivative convention as ``optimistix.rms_norm`` (zero derivative at 0), but
    an explicit left fold over the elements instead of a dot product: XLA's CPU dot and reduction
    kernels associate the sum differently for different batch sizes and thread counts, which
    made a patient's step sizes depend on the chunk it was solved in.
    """
    flat = _flat(x)
    acc = flat[0] * flat[0]
    for i in range(1, flat.shape[0]):
        acc = acc + flat[i] * flat[i]
    return jnp.sqrt(acc) / math.sqrt(flat.shape[0])


@rms_norm.defjvp
def _rms_norm_jvp(primals, tangents):
    (x,), (tx,) = primals, tangents
    out = rms_norm(x)
    flat, tflat = _flat(x), _flat(tx)
    dot = flat[0] * tflat[0]
    for i in range(1, flat.shape[0]):
        dot = dot + flat[i] * tflat[i]
    pred = (out == 0) | jnp.isinf(out)
    t_out = dot / (jnp.where(pred, 1.0, out) * flat.shape[0])
    return out, jnp.where(pred, 0.0, t_out)


def solve_patient(
    model: Model,
    y0: Float[Array, " S"],
    ts: Float[Array, " n_t"],
    seg_start: Float[Array, " n_seg"],
    seg_end: Float[Array, " n_seg"],
    seg_dose: Float[Array, " n_seg"],
    *,
    rtol: float | Float[Array, ""],
    atol: float | Float[Array, ""],
    dosing_state: int = -1,
    tumor_index: int = -1,
    max_steps: int = MAX_STEPS,
    adjoint: diffrax.AbstractAdjoint | None = None,
) -> tuple[Float[Array, "n_t S"], Int[Array, ""], Int[Array, ""]]:
    """Pure-JAX solve for one patient (scalar parameters); differentiable, vmappable.

    The integration restarts at every segment start, where the bolus ``seg_dose[j]`` (mg) is
    added to state ``dosing_state`` (``-1``: none); ``ts`` (days, non-decreasing, ``ts[0]`` =
    ``seg_start[0]``) are the output times, values at a dose time are pre-dose. With
    ``tumor_index >= 0`` extinction is absorbing (the rule of every backend,
    :mod:`tumorimmune.solvers._extinction`): the vector field treats a tumor below
    :data:`EXTINCTION_CELLS` as 0 and freezes it, and such a tumor is reported as 0.

    Differentiation: the default adjoint (``diffrax.RecursiveCheckpointAdjoint`` with
    :data:`GRADIENT_CHECKPOINTS` checkpoints) supports
    reverse mode (``jax.grad``); pass ``adjoint=diffrax.ForwardMode()`` for forward mode
    (``jax.jacfwd``, e.g. Hessians as ``jacfwd(jacfwd(f))``).

    Returns:
        ``(ys, status, num_steps)``: states at ``ts`` of shape ``(n_t, S)`` (NaN when the solve
        failed), status (0 = success, else a ``diffrax.RESULTS`` code) and the step count.
    """
    n_states = y0.shape[-1]
    field = absorbing_field(lambda t, y, m: m.vector_field(t, y, None), tumor_index, n_states)
    term = diffrax.ODETerm(field)
    solver = diffrax.Tsit5()
    controller = diffrax.PIDController(rtol=rtol, atol=atol, norm=rms_norm)
    unit = (
        jnp.zeros(n_states, y0.dtype).at[dosing_state].set(1.0)
        if dosing_state >= 0
        else jnp.zeros(n_states, y0.dtype)
    )
    if adjoint is None:
        adjoint = diffrax.RecursiveCheckpointAdjoint(checkpoints=GRADIENT_CHECKPOINTS)

    def segment(carry, xs):
        y, status, steps = carry
        s, e, dose = xs
        y = y + dose * unit
        if tumor_index >= 0:  # extinction is absorbing
            y = y.at[tumor_index].set(
                jnp.where(y[tumor_index] < EXTINCTION_CELLS, 0.0, y[tumor_index])
            )
        sol = diffrax.diffeqsolve(
            term,
            solver,
            s,
            e,
            None,
            y,
            args=model,
            saveat=diffrax.SaveAt(ts=jnp.clip(ts, s, e), t1=True),
            stepsize_controller=controller,
            max_steps=max_steps,
            throw=False,
            adjoint=adjoint,
        )
        assert sol.ys is not None and sol.stats is not None
        ok = sol.result == diffrax.RESULTS.successful
        code = jnp.asarray(sol.result._value, jnp.int32)  # type: ignore[attr-defined]
        status = jnp.where(status == 0, jnp.where(ok, 0, code), status)
        seg_ys = sol.ys[:-1]
        mask = (ts > s) & (ts <= e)
        steps = steps + sol.stats["num_steps"]
        return (sol.ys[-1], status, steps), (seg_ys, mask)

    init = (y0, jnp.asarray(0, jnp.int32), jnp.asarray(0, jnp.int32))
    (_, status, steps), (seg_ys, masks) = jax.lax.scan(
        segment, init, (seg_start, seg_end, seg_dose)
    )
    ys = jnp.sum(jnp.where(masks[..., None], seg_ys, 0.0), axis=0)
    if tumor_index >= 0:
        ys = ys.at[:, tumor_index].set(zero_extinct(ys[:, tumor_index]))
    ys = ys.at[0].set(y0)  # pre-dose value at t0
    ys = jnp.where(status == 0, ys, jnp.nan)
    return ys, status, steps


@eqx.filter_jit
def _solve_batch(
    model: Model,
    y0: Float[Array, "N S"],
    ts: Float[Array, " n_t"],
    seg_start: Float[Array, " n_seg"],
    seg_end: Float[Array, " n_seg"],
    seg_dose: Float[Array, "N n_seg"],
    rtol: Float[Array, ""],
    atol: Float[Array, ""],
    dosing_state: int,
    tumor_index: int,
    max_steps: int,
) -> tuple[Float[Array, "N n_t S"], Int[Array, " N"], Int[Array, " N"]]:
    def one(m: Model, y_init: Array, doses: Array):
        return solve_patient(
            m,
            y_init,
            ts,
            seg_start,
            seg_end,
            doses,
            rtol=rtol,
            atol=atol,
            dosing_state=dosing_state,
            tumor_index=tumor_index,
            max_steps=max_steps,
        )

    return jax.vmap(one)(model, y0, seg_dose)


def solve_diffrax(
    model: Model,
    y0: np.ndarray,
    schedule: Schedule,
    doses: np.ndarray,
    *,
    rtol: float,
    atol: float,
    dtype: str = "float64",
    max_steps: int = MAX_STEPS,
) -> Result:
    """Solve a batch with ``jax.vmap`` over ``diffrax.diffeqsolve`` (the reference).

    Arguments and result: the backend contract,
    :meth:`tumorimmune.solvers.AbstractBackend.__call__`.
    """
    starts, ends, seg_dose = schedule.dose_segments(doses)
    jdt = jnp.float64 if dtype == "float64" else jnp.float32
    with jax.enable_x64(dtype == "float64"):
        cast = lambda x: jnp.asarray(x, jdt)  # noqa: E731
        model_c = jax.tree_util.tree_map(cast, model)
        ys, status, steps = _solve_batch(
            model_c,
            cast(y0),
            cast(schedule.ts),
            cast(starts),
            cast(ends),
            cast(seg_dose),
            cast(rtol),
            cast(atol),
            schedule.dosing_state,
            tumor_state_index(model),
            max_steps,
        )
        return np.asarray(ys), np.asarray(status), np.asarray(steps)

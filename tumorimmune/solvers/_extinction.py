"""The extinction rule, one for every backend.

A tumor below :data:`EXTINCTION_CELLS` is extinct, and extinction is absorbing. Every backend
integrates the same modified right-hand side, :func:`absorbing_field`: wherever ``T`` is below
the threshold the model sees ``T = 0`` and ``dT/dt = 0``. So a tumor that falls below one cell
at any evaluation of the vector field inside an accepted step (any stage of a Runge–Kutta step)
stays below it for the rest of the solve, whatever the step sizes, outputs or dose times; and
every backend reports such a tumor as exactly 0 at its outputs.

Why a clamp in the vector field and not an event: it needs no restart of the solver, works
unchanged in ``diffrax`` (reverse- and forward-mode differentiable; the derivative through an
extinct tumor is 0, as it is for a tumor set to 0), in the fused XLA loop and in the Pallas
kernel (elementwise operations only), so the three backends apply literally the same rule. The
fast backends additionally set ``T`` to exactly 0 at the end of the accepted step (which does not
change the dynamics: the field already treats it as 0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

#: Extinction threshold, cells: a tumor below one cell is extinct (absorbing).
EXTINCTION_CELLS = 1.0


def absorbing_field(
    vector_field: Callable[[Any, Any, Any], Any], tumor_index: int, n_states: int
) -> Callable[[Any, Any, Any], Any]:
    """``f(t, y, args)`` (one patient, ``y`` of shape ``(S,)``) with extinction absorbing.

    Where ``y[tumor_index] < EXTINCTION_CELLS`` the returned field evaluates ``vector_field``
    with the tumor set to 0 and returns a zero tumor derivative. ``tumor_index < 0`` (no tumor
    state) returns ``vector_field`` unchanged. Uses only slicing, stacking and ``where``
    (elementwise), so that it also runs inside the Pallas kernel.
    """
    if tumor_index < 0:
        return vector_field

    def field(t: Any, y: Any, args: Any) -> Any:
        parts = [y[k] for k in range(n_states)]
        T = parts[tumor_index]
        dead = T < EXTINCTION_CELLS
        parts[tumor_index] = jnp.where(dead, 0.0, T)
        dy = vector_field(t, jnp.stack(parts), args)
        out = [dy[k] for k in range(n_states)]
        out[tumor_index] = jnp.where(dead, 0.0, out[tumor_index])
        return jnp.stack(out)

    return field


def zero_extinct(T: Any) -> Any:
    """Reported tumor: 0 where below :data:`EXTINCTION_CELLS` (NaN kept)."""
    return jnp.where(T < EXTINCTION_CELLS, 0.0, T)


def tumor_cells(T: Any) -> np.ndarray:
    """Tumor cells with extinction absorbing: 0 from the first time below
    :data:`EXTINCTION_CELLS` along the last axis (times), negatives clipped to 0, NaN kept.
    ``T``: ``(..., n_t)`` cells (NumPy; the dtype is kept)."""
    T = np.asarray(T)
    gone = np.maximum.accumulate(np.nan_to_num(T, nan=np.inf) < EXTINCTION_CELLS, axis=-1)
    return np.where(gone, 0.0, np.maximum(T, 0.0)).astype(T.dtype)

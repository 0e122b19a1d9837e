"""What the engine computes on the device a batch was solved on, before anything is copied
to the host: each arm's solution ``(patient, time, state)`` reduced to the tumor cells the
read-out needs.

The solution of a batch is the largest array of a run (``2^20`` patients × 96 output days × 6
states is 2.4 GB in float32 per arm); the read-out needs only the imaged tumor burden at the
scans, at the end of follow-up and on the survival link's hazard grid. :func:`arm_series`
computes the burden (:meth:`~tumorimmune.model.Model.burden`, extinction absorbing as
:func:`~tumorimmune.solvers.tumor_cells`) in one compiled program on the solution's device and
returns the scan and final cells as NumPy (copied) and the hazard-grid cells as a device array
(the survival link, :func:`~tumorimmune.response.jax_death_days`, runs there too). The same
operations in the same order as the NumPy path (float32 sums in the solve's precision, then
float64), so the cells are bit-identical to it (tested in ``tests/sweeps/test_device.py``).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..model import Model
from ..solvers import EXTINCTION_CELLS, tumor_cells


@eqx.filter_jit
def _series(model: Model, ys: Any, status: Any, scan_idx: Any, grid_idx: Any) -> Any:
    t = model.burden(jnp.asarray(ys))
    # tumor_cells: extinction absorbing, negatives clipped, NaN kept, in the solve's dtype
    gone = jax.lax.cummax(
        (jnp.nan_to_num(t, nan=jnp.inf) < EXTINCTION_CELLS).astype(jnp.int8), axis=t.ndim - 1
    ).astype(bool)
    t = jnp.where(gone, 0.0, jnp.maximum(t, 0.0)).astype(t.dtype).astype(jnp.float64)
    t = jnp.where((status != 0)[:, None], jnp.nan, t)
    return t[:, scan_idx], t[:, -1], t[:, grid_idx]


def arm_series(
    model: Model,
    ys: Any,
    status: Any,
    *,
    scan_idx: np.ndarray,
    grid_idx: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, jax.Array]:
    """Tumor cells (float64; NaN for failed solves) of one arm's batch solution ``ys``
    ``(n, n_t, n_states)`` (NumPy or on a device): at the output times ``scan_idx``
    ``(n, n_scans)`` and the last one ``(n,)`` as NumPy, at ``grid_idx`` ``(n, n_grid)`` as
    a device array. ``status`` ``(n,)``: 0 where solved.

    A model whose tumor state is not in cells (it overrides
    :meth:`~tumorimmune.model.Model.tumor_cells`, e.g. a diameter cubed) is reduced on the host
    with NumPy instead: XLA's ``pow`` is not the C library's, and the stored cells stay those of
    the NumPy path."""
    if type(model).tumor_cells is not Model.tumor_cells:
        t = np.array(tumor_cells(model.burden(np.asarray(ys))), dtype=np.float64)
        t[np.asarray(status) != 0] = np.nan
        with jax.enable_x64(True):
            return t[:, scan_idx], t[:, -1], jnp.asarray(t[:, grid_idx])
    with jax.enable_x64(True):
        at_scans, final, at_grid = _series(
            model,
            ys,
            jnp.asarray(status),
            jnp.asarray(scan_idx, jnp.int32),
            jnp.asarray(grid_idx, jnp.int32),
        )
        return np.asarray(at_scans), np.asarray(final), at_grid


def stack_on_device(arrays: list[jax.Array]) -> jax.Array:
    """The arms' device arrays stacked along a new first axis (arm), on their device."""
    with jax.enable_x64(True):
        return jnp.stack(arrays)

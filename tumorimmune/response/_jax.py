"""The RECIST read-out of :mod:`._metrics` in ``jax.numpy``, for running on the device.

One function, :func:`readout`, computes every per-patient field a sweep stores from the tumor
cells at the scans: the sum of diameters, % change, best % change, best overall response, PFS
and the final outcome class. The rules, codes and conventions are those of the NumPy reference
(:func:`~._metrics.sum_of_diameters_mm`, :func:`~._metrics.pct_change`,
:func:`~._metrics.best_pct_change`, :func:`~._metrics.best_overall_response`,
:func:`~._metrics.pfs`, :func:`~._metrics.outcome_class`) with their defaults (RECIST 1.1
thresholds, no confirmation, censoring at the last scan), written with the same operations in
the same order, so that from the same sums of diameters the results are **bit-identical** to
the reference (float64; tested in ``tests/response/test_jax_readout.py``).

The one exception is the cube root of the sphere diameter: XLA's ``cbrt`` is not the C
library's (they differ in the last bit for about half of all inputs; neither is correctly
rounded), so diameters computed here may differ from :func:`~._metrics.sum_of_diameters_mm` by
a few units in the last place. Callers that need bit-identity with the NumPy reference (the
CPU sweep engine) compute the sums of diameters with it and pass them as ``diameters``.

Inputs are not validated here (the sweep engine builds them); jax is imported on use, so the
package stays importable without it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from jaxtyping import Float

from ._readout import Readout

_PR_DECREASE_PCT = 30.0
_PD_INCREASE_PCT = 20.0
_MIN_INCREASE_MM = 5.0
_CR_DIAMETER_MM = 0.0
_EXTINCT_CELLS = 1.0
_DEFAULT = Readout()


def _evaluable(jnp: Any, d: Any) -> Any:
    return jnp.all(jnp.isfinite(d), axis=-1) & (jnp.nan_to_num(d[..., 0]) > 0)


def _progression(jnp: Any, jax: Any, d: Any) -> Any:
    """PD mask at post-baseline scans (as ``_metrics._progression`` with its defaults)."""
    nadir = jax.lax.cummin(d, axis=d.ndim - 1)[..., :-1]
    cur = d[..., 1:]
    return (cur >= nadir * (1.0 + _PD_INCREASE_PCT / 100.0)) & (cur - nadir >= _MIN_INCREASE_MM)


def _readout(
    cells: Any,
    diameters: Any,
    n_lesions: Any,
    scan_days: Any,
    final_cells: Any,
    escape_cells: Any,
    *,
    cells_per_cm3: float,
    detection_limit_mm: float,
    n_used: int,
    with_diameters: bool,
) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    if with_diameters:
        d = diameters
    else:  # sum_of_diameters_mm: k spheres of cells/k each; below the limit a lesion is gone
        k = n_lesions
        volume_mm3 = (cells / k) * (1000.0 / cells_per_cm3)
        one = 2.0 * jnp.cbrt(3.0 * volume_mm3 / (4.0 * np.pi))
        d = k * jnp.where(one < detection_limit_mm, 0.0, one)
    ok = _evaluable(jnp, d)
    # pct_change
    # the barrier keeps XLA from turning "/ broadcast(base)" into "* broadcast(1 / base)",
    # which rounds differently from NumPy's division
    base = jax.lax.optimization_barrier(jnp.broadcast_to(d[..., :1], d.shape))
    pct = jnp.where(jnp.isfinite(base) & (base > 0), 100.0 * (d - base) / base, jnp.nan)
    # scan_responses and best_overall_response (no confirmation)
    pd = _progression(jnp, jax, d)
    # best_pct_change: up to and including the first PD scan
    after_pd = (jnp.cumsum(pd, axis=-1) - pd) > 0
    best_pct = jnp.where(ok, jnp.min(jnp.where(after_pd, jnp.inf, pct[..., 1:]), axis=-1), jnp.nan)
    cur = d[..., 1:]
    cr = cur <= _CR_DIAMETER_MM
    pr = cur <= d[..., :1] * (1.0 - _PR_DECREASE_PCT / 100.0)
    codes = jnp.select([pd, cr, pr], [3, 0, 1], default=2).astype(jnp.int8)
    codes = jnp.where(ok[..., None], codes, jnp.int8(-1))
    before_pd = jnp.cumsum(codes == 3, axis=-1) == 0
    best = jnp.min(jnp.where(before_pd, codes, jnp.int8(3)), axis=-1)
    best = jnp.where(codes[..., 0] < 0, jnp.int8(-1), best).astype(jnp.int8)
    # pfs (censored at the last scan on or before follow-up)
    du = d[..., :n_used]
    pd_u = _progression(jnp, jax, du)
    event = jnp.any(pd_u, axis=-1)
    first = jnp.argmax(pd_u, axis=-1) + 1
    t = scan_days[:n_used]
    days = jnp.where(event, t[first], t[n_used - 1])
    ok_u = _evaluable(jnp, du)
    # outcome_class
    x = final_cells
    code = jnp.where(x < _EXTINCT_CELLS, 0, jnp.where(x >= escape_cells, 2, 1)).astype(jnp.int8)
    return {
        "diameter_mm": d,
        "pct_change": pct,
        "best_pct_change": best_pct,
        "best_response": best,
        "pfs_days": jnp.where(ok_u, days, jnp.nan),
        "pfs_event": event & ok_u,
        "outcome": jnp.where(jnp.isnan(x), jnp.int8(-1), code),
    }


@functools.cache
def _jitted() -> Any:
    import jax

    return jax.jit(
        _readout,
        static_argnames=("cells_per_cm3", "detection_limit_mm", "n_used", "with_diameters"),
    )


def readout(
    cells: Float[Any, "*batch scan"],
    *,
    scan_days: Float[Any, " scan"],
    follow_up: float,
    final_cells: Float[Any, " *batch"],
    escape_cells: float | Float[Any, "*#batch"],
    readout: Readout = _DEFAULT,
    diameters: Float[Any, "*batch scan"] | None = None,
) -> dict[str, Any]:
    """RECIST read-out of tumor cells at the scans, on the default JAX device (float64).

    Args:
        cells: tumor cells at the scans (scan 0 = baseline, day 0), last axis = scans, any
            leading axes (arm, patient); NaN rows are failed solves (not evaluable).
        scan_days: scan days, shape ``(n_scans,)``, strictly increasing (days).
        follow_up: end of follow-up (days); scans after it do not count for PFS.
        final_cells: tumor cells at the end of follow-up, the leading shape (outcome class).
        escape_cells: escape threshold (cells), broadcastable to ``final_cells``.
        readout: the SLD read-out, :class:`~tumorimmune.response.Readout` (as
            :func:`~._metrics.sum_of_diameters_mm`: ``n_lesions``, broadcast against
            ``cells``, e.g. ``(N, 1)`` per patient; ``cells_per_cm3``,
            ``detection_limit_mm``).
        diameters: sums of diameters (mm) already computed (e.g. by the NumPy reference, for
            bit-identity with it); then ``cells`` and the SLD options are not used.

    Returns:
        JAX arrays: ``diameter_mm``, ``pct_change`` (``*batch, scan``), ``best_pct_change``,
        ``pfs_days`` (float64), ``best_response``, ``outcome`` (int8), ``pfs_event`` (bool),
        all of the leading shape unless noted; codes as in :mod:`._metrics`.
    """
    import jax

    t = np.asarray(scan_days, dtype=np.float64)
    n_used = int(np.searchsorted(t, float(follow_up), side="right"))
    with jax.enable_x64(True):
        import jax.numpy as jnp

        f64 = lambda x: jnp.asarray(x, jnp.float64)  # noqa: E731
        return _jitted()(
            f64(cells),
            None if diameters is None else f64(diameters),
            f64(readout.n_lesions),
            f64(t),
            f64(final_cells),
            f64(escape_cells),
            cells_per_cm3=float(readout.cells_per_cm3),
            detection_limit_mm=float(readout.detection_limit_mm),
            n_used=n_used,
            with_diameters=diameters is not None,
        )

"""Death days of the tumor-size-driven hazard (:mod:`._survival`) in ``jax.numpy``, from the
tumor cells on the hazard grid: for running the survival link on the device.

:func:`death_days` is :func:`~._survival.sample_death_days` of the sums of diameters
:func:`~._metrics.sum_of_diameters_mm` of ``cells``, fused into one compiled program (XLA:
vectorized transcendental functions, no NumPy temporaries of the whole ``(arm, patient,
grid)`` block), float64. It is what the sweep engine runs per batch; the NumPy functions stay
the reference. Results agree with the reference to ``DEATH_DAY_TOL`` days and a few units in
the last place (tested in ``tests/response/test_jax_survival.py``), not bit for bit: XLA's
``cbrt`` and ``pow`` are not the C library's, and the root with a background hazard is found
by Newton's method from above (monotone for this convex increasing function, a handful of
steps) instead of the reference's bisection.

Inputs are not validated here beyond what the reference's callers do (the engine builds them);
jax is imported on use.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from jaxtyping import Bool, Float

from ._readout import Readout
from ._survival import DEATH_DAY_TOL, SurvivalLink

#: Newton steps at most (from above, each at least halves the gap once it is small; in
#: practice 3-6 reach DEATH_DAY_TOL).
_MAX_NEWTON = 60
_DEFAULT = Readout()


def _death_days(
    cells: Any,
    n_lesions: Any,
    u: Any,
    grid: Any,
    *,
    cells_per_cm3: float,
    detection_limit_mm: float,
    scale: float,
    shape: float,
    beta: float,
    ref: float,
    floor: float,
    background: float,
    follow_up: float,
) -> tuple[Any, Any]:
    import jax
    import jax.numpy as jnp

    # sum_of_diameters_mm: k spheres of cells/k each; below the limit a lesion is gone
    k = n_lesions
    volume_mm3 = (cells / k) * (1000.0 / cells_per_cm3)
    one = 2.0 * jnp.cbrt(3.0 * volume_mm3 / (4.0 * np.pi))
    s = k * jnp.where(one < detection_limit_mm, 0.0, one)
    ok = jnp.all(jnp.isfinite(s), axis=-1)
    s = jnp.where(ok[..., None], s, floor)  # placeholders, masked at the end
    # cumulative_hazard
    c = (jnp.maximum(s, floor) / ref) ** beta
    base = (grid / scale) ** shape
    inc = c[..., :-1] * jnp.diff(base) + background * jnp.diff(grid)
    H = jnp.concatenate([jnp.zeros_like(c[..., :1]), jnp.cumsum(inc, axis=-1)], axis=-1)
    E = -jnp.log(u)
    n_grid = grid.shape[0]
    j = jnp.clip(jnp.sum(H <= E[..., None], axis=-1) - 1, 0, n_grid - 1)
    Hj = jnp.take_along_axis(H, j[..., None], axis=-1)[..., 0]
    cj = jnp.take_along_axis(c, j[..., None], axis=-1)[..., 0]
    tj = grid[j]
    rest = jnp.maximum(E - Hj, 0.0)
    lam_j = (tj / scale) ** shape
    t_closed = scale * (lam_j + rest / cj) ** (1.0 / shape)  # the root without background
    if background == 0.0:
        t = t_closed
    else:
        b = background
        t_next = jnp.where(j + 1 < n_grid, grid[jnp.minimum(j + 1, n_grid - 1)], jnp.inf)
        hi = jnp.minimum(jnp.minimum(t_closed, tj + rest / b), t_next)
        hi = jnp.where(jnp.isfinite(hi), hi, tj + rest / b)

        def newton(state: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
            x, _, i = state
            xl = x / scale
            p = xl**shape
            f = cj * (p - lam_j) + b * (x - tj) - rest
            df = cj * shape / scale * (p / xl) + b
            # from above on a convex increasing f: x decreases to the root, never below tj
            new = jnp.maximum(x - jnp.maximum(f, 0.0) / df, tj)
            new = jnp.where(xl > 0, new, x)
            return new, jnp.max(jnp.abs(x - new)), i + 1

        def more(state: tuple[Any, Any, Any]) -> Any:
            _, step, i = state
            return (step > DEATH_DAY_TOL) & (i < _MAX_NEWTON)

        t, _, _ = jax.lax.while_loop(more, newton, (hi, jnp.asarray(jnp.inf, hi.dtype), 0))
    event = ok & (t <= follow_up)
    days = jnp.where(ok, jnp.where(t <= follow_up, t, follow_up), jnp.nan)
    return days, event


@functools.cache
def _jitted() -> Any:
    import jax

    return jax.jit(
        _death_days,
        static_argnames=(
            "cells_per_cm3",
            "detection_limit_mm",
            "scale",
            "shape",
            "beta",
            "ref",
            "floor",
            "background",
            "follow_up",
        ),
    )


def death_days(
    cells: Float[Any, "*batch grid"],
    grid_days: Float[Any, " grid"],
    u: Float[Any, "*#batch"],
    link: SurvivalLink,
    *,
    follow_up: float,
    readout: Readout = _DEFAULT,
) -> tuple[Float[np.ndarray, " *batch"], Bool[np.ndarray, " *batch"]]:
    """Death days ``(os_days, os_event)`` from tumor cells on the hazard grid, on the default
    JAX device (float64): :func:`~._survival.sample_death_days` of
    :func:`~._metrics.sum_of_diameters_mm` of ``cells``, in one compiled program.

    Args:
        cells: tumor cells at the grid days, last axis = grid (any leading axes, e.g. arm,
            patient); a row with a non-finite value is not evaluable.
        grid_days: days of the hazard grid, ``(n_grid,)``, starting at 0, strictly increasing.
        u: uniforms in (0, 1), one per row (:func:`~._survival.patient_uniforms`), broadcast
            against the leading shape of ``cells``.
        link: the hazard's parameters (:class:`~._survival.SurvivalLink`).
        follow_up: end of follow-up (days), > 0; later deaths are censored there.
        readout: the SLD read-out (:class:`~tumorimmune.response.Readout`: ``n_lesions``,
            broadcast against ``cells``, per patient as ``(N, 1)``; ``cells_per_cm3``;
            ``detection_limit_mm``).

    Returns:
        NumPy ``os_days`` (float64 days, ``follow_up`` when censored, NaN when not evaluable)
        and ``os_event`` (bool) of the leading shape.
    """
    import jax

    with jax.enable_x64(True):
        import jax.numpy as jnp

        f64 = lambda x: jnp.asarray(x, jnp.float64)  # noqa: E731
        days, event = _jitted()(
            f64(cells),
            f64(readout.n_lesions),
            f64(u),
            f64(np.asarray(grid_days, np.float64)),
            cells_per_cm3=float(readout.cells_per_cm3),
            detection_limit_mm=float(readout.detection_limit_mm),
            scale=float(link.scale_days),
            shape=float(link.shape),
            beta=float(link.beta),
            ref=float(link.sld_ref_mm),
            floor=float(link.sld_floor_mm),
            background=float(link.background_per_day),
            follow_up=float(follow_up),
        )
        return np.asarray(days), np.asarray(event)

"""Relaxed RECIST endpoints of a virtual trial for regimen optimisation: ORR, DCR, PFS landmark.

Views of the package's one relaxed read-out, :func:`tumorimmune.calibrate.soft_readout`
(module ``calibrate/_relaxed``): the same lesions (``n_lesions`` equal spherical target lesions
sharing the cells, each below ``detection_limit_mm`` counting 0 — the read-out of the sweeps),
the same RECIST 1.1 rules and the same **temperature unit, percentage points** (of the baseline
sum of diameters; of the nadir for the +20 % progression rule). ``temperature=0`` is exactly
the hard read-out of :mod:`tumorimmune.response`; as ``τ → 0`` every relaxed value converges to
it for each patient not sitting exactly on a threshold.

Per patient: responder = objective response (CR or PR) before progression; disease control =
the first post-baseline scan is not PD (best response CR, PR or SD); progression-free at the
landmark = no PD at any scan on or before ``landmark`` days.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..calibrate import soft_readout as _relaxed_readout
from ..response import DEFAULT_DETECTION_LIMIT_MM, DEFAULT_N_LESIONS


class SoftReadout(NamedTuple):
    """Relaxed per-patient read-out, each in [0, 1] (NaN: not evaluable), leading shape."""

    responder: Float[Array, "*batch"]  #: P(best overall response CR or PR)
    disease_control: Float[Array, "*batch"]  #: P(best overall response CR, PR or SD)
    progression_free: Float[Array, "*batch"]  #: P(no PD up to the landmark)


def soft_diameter_mm(
    cells: Float[ArrayLike, "*shape"], *, cells_per_cm3: float = 1e9
) -> Float[Array, "*shape"]:
    """Diameter (mm) of one spherical lesion of ``cells`` cells (as ``response.diameter_mm``).

    ``D = 2·(3V/4π)^(1/3)`` with ``V = 1000·cells/cells_per_cm3`` mm³; differentiable, with
    derivative 0 (not ∞) at ``cells = 0`` (an extinct tumor stays extinct).
    """
    c = jnp.asarray(cells)
    pos = c > 0
    safe = jnp.where(pos, c, 1.0)
    d = 2.0 * jnp.cbrt(3.0 * (safe * (1000.0 / cells_per_cm3)) / (4.0 * math.pi))
    return jnp.where(pos, d, 0.0)


def soft_readout(
    cells: Float[ArrayLike, "*batch scan"],
    scan_days: Float[ArrayLike, " scan"],
    *,
    temperature: float | Float[Array, ""] = 2.0,
    landmark: float = 182.6,
    n_lesions: int = DEFAULT_N_LESIONS,
    cells_per_cm3: float = 1e9,
    detection_limit_mm: float = DEFAULT_DETECTION_LIMIT_MM,
    min_increase_mm: float = 5.0,
    pr_decrease_pct: float = 30.0,
    pd_increase_pct: float = 20.0,
) -> SoftReadout:
    """Relaxed RECIST read-out of scan series (last axis = scans, scan 0 = baseline).

    Args:
        cells: tumor cells at the scans (``>= 0``); any leading shape.
        scan_days: days of the scans, ``(n_scan,)``, strictly increasing (for the landmark).
        temperature: ``τ`` in percentage points (module docstring), >= 0; 0 gives the hard
            read-out.
        landmark: day of the progression-free landmark (e.g. 182.6 = 6 months).
        n_lesions: number of equal target lesions, as
            :func:`tumorimmune.response.sum_of_diameters_mm` (default 3).
        cells_per_cm3: tumor cells per cm³ of lesion volume (default 1e9).
        detection_limit_mm: lesions below it count 0 mm (default 5).
        min_increase_mm: absolute increase over the nadir needed for PD (mm), as in
            :func:`tumorimmune.response.best_overall_response` and
            :func:`~tumorimmune.response.pfs`.
        pr_decrease_pct: decrease from baseline needed for PR (%).
        pd_increase_pct: relative increase over the nadir needed for PD (%).

    Returns:
        :class:`SoftReadout` of the leading shape; NaN for rows that are not evaluable
        (:func:`evaluable`).
    """
    c = jnp.asarray(cells)
    days = [float(x) for x in np.asarray(scan_days, dtype=float).ravel()]
    if len(days) != c.shape[-1]:
        raise ValueError(f"scan_days must give one day per scan ({c.shape[-1]}); got {days}")
    flat = c.reshape(-1, c.shape[-1])
    r = _relaxed_readout(
        flat,
        temperature=temperature,
        n_lesions=n_lesions,
        cells_per_cm3=cells_per_cm3,
        detection_limit_mm=detection_limit_mm,
        pr_decrease_pct=pr_decrease_pct,
        pd_increase_pct=pd_increase_pct,
        min_increase_mm=min_increase_mm,
    )
    n_scans = sum(1 for x in days[1:] if x <= landmark)  # post-baseline scans to the landmark
    alive = r.progression_free
    pf = jnp.where(jnp.isnan(alive[:, 0]), jnp.nan, 1.0) if n_scans == 0 else alive[:, n_scans - 1]
    shape = c.shape[:-1]
    return SoftReadout(r.response.reshape(shape), alive[:, 0].reshape(shape), pf.reshape(shape))


def evaluable(
    cells: Float[ArrayLike, "*batch scan"],
    *,
    n_lesions: int = DEFAULT_N_LESIONS,
    cells_per_cm3: float = 1e9,
    detection_limit_mm: float = DEFAULT_DETECTION_LIMIT_MM,
) -> Array:
    """Rows whose every scan is finite and whose baseline lesions are seen (> 0 and at least
    ``detection_limit_mm``): the patients the hard read-out evaluates."""
    c = jnp.asarray(cells)
    d0 = soft_diameter_mm(jnp.nan_to_num(c[..., 0]) / n_lesions, cells_per_cm3=cells_per_cm3)
    base = jnp.nan_to_num(c[..., 0])
    return jnp.all(jnp.isfinite(c), axis=-1) & (base > 0) & (d0 >= detection_limit_mm)


def soft_endpoints(
    cells: Float[ArrayLike, "N scan"],
    scan_days: Float[ArrayLike, " scan"],
    *,
    temperature: float | Float[Array, ""] = 2.0,
    landmark: float = 182.6,
    weights: Float[ArrayLike, " N"] | None = None,
    n_lesions: int = DEFAULT_N_LESIONS,
    cells_per_cm3: float = 1e9,
    detection_limit_mm: float = DEFAULT_DETECTION_LIMIT_MM,
) -> dict[str, Float[Array, ""]]:
    """Population endpoints from relaxed read-outs: ``{"orr", "dcr", "pfs_at"}`` in [0, 1].

    The (weighted) mean over evaluable patients of :func:`soft_readout`'s responder,
    disease-control and progression-free-at-``landmark`` values (``temperature`` in
    percentage points); at ``temperature=0`` these are the hard ORR, DCR and landmark
    progression-free fraction of :mod:`tumorimmune.response` (no censoring before the
    landmark: every scan is present). Differentiable with respect to ``cells`` (and so to
    population and regimen parameters).
    """
    r = soft_readout(
        cells,
        scan_days,
        temperature=temperature,
        landmark=landmark,
        n_lesions=n_lesions,
        cells_per_cm3=cells_per_cm3,
        detection_limit_mm=detection_limit_mm,
    )
    ok = ~jnp.isnan(r.responder)
    w = jnp.ones(ok.shape) if weights is None else jnp.asarray(weights)
    w = jnp.where(ok, w, 0.0)
    total = jnp.sum(w)
    mean = lambda x: jnp.sum(jnp.where(ok, w * jnp.where(ok, x, 0.0), 0.0)) / total  # noqa: E731
    return {
        "orr": mean(r.responder),
        "dcr": mean(r.disease_control),
        "pfs_at": mean(r.progression_free),
    }

"""Differentiable (relaxed) RECIST read-out of a virtual trial: ORR, DCR, PFS landmark.

Same semantics as :mod:`tumorimmune.sweeps` (``_metrics.py``), on a single spherical lesion of
``cells`` tumor cells (diameter ``D``, mm; scan 0 = baseline):

* PD at scan ``j``: ``D_j >= (1 + pd_increase_pct/100)·nadir_j`` and ``D_j − nadir_j >=
  min_increase_mm``, ``nadir_j = min(D_0 … D_{j−1})``;
* response (CR or PR) at scan ``j``: ``D_j <= (1 − pr_decrease_pct/100)·D_0`` (a CR, ``D_j =
  0``, satisfies it too); it counts only if no scan ``<= j`` is PD (progression ends the
  assessment; shrinkage after PD does not count). ORR = share of responders;
* disease control (CR, PR or SD as best response) = the first post-baseline scan is not PD;
* progression-free at the landmark = no PD at any scan on or before ``landmark`` days.

Every threshold ``x >= 0`` (``x`` in mm) is relaxed to ``sigmoid(x/τ)`` with the temperature
``τ`` in mm; "and" is a product, "not" is ``1 − p``, "any" is ``1 − Π(1 − p)``. With
``temperature=0`` the step is exact (``x >= 0``), and as ``τ → 0`` every relaxed read-out
converges to the hard one for each patient whose diameters do not sit exactly on a threshold.
The nadir is an exact running minimum (continuous, differentiable almost everywhere).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


class SoftReadout(NamedTuple):
    """Relaxed per-patient read-out, each in [0, 1], shape of the leading axes."""

    responder: Float[Array, "*batch"]  #: P(best overall response CR or PR)
    disease_control: Float[Array, "*batch"]  #: P(best overall response CR, PR or SD)
    progression_free: Float[Array, "*batch"]  #: P(no PD up to the landmark)


def _step(x: Array, temperature: float | Array) -> Array:
    if isinstance(temperature, (int, float)) and temperature == 0:
        return jnp.where(x >= 0, 1.0, 0.0).astype(x.dtype)
    return jax.nn.sigmoid(x / temperature)


def soft_diameter_mm(
    cells: Float[ArrayLike, "*shape"], *, cells_per_cm3: float = 1e9
) -> Float[Array, "*shape"]:
    """Diameter (mm) of one spherical lesion of ``cells`` cells (as ``sweeps.diameter_mm``).

    ``D = 2·(3V/4π)^(1/3)`` with ``V = 1000·cells/cells_per_cm3`` mm³; differentiable, with
    derivative 0 (not ∞) at ``cells = 0`` (an extinct tumor stays extinct).
    """
    c = jnp.asarray(cells)
    pos = c > 0
    safe = jnp.where(pos, c, 1.0)
    d = 2.0 * jnp.cbrt(3.0 * safe * (1000.0 / cells_per_cm3) / (4.0 * math.pi))
    return jnp.where(pos, d, 0.0)


def soft_readout(
    cells: Float[ArrayLike, "*batch scan"],
    scan_days: Float[ArrayLike, " scan"],
    *,
    temperature: float | Float[Array, ""] = 1.0,
    landmark: float = 182.6,
    cells_per_cm3: float = 1e9,
    min_increase_mm: float = 5.0,
    pr_decrease_pct: float = 30.0,
    pd_increase_pct: float = 20.0,
) -> SoftReadout:
    """Relaxed RECIST read-out of scan series (last axis = scans, scan 0 = baseline).

    Args:
        cells: tumor cells at the scans (``>= 0``); any leading shape.
        scan_days: days of the scans, ``(n_scan,)``; only used for the landmark.
        temperature: ``τ`` in mm (see the module docstring); 0 gives the hard read-out.
        landmark: day of the progression-free landmark (e.g. 182.6 = 6 months).
        cells_per_cm3: tumor cells per cm³ of lesion volume (as
            :func:`tumorimmune.sweeps.sum_of_diameters_mm`).
        min_increase_mm: absolute increase over the nadir needed for PD (mm), as in
            :func:`tumorimmune.sweeps.best_overall_response` and :func:`~tumorimmune.sweeps.pfs`.
        pr_decrease_pct: decrease from baseline needed for PR (%).
        pd_increase_pct: relative increase over the nadir needed for PD (%).

    Returns:
        :class:`SoftReadout` of the leading shape. Rows with a non-finite value or an empty
        baseline are not evaluable: mask them with :func:`evaluable`.
    """
    c = jnp.asarray(cells)
    c = jnp.where(jnp.isfinite(c), c, 0.0)  # not-evaluable rows: finite, masked by the caller
    d = soft_diameter_mm(c, cells_per_cm3=cells_per_cm3)
    cur = d[..., 1:]
    nadir = jax.lax.cummin(d, axis=d.ndim - 1)[..., :-1]
    pd = _step(cur - (1.0 + pd_increase_pct / 100.0) * nadir, temperature) * _step(
        cur - nadir - min_increase_mm, temperature
    )
    resp = _step((1.0 - pr_decrease_pct / 100.0) * d[..., :1] - cur, temperature)
    no_pd_yet = jnp.cumprod(1.0 - pd, axis=-1)
    responder = 1.0 - jnp.prod(1.0 - resp * no_pd_yet, axis=-1)
    disease_control = 1.0 - pd[..., 0]
    days = jnp.asarray(scan_days)[1:]
    in_window = days <= landmark
    progression_free = jnp.prod(jnp.where(in_window, 1.0 - pd, 1.0), axis=-1)
    return SoftReadout(responder, disease_control, progression_free)


def evaluable(cells: Float[ArrayLike, "*batch scan"]) -> Array:
    """Rows whose every scan is finite and whose baseline is > 0 (as the sweeps metrics)."""
    c = jnp.asarray(cells)
    return jnp.all(jnp.isfinite(c), axis=-1) & (jnp.nan_to_num(c[..., 0]) > 0)


def soft_endpoints(
    cells: Float[ArrayLike, "N scan"],
    scan_days: Float[ArrayLike, " scan"],
    *,
    temperature: float | Float[Array, ""] = 1.0,
    landmark: float = 182.6,
    weights: Float[ArrayLike, " N"] | None = None,
    cells_per_cm3: float = 1e9,
) -> dict[str, Float[Array, ""]]:
    """Population endpoints from relaxed read-outs: ``{"orr", "dcr", "pfs_at"}`` in [0, 1].

    The (weighted) mean over evaluable patients of :func:`soft_readout`'s responder,
    disease-control and progression-free-at-``landmark`` probabilities; at ``temperature=0``
    these are the hard ORR, DCR and landmark progression-free fraction of
    :mod:`tumorimmune.sweeps` (no censoring before the landmark: every scan is present).
    Differentiable with respect to ``cells`` (and so to population and regimen parameters).
    """
    r = soft_readout(
        cells, scan_days, temperature=temperature, landmark=landmark, cells_per_cm3=cells_per_cm3
    )
    ok = evaluable(cells)
    w = jnp.ones(ok.shape) if weights is None else jnp.asarray(weights)
    w = jnp.where(ok, w, 0.0)
    total = jnp.sum(w)
    mean = lambda x: jnp.sum(w * x) / total  # noqa: E731
    return {
        "orr": mean(r.responder),
        "dcr": mean(r.disease_control),
        "pfs_at": mean(r.progression_free),
    }

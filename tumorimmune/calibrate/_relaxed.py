"""Relaxed (differentiable) RECIST read-out of simulated arms: ORR, CR rate, PFS landmarks.

The hard read-out (:func:`tumorimmune.sweeps.sum_of_diameters_mm`, then
:func:`~tumorimmune.sweeps.best_overall_response` / :func:`~tumorimmune.sweeps.pfs`) is a chain
of threshold comparisons; here each comparison becomes the logistic function of its margin in
percentage points divided by one temperature ``τ``: points of the patient's baseline sum of
diameters ``D₀`` (points of the nadir for the +20 % progression rule), so a −30 % threshold is
smeared over about ±2τ points. ``τ = 0`` is exactly the hard read-out (every logistic becomes
the step ``x >= 0`` of the hard rule), and as ``τ → 0`` every relaxed quantity tends to its hard
RECIST value (except on the measure-zero set of exact ties), which the tests check against the
response module. This is the one relaxed read-out of the package: ``tumorimmune.optimize``'s
``soft_readout``/``soft_endpoints`` (regimen optimisation) are views of it, in the same unit.

Per patient and post-baseline scan ``j``, with ``d_j`` the (equal) lesion diameter, ``k`` lesions,
detection limit ``ℓ`` and ``σ`` the logistic function:

* seen lesions ``v_j = σ(k·(d_j − ℓ)/s)`` (0 for an extinct tumor; exactly the indicator
  ``T_j > 0`` when ``ℓ = 0``) and the smooth SLD ``D_j = k·d_j·v_j``;
* response ``ρ_j = σ(((1 − 0.30)·D₀ − D_j)/s)``, complete response ``κ_j = 1 − v_j``;
* progression ``π_j = σ((100·(D_j − N_j)/N_j − 20)/τ)·σ((D_j − N_j − 5 mm)/s)`` with the nadir
  ``N_j = min(D_0, …, D_{j−1})``: the +20 % rule in percentage points of the nadir (so a
  stable tumor, however small, is far from it), the +5 mm rule in points of the baseline; a
  nadir of 0 makes the first factor the indicator ``D_j > 0``;
* not yet progressed ``S_j = 1 − max_{i<=j} π_i`` (exact for indicators) — RECIST stops
  reading responses at the first PD, so **shrinkage after progression does not count**. The
  running maximum, not the product ``Π (1 − π_i)``, so that a tumor hovering just under +20 %
  at consecutive scans is not smeared into progression once per scan: on 1000 patients of the
  default trial at τ = 2 the product put 6-month PFS 4–5 points under the hard value, the
  maximum 0.3 points;
* ``ORR_i = max_j S_j·ρ_j``, ``CR_i = max_j S_j·κ_j``, progression-free at scan ``j``: ``S_j``.

Here ``s = τ·D₀/100`` mm (``D₀`` without the detection limit). ``min``, ``max`` and the
cumulative minimum and maximum are differentiable almost everywhere. Not relaxed: confirmation
of responses and the ``pd_on_reappearance`` option of the hard rule (both off by default there).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from ..response import DEFAULT_DETECTION_LIMIT_MM, DEFAULT_N_LESIONS


class SoftReadout(NamedTuple):
    """Relaxed RECIST read-out per patient (see the module docstring); NaN where not evaluable."""

    response: Float[Array, " N"]  #: objective response (CR or PR) before progression
    complete_response: Float[Array, " N"]  #: complete response before progression
    progression_free: Float[Array, "N n_post"]  #: no PD up to each post-baseline scan


def _temperature(temperature: float | Float[Array, ""]) -> float | None:
    """The temperature as a float (checked: finite, >= 0), or ``None`` when it is traced."""
    try:
        tau = float(temperature)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError, TypeError):
        return None
    if not (math.isfinite(tau) and tau >= 0):
        raise ValueError(
            f"temperature must be >= 0 (percentage points of baseline SLD); got {temperature!r}"
        )
    return tau


def _sigmoid(x: Array, scale: Array | float, exact: bool) -> Array:
    """``σ(x / scale)``, or the hard step ``x >= 0`` at temperature 0."""
    if exact:
        return (x >= 0).astype(x.dtype)
    return jax.nn.sigmoid(x / scale)


def _check(n_lesions: ArrayLike, options: dict[str, float]) -> None:
    for name, v in options.items():
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {v!r}")
    if not options["cells_per_cm3"] > 0:
        raise ValueError(f"cells_per_cm3 must be > 0; got {options['cells_per_cm3']!r}")
    if not (0 < options["pr_decrease_pct"] <= 100):
        raise ValueError(f"pr_decrease_pct must be in (0, 100]; got {options['pr_decrease_pct']!r}")
    try:
        k = np.asarray(n_lesions, dtype=np.float64)
    except jax.errors.TracerArrayConversionError:  # traced: checked by the caller's own run
        return
    if k.ndim > 1 or not np.all(np.isfinite(k) & (k >= 1) & (k == np.round(k))):
        raise ValueError(
            f"n_lesions must be integers >= 1, a scalar or one per patient (N,); got {n_lesions!r}"
        )


def soft_readout(
    cells: Float[Array, "N n_scan"],
    *,
    temperature: float | Float[Array, ""] = 2.0,
    n_lesions: int | Real[ArrayLike, " N"] = DEFAULT_N_LESIONS,
    cells_per_cm3: float = 1e9,
    detection_limit_mm: float = DEFAULT_DETECTION_LIMIT_MM,
    pr_decrease_pct: float = 30.0,
    pd_increase_pct: float = 20.0,
    min_increase_mm: float = 5.0,
) -> SoftReadout:
    """Relaxed RECIST read-out of tumor cells at scans (pure JAX, differentiable in ``cells``).

    Args:
        cells: tumor cells ``(N, n_scan)`` at the scan days, scan 0 = baseline; >= 0.
        temperature: ``τ`` in percentage points (of the baseline SLD; of the nadir for the
            +20 % rule), >= 0; 0 gives the hard read-out exactly. May be traced (then > 0).
        n_lesions: equal target lesions, scalar or per patient ``(N,)`` (integers >= 1).
        cells_per_cm3: cell density (cells per cm³).
        detection_limit_mm: per-lesion detection limit (mm), >= 0.
        pr_decrease_pct: decrease from baseline needed for PR (%), as in
            :func:`tumorimmune.sweeps.best_overall_response`.
        pd_increase_pct: relative increase over the nadir needed for PD (%).
        min_increase_mm: absolute increase over the nadir needed for PD (mm).

    Returns:
        :class:`SoftReadout`; rows with a non-finite scan, no tumor at baseline, or a baseline
        lesion below the detection limit (hard RECIST: not evaluable) are NaN.
    """
    tau = _temperature(temperature)
    exact = tau == 0
    temperature = temperature if tau is None else tau
    _check(
        n_lesions,
        {
            "cells_per_cm3": float(cells_per_cm3),
            "detection_limit_mm": float(detection_limit_mm),
            "pr_decrease_pct": float(pr_decrease_pct),
            "pd_increase_pct": float(pd_increase_pct),
            "min_increase_mm": float(min_increase_mm),
        },
    )
    cells = jnp.asarray(cells)
    if cells.ndim != 2 or cells.shape[1] < 2:
        raise ValueError(
            f"cells must be (N, n_scan) with a baseline and at least one later scan; got shape "
            f"{cells.shape}"
        )
    k = jnp.asarray(n_lesions, cells.dtype)
    k = k[:, None] if k.ndim == 1 else k
    finite = jnp.all(jnp.isfinite(cells), axis=1)
    present = jnp.isfinite(cells) & (cells > 0)
    safe = jnp.where(present, cells, 1.0)  # no NaN or infinite slope in unused branches
    volume_mm3 = (safe / k) * (1000.0 / cells_per_cm3)  # per lesion, as the hard rule
    d = jnp.where(present, 2.0 * jnp.cbrt(3.0 * volume_mm3 / (4.0 * jnp.pi)), 0.0)
    d0 = d[:, :1]
    limit = float(detection_limit_mm)
    ok = finite & present[:, 0] & (d0[:, 0] >= limit)
    scale = jnp.where(ok[:, None], k * d0 * temperature / 100.0, 1.0)  # mm per τ·1 %
    if limit > 0:
        seen = jnp.where(present, _sigmoid(k * (d - limit), scale, exact), 0.0)
    else:
        seen = present.astype(cells.dtype)
    sld = k * d * seen
    base, post = sld[:, :1], sld[:, 1:]
    rho = _sigmoid((1.0 - pr_decrease_pct / 100.0) * base - post, scale, exact)
    kappa = 1.0 - seen[:, 1:]
    nadir = jax.lax.cummin(sld, axis=1)[:, :-1]
    safe_nadir = jnp.where(nadir > 0, nadir, 1.0)
    if exact:  # the hard rule's own comparison (no division)
        grows = (post >= nadir * (1.0 + pd_increase_pct / 100.0)).astype(cells.dtype)
    else:
        grows = jax.nn.sigmoid(
            (100.0 * (post - nadir) / safe_nadir - pd_increase_pct) / temperature
        )
    pd_rel = jnp.where(nadir > 0, grows, (post > 0).astype(cells.dtype))
    pd_abs = _sigmoid(post - nadir - min_increase_mm, scale, exact)
    alive = 1.0 - jax.lax.cummax(pd_rel * pd_abs, axis=1)
    nan = jnp.asarray(jnp.nan, cells.dtype)
    return SoftReadout(
        response=jnp.where(ok, jnp.max(alive * rho, axis=1), nan),
        complete_response=jnp.where(ok, jnp.max(alive * kappa, axis=1), nan),
        progression_free=jnp.where(ok[:, None], alive, nan),
    )


def soft_response(
    cells: Float[Array, "N n_scan"],
    *,
    temperature: float = 2.0,
    pr_decrease_pct: float = 30.0,
    n_lesions: int | Real[ArrayLike, " N"] = DEFAULT_N_LESIONS,
    cells_per_cm3: float = 1e9,
    detection_limit_mm: float = DEFAULT_DETECTION_LIMIT_MM,
    pd_increase_pct: float = 20.0,
    min_increase_mm: float = 5.0,
) -> Float[Array, " N"]:
    """Differentiable relaxation of "objective response (CR or PR) before progression".

    ``max_j S_j·σ(((1 − 0.30)·D₀ − D_j)/s)`` (module docstring): tends to the RECIST best
    overall response being CR or PR (unconfirmed) as ``τ → 0``; shrinkage after a PD call does
    not count. Without progression and without a detection limit this is the former
    ``sigmoid((−30 − min_j c_j)/τ)`` with ``c_j`` the percent change of the SLD.

    Args: as :func:`soft_readout`. Returns: ``(N,)``, NaN where not evaluable.
    """
    return soft_readout(
        cells,
        temperature=temperature,
        pr_decrease_pct=pr_decrease_pct,
        n_lesions=n_lesions,
        cells_per_cm3=cells_per_cm3,
        detection_limit_mm=detection_limit_mm,
        pd_increase_pct=pd_increase_pct,
        min_increase_mm=min_increase_mm,
    ).response


def soft_complete_response(
    cells: Float[Array, "N n_scan"],
    *,
    temperature: float = 2.0,
    n_lesions: int | Real[ArrayLike, " N"] = DEFAULT_N_LESIONS,
    cells_per_cm3: float = 1e9,
    detection_limit_mm: float = DEFAULT_DETECTION_LIMIT_MM,
    pd_increase_pct: float = 20.0,
    min_increase_mm: float = 5.0,
) -> Float[Array, " N"]:
    """Differentiable relaxation of "complete response before progression" (the CR rate).

    ``max_j S_j·(1 − v_j)``: every target lesion below the detection limit at a scan before
    the first PD. With ``detection_limit_mm = 0`` CR needs extinction (no relaxation then).

    Args: as :func:`soft_readout`. Returns: ``(N,)``, NaN where not evaluable.
    """
    return soft_readout(
        cells,
        temperature=temperature,
        n_lesions=n_lesions,
        cells_per_cm3=cells_per_cm3,
        detection_limit_mm=detection_limit_mm,
        pd_increase_pct=pd_increase_pct,
        min_increase_mm=min_increase_mm,
    ).complete_response


def soft_progression_free(
    cells: Float[Array, "N n_scan"],
    scan_days: Float[ArrayLike, " n_scan"],
    day: float,
    *,
    temperature: float = 2.0,
    n_lesions: int | Real[ArrayLike, " N"] = DEFAULT_N_LESIONS,
    cells_per_cm3: float = 1e9,
    detection_limit_mm: float = DEFAULT_DETECTION_LIMIT_MM,
    pd_increase_pct: float = 20.0,
    min_increase_mm: float = 5.0,
) -> Float[Array, " N"]:
    """Differentiable relaxation of "progression-free at ``day``" (a PFS landmark).

    ``S_J`` with ``J`` the last scan on or before ``day``: no PD at any scan up to the
    landmark (PD is only detected at scans; death is not modelled). Its mean over patients is
    the landmark of the Kaplan–Meier PFS curve when nobody is censored before ``day``. A
    ``day`` before the first post-baseline scan gives 1.

    Args:
        cells: ``(N, n_scan)`` tumor cells at ``scan_days``.
        scan_days: strictly increasing scan days, ``scan_days[0] = 0`` the baseline.
        day: landmark (days since the start of treatment), >= 0.
        temperature: ``τ`` in percentage points, as :func:`soft_readout`.
        n_lesions: equal target lesions, as :func:`soft_readout`.
        cells_per_cm3: cell density (cells per cm³).
        detection_limit_mm: per-lesion detection limit (mm).
        pd_increase_pct: relative increase over the nadir needed for PD (%).
        min_increase_mm: absolute increase over the nadir needed for PD (mm).

    Returns:
        ``(N,)``, NaN where not evaluable.
    """
    t = [float(x) for x in jnp.asarray(scan_days).ravel()]
    if len(t) != jnp.shape(cells)[-1] or any(b <= a for a, b in itertools.pairwise(t)):
        raise ValueError(
            f"scan_days must be strictly increasing with one day per scan "
            f"({jnp.shape(cells)[-1]}); got {t}"
        )
    if not (math.isfinite(day) and day >= 0):
        raise ValueError(f"day must be a finite number >= 0; got {day!r}")
    alive = soft_readout(
        cells,
        temperature=temperature,
        n_lesions=n_lesions,
        cells_per_cm3=cells_per_cm3,
        detection_limit_mm=detection_limit_mm,
        pd_increase_pct=pd_increase_pct,
        min_increase_mm=min_increase_mm,
    ).progression_free
    n_scans = sum(1 for x in t[1:] if x <= day)  # post-baseline scans up to the landmark
    if n_scans == 0:
        return jnp.where(jnp.isfinite(alive[:, 0]), 1.0, alive[:, 0])
    return alive[:, n_scans - 1]

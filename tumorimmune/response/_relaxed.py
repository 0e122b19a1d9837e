"""Relaxed (differentiable) RECIST read-out of simulated arms: ORR, CR rate, DCR, PFS landmarks.

The hard read-out (:func:`tumorimmune.response.sum_of_diameters_mm`, then
:func:`~tumorimmune.response.best_overall_response` / :func:`~tumorimmune.response.pfs`) is a chain
of threshold comparisons; here each comparison becomes the logistic function of its margin in
percentage points divided by one temperature ``τ``: points of the patient's baseline sum of
diameters ``D₀`` (points of the nadir for the +20 % progression rule), so a −30 % threshold is
smeared over about ±2τ points. ``τ = 0`` is exactly the hard read-out (every logistic becomes
the step ``x >= 0`` of the hard rule), and as ``τ → 0`` every relaxed quantity tends to its hard
RECIST value (except on the measure-zero set of exact ties), which the tests check against the
response module. This is the one relaxed read-out of the package, used by
:mod:`tumorimmune.calibrate` (population calibration) and :mod:`tumorimmune.optimize`
(regimen optimisation, :func:`soft_endpoints`); every option is a field of one
:class:`~tumorimmune.response.Readout` (lesions, detection limit, cell density, RECIST
thresholds and the temperature).

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
* ``ORR_i = max_j S_j·ρ_j``, ``CR_i = max_j S_j·κ_j``, progression-free at scan ``j``: ``S_j``;
  disease control (best response CR, PR or SD: the first post-baseline scan is not PD):
  ``S_1``.

Here ``s = τ·D₀/100`` mm (``D₀`` without the detection limit). ``min``, ``max`` and the
cumulative minimum and maximum are differentiable almost everywhere. Not relaxed: confirmation
of responses and the ``pd_on_reappearance`` option of the hard rule (both off by default there).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._readout import Readout

_DEFAULT = Readout()


class SoftReadout(NamedTuple):
    """Relaxed RECIST read-out per patient (see the module docstring), each in [0, 1]; NaN
    where not evaluable. Leading shape ``*batch`` of the cells (e.g. ``(N,)``)."""

    response: Float[Array, "*batch"]  #: objective response (CR or PR) before progression
    complete_response: Float[Array, "*batch"]  #: complete response before progression
    progression_free: Float[Array, "*batch n_post"]  #: no PD up to each post-baseline scan

    @property
    def disease_control(self) -> Float[Array, "*batch"]:
        """Disease control, best response CR, PR or SD: no PD at the first post-baseline
        scan."""
        return self.progression_free[..., 0]

    def progression_free_at(
        self, scan_days: Float[ArrayLike, " n_scan"], day: float
    ) -> Float[Array, "*batch"]:
        """Progression-free at ``day`` (a PFS landmark): no PD at any scan on or before it.

        Its mean over patients is the landmark of the Kaplan–Meier PFS curve when nobody is
        censored before ``day`` (PD is only detected at scans; death is not modelled). A
        ``day`` before the first post-baseline scan gives 1.

        Args:
            scan_days: strictly increasing scan days, ``scan_days[0] = 0`` the baseline, one
                per scan of the cells read.
            day: landmark (days since the start of treatment), >= 0.
        """
        alive = self.progression_free
        t = [float(x) for x in np.asarray(scan_days, dtype=float).ravel()]
        if len(t) != alive.shape[-1] + 1 or any(b <= a for a, b in itertools.pairwise(t)):
            raise ValueError(
                f"scan_days must be strictly increasing with one day per scan "
                f"({alive.shape[-1] + 1}); got {t}"
            )
        if not (math.isfinite(day) and day >= 0):
            raise ValueError(f"day must be a finite number >= 0; got {day!r}")
        n_scans = sum(1 for x in t[1:] if x <= day)  # post-baseline scans up to the landmark
        if n_scans == 0:
            return jnp.where(jnp.isfinite(alive[..., 0]), 1.0, alive[..., 0])
        return alive[..., n_scans - 1]


def _temperature(temperature: Any) -> float | None:
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


def _check(readout: Readout, batch: tuple[int, ...]) -> None:
    options = {
        "cells_per_cm3": float(readout.cells_per_cm3),
        "detection_limit_mm": float(readout.detection_limit_mm),
        "pr_decrease_pct": float(readout.pr_decrease_pct),
        "pd_increase_pct": float(readout.pd_increase_pct),
        "min_increase_mm": float(readout.min_increase_mm),
    }
    for name, v in options.items():
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {v!r}")
    if not options["cells_per_cm3"] > 0:
        raise ValueError(f"cells_per_cm3 must be > 0; got {options['cells_per_cm3']!r}")
    if not (0 < options["pr_decrease_pct"] <= 100):
        raise ValueError(f"pr_decrease_pct must be in (0, 100]; got {options['pr_decrease_pct']!r}")
    try:
        k = np.asarray(readout.n_lesions, dtype=np.float64)
    except jax.errors.TracerArrayConversionError:  # traced: checked by the caller's own run
        return
    if (k.ndim and k.shape != batch) or not np.all(np.isfinite(k) & (k >= 1) & (k == np.round(k))):
        raise ValueError(
            "n_lesions must be integers >= 1, a scalar or one per patient (N,); got "
            f"{readout.n_lesions!r}"
        )


def soft_readout(
    cells: Float[ArrayLike, "*batch n_scan"], *, readout: Readout = _DEFAULT
) -> SoftReadout:
    """Relaxed RECIST read-out of tumor cells at scans (pure JAX, differentiable in ``cells``).

    Args:
        cells: tumor cells ``(*batch, n_scan)`` at the scan days (e.g. ``(N, n_scan)``), scan
            0 = baseline; >= 0.
        readout: :class:`~tumorimmune.response.Readout`: ``temperature`` ``τ`` in percentage
            points (of the baseline SLD; of the nadir for the +20 % rule), >= 0, 0 giving the
            hard read-out exactly, may be traced (then > 0); ``n_lesions`` (equal target
            lesions, scalar or one per patient of shape ``batch``, integers >= 1);
            ``cells_per_cm3``; ``detection_limit_mm`` (>= 0); ``pr_decrease_pct``,
            ``pd_increase_pct`` and ``min_increase_mm`` as in
            :func:`tumorimmune.response.best_overall_response`.

    Returns:
        :class:`SoftReadout` of the leading shape; rows with a non-finite scan, no tumor at
        baseline, or a baseline lesion below the detection limit (hard RECIST: not evaluable)
        are NaN.
    """
    temperature: Any = readout.temperature  # a float, or traced
    tau = _temperature(temperature)
    exact = tau == 0
    temperature = temperature if tau is None else tau
    cells = jnp.asarray(cells)
    if cells.ndim < 2 or cells.shape[-1] < 2:
        raise ValueError(
            f"cells must be (N, n_scan) with a baseline and at least one later scan; got shape "
            f"{cells.shape}"
        )
    batch = cells.shape[:-1]
    _check(readout, batch)
    cells = cells.reshape(-1, cells.shape[-1])
    pr_decrease_pct = readout.pr_decrease_pct
    pd_increase_pct = readout.pd_increase_pct
    k = jnp.asarray(readout.n_lesions, cells.dtype)
    k = k.reshape(-1)[:, None] if k.ndim >= 1 else k
    finite = jnp.all(jnp.isfinite(cells), axis=1)
    present = jnp.isfinite(cells) & (cells > 0)
    safe = jnp.where(present, cells, 1.0)  # no NaN or infinite slope in unused branches
    volume_mm3 = (safe / k) * (1000.0 / readout.cells_per_cm3)  # per lesion, as the hard rule
    d = jnp.where(present, 2.0 * jnp.cbrt(3.0 * volume_mm3 / (4.0 * jnp.pi)), 0.0)
    d0 = d[:, :1]
    limit = float(readout.detection_limit_mm)
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
    pd_abs = _sigmoid(post - nadir - readout.min_increase_mm, scale, exact)
    alive = 1.0 - jax.lax.cummax(pd_rel * pd_abs, axis=1)
    nan = jnp.asarray(jnp.nan, cells.dtype)
    return SoftReadout(
        response=jnp.where(ok, jnp.max(alive * rho, axis=1), nan).reshape(batch),
        complete_response=jnp.where(ok, jnp.max(alive * kappa, axis=1), nan).reshape(batch),
        progression_free=jnp.where(ok[:, None], alive, nan).reshape(*batch, -1),
    )


def soft_response(
    cells: Float[ArrayLike, "*batch n_scan"], *, readout: Readout = _DEFAULT
) -> Float[Array, "*batch"]:
    """Differentiable relaxation of "objective response (CR or PR) before progression".

    ``max_j S_j·σ(((1 − 0.30)·D₀ − D_j)/s)`` (module docstring): tends to the RECIST best
    overall response being CR or PR (unconfirmed) as ``τ → 0``; shrinkage after a PD call does
    not count. Without progression and without a detection limit this is the former
    ``sigmoid((−30 − min_j c_j)/τ)`` with ``c_j`` the percent change of the SLD.

    Args: as :func:`soft_readout`. Returns: the leading shape, NaN where not evaluable.
    """
    return soft_readout(cells, readout=readout).response


def soft_complete_response(
    cells: Float[ArrayLike, "*batch n_scan"], *, readout: Readout = _DEFAULT
) -> Float[Array, "*batch"]:
    """Differentiable relaxation of "complete response before progression" (the CR rate).

    ``max_j S_j·(1 − v_j)``: every target lesion below the detection limit at a scan before
    the first PD. With ``detection_limit_mm = 0`` CR needs extinction (no relaxation then).

    Args: as :func:`soft_readout`. Returns: the leading shape, NaN where not evaluable.
    """
    return soft_readout(cells, readout=readout).complete_response


def soft_progression_free(
    cells: Float[ArrayLike, "*batch n_scan"],
    scan_days: Float[ArrayLike, " n_scan"],
    day: float,
    *,
    readout: Readout = _DEFAULT,
) -> Float[Array, "*batch"]:
    """Differentiable relaxation of "progression-free at ``day``" (a PFS landmark):
    :meth:`SoftReadout.progression_free_at` of :func:`soft_readout`.

    Args:
        cells: ``(*batch, n_scan)`` tumor cells at ``scan_days``.
        scan_days: strictly increasing scan days, ``scan_days[0] = 0`` the baseline.
        day: landmark (days since the start of treatment), >= 0.
        readout: as :func:`soft_readout`.

    Returns:
        The leading shape, NaN where not evaluable.
    """
    return soft_readout(cells, readout=readout).progression_free_at(scan_days, day)


def soft_diameter_mm(
    cells: Float[ArrayLike, "*shape"], *, readout: Readout = _DEFAULT
) -> Float[Array, "*shape"]:
    """Diameter (mm) of one spherical lesion of ``cells`` cells (as ``response.diameter_mm``).

    ``D = 2·(3V/4π)^(1/3)`` with ``V = 1000·cells/cells_per_cm3`` mm³ (``readout``'s cell
    density); differentiable, with derivative 0 (not ∞) at ``cells = 0`` (an extinct tumor
    stays extinct).
    """
    c = jnp.asarray(cells)
    pos = c > 0
    safe = jnp.where(pos, c, 1.0)
    d = 2.0 * jnp.cbrt(3.0 * (safe * (1000.0 / readout.cells_per_cm3)) / (4.0 * math.pi))
    return jnp.where(pos, d, 0.0)


def evaluable(cells: Float[ArrayLike, "*batch scan"], *, readout: Readout = _DEFAULT) -> Array:
    """Rows whose every scan is finite and whose baseline lesions are seen (> 0 and at least
    ``readout.detection_limit_mm``): the patients the hard read-out evaluates."""
    c = jnp.asarray(cells)
    k: Any = readout.n_lesions
    d0 = soft_diameter_mm(jnp.nan_to_num(c[..., 0]) / k, readout=readout)
    base = jnp.nan_to_num(c[..., 0])
    return jnp.all(jnp.isfinite(c), axis=-1) & (base > 0) & (d0 >= readout.detection_limit_mm)


def soft_endpoints(
    cells: Float[ArrayLike, "N scan"],
    scan_days: Float[ArrayLike, " scan"],
    *,
    landmark: float = 182.6,
    weights: Float[ArrayLike, " N"] | None = None,
    readout: Readout = _DEFAULT,
) -> dict[str, Float[Array, ""]]:
    """Population endpoints from relaxed read-outs: ``{"orr", "dcr", "pfs_at"}`` in [0, 1].

    The (weighted) mean over evaluable patients of :func:`soft_readout`'s response,
    disease-control and progression-free-at-``landmark`` values (``readout.temperature`` in
    percentage points); at temperature 0 these are the hard ORR, DCR and landmark
    progression-free fraction of :mod:`tumorimmune.response` (no censoring before the
    landmark: every scan is present). Differentiable with respect to ``cells`` (and so to
    population and regimen parameters).

    Args:
        cells: tumor cells at the scans, ``(N, n_scan)``, scan 0 = baseline.
        scan_days: days of the scans, ``(n_scan,)``, strictly increasing.
        landmark: day of the progression-free landmark (e.g. 182.6 = 6 months).
        weights: per-patient weights ``(N,)`` (default 1).
        readout: as :func:`soft_readout`.
    """
    r = soft_readout(cells, readout=readout)
    pf = r.progression_free_at(scan_days, landmark)
    ok = ~jnp.isnan(r.response)
    w = jnp.ones(ok.shape) if weights is None else jnp.asarray(weights)
    w = jnp.where(ok, w, 0.0)
    total = jnp.sum(w)
    mean = lambda x: jnp.sum(jnp.where(ok, w * jnp.where(ok, x, 0.0), 0.0)) / total  # noqa: E731
    return {
        "orr": mean(r.response),
        "dcr": mean(r.disease_control),
        "pfs_at": mean(pf),
    }

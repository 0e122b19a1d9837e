"""Response metrics of a virtual trial: pure NumPy functions, vectorized over patients and arms.

Conventions shared by every function here:

* Scan series are arrays whose **last axis is the scan axis**; scan 0 is the baseline (day 0,
  start of treatment). Any number of leading axes (arm, patient, grid cell, ...) is allowed.
* A row containing a non-finite value (NaN from a failed solve, or ±inf) is *not evaluable*: it
  yields NaN for float results and ``-1`` for integer codes, never an exception.
* Bad input (wrong shape, negative diameters or cell counts, unsorted scan days, bad options)
  raises a ``ValueError`` naming the argument and the offending value.

Science: RECIST 1.1 (Eisenhauer et al. 2009, Eur J Cancer 45:228–247) read on the **sum of
the longest diameters (SLD) of the target lesions**. The model's tumor cells are shared by
``n_lesions`` equal spherical lesions (:func:`sum_of_diameters_mm`); a lesion smaller than the
imaging detection limit ``detection_limit_mm`` has disappeared (0 mm). Assumptions of this
project, each exposed as an option:

* cell density ``cells_per_cm3 = 1e9`` (1 cm³ ≈ 1e9 cells, a common rule of thumb; Del Monte
  2009, Cell Cycle 8:505, argues that ~1e8 cells/cm³ is more realistic for epithelial tumors,
  which would make every diameter 10^(1/3) ≈ 2.15 times larger);
* ``n_lesions = 3`` equal target lesions (:data:`DEFAULT_N_LESIONS`; RECIST 1.1 allows at most
  5 target lesions, 2 per organ; real lesions are not equal);
* detection limit ``5 mm`` per lesion (:data:`DEFAULT_DETECTION_LIMIT_MM`; RECIST 1.1 records a
  lesion that is present but too small to measure as 5 mm and a disappeared one as 0 mm, and
  5 mm is the CT slice thickness its measurability rules assume). ``detection_limit_mm = 0``
  restores the old rule: CR only for an extinct tumor.

All computations are done in float64 (metrics are cheap; accuracy of thresholds matters).
"""

from __future__ import annotations

from typing import Literal, NamedTuple, overload

import numpy as np
from jaxtyping import Bool, Float, Int, Real
from numpy.typing import ArrayLike

from .._typing import NPArray, NPArrayLike, Numbers
from ._readout import DEFAULT_CELLS_PER_CM3 as DEFAULT_CELLS_PER_CM3
from ._readout import DEFAULT_DETECTION_LIMIT_MM as DEFAULT_DETECTION_LIMIT_MM
from ._readout import DEFAULT_N_LESIONS as DEFAULT_N_LESIONS
from ._readout import Readout

#: Codes of :func:`best_overall_response` (``-1`` = not evaluable, e.g. failed solve).
RESPONSE_CODES: dict[str, int] = {"NE": -1, "CR": 0, "PR": 1, "SD": 2, "PD": 3}
#: Codes of :func:`outcome_class` (``-1`` = not evaluable, e.g. failed solve).
OUTCOME_CODES: dict[str, int] = {"failed": -1, "extinct": 0, "controlled": 1, "escaped": 2}

_DEFAULT = Readout()

_NE = np.int8(-1)


# --------------------------------------------------------------------------------------------
# validation helpers


def _positive_scalar(name: str, value: float, *, allow_zero: bool = False) -> float:
    v = float(value)
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
    return v


def _first_bad(x: np.ndarray, bad: NPArray) -> float:
    return float(x[np.unravel_index(int(np.flatnonzero(bad)[0]), x.shape)])


def _nonnegative_array(name: str, x: ArrayLike, unit: str) -> np.ndarray:
    """``x`` as float64; NaN/inf allowed (not evaluable); finite negatives are an error."""
    a = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = a < 0
    if np.any(bad):
        raise ValueError(f"{name} must be >= 0 ({unit}); got {_first_bad(a, bad)!r}")
    return a


def _scan_series(name: str, diam: ArrayLike, *, min_scans: int) -> np.ndarray:
    d = _nonnegative_array(name, diam, "mm")
    if d.ndim < 1:
        raise ValueError(f"{name} must have a scan axis (last axis); got a scalar")
    if d.shape[-1] < min_scans:
        what = "a baseline scan" if min_scans == 1 else "a baseline and at least one later scan"
        raise ValueError(f"{name} needs {what} on its last axis (scans); got shape {d.shape}")
    return d


def _evaluable(d: np.ndarray) -> np.ndarray:
    """Rows (all leading axes) whose every scan is finite and whose baseline is > 0."""
    return np.asarray(np.all(np.isfinite(d), axis=-1) & (np.nan_to_num(d[..., 0]) > 0))


# --------------------------------------------------------------------------------------------
# diameters and % change


# A number in gives a NumPy scalar out (NumPy's 0-d results), an array gives an array.
@overload
def diameter_mm(cells: float, *, readout: Readout = ...) -> np.float64: ...
@overload
def diameter_mm(
    cells: Real[NPArrayLike, "*shape"] | Numbers, *, readout: Readout = ...
) -> Float[np.ndarray, "*shape"]: ...
def diameter_mm(
    cells: Real[NPArrayLike, "*shape"] | Numbers, *, readout: Readout = _DEFAULT
) -> Float[np.ndarray | np.float64, "*shape"]:
    """Diameter (mm) of a single spherical lesion holding ``cells`` tumor cells.

    The read-out of a sweep uses :func:`sum_of_diameters_mm` (several lesions, detection
    limit), which is built on this function.

    ``V = cells / cells_per_cm3`` cm³ = ``1000·cells / cells_per_cm3`` mm³ and
    ``D = 2·(3V/4π)^(1/3)`` mm. ``cells_per_cm3 = 1e9`` is an **assumption** (a common rule of
    thumb for solid tumors; Del Monte 2009 argues ~1e8 is more realistic for epithelial
    tumors); e.g. 1e9 cells give D = 2·(3000/4π)^(1/3) ≈ 12.41 mm. Percent changes and RECIST
    ratios do not depend on it; only the 5 mm PD rule and absolute diameters do.

    Args:
        cells: tumor cell counts, any shape, >= 0 (NaN passes through as NaN).
        readout: :class:`Readout`; only its ``cells_per_cm3`` (cells per cm³, > 0) is used.

    Returns:
        float64 array of the same shape, in mm.
    """
    density = _positive_scalar("cells_per_cm3", readout.cells_per_cm3)
    c = _nonnegative_array("cells", cells, "cells")
    volume_mm3 = c * (1000.0 / density)
    return 2.0 * np.cbrt(3.0 * volume_mm3 / (4.0 * np.pi))


def _lesion_counts(n_lesions: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    """``n_lesions`` as float64 (integers >= 1), checked to broadcast against ``shape``."""
    k = np.asarray(n_lesions, dtype=np.float64)
    bad = ~np.isfinite(k) | (k < 1) | (k != np.round(k))
    if np.any(bad):
        raise ValueError(f"n_lesions must be integers >= 1; got {_first_bad(k, bad)!r}")
    try:
        np.broadcast_shapes(k.shape, shape)
    except ValueError:
        raise ValueError(
            f"n_lesions of shape {k.shape} does not broadcast against the sizes of shape "
            f"{shape}; for scan series (N, n_scans) give per-patient counts as (N, 1)"
        ) from None
    return k


@overload
def sum_of_diameters_mm(cells: float, *, readout: Readout = ...) -> np.float64: ...
@overload
def sum_of_diameters_mm(
    cells: Real[NPArrayLike, "*shape"] | Numbers, *, readout: Readout = ...
) -> Float[np.ndarray, "*shape"]: ...
def sum_of_diameters_mm(
    cells: Real[NPArrayLike, "*shape"] | Numbers, *, readout: Readout = _DEFAULT
) -> Float[np.ndarray | np.float64, "*shape"]:
    """Sum of the longest diameters (mm) of ``n_lesions`` equal spherical lesions: RECIST's SLD.

    The ``cells`` are shared equally by ``k = n_lesions`` spheres: each holds
    ``V = cells / (k·cells_per_cm3)`` cm³ and has diameter ``d = 2·(3V/4π)^(1/3)`` (that is,
    :func:`diameter_mm` of ``cells/k``); a lesion with ``d < detection_limit_mm`` has
    disappeared on imaging and counts 0. ``SLD = k·d``, or 0 once the lesions have
    disappeared (all at once: they are equal). E.g. 3e9 cells in 3 lesions at 1e9 cells/cm³:
    three 1-cm³ spheres of 12.41 mm, SLD 37.22 mm (one sphere of 3 cm³ would measure 17.90 mm).
    With ``n_lesions = 1`` and ``detection_limit_mm = 0`` this is :func:`diameter_mm`.

    Assumptions (module docstring): 1 cm³ ≈ 1e9 cells, 3 equal target lesions, a 5 mm
    detection limit per lesion. Percent changes depend on ``k`` only through the detection
    limit; absolute SLDs (the 5 mm PD rule) scale as ``k^(2/3)`` at fixed total cells.

    Args:
        cells: tumor cell counts, any shape, >= 0 (NaN passes through as NaN).
        readout: :class:`Readout`: ``n_lesions`` (integers >= 1; a scalar or an array that
            broadcasts against ``cells``, per-patient counts for scan series
            ``(N, n_scans)`` as ``(N, 1)``), ``cells_per_cm3`` (> 0) and
            ``detection_limit_mm``, the per-lesion diameter (mm) below which a lesion has
            disappeared, >= 0 (0: only an extinct tumor disappears; a lesion exactly at the
            limit is seen).

    Returns:
        float64 SLD in mm, of the broadcast shape of ``cells`` and ``n_lesions``.
    """
    c = _nonnegative_array("cells", cells, "cells")
    k = _lesion_counts(readout.n_lesions, c.shape)
    limit = _positive_scalar("detection_limit_mm", readout.detection_limit_mm, allow_zero=True)
    d = diameter_mm(c / k, readout=readout)
    with np.errstate(invalid="ignore"):
        return k * np.where(d < limit, 0.0, d)


@overload
def cells_from_sum_of_diameters(sld_mm: float, *, readout: Readout = ...) -> np.float64: ...
@overload
def cells_from_sum_of_diameters(
    sld_mm: Real[NPArrayLike, "*shape"] | Numbers, *, readout: Readout = ...
) -> Float[np.ndarray, "*shape"]: ...
def cells_from_sum_of_diameters(
    sld_mm: Real[NPArrayLike, "*shape"] | Numbers, *, readout: Readout = _DEFAULT
) -> Float[np.ndarray | np.float64, "*shape"]:
    """Tumor cells in ``n_lesions`` equal spheres whose diameters sum to ``sld_mm``.

    The exact inverse of :func:`sum_of_diameters_mm` (without the detection limit, which
    cannot be undone: an SLD of 0 gives 0 cells): each lesion has diameter ``d = SLD/k`` and
    volume ``(π/6)·d³`` mm³, so ``cells = k·(π/6)·(SLD/k)³·cells_per_cm3/1000``. Reading a sum
    of diameters as **one** sphere (``n_lesions = 1``) would give ``k²`` times the volume of
    ``k`` equal lesions.

    Args:
        sld_mm: sums of longest diameters (mm), any shape, >= 0 (NaN passes through).
        readout: :class:`Readout`: ``n_lesions`` (integers >= 1, broadcast against
            ``sld_mm``) and ``cells_per_cm3`` (> 0); the detection limit is not used.

    Returns:
        float64 cell counts of the broadcast shape.
    """
    density = _positive_scalar("cells_per_cm3", readout.cells_per_cm3)
    s = _nonnegative_array("sld_mm", sld_mm, "mm")
    k = _lesion_counts(readout.n_lesions, s.shape)
    d = s / k
    return k * (np.pi / 6.0 * d**3 * (density / 1000.0))


def pct_change(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
) -> Float[np.ndarray, "*batch scan"]:
    """Percent change of the diameter from baseline (scan 0), ``100·(D − D₀)/D₀``.

    Args:
        diam: SLDs (mm), last axis = scans with scan 0 the baseline; >= 0.

    Returns:
        float64 array of the same shape, in %; scan 0 is 0. Rows with a zero or non-finite
        baseline give NaN (change from nothing is undefined); NaN scans stay NaN.
    """
    d = _scan_series("diam", diam, min_scans=1)
    base = d[..., :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 * (d - base) / base
    return np.where(np.isfinite(base) & (base > 0), out, np.nan)


def best_pct_change(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    *,
    until_progression: bool = True,
    min_increase_mm: float = 5.0,
    pd_increase_pct: float = 20.0,
) -> Float[np.ndarray, "*batch"]:
    """Best (most negative) percent change from baseline, read up to progression.

    The oncology convention of waterfall plots: the minimum of :func:`pct_change` over the
    post-baseline scans 1, 2, ... **up to and including the first RECIST 1.1 progression**
    (the scan where PD is declared, :func:`scan_responses`): as for the best overall response,
    progression ends the assessment, so shrinkage after PD (a pseudo-progression's later
    response, which only iRECIST would count) does not make a PD bar reach −30 %. The baseline
    itself is excluded, so a tumor that only grows has a positive best change; a tumor that
    disappears before any progression has −100 %.

    Args:
        diam: SLDs (mm), last axis = scans (baseline + at least one later scan).
        until_progression: read scans only up to the first PD (default); ``False`` reads every
            post-baseline scan, progression or not (treatment beyond progression, as
            iRECIST would read it; not what the sweeps store).
        min_increase_mm: absolute increase over the nadir for PD (mm), as
            :func:`scan_responses`.
        pd_increase_pct: relative increase over the nadir for PD (%), as
            :func:`scan_responses`.

    Returns:
        float64 array of the leading shape, in %; NaN for not-evaluable rows (any non-finite
        scan, or zero baseline).
    """
    d = _scan_series("diam", diam, min_scans=2)
    pct = pct_change(d)[..., 1:]
    if until_progression:
        _check_recist_options(min_increase_mm, 30.0, pd_increase_pct, 0.0)
        pd = _progression(
            d,
            min_increase_mm=min_increase_mm,
            pd_increase_pct=pd_increase_pct,
            cr_diameter_mm=0.0,
            pd_on_reappearance=False,
        )
        after_pd = (np.cumsum(pd, axis=-1) - pd) > 0  # scans after the first PD scan
        pct = np.where(after_pd, np.inf, pct)
    best = np.min(pct, axis=-1)
    return np.where(_evaluable(d), best, np.nan)


# --------------------------------------------------------------------------------------------
# RECIST 1.1


def _progression(
    d: np.ndarray,
    *,
    min_increase_mm: float,
    pd_increase_pct: float,
    cr_diameter_mm: float,
    pd_on_reappearance: bool,
) -> np.ndarray:
    """PD mask at post-baseline scans, shape ``(..., n_scans − 1)`` (NaN compares False)."""
    nadir = np.minimum.accumulate(d, axis=-1)[..., :-1]  # smallest sum on study before scan j
    cur = d[..., 1:]
    pd = (cur >= nadir * (1.0 + pd_increase_pct / 100.0)) & (cur - nadir >= min_increase_mm)
    if pd_on_reappearance:
        # EORTC RECIST FAQ: after a definitive CR, reappearance of any lesion is PD.
        pd |= (nadir <= cr_diameter_mm) & (cur > cr_diameter_mm)
    return pd


def _check_recist_options(
    min_increase_mm: float, pr_decrease_pct: float, pd_increase_pct: float, cr_diameter_mm: float
) -> None:
    _positive_scalar("min_increase_mm", min_increase_mm, allow_zero=True)
    _positive_scalar("pd_increase_pct", pd_increase_pct, allow_zero=True)
    _positive_scalar("cr_diameter_mm", cr_diameter_mm, allow_zero=True)
    pr = float(pr_decrease_pct)
    if not (np.isfinite(pr) and 0 < pr <= 100):
        raise ValueError(f"pr_decrease_pct must be in (0, 100]; got {pr_decrease_pct!r}")


def scan_responses(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    *,
    min_increase_mm: float = 5.0,
    pr_decrease_pct: float = 30.0,
    pd_increase_pct: float = 20.0,
    cr_diameter_mm: float = 0.0,
    pd_on_reappearance: bool = False,
) -> Int[np.ndarray, "*batch scan_post"]:
    """RECIST 1.1 time-point response at every post-baseline scan (int8 codes).

    Per scan ``j >= 1``, in this order of precedence:

    * **PD** (3): ``D_j >= (1 + pd_increase_pct/100)·nadir_j`` **and**
      ``D_j − nadir_j >= min_increase_mm``, with ``nadir_j = min(D_0, ..., D_{j−1})`` the
      smallest diameter on study before scan j, baseline included. With
      ``pd_on_reappearance=True`` a lesion growing back above ``cr_diameter_mm`` after the
      nadir reached it is PD too (EORTC RECIST FAQ "Does a new lesion always result in PD?").
    * **CR** (0): disappearance of every target lesion, ``D_j <= cr_diameter_mm`` (default 0:
      an SLD of 0, i.e. every lesion below the detection limit of
      :func:`sum_of_diameters_mm`, or an extinct tumor when that limit is 0).
    * **PR** (1): ``D_j <= (1 − pr_decrease_pct/100)·D_0`` (>= 30 % decrease from baseline).
    * **SD** (2): neither.

    Returns:
        int8 array ``(..., n_scans − 1)``; rows not evaluable (non-finite scan or zero
        baseline) are ``-1`` throughout.
    """
    _check_recist_options(min_increase_mm, pr_decrease_pct, pd_increase_pct, cr_diameter_mm)
    d = _scan_series("diam", diam, min_scans=2)
    cur = d[..., 1:]
    with np.errstate(invalid="ignore"):
        pd = _progression(
            d,
            min_increase_mm=float(min_increase_mm),
            pd_increase_pct=float(pd_increase_pct),
            cr_diameter_mm=float(cr_diameter_mm),
            pd_on_reappearance=pd_on_reappearance,
        )
        cr = cur <= cr_diameter_mm
        pr = cur <= d[..., :1] * (1.0 - pr_decrease_pct / 100.0)
    codes = np.select([pd, cr, pr], [3, 0, 1], default=2).astype(np.int8)
    return np.where(_evaluable(d)[..., None], codes, _NE)


def best_overall_response(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    *,
    min_increase_mm: float = 5.0,
    pr_decrease_pct: float = 30.0,
    pd_increase_pct: float = 20.0,
    cr_diameter_mm: float = 0.0,
    pd_on_reappearance: bool = False,
    confirm: bool = False,
) -> Int[np.ndarray, " *batch"]:
    """RECIST 1.1 best overall response: int8 ``0=CR, 1=PR, 2=SD, 3=PD``, ``-1`` not evaluable.

    Time-point responses come from :func:`scan_responses` (nadir +20 % **and** +5 mm rule for
    PD; >= 30 % decrease from baseline for PR; disappearance for CR). The best response is read
    over the post-baseline scans in order, and **progression ends the assessment**: responses
    after the first PD do not count. The best overall response is the best (CR < PR < SD)
    time-point response before the first PD, or PD when the first post-baseline scan is PD.

    Confirmation: by default responses are **unconfirmed** (RECIST 1.1 requires confirmation
    only in non-randomized trials with response as primary endpoint). With ``confirm=True`` a
    CR counts only if the next scan is CR too, and a PR (or a CR followed by a PR) only if the
    next scan is CR or PR; an unconfirmed CR/PR, including one at the last scan, counts as SD.
    The minimum interval between the two scans (>= 4 weeks in RECIST) and the minimum duration
    of SD are taken to be met by the scan schedule (default every 6 weeks); they are not
    checked here. Measurability at baseline (>= 10 mm) is not required.

    Args:
        diam: SLDs (mm), last axis = scans (scan 0 = baseline, at least one later scan).
        min_increase_mm: absolute increase over the nadir needed for PD (mm).
        pr_decrease_pct: decrease from baseline needed for PR (%).
        pd_increase_pct: relative increase over the nadir needed for PD (%).
        cr_diameter_mm: sums of diameters at or below this count as disappeared (mm); the
            detection limit per lesion belongs in :func:`sum_of_diameters_mm` instead.
        pd_on_reappearance: regrowth above ``cr_diameter_mm`` after a CR is PD (see
            :func:`scan_responses`).
        confirm: require confirmation of CR/PR at the next scan.

    Returns:
        int8 array of the leading shape.
    """
    codes = scan_responses(
        diam,
        min_increase_mm=min_increase_mm,
        pr_decrease_pct=pr_decrease_pct,
        pd_increase_pct=pd_increase_pct,
        cr_diameter_mm=cr_diameter_mm,
        pd_on_reappearance=pd_on_reappearance,
    )
    ne = codes[..., 0] < 0
    is_pd = codes == 3
    if confirm:
        nxt = np.concatenate([codes[..., 1:], np.full_like(codes[..., :1], 3)], axis=-1)
        confirmed = np.where(codes == 0, np.where(nxt == 0, 0, np.where(nxt == 1, 1, 2)), codes)
        confirmed = np.where(codes == 1, np.where(nxt <= 1, 1, 2), confirmed)
        codes = confirmed.astype(np.int8)
    before_pd = np.cumsum(is_pd, axis=-1) == 0
    best = np.min(np.where(before_pd, codes, 3), axis=-1).astype(np.int8)
    return np.where(ne, _NE, best)


def pfs(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    scan_days: Real[NPArrayLike, " scan"] | Numbers,
    *,
    follow_up: float,
    censor_at: Literal["last_scan", "follow_up"] = "last_scan",
    min_increase_mm: float = 5.0,
    pd_increase_pct: float = 20.0,
    cr_diameter_mm: float = 0.0,
    pd_on_reappearance: bool = False,
) -> tuple[Float[np.ndarray, " *batch"], Bool[np.ndarray, " *batch"]]:
    """Progression-free survival from RECIST PD at scans: ``(pfs_days, event)``.

    The event time is the day of the first scan meeting PD (see :func:`scan_responses`), in
    days since the start of treatment (the values of ``scan_days``). Without PD up to
    ``follow_up`` the patient is censored (``event=False``) at the last scan on or before
    ``follow_up`` (``censor_at="last_scan"``, the usual date of the last adequate assessment)
    or at ``follow_up`` itself (``censor_at="follow_up"``). Scans after ``follow_up`` are
    ignored. Death is **not modelled**: only radiographic progression is an event.

    Args:
        diam: SLDs (mm), last axis = scans.
        scan_days: scan days (days since start of treatment), shape ``(n_scans,)``, finite and
            strictly increasing; scan 0 is the baseline.
        follow_up: end of follow-up (days), >= ``scan_days[1]``.
        censor_at: where PD-free patients are censored.
        min_increase_mm: PD rule, as in :func:`best_overall_response`: absolute increase
            over the nadir (mm).
        pd_increase_pct: PD rule: relative increase over the nadir (%).
        cr_diameter_mm: sums of diameters at or below this count as disappeared (mm).
        pd_on_reappearance: regrowth above ``cr_diameter_mm`` after a CR is PD.

    Returns:
        ``pfs_days`` float64 and ``event`` bool arrays of the leading shape; not-evaluable
        rows give ``(NaN, False)``.
    """
    _check_recist_options(min_increase_mm, 30.0, pd_increase_pct, cr_diameter_mm)
    d = _scan_series("diam", diam, min_scans=2)
    t = np.asarray(scan_days, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] != d.shape[-1]:
        raise ValueError(
            f"scan_days must be 1-D with one day per scan ({d.shape[-1]}); got shape {t.shape}"
        )
    if not np.all(np.isfinite(t)):
        raise ValueError(f"scan_days must be finite; got {t.tolist()}")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"scan_days must be strictly increasing; got {t.tolist()}")
    fu = float(follow_up)
    if not (np.isfinite(fu) and fu >= t[1]):
        raise ValueError(
            f"follow_up must be finite and >= the first post-baseline scan day ({t[1]}); "
            f"got {follow_up!r}"
        )
    if censor_at not in ("last_scan", "follow_up"):
        raise ValueError(f"censor_at must be 'last_scan' or 'follow_up'; got {censor_at!r}")
    n_used = int(np.searchsorted(t, fu, side="right"))  # scans on or before follow-up
    d = d[..., :n_used]
    with np.errstate(invalid="ignore"):
        pd = _progression(
            d,
            min_increase_mm=float(min_increase_mm),
            pd_increase_pct=float(pd_increase_pct),
            cr_diameter_mm=float(cr_diameter_mm),
            pd_on_reappearance=pd_on_reappearance,
        )
    event = np.any(pd, axis=-1)
    first = np.argmax(pd, axis=-1) + 1  # index into scans of the first PD
    censor_day = t[n_used - 1] if censor_at == "last_scan" else fu
    days = np.where(event, t[:n_used][first], censor_day)
    ok = _evaluable(d)
    return np.where(ok, days, np.nan), np.asarray(event & ok)


# --------------------------------------------------------------------------------------------
# final outcome


def outcome_class(
    final_cells: Real[NPArrayLike, "*batch"] | Numbers,
    *,
    escape_cells: Real[NPArrayLike, "*#batch"] | Numbers,
    extinct_cells: float = 1.0,
) -> Int[np.ndarray, " *batch"]:
    """Final outcome class: int8 ``0=extinct, 1=controlled, 2=escaped``, ``-1`` not evaluable.

    * **extinct**: ``final_cells < extinct_cells`` (default 1 cell, the solvers' extinction
      threshold: they set T to 0 below it, and extinction is absorbing).
    * **escaped**: ``final_cells >= escape_cells``. The threshold is the caller's choice and a
      modelling **assumption**; a natural one is a fraction of the carrying capacity ``1/b``:
      in Kuznetsov (1994) the escape node sits at 0.89/b, the separatrix saddle at 0.54/b and
      the dormant focus at 0.016/b, so ``escape_cells = 0.5/b`` separates the two basins
      reasonably at the end of a long follow-up.
    * **controlled**: anything in between (dormant or shrinking but not extinct).

    Args:
        final_cells: tumor cells at the end of follow-up, any shape, >= 0; NaN (failed solve)
            gives ``-1``.
        escape_cells: escape threshold (cells), > ``extinct_cells``; scalar or broadcastable
            to ``final_cells`` (e.g. per-patient ``0.5/b``).
        extinct_cells: extinction threshold (cells), >= 0.

    Returns:
        int8 array of the broadcast shape.
    """
    x = _nonnegative_array("final_cells", final_cells, "cells")
    ext = _positive_scalar("extinct_cells", extinct_cells, allow_zero=True)
    esc = np.asarray(escape_cells, dtype=np.float64)
    bad = ~np.isfinite(esc) | (esc <= ext)
    if np.any(bad):
        raise ValueError(
            f"escape_cells must be finite and > extinct_cells ({ext}); got {_first_bad(esc, bad)!r}"
        )
    with np.errstate(invalid="ignore"):
        code = np.where(x < ext, 0, np.where(x >= esc, 2, 1)).astype(np.int8)
    return np.where(np.isnan(x), _NE, code)


# --------------------------------------------------------------------------------------------
# binomial confidence intervals


def wilson_ci(
    k: Real[NPArrayLike, "..."] | Numbers,
    n: Real[NPArrayLike, "..."] | Numbers,
    *,
    confidence: float = 0.95,
) -> tuple[Float[np.ndarray, "..."], Float[np.ndarray, "..."]]:
    """Wilson score interval for a binomial proportion ``k/n`` (no continuity correction).

    ``(p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)`` with ``z`` the
    ``(1 + confidence)/2`` normal quantile (Wilson 1927); the same interval as
    ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``, vectorized.

    Args:
        k: successes (e.g. responders), integers with ``0 <= k <= n``; broadcast with ``n``.
        n: trials (evaluable patients), integers >= 0; ``n = 0`` gives NaN bounds.
        confidence: confidence level in (0, 1).

    Returns:
        ``(lower, upper)`` float64 arrays of the broadcast shape, proportions in [0, 1].
    """
    c = float(confidence)
    if not (0 < c < 1):
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    k_arr, n_arr = np.broadcast_arrays(
        np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    )
    for name, a in (("k", k_arr), ("n", n_arr)):
        bad = ~np.isfinite(a) | (a < 0) | (a != np.round(a))
        if np.any(bad):
            raise ValueError(f"{name} must be non-negative integers; got {_first_bad(a, bad)!r}")
    bad = k_arr > n_arr
    if np.any(bad):
        i = np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape)
        raise ValueError(f"k must be <= n; got k={k_arr[i]!r} > n={n_arr[i]!r}")
    import scipy.stats  # on use: 0.8 s of import that validating a spec needs not

    z = float(scipy.stats.norm.ppf(0.5 + c / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_arr / n_arr
        denom = 1.0 + z**2 / n_arr
        center = (p + z**2 / (2 * n_arr)) / denom
        half = z * np.sqrt(p * (1 - p) / n_arr + z**2 / (4 * n_arr**2)) / denom
    lo = np.where(k_arr == 0, 0.0, np.clip(center - half, 0.0, 1.0))
    hi = np.where(k_arr == n_arr, 1.0, np.clip(center + half, 0.0, 1.0))
    empty = n_arr == 0
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


# --------------------------------------------------------------------------------------------
# Kaplan–Meier


class KaplanMeier(NamedTuple):
    """Kaplan–Meier estimate as a right-continuous step function.

    ``survival[i]`` holds on ``[time[i], time[i+1])``; ``time[0] = 0`` with survival 1.
    """

    time: Float[np.ndarray, " m"]  #: 0 and the distinct observed times (days)
    survival: Float[np.ndarray, " m"]  #: S(t)
    lower: Float[np.ndarray, " m"]  #: lower confidence bound (log-log, Greenwood)
    upper: Float[np.ndarray, " m"]  #: upper confidence bound
    at_risk: Int[np.ndarray, " m"]  #: number at risk just before ``time``
    events: Int[np.ndarray, " m"]  #: events at ``time``


def _km_inputs(times: ArrayLike, events: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=np.float64)
    e = np.asarray(events)
    if t.ndim != 1 or e.shape != t.shape:
        raise ValueError(
            f"times and events must be 1-D of equal length; got shapes {t.shape} and {e.shape}"
        )
    if e.dtype != np.bool_:
        if not np.all(np.isin(e, (0, 1))):
            raise ValueError(f"events must be booleans (True = event); got {np.unique(e)}")
        e = e.astype(bool)
    keep = ~np.isnan(t)  # not-evaluable patients (failed solves) are left out
    t, e = t[keep], e[keep]
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(t) | (t < 0)
    if np.any(bad):
        raise ValueError(f"times must be finite and >= 0 (days); got {_first_bad(t, bad)!r}")
    return t, e


def kaplan_meier(
    times: Real[NPArrayLike, " n"] | Numbers,
    events: Bool[NPArrayLike, " n"] | Int[NPArrayLike, " n"] | Numbers,
    *,
    confidence: float = 0.95,
) -> KaplanMeier:
    """Kaplan–Meier survival estimate with Greenwood / log-log pointwise confidence bands.

    ``S(t) = Π_{t_i <= t} (1 − d_i/n_i)``; ``Var[log(−log S)] = Σ d_i/(n_i(n_i − d_i)) /
    (log S)²`` (Greenwood's formula, delta method; Kalbfleisch & Prentice); the bands are
    ``S^exp(±z·se)``. The same estimate and bands as
    ``scipy.stats.ecdf(CensoredData(...)).sf.confidence_interval(method="log-log")``: where
    S = 0 the bands are undefined (NaN); where S = 1 they are set to 1.

    Args:
        times: event or censoring times (days), 1-D, >= 0; NaN entries (failed solves) are
            dropped.
        events: True for an event (progression), False for censoring; same shape.
        confidence: confidence level in (0, 1).

    Returns:
        :class:`KaplanMeier` at time 0 and at every distinct observed time (events or
        censorings), sorted.
    """
    c = float(confidence)
    if not (0 < c < 1):
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    t, e = _km_inputs(times, events)
    if t.size == 0:
        one, zero = np.ones(1), np.zeros(1, dtype=np.int64)
        return KaplanMeier(np.zeros(1), one, one, one.copy(), zero, zero.copy())
    uniq, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e, minlength=uniq.size).astype(np.int64)
    removed = np.bincount(inv, minlength=uniq.size).astype(np.int64)
    at_risk = t.size - np.concatenate([[0], np.cumsum(removed)[:-1]]).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - d / at_risk)
        greenwood = np.cumsum(np.where(d > 0, d / (at_risk * (at_risk - d)), 0.0))
        import scipy.stats  # on use: 0.8 s of import that validating a spec needs not

        z = float(scipy.stats.norm.ppf(0.5 + c / 2))
        se = np.sqrt(greenwood) / np.abs(np.log(surv))
        lower = surv ** np.exp(z * se)
        upper = surv ** np.exp(-z * se)
    lower = np.where(surv == 1.0, 1.0, np.where(surv == 0.0, np.nan, lower))
    upper = np.where(surv == 1.0, 1.0, np.where(surv == 0.0, np.nan, upper))
    if uniq.size and uniq[0] == 0.0:  # events at day 0 already lower S at time 0
        return KaplanMeier(uniq, surv, lower, upper, at_risk, d)
    one = np.ones(1)
    return KaplanMeier(
        np.concatenate([[0.0], uniq]),
        np.concatenate([one, surv]),
        np.concatenate([one, lower]),
        np.concatenate([one, upper]),
        np.concatenate([[t.size], at_risk]).astype(np.int64),
        np.concatenate([[0], d]).astype(np.int64),
    )


def _crossing_time(time: np.ndarray, curve: np.ndarray, level: float) -> float:
    """First time the step curve drops to ``level`` or below; midpoint rule on a flat exact hit.

    If the curve equals ``level`` (to rounding) on ``[t_i, t_{i+1})`` and drops below at
    ``t_{i+1}``, the crossing is ``(t_i + t_{i+1})/2`` (the convention of R's ``survfit``);
    when the curve stays at ``level`` to the end it is ``t_i``. NaN when never reached.
    """
    below = np.flatnonzero(curve <= level + 1e-12)
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if abs(curve[i] - level) <= 1e-12 and i + 1 < time.size:
        nxt = np.flatnonzero(curve[i + 1 :] < level - 1e-12)
        if nxt.size:
            return float((time[i] + time[i + 1 + int(nxt[0])]) / 2)
    return float(time[i])


def km_median(
    times: Real[NPArrayLike, " n"] | Numbers,
    events: Bool[NPArrayLike, " n"] | Int[NPArrayLike, " n"] | Numbers,
    *,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Median survival time (e.g. median PFS, days) with its confidence interval.

    The median is the first time the Kaplan–Meier curve drops to 0.5 or below (midpoint rule
    when it sits exactly at 0.5, as in R's ``survfit``). The interval (Brookmeyer & Crowley
    1982, by inverting the pointwise log-log bands of :func:`kaplan_meier`) runs from the first
    time the lower band drops to 0.5 or below to the first time the upper band does (both
    bands count as 0 where S = 0). Each value is NaN when not reached (e.g. median PFS not
    reached when fewer than half of the patients progress); all NaN for an empty sample.

    Returns:
        ``(median, lower, upper)`` in the units of ``times``.
    """
    return km_median_of(kaplan_meier(times, events, confidence=confidence))


def km_median_of(km: KaplanMeier) -> tuple[float, float, float]:
    """:func:`km_median` of a curve computed already (:func:`kaplan_meier`)."""
    lower = np.where(km.survival == 0.0, 0.0, km.lower)
    upper = np.where(km.survival == 0.0, 0.0, km.upper)
    return (
        _crossing_time(km.time, km.survival, 0.5),
        _crossing_time(km.time, lower, 0.5),
        _crossing_time(km.time, upper, 0.5),
    )


def km_at(days: np.ndarray, event: np.ndarray, day: float) -> tuple[float, float, float]:
    """Kaplan–Meier survival at ``day`` with its 95 % interval: ``(value, lower, upper)``."""
    return km_at_of(kaplan_meier(days, event), day)


def km_at_of(km: KaplanMeier, day: float) -> tuple[float, float, float]:
    """:func:`km_at` of a curve computed already (:func:`kaplan_meier`)."""
    t = np.asarray(km.time)
    i = int(np.searchsorted(t, day, side="right")) - 1
    if i < 0:
        return 1.0, 1.0, 1.0
    return float(km.survival[i]), float(km.lower[i]), float(km.upper[i])

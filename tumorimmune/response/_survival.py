"""Overall survival from tumor kinetics: a parametric hazard driven by the tumor size.

The link of tumor-growth-inhibition models to survival (Claret et al. 2009, J Clin Oncol
27:4103; Bruno et al. 2020, Clin Cancer Res 26:1787): the hazard of death at time ``t``
(days since the start of treatment) is a Weibull baseline hazard scaled by the patient's
current sum of longest diameters (SLD), plus a tumor-independent background hazard::

    h(t) = h0(t) · (max(SLD(t), floor) / ref)^beta + background
    h0(t) = (k/λ) (t/λ)^(k−1)                       (Weibull scale λ days, shape k)

The covariate SLD(t) is **piecewise constant** on a time grid ``t_0 = 0 < t_1 < ...``: on
``[t_j, t_{j+1})`` it is ``SLD_j``, the value at ``t_j`` (after the last grid day it keeps the
last value). Then the cumulative hazard has the closed form ``H(t_j) = Σ_i c_i·((t_{i+1}/λ)^k −
(t_i/λ)^k) + background·t_j`` with ``c_i`` the covariate factor of interval ``i``, and death
times are drawn exactly by inverse transform: ``T = H⁻¹(E)``, ``E = −log(u)`` exponential.

Conventions as in :mod:`._metrics`: the last axis of an SLD series is the grid axis, any
leading axes (arm, patient) are allowed, a row with a non-finite SLD is not evaluable (NaN
days, no event), and bad input raises a ``ValueError`` naming the argument. Pure NumPy.

Random numbers: :func:`patient_uniforms` hashes a seed and the patient id (splitmix64), so a
patient's draw does not depend on which other patients are computed with it (chunking,
padding, resuming) and is the same in every arm (common random numbers: arms differ only by
the tumor's course, not by luck).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from jaxtyping import Bool, Float, Int, Real
from numpy.typing import ArrayLike

from .._typing import NPArrayLike, Numbers
from ._metrics import _nonnegative_array, _positive_scalar, kaplan_meier, km_at_of, km_median_of

#: Days per year of ``background_per_year`` (the mean Gregorian year).
DAYS_PER_YEAR = 365.25
#: Landmarks of the per-arm OS summary: ``{years: day}`` (years of 365 days, so that a
#: follow-up of ``365·y`` days reaches the ``y``-year landmark).
OS_LANDMARKS: dict[int, float] = {1: 365.0, 2: 730.0, 3: 1095.0, 5: 1825.0}
#: Absolute tolerance (days) of death times found by bisection (``background_per_year > 0``).
DEATH_DAY_TOL = 1e-9


@dataclasses.dataclass(frozen=True)
class SurvivalLink:
    """Parameters of the tumor-size-driven hazard of death (module docstring).

    Attributes:
        scale_days: Weibull scale λ of the baseline hazard (days), > 0: at the reference
            size (``SLD = sld_ref_mm``, ``beta`` any) and no background, ``S(λ) = e⁻¹``.
        shape: Weibull shape k, > 0 (k > 1: hazard rising with time on study).
        beta: exponent of the size factor ``(SLD/ref)^beta`` (1: hazard proportional to
            the SLD; 0: no link to the tumor).
        sld_ref_mm: reference sum of diameters (mm), > 0, where the factor is 1.
        sld_floor_mm: sums of diameters below this count as this (mm), > 0, so that a
            complete response keeps a small tumor-related hazard (and ``beta < 0`` stays
            finite).
        background_per_year: tumor-independent hazard (deaths of other causes), per year
            (``DAYS_PER_YEAR`` days), >= 0.
    """

    scale_days: float
    shape: float
    beta: float
    sld_ref_mm: float = 100.0
    sld_floor_mm: float = 5.0
    background_per_year: float = 0.0

    def __post_init__(self) -> None:
        _positive_scalar("scale_days", self.scale_days)
        _positive_scalar("shape", self.shape)
        if not math.isfinite(float(self.beta)):
            raise ValueError(f"beta must be a finite number; got {self.beta!r}")
        _positive_scalar("sld_ref_mm", self.sld_ref_mm)
        _positive_scalar("sld_floor_mm", self.sld_floor_mm)
        _positive_scalar("background_per_year", self.background_per_year, allow_zero=True)

    @property
    def background_per_day(self) -> float:
        """``background_per_year / DAYS_PER_YEAR`` (1/day)."""
        return float(self.background_per_year) / DAYS_PER_YEAR

    def with_hazard_ratio(self, hazard_ratio: float) -> SurvivalLink:
        """The link whose tumor-driven hazard ``h0(t)·(SLD/ref)^beta`` is ``hazard_ratio``
        times this one's at every time and tumor size (the background stays): a Weibull
        baseline times a constant is a Weibull baseline of scale ``λ·hazard_ratio^(−1/k)``
        (same shape), so the result is a plain link. ``hazard_ratio = 1`` returns ``self``."""
        hr = _positive_scalar("hazard_ratio", hazard_ratio)
        if hr == 1.0:
            return self
        return dataclasses.replace(
            self, scale_days=float(self.scale_days) * hr ** (-1.0 / float(self.shape))
        )

    def factor(
        self, sld: Real[NPArrayLike, "*shape"] | Numbers
    ) -> Float[np.ndarray | np.float64, "*shape"]:
        """Covariate factor ``(max(SLD, floor)/ref)^beta`` of sums of diameters ``sld`` (mm);
        NaN stays NaN."""
        s = _nonnegative_array("sld", sld, "mm")
        return (np.maximum(s, float(self.sld_floor_mm)) / float(self.sld_ref_mm)) ** float(
            self.beta
        )

    def baseline_cumulative(
        self, t: Real[NPArrayLike, "*shape"] | Numbers
    ) -> Float[np.ndarray | np.float64, "*shape"]:
        """Weibull cumulative baseline hazard ``(t/λ)^k`` at days ``t`` (>= 0)."""
        return (np.asarray(t, np.float64) / float(self.scale_days)) ** float(self.shape)

    def hazard(
        self,
        t: Real[NPArrayLike, "*shape"] | Numbers,
        sld: Real[NPArrayLike, "*#shape"] | Numbers,
    ) -> Float[np.ndarray | np.float64, "*shape"]:
        """Hazard of death (1/day) at days ``t`` > 0 with current sums of diameters ``sld``."""
        lam, k = float(self.scale_days), float(self.shape)
        tt = np.asarray(t, np.float64)
        h0 = (k / lam) * (tt / lam) ** (k - 1.0)
        return h0 * self.factor(sld) + self.background_per_day


def _grid(grid_days: ArrayLike, n: int) -> np.ndarray:
    g = np.asarray(grid_days, dtype=np.float64)
    if g.ndim != 1 or g.shape[0] != n:
        raise ValueError(
            f"grid_days must be 1-D with one day per SLD value on the last axis ({n}); got "
            f"shape {g.shape}"
        )
    if not np.all(np.isfinite(g)) or g[0] != 0.0 or np.any(np.diff(g) <= 0):
        raise ValueError(
            f"grid_days must be finite, start at 0 and be strictly increasing; got {g.tolist()}"
        )
    return g


def _series(sld: ArrayLike) -> np.ndarray:
    s = _nonnegative_array("sld", sld, "mm")
    if s.ndim < 1 or s.shape[-1] < 1:
        raise ValueError(f"sld must have a grid axis (last axis); got shape {s.shape}")
    return s


def _check_link(link: object) -> SurvivalLink:
    if not isinstance(link, SurvivalLink):
        raise ValueError(f"link must be a SurvivalLink; got {type(link).__name__}")
    return link


def cumulative_hazard(
    sld: Real[NPArrayLike, "*batch grid"] | Numbers,
    grid_days: Real[NPArrayLike, " grid"] | Numbers,
    link: SurvivalLink,
) -> Float[np.ndarray, "*batch grid"]:
    """Cumulative hazard of death ``H(t_j)`` at each grid day (closed form).

    ``H(t_j) = Σ_{i<j} c_i·((t_{i+1}/λ)^k − (t_i/λ)^k) + background·t_j`` with
    ``c_i = (max(SLD_i, floor)/ref)^beta`` the covariate factor on ``[t_i, t_{i+1})``.

    Args:
        sld: sums of longest diameters (mm) at the grid days, last axis = grid, >= 0; a row
            with a non-finite value is not evaluable (NaN throughout).
        grid_days: days of the grid, ``(n_grid,)``, starting at 0, strictly increasing.
        link: the hazard's parameters.

    Returns:
        float64 ``H`` (dimensionless), the shape of ``sld``; ``H[..., 0] = 0``.
    """
    link = _check_link(link)
    s = _series(sld)
    g = _grid(grid_days, s.shape[-1])
    c = np.asarray(link.factor(s))
    inc = c[..., :-1] * np.diff(link.baseline_cumulative(g)) + link.background_per_day * np.diff(g)
    h = np.concatenate([np.zeros_like(c[..., :1]), np.cumsum(inc, axis=-1)], axis=-1)
    ok = np.all(np.isfinite(s), axis=-1, keepdims=True)
    return np.where(ok, h, np.nan)


def sample_death_days(
    sld: Real[NPArrayLike, "*batch grid"] | Numbers,
    grid_days: Real[NPArrayLike, " grid"] | Numbers,
    u: Real[NPArrayLike, "*#batch"] | Numbers,
    link: SurvivalLink,
    *,
    follow_up: float,
) -> tuple[Float[np.ndarray, " *batch"], Bool[np.ndarray, " *batch"]]:
    """Death days drawn by exact inverse-transform sampling: ``(os_days, os_event)``.

    With ``E = −log(u)`` (exponential), the death day is the ``t`` where the cumulative hazard
    (:func:`cumulative_hazard`, continued past the last grid day with the last SLD) reaches
    ``E``: in the grid interval ``[t_j, t_{j+1})`` where ``H`` crosses ``E``, solve
    ``c_j·((t/λ)^k − (t_j/λ)^k) + background·(t − t_j) = E − H(t_j)`` — in closed form
    without background, by bisection to ``DEATH_DAY_TOL`` days with it (the left side is
    increasing in ``t``). A death after ``follow_up`` is censored there.

    Args:
        sld: sums of longest diameters (mm) at the grid days, last axis = grid, >= 0.
        grid_days: days of the grid, ``(n_grid,)``, starting at 0, strictly increasing.
        u: uniforms in (0, 1), one per row (e.g. :func:`patient_uniforms`), broadcast
            against the leading shape of ``sld``.
        link: the hazard's parameters.
        follow_up: end of follow-up (days), > 0.

    Returns:
        ``os_days`` float64 (death day, or ``follow_up`` when censored) and ``os_event``
        bool (death observed) of the leading shape; rows with a non-finite SLD give
        ``(NaN, False)``.
    """
    link = _check_link(link)
    fu = _positive_scalar("follow_up", follow_up)
    s = _series(sld)
    g = _grid(grid_days, s.shape[-1])
    uu = np.asarray(u, dtype=np.float64)
    bad = ~((uu > 0) & (uu < 1))
    if np.any(bad):
        v = (
            float(uu[np.unravel_index(int(np.flatnonzero(bad)[0]), uu.shape)])
            if uu.ndim
            else float(uu)
        )
        raise ValueError(f"u must be uniforms strictly between 0 and 1; got {v!r}")
    lead = s.shape[:-1]
    try:
        uu = np.broadcast_to(uu, lead)
    except ValueError:
        raise ValueError(
            f"u of shape {uu.shape} does not broadcast against the rows of sld {lead}"
        ) from None
    ok = np.all(np.isfinite(s), axis=-1)
    s = np.where(ok[..., None], s, link.sld_floor_mm)  # placeholders, masked at the end
    H = cumulative_hazard(s, g, link)
    c = np.asarray(link.factor(s))
    E = -np.log(uu)
    # interval j: H[j] <= E < H[j+1] (the last one is open-ended)
    j = np.sum(H <= E[..., None], axis=-1) - 1
    j = np.clip(j, 0, g.size - 1)
    Hj = np.take_along_axis(H, j[..., None], axis=-1)[..., 0]
    cj = np.take_along_axis(c, j[..., None], axis=-1)[..., 0]
    tj = g[j]
    rest = np.maximum(E - Hj, 0.0)
    lam, k = float(link.scale_days), float(link.shape)
    lam_j = (tj / lam) ** k
    with np.errstate(over="ignore", divide="ignore"):
        t_closed = lam * (lam_j + rest / cj) ** (1.0 / k)  # the root without background
    b = link.background_per_day
    if b == 0.0:
        t = t_closed
    else:
        t_next = np.where(j + 1 < g.size, g[np.minimum(j + 1, g.size - 1)], np.inf)
        lo = tj.copy()
        hi = np.minimum(np.minimum(t_closed, tj + rest / b), t_next)
        hi = np.where(np.isfinite(hi), hi, tj + rest / b)

        def f(x: np.ndarray) -> np.ndarray:
            return cj * ((x / lam) ** k - lam_j) + b * (x - tj) - rest

        for _ in range(200):
            if not np.any(hi - lo > DEATH_DAY_TOL):
                break
            mid = 0.5 * (lo + hi)
            above = f(mid) >= 0.0
            hi = np.where(above, mid, hi)
            lo = np.where(above, lo, mid)
        t = 0.5 * (lo + hi)
    event = ok & (t <= fu)
    days = np.where(ok, np.where(t <= fu, t, fu), np.nan)
    return days, np.asarray(event)


_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
#: Stream constant mixed into the seed, so that the survival draws differ from any other
#: use of the same seed (e.g. the sampling's).
_STREAM = np.uint64(0x5D1E5EED0F05A1E5)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer (Steele, Lea & Flood 2014), on uint64 with wraparound."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return np.asarray(z ^ (z >> np.uint64(31)))


def patient_uniforms(seed: int, ids: Int[NPArrayLike, " *n"] | Numbers) -> Float[np.ndarray, " *n"]:
    """Uniforms in (0, 1), one per patient id, from a counter-based hash of seed and id.

    ``u = (splitmix64(splitmix64(seed ⊕ stream) + (id + 1)·φ) >> 11 + 1/2) / 2^53`` with φ
    the 64-bit golden ratio: deterministic, a function of ``(seed, id)`` alone (so the same
    for a patient whatever the batch, chunk or arm), never exactly 0 or 1.

    Args:
        seed: an integer (any size; reduced modulo 2^64).
        ids: patient ids, integers >= 0, any shape.

    Returns:
        float64 uniforms of the shape of ``ids``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an integer; got {seed!r}")
    i = np.asarray(ids)
    if i.size and (i.dtype.kind not in "iu" or np.any(i < 0)):
        raise ValueError(f"ids must be integers >= 0; got dtype {i.dtype}")
    key = _splitmix64(np.array([int(seed) % (1 << 64)], dtype=np.uint64) ^ _STREAM)[0]
    with np.errstate(over="ignore"):
        z = _splitmix64(np.asarray(key + (i.astype(np.uint64) + np.uint64(1)) * _GOLDEN))
    return np.asarray(((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53)


def os_summary(
    best_response: Int[np.ndarray, "arm patient"],
    os_days: Float[np.ndarray, "arm patient"],
    os_event: Bool[np.ndarray, "arm patient"],
    *,
    follow_up: float,
) -> dict[str, np.ndarray]:
    """Per-arm overall survival: median and landmark OS (Kaplan–Meier).

    Failed solves (``best_response < 0``) are left out, as in
    :func:`~tumorimmune.response.arm_summary`.

    Returns:
        ``{name: array (arm,)}``: ``median_os_days`` with ``_lo``/``_hi``
        (Brookmeyer–Crowley, :func:`km_median`; NaN when not reached) and, for each landmark
        of :data:`OS_LANDMARKS` within ``follow_up`` (days), ``os_<y>y`` with ``_lo``/``_hi``
        (the Kaplan–Meier survival fraction at that day, Greenwood log-log interval).
    """
    fu = _positive_scalar("follow_up", follow_up)
    br = np.asarray(best_response)
    days, ev = np.asarray(os_days, dtype=float), np.asarray(os_event).astype(bool)
    out: dict[str, list[float]] = {}
    for b, t, e in zip(br, days, ev, strict=True):
        sel = b >= 0
        km = kaplan_meier(t[sel], e[sel])  # one curve for the median and the landmarks
        med = km_median_of(km)
        for s, v in zip(("", "_lo", "_hi"), med, strict=True):
            out.setdefault(f"median_os_days{s}", []).append(float(v))
        for y, day in OS_LANDMARKS.items():
            if day > fu:
                continue
            at = km_at_of(km, day) if sel.any() else (math.nan,) * 3
            for s, v in zip(("", "_lo", "_hi"), at, strict=True):
                out.setdefault(f"os_{y}y{s}", []).append(float(v))
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def censor_after_death(
    diam: Float[np.ndarray, "*batch scan"],
    scan_days: Float[np.ndarray, " scan"],
    os_days: Float[np.ndarray, " *#batch"],
    os_event: Bool[np.ndarray, " *#batch"],
) -> Float[np.ndarray, "*batch scan"]:
    """Diameters as the read-out sees them when deaths end follow-up: at the scans after a
    patient's death day, the last diameter observed on or before it (last observation
    carried forward: no response or progression is read after death).

    Args:
        diam: sums of diameters (mm), last axis = scans.
        scan_days: scan days, ``(n_scans,)``.
        os_days: death (or censoring) days, the leading shape.
        os_event: True where the patient died at ``os_days``.
    """
    d = np.asarray(diam)
    n = d.shape[-1]
    with np.errstate(invalid="ignore"):
        last = np.searchsorted(scan_days, np.nan_to_num(os_days, nan=np.inf), side="right") - 1
    last = np.where(os_event, np.maximum(last, 0), n - 1)
    idx = np.minimum(np.arange(n), np.broadcast_to(last, d.shape[:-1])[..., None])
    return np.take_along_axis(d, idx, axis=-1)


def apply_deaths(
    read: dict[str, np.ndarray],
    scan_days: Float[np.ndarray, " scan"],
    os_days: Float[np.ndarray, " *batch"],
    os_event: Bool[np.ndarray, " *batch"],
) -> dict[str, np.ndarray]:
    """The read-out's PFS, best response and (when ``read`` has them, from
    :func:`~tumorimmune.response.timecourse_readout`) confirmed best response and duration of
    response when deaths end follow-up, with ``os_days`` and ``os_event``: PFS is
    ``min(first PD scan, death)``, an event if either happened; a patient dead before the
    first post-baseline scan is PD (best and confirmed best response: an intention-to-treat
    non-responder); a responder's DoR ends at ``min(first PD scan, death)``, an event if
    either happened (``dor_days = os_days − ttr_days`` when death comes first, or when the
    response was censored at a scan before the death); failed solves stay not evaluable.

    ``read`` must come from the diameters of :func:`censor_after_death` (no response or
    progression after death, so ``ttr_days <= os_days`` for those who die)."""
    pfs_days = np.asarray(read["pfs_days"])
    with np.errstate(invalid="ignore"):
        first = os_event & (os_days <= pfs_days)
        early = os_event & (os_days < scan_days[1])
    br = np.asarray(read["best_response"])
    out = {
        "pfs_days": np.where(first, os_days, pfs_days),
        "pfs_event": np.asarray(read["pfs_event"]) | first,
        "best_response": np.where(early & (br >= 0), np.int8(3), br).astype(np.int8),
        "os_days": np.asarray(os_days, np.float64),
        "os_event": np.asarray(os_event, bool),
    }
    if "confirmed_response" in read:
        cr = np.asarray(read["confirmed_response"])
        out["confirmed_response"] = np.where(early & (cr >= 0), np.int8(3), cr).astype(np.int8)
    if "dor_days" in read:
        ttr, dor = np.asarray(read["ttr_days"]), np.asarray(read["dor_days"])
        dor_event = np.asarray(read["dor_event"], bool)
        with np.errstate(invalid="ignore"):
            # a responder (finite DoR) who dies before the end of the response read on scans
            # (or after a response censored at the last scan, before the end of follow-up)
            died = np.isfinite(dor) & os_event & (~dor_event | (os_days <= ttr + dor))
        out["dor_days"] = np.where(died, os_days - ttr, dor)
        out["dor_event"] = dor_event | died
    return out


def cutoff_readout(
    diameters: Float[np.ndarray, "*batch scan"],
    scan_days: Float[np.ndarray, " scan"],
    cutoff_day: float,
    *,
    os_days: Float[np.ndarray, " *batch"] | None = None,
    os_event: Bool[np.ndarray, " *batch"] | None = None,
) -> dict[str, np.ndarray]:
    """RECIST read-out as a trial report at a data cut-off reads it: best overall response and
    PFS on the scans up to ``cutoff_day`` (censored there), deaths (if given) ending
    follow-up as in the sweeps (:func:`censor_after_death`, :func:`apply_deaths`) and OS
    censored at the cut-off.

    Args:
        diameters: the model's sums of diameters (mm), last axis = scans.
        scan_days: scan days ``(n_scans,)``, scan 0 the baseline.
        cutoff_day: the cut-off (days); at least one on-study scan must fall before it.
        os_days, os_event: death (or censoring) days and flags, the leading shape.

    Returns:
        ``bor`` (int8), ``pfs_days``, ``pfs_event``, and with deaths ``os_days``/``os_event``.
    """
    from ._metrics import best_overall_response, pfs

    days = np.asarray(scan_days, np.float64)
    n_cut = int(np.searchsorted(days, float(cutoff_day), side="right"))
    if n_cut < 2:
        raise ValueError(
            f"cutoff_day {cutoff_day!r} leaves no on-study scan; scans: {days.tolist()}"
        )
    # the scans up to the cut-off, then float64 (not the other scans: a copy of them all)
    d = np.asarray(np.asarray(diameters)[..., :n_cut], np.float64)
    days = days[:n_cut]
    if os_days is not None and os_event is not None:
        ev = np.asarray(os_event, bool) & (np.asarray(os_days) <= cutoff_day)
        od = np.where(ev, os_days, np.minimum(np.asarray(os_days, float), cutoff_day))
        d = censor_after_death(d, days, od, ev)
    bor = best_overall_response(d)
    pfs_days, pfs_event = pfs(d, days, follow_up=float(cutoff_day))
    read = {"best_response": bor, "pfs_days": pfs_days, "pfs_event": pfs_event}
    out: dict[str, np.ndarray]
    if os_days is not None and os_event is not None:
        out = apply_deaths(read, days, od, ev)
    else:
        out = {k: np.asarray(v) for k, v in read.items()}
    out["bor"] = out.pop("best_response")
    return out

"""RECIST over time, as trials report it: time to response, duration of response, confirmed
best overall response, pseudo-progression and iRECIST progression.

Pure NumPy functions, vectorized over leading axes, with the conventions of :mod:`._metrics`:

* the **last axis is the scan axis**, scan 0 the baseline at day ``scan_days[0]`` (day 0 in a
  sweep), and ``scan_days`` (days since the start of treatment) is one 1-D array for all rows;
* a row with a non-finite scan or a zero baseline is *not evaluable*: NaN (float results),
  ``False`` (flags) or ``-1`` (int8 codes), never an exception;
* bad input raises a ``ValueError`` naming the argument.

Time-point responses are those of :func:`~._metrics.scan_responses` (RECIST 1.1, Eisenhauer et
al. 2009): **PR** a >= 30 % decrease of the sum of diameters (SLD) from baseline, **CR** an SLD
of 0 (every target lesion below the detection limit), **PD** a >= 20 % **and** >= 5 mm
increase over the nadir (the smallest SLD before the scan, baseline included). Assessment ends
at the first PD: responses after it do not count.

**Confirmation** (RECIST 1.1 §4.3.2, for trials with response as primary endpoint): a CR/PR at
scan ``j`` is *confirmed* when the first scan ``k > j`` at least ``min_confirm_days`` after it
still shows CR/PR, before any PD, and so does every scan between them (the response did not
lapse). The confirmed response is CR when all of scans ``j..k`` are CR, else PR (RECIST 1.1
table 3: "CR then PR" is PR). A CR/PR that is not confirmed counts as SD (table 3: "PR then SD
→ SD", "PR then PD → SD provided the minimum SD duration is met"); the minimum duration of SD
is taken to be met by the scan schedule and not checked, as in
:func:`~._metrics.best_overall_response`. With ``min_confirm_days = 0`` the confirming scan is
the next one and :func:`confirmed_best_response` equals
``best_overall_response(diam, confirm=True)``.

Simplifications (all functions): target lesions only (the model has no non-target or new
lesions), measurability at baseline (>= 10 mm) is not required.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float, Int, Real

from .._typing import NPArrayLike, Numbers
from ._metrics import (
    _check_recist_options,
    _evaluable,
    _positive_scalar,
    _progression,
    _scan_series,
    kaplan_meier,
    km_median_of,
    scan_responses,
)

#: Codes of :func:`pseudo_progression`.
PSEUDO_PROGRESSION_CODES: dict[str, int] = {"NE": -1, "none": 0, "early": 1, "delayed": 2}

_NE = np.int8(-1)


# --------------------------------------------------------------------------------------------
# validation


def _days(scan_days: object, n_scans: int) -> np.ndarray:
    t = np.asarray(scan_days, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] != n_scans:
        raise ValueError(
            f"scan_days must be 1-D with one day per scan ({n_scans}); got shape {t.shape}"
        )
    if not np.all(np.isfinite(t)):
        raise ValueError(f"scan_days must be finite; got {t.tolist()}")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"scan_days must be strictly increasing; got {t.tolist()}")
    return t


def _follow_up_scans(t: np.ndarray, follow_up: float) -> int:
    """Scans on or before ``follow_up`` (checked: at least baseline and one later scan)."""
    fu = float(follow_up)
    if not (np.isfinite(fu) and fu >= t[1]):
        raise ValueError(
            f"follow_up must be finite and >= the first post-baseline scan day ({t[1]}); "
            f"got {follow_up!r}"
        )
    return int(np.searchsorted(t, fu, side="right"))


def _read(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    scan_days: Real[NPArrayLike, " scan"] | Numbers,
    min_confirm_days: float,
    *,
    follow_up: float | None = None,
    min_increase_mm: float,
    pr_decrease_pct: float,
    pd_increase_pct: float,
    cr_diameter_mm: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Validated ``(diameters, scan days, per-scan RECIST codes, confirmation gap)`` of the
    public read-outs, the scans after ``follow_up`` (if given) dropped."""
    _check_recist_options(min_increase_mm, pr_decrease_pct, pd_increase_pct, cr_diameter_mm)
    gap = _positive_scalar("min_confirm_days", min_confirm_days, allow_zero=True)
    d = _scan_series("diam", diam, min_scans=2)
    t = _days(scan_days, d.shape[-1])
    if follow_up is not None:
        n_used = _follow_up_scans(t, follow_up)
        d, t = d[..., :n_used], t[:n_used]
    codes = _codes(
        d,
        min_increase_mm=min_increase_mm,
        pr_decrease_pct=pr_decrease_pct,
        pd_increase_pct=pd_increase_pct,
        cr_diameter_mm=cr_diameter_mm,
    )
    return d, t, codes, gap


def _codes(
    d: np.ndarray,
    *,
    min_increase_mm: float,
    pr_decrease_pct: float,
    pd_increase_pct: float,
    cr_diameter_mm: float,
) -> np.ndarray:
    return scan_responses(
        d,
        min_increase_mm=min_increase_mm,
        pr_decrease_pct=pr_decrease_pct,
        pd_increase_pct=pd_increase_pct,
        cr_diameter_mm=cr_diameter_mm,
    )


def _confirmed(
    codes: np.ndarray, t_post: np.ndarray, min_confirm_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(response, confirmed_code)`` at each post-baseline scan.

    ``response``: CR/PR before the first PD (unconfirmed). ``confirmed_code``: 0 (confirmed
    CR), 1 (confirmed PR) or 2 (not a confirmed response) at each scan.
    """
    before_pd = np.cumsum(codes == 3, axis=-1) == 0
    resp = (codes >= 0) & (codes <= 1) & before_pd
    cr = (codes == 0) & before_pd
    m = t_post.size
    idx = np.arange(m)
    # the confirming scan of scan j: the first k > j with t_k >= t_j + min_confirm_days
    k = np.maximum(np.searchsorted(t_post, t_post + min_confirm_days, side="left"), idx + 1)
    has_k = k < m
    kk = np.minimum(k, m - 1)

    def run_holds(flag: np.ndarray) -> np.ndarray:
        # every scan j..k shows the flag: no "not flag" counted on [j, k]
        miss = np.cumsum(~flag, axis=-1)
        before = np.concatenate([np.zeros_like(miss[..., :1]), miss[..., :-1]], axis=-1)
        return (np.take(miss, kk, axis=-1) - before == 0) & has_k

    conf_resp = resp & run_holds(resp)
    conf_cr = conf_resp & cr & run_holds(cr)
    return resp, np.where(conf_cr, 0, np.where(conf_resp, 1, 2)).astype(np.int8)


def _onset(flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(any, index)`` of the first True along the last axis."""
    return np.asarray(np.any(flag, axis=-1)), np.asarray(np.argmax(flag, axis=-1))


# --------------------------------------------------------------------------------------------
# time to response, duration of response, confirmed best response


def time_to_response(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    scan_days: Real[NPArrayLike, " scan"] | Numbers,
    *,
    confirm: bool = False,
    min_confirm_days: float = 28.0,
    min_increase_mm: float = 5.0,
    pr_decrease_pct: float = 30.0,
    pd_increase_pct: float = 20.0,
    cr_diameter_mm: float = 0.0,
) -> Float[np.ndarray, " *batch"]:
    """Time to response (days): the day of the first scan showing CR or PR before any PD.

    Without confirmation that is the first post-baseline scan with CR/PR (RECIST 1.1
    time-point responses, module docstring) before the first PD. With ``confirm=True`` only a
    confirmed response counts (a later scan at least ``min_confirm_days`` after it, before PD,
    still CR/PR, with no lapse in between; module docstring) and the time to response is the
    day of the first scan of the confirmed response. The days are those of ``scan_days``
    (days since the start of treatment; a sweep's baseline is day 0).

    Args:
        diam: SLDs (mm), last axis = scans (scan 0 = baseline, at least one later scan).
        scan_days: scan days (days), shape ``(n_scans,)``, finite, strictly increasing.
        confirm: count only confirmed responses.
        min_confirm_days: least interval (days) between a response and its confirmation,
            >= 0 (RECIST 1.1: 4 weeks).
        min_increase_mm, pr_decrease_pct, pd_increase_pct, cr_diameter_mm: the RECIST rules,
            as in :func:`~._metrics.best_overall_response`.

    Returns:
        float64 days of the leading shape; NaN for patients who never respond (before PD) and
        for not-evaluable rows.
    """
    d, t, codes, gap = _read(
        diam,
        scan_days,
        min_confirm_days,
        min_increase_mm=min_increase_mm,
        pr_decrease_pct=pr_decrease_pct,
        pd_increase_pct=pd_increase_pct,
        cr_diameter_mm=cr_diameter_mm,
    )
    resp, conf = _confirmed(codes, t[1:], gap)
    flag = conf <= 1 if confirm else resp
    hit, first = _onset(flag)
    return np.asarray(np.where(hit & _evaluable(d), t[1:][first], np.nan))


def duration_of_response(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    scan_days: Real[NPArrayLike, " scan"] | Numbers,
    *,
    follow_up: float,
    confirm: bool = False,
    min_confirm_days: float = 28.0,
    min_increase_mm: float = 5.0,
    pr_decrease_pct: float = 30.0,
    pd_increase_pct: float = 20.0,
    cr_diameter_mm: float = 0.0,
) -> tuple[Float[np.ndarray, " *batch"], Bool[np.ndarray, " *batch"]]:
    """Duration of response: ``(dor_days, dor_event)`` of the responders.

    From the first scan of the response (:func:`time_to_response` with the same options) to
    the first PD scan (``dor_event=True``), or censored (``False``) at the last scan on or
    before ``follow_up``. Only scans on or before ``follow_up`` count (a response or its
    confirmation after it does not), as in :func:`~._metrics.pfs`; for a responder
    ``dor_days = pfs_days − ttr`` and ``dor_event = pfs_event`` (``pfs`` censored at the last
    scan). Death is not modelled here (a sweep with ``[survival]`` ends a response at a death
    before progression: ``tumorimmune.response.apply_deaths``).

    Args:
        diam: SLDs (mm), last axis = scans.
        scan_days: scan days (days), shape ``(n_scans,)``, finite, strictly increasing.
        follow_up: end of follow-up (days), >= ``scan_days[1]``.
        confirm, min_confirm_days: count only confirmed responses (:func:`time_to_response`).
        min_increase_mm, pr_decrease_pct, pd_increase_pct, cr_diameter_mm: the RECIST rules.

    Returns:
        ``dor_days`` float64 (days) and ``dor_event`` bool of the leading shape;
        non-responders and not-evaluable rows give ``(NaN, False)``.
    """
    d, t, codes, gap = _read(
        diam,
        scan_days,
        min_confirm_days,
        follow_up=follow_up,
        min_increase_mm=min_increase_mm,
        pr_decrease_pct=pr_decrease_pct,
        pd_increase_pct=pd_increase_pct,
        cr_diameter_mm=cr_diameter_mm,
    )
    resp, conf = _confirmed(codes, t[1:], gap)
    hit, first = _onset(conf <= 1 if confirm else resp)
    event, first_pd = _onset(codes == 3)
    end = np.where(event, t[1:][first_pd], t[-1])
    ok = hit & _evaluable(d)
    return (
        np.asarray(np.where(ok, end - t[1:][first], np.nan)),
        np.asarray(ok & event),
    )


def confirmed_best_response(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    scan_days: Real[NPArrayLike, " scan"] | Numbers,
    *,
    min_confirm_days: float = 28.0,
    min_increase_mm: float = 5.0,
    pr_decrease_pct: float = 30.0,
    pd_increase_pct: float = 20.0,
    cr_diameter_mm: float = 0.0,
) -> Int[np.ndarray, " *batch"]:
    """RECIST 1.1 best overall response **with confirmation** (int8 codes of
    :data:`~._metrics.RESPONSE_CODES`: 0=CR 1=PR 2=SD 3=PD, -1 not evaluable).

    Each CR/PR time point is replaced by its confirmed code (module docstring: CR when every
    scan up to the confirming one, at least ``min_confirm_days`` later, is CR; PR when they
    are all CR/PR; else SD), and the best response is read as in
    :func:`~._metrics.best_overall_response`: the best time point before the first PD, or PD
    when the first post-baseline scan is PD. ``min_confirm_days = 0`` gives
    ``best_overall_response(diam, confirm=True)`` (confirmation at the next scan).

    Args:
        diam: SLDs (mm), last axis = scans.
        scan_days: scan days (days), shape ``(n_scans,)``, finite, strictly increasing.
        min_confirm_days: least interval (days) between a response and its confirmation, >= 0.
        min_increase_mm, pr_decrease_pct, pd_increase_pct, cr_diameter_mm: the RECIST rules.

    Returns:
        int8 array of the leading shape.
    """
    _, t, codes, gap = _read(
        diam,
        scan_days,
        min_confirm_days,
        min_increase_mm=min_increase_mm,
        pr_decrease_pct=pr_decrease_pct,
        pd_increase_pct=pd_increase_pct,
        cr_diameter_mm=cr_diameter_mm,
    )
    _, conf = _confirmed(codes, t[1:], gap)
    is_pd = codes == 3
    point = np.where(is_pd, 3, np.where(codes <= 1, conf, codes))
    before_pd = np.cumsum(is_pd, axis=-1) == 0
    best = np.min(np.where(before_pd, point, 3), axis=-1).astype(np.int8)
    return np.asarray(np.where(codes[..., 0] < 0, _NE, best))


# --------------------------------------------------------------------------------------------
# pseudo-progression


def pseudo_progression(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    scan_days: Real[NPArrayLike, " scan"] | Numbers,
    *,
    first_scan_day: float = 84.0,
    increase_pct: float = 25.0,
    min_increase_mm: float = 5.0,
    pd_increase_pct: float = 20.0,
) -> Int[np.ndarray, " *batch"]:
    """Pseudo-progression as published for pembrolizumab in melanoma (Hodi et al. 2016, J
    Clin Oncol 34:1510): int8 ``0`` none, ``1`` early, ``2`` delayed, ``-1`` not evaluable
    (:data:`PSEUDO_PROGRESSION_CODES`).

    Hodi et al.: a >= 25 % increase in tumor burden at week 12 (early) or at any assessment
    after week 12 (delayed) that was not confirmed as progressive disease at the next
    assessment. Made precise here:

    * a post-baseline scan ``j`` is an **increase** when ``D_j >= (1 + increase_pct/100)·N_j``
      and ``D_j − N_j >= min_increase_mm`` with ``N_j = min(D_0, ..., D_{j−1})`` the nadir
      before it (baseline included; at the first on-study scan, the baseline; the absolute
      rule, as RECIST's, keeps a scan after a complete response from counting);
    * the increase is **confirmed** as PD when the next scan shows further progression:
      ``D_{j+1} >= D_j`` **and** ``D_{j+1}`` is RECIST PD over the same nadir
      (``>= (1 + pd_increase_pct/100)·N_j`` and ``>= N_j + min_increase_mm``); otherwise
      (the next scan is smaller than the flagged one, or below the PD threshold over the
      nadir before the flag) it is **not confirmed**: pseudo-progression;
    * only the **first** increase that has a next scan counts: unconfirmed, it is early
      pseudo-progression (1) when its scan day is ``<= first_scan_day`` (week 12, KEYNOTE-001's
      first assessment; with a 6-weekly schedule the weeks 6 and 12 scans), else delayed (2);
      confirmed (true progression), the patient has none (0). An increase at the last scan
      cannot be judged and is ignored.

    Target lesions only: a new lesion, which irRC and iRECIST also read, does not exist in
    the model.

    Args:
        diam: SLDs (mm), last axis = scans (baseline + at least one later scan).
        scan_days: scan days (days since the start of treatment), shape ``(n_scans,)``.
        first_scan_day: last day (days) of an *early* increase, > 0.
        increase_pct: relative increase over the nadir (%) that flags a scan, > 0.
        min_increase_mm, pd_increase_pct: the RECIST PD rule of the confirmation.

    Returns:
        int8 codes of the leading shape.
    """
    first_day = _positive_scalar("first_scan_day", first_scan_day)
    inc = _positive_scalar("increase_pct", increase_pct)
    _check_recist_options(min_increase_mm, 30.0, pd_increase_pct, 0.0)
    d = _scan_series("diam", diam, min_scans=2)
    t = _days(scan_days, d.shape[-1])
    if d.shape[-1] < 3:  # one on-study scan: no next assessment to judge an increase by
        return np.asarray(np.where(_evaluable(d), np.int8(0), _NE))
    nadir = np.minimum.accumulate(d, axis=-1)[..., :-1]  # before each post-baseline scan
    cur = d[..., 1:]
    with np.errstate(invalid="ignore"):
        # an increase of at least min_increase_mm too: after a complete response (nadir 0) a
        # 0 mm scan is no increase
        flag = (cur >= nadir * (1.0 + inc / 100.0)) & (cur - nadir >= min_increase_mm)
        nxt = d[..., 2:]
        confirmed = (
            (nxt >= cur[..., :-1])
            & (nxt >= nadir[..., :-1] * (1.0 + pd_increase_pct / 100.0))
            & (nxt - nadir[..., :-1] >= min_increase_mm)
        )
    judged = flag[..., :-1]  # increases with a next scan
    hit, first = _onset(judged)
    conf_first = np.take_along_axis(confirmed, first[..., None], axis=-1)[..., 0]
    early = t[1:-1][first] <= first_day
    code = np.where(hit & ~conf_first, np.where(early, 1, 2), 0).astype(np.int8)
    return np.asarray(np.where(_evaluable(d), code, _NE))


def increase_then_response(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    scan_days: Real[NPArrayLike, " scan"] | Numbers,
    *,
    first_scan_day: float = 84.0,
    increase_pct: float = 20.0,
    pr_decrease_pct: float = 30.0,
) -> Bool[np.ndarray, " *batch"]:
    """Tumor increase then response (Hodi et al. 2016): an early increase of at least
    ``increase_pct`` % over baseline at a scan on or before ``first_scan_day`` (week 12),
    followed at a later scan by a decrease of at least ``pr_decrease_pct`` % below baseline.

    Read on the SLD against the baseline only (no PD rule: an increase that RECIST calls PD
    counts, which is the point: such patients would have stopped treatment at the increase).

    Args:
        diam: SLDs (mm), last axis = scans.
        scan_days: scan days (days), shape ``(n_scans,)``.
        first_scan_day: last day (days) of the early increase, > 0.
        increase_pct: early increase over baseline (%), > 0.
        pr_decrease_pct: later decrease below baseline (%), in (0, 100].

    Returns:
        bool of the leading shape; ``False`` for not-evaluable rows.
    """
    first_day = _positive_scalar("first_scan_day", first_scan_day)
    inc = _positive_scalar("increase_pct", increase_pct)
    _check_recist_options(5.0, pr_decrease_pct, 20.0, 0.0)
    d = _scan_series("diam", diam, min_scans=2)
    t = _days(scan_days, d.shape[-1])
    base = d[..., :1]
    with np.errstate(invalid="ignore"):
        up = (d >= base * (1.0 + inc / 100.0)) & (t > t[0]) & (t <= first_day)
        down = d <= base * (1.0 - float(pr_decrease_pct) / 100.0)
    # a decrease after the first early increase
    after_up = np.cumsum(up, axis=-1) > 0
    after_up = np.concatenate([np.zeros_like(after_up[..., :1]), after_up[..., :-1]], axis=-1)
    return np.asarray(np.any(down & after_up, axis=-1) & _evaluable(d))


# --------------------------------------------------------------------------------------------
# iRECIST


def irecist_pfs(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    scan_days: Real[NPArrayLike, " scan"] | Numbers,
    *,
    follow_up: float,
    confirm_increase_mm: float = 5.0,
    min_increase_mm: float = 5.0,
    pd_increase_pct: float = 20.0,
) -> tuple[Float[np.ndarray, " *batch"], Bool[np.ndarray, " *batch"]]:
    """Progression-free survival under iRECIST (Seymour et al. 2017, Lancet Oncol 18:e143):
    ``(ipfs_days, ipfs_event)``.

    The first RECIST PD (+20 % and +5 mm over the nadir) is *unconfirmed* progression
    (iUPD). It is **confirmed** (iCPD) at a later scan whose SLD is at least
    ``confirm_increase_mm`` above the SLD of the iUPD scan; the event time is the day of the
    iUPD scan. A scan that is no longer PD over the nadir (response or stability: iCR, iPR,
    iSD) **resets** the bar: a later PD is a new iUPD. A scan still PD over the nadir but less
    than ``confirm_increase_mm`` above the iUPD keeps the iUPD pending (iRECIST: "iUPD is
    then assessed again at the next assessment"), compared with the same iUPD scan. Without
    confirmation up to ``follow_up`` the patient is censored at the last scan on or before it
    (an iUPD still pending then is censored too).

    Simplifications: target lesions only (no non-target or new lesions, which in iRECIST also
    confirm progression), the nadir is the smallest SLD of all earlier scans (iUPD scans do
    not lower it), and clinical stability, which iRECIST requires for treatment beyond iUPD,
    is assumed.

    Args:
        diam: SLDs (mm), last axis = scans.
        scan_days: scan days (days), shape ``(n_scans,)``, finite, strictly increasing.
        follow_up: end of follow-up (days), >= ``scan_days[1]``.
        confirm_increase_mm: further increase over the iUPD scan's SLD that confirms it (mm),
            >= 0.
        min_increase_mm, pd_increase_pct: the RECIST PD rule of iUPD.

    Returns:
        ``ipfs_days`` float64 and ``ipfs_event`` bool of the leading shape; not-evaluable rows
        give ``(NaN, False)``.
    """
    conf_mm = _positive_scalar("confirm_increase_mm", confirm_increase_mm, allow_zero=True)
    _check_recist_options(min_increase_mm, 30.0, pd_increase_pct, 0.0)
    d = _scan_series("diam", diam, min_scans=2)
    t = _days(scan_days, d.shape[-1])
    n_used = _follow_up_scans(t, follow_up)
    d = d[..., :n_used]
    t = t[:n_used]
    with np.errstate(invalid="ignore"):
        pd = _progression(
            d,
            min_increase_mm=float(min_increase_mm),
            pd_increase_pct=float(pd_increase_pct),
            cr_diameter_mm=0.0,
            pd_on_reappearance=False,
        )
    lead = d.shape[:-1]
    pending = np.zeros(lead, bool)  # an iUPD awaits confirmation
    ref_sld = np.zeros(lead)  # SLD of the pending iUPD scan
    ref_day = np.zeros(lead)
    event = np.zeros(lead, bool)
    day = np.full(lead, t[-1])
    with np.errstate(invalid="ignore"):
        for j in range(1, n_used):
            p, cur = pd[..., j - 1], d[..., j]
            confirm = pending & ~event & (cur >= ref_sld + conf_mm)
            day = np.where(confirm, ref_day, day)
            event |= confirm
            new = ~pending & p
            ref_sld = np.where(new, cur, ref_sld)
            ref_day = np.where(new, t[j], ref_day)
            pending = (pending | new) & p  # a scan no longer PD resets
    ok = _evaluable(d)
    return np.asarray(np.where(ok, day, np.nan)), np.asarray(event & ok)


# --------------------------------------------------------------------------------------------
# a sweep's read-out and per-arm summaries


def timecourse_readout(
    diam: Real[NPArrayLike, "*batch scan"] | Numbers,
    scan_days: Real[NPArrayLike, " scan"] | Numbers,
    *,
    follow_up: float,
    confirm: bool = False,
    min_confirm_days: float = 28.0,
) -> dict[str, np.ndarray]:
    """The per-patient fields a sweep stores next to :func:`~tumorimmune.response.jax_readout`
    (RECIST 1.1 defaults): ``ttr_days``, ``dor_days`` (float64, days), ``dor_event`` (bool),
    ``confirmed_response`` (int8, :func:`confirmed_best_response` with ``min_confirm_days``,
    whatever ``confirm`` says) and ``pseudo_progression`` (int8), all of the leading shape.

    ``confirm`` and ``min_confirm_days`` apply to the time to and duration of response
    (:func:`time_to_response`, :func:`duration_of_response`; TTR over all scans, DoR over
    those on or before ``follow_up``).
    """
    d = _scan_series("diam", diam, min_scans=2)
    dor, dor_event = duration_of_response(
        d, scan_days, follow_up=follow_up, confirm=confirm, min_confirm_days=min_confirm_days
    )
    return {
        "ttr_days": time_to_response(
            d, scan_days, confirm=confirm, min_confirm_days=min_confirm_days
        ),
        "dor_days": dor,
        "dor_event": dor_event,
        "confirmed_response": confirmed_best_response(
            d, scan_days, min_confirm_days=min_confirm_days
        ),
        "pseudo_progression": pseudo_progression(d, scan_days),
    }


#: Landmarks (days) of :func:`timecourse_summary`'s ``response_ongoing_<k>y``: 1, 2, 3 years.
ONGOING_LANDMARKS_DAYS: dict[str, float] = {"1y": 365.25, "2y": 730.5, "3y": 1095.75}


def timecourse_summary(
    ttr_days: Float[np.ndarray, "arm patient"],
    dor_days: Float[np.ndarray, "arm patient"],
    dor_event: Bool[np.ndarray, "arm patient"],
    pseudo_progression_code: Int[np.ndarray, "arm patient"],
    *,
    scan_days: Real[NPArrayLike, " scan"] | Numbers,
    follow_up: float,
) -> dict[str, np.ndarray]:
    """Per-arm summaries of the time course, ``{name: array (arm,)}``:

    * ``n_responders``: patients with a time to response;
    * ``median_ttr_days``: median time to response among them (days; NaN without responders);
    * ``ttr_first_scan``: share of them whose response was seen at the first on-study scan
      (``scan_days[1]``);
    * ``median_dor_days`` with ``_lo``/``_hi``: Kaplan–Meier median duration of response
      among responders (:func:`~._metrics.km_median`, Brookmeyer–Crowley 95 % CI; NaN when
      not reached);
    * ``response_ongoing_1y``, ``_2y``, ``_3y``: Kaplan–Meier share of responders still in
      response (progression-free) 1, 2, 3 years (:data:`ONGOING_LANDMARKS_DAYS`) after the
      response began; NaN without responders and for a landmark beyond the longest response
      follow-up allows (``follow_up − scan_days[1]``);
    * ``pseudo_progression_early``, ``pseudo_progression_delayed``: share of the evaluable
      patients (code >= 0) with early / delayed pseudo-progression; NaN when fewer than two
      on-study scans fall on or before ``follow_up`` (no next assessment to judge by).
    """
    t = np.asarray(scan_days, dtype=np.float64)
    if t.ndim != 1 or t.size < 2:
        raise ValueError(f"scan_days must be 1-D with at least two scans; got shape {t.shape}")
    on_study = int(np.sum((t > t[0]) & (t <= float(follow_up))))
    ttr = np.asarray(ttr_days, dtype=np.float64)
    dor = np.asarray(dor_days, dtype=np.float64)
    ev = np.asarray(dor_event, dtype=bool)
    pp = np.asarray(pseudo_progression_code)
    out: dict[str, list[float]] = {
        k: []
        for k in (
            "n_responders",
            "median_ttr_days",
            "ttr_first_scan",
            "median_dor_days",
            "median_dor_days_lo",
            "median_dor_days_hi",
            *(f"response_ongoing_{k}" for k in ONGOING_LANDMARKS_DAYS),
            "pseudo_progression_early",
            "pseudo_progression_delayed",
        )
    }
    for a in range(ttr.shape[0]):
        resp = np.isfinite(ttr[a])
        k = int(resp.sum())
        out["n_responders"].append(k)
        out["median_ttr_days"].append(float(np.median(ttr[a][resp])) if k else np.nan)
        first = float(np.mean(ttr[a][resp] == t[1])) if k else np.nan
        out["ttr_first_scan"].append(first)
        km = kaplan_meier(dor[a][resp], ev[a][resp]) if k else None  # median and landmarks
        med = km_median_of(km) if km is not None else (np.nan,) * 3
        for name, v in zip(("", "_lo", "_hi"), med, strict=True):
            out[f"median_dor_days{name}"].append(float(v))
        for name, day in ONGOING_LANDMARKS_DAYS.items():
            if km is None or day > float(follow_up) - t[1]:
                out[f"response_ongoing_{name}"].append(np.nan)
                continue
            i = int(np.searchsorted(km.time, day, side="right")) - 1
            out[f"response_ongoing_{name}"].append(float(km.survival[max(i, 0)]))
        n = int(np.sum(pp[a] >= 0))
        for name, code in (("early", 1), ("delayed", 2)):
            rate = float(np.sum(pp[a] == code)) / n if n and on_study >= 2 else np.nan
            out[f"pseudo_progression_{name}"].append(rate)
    return {
        k: np.asarray(v, dtype=np.int64 if k == "n_responders" else np.float64)
        for k, v in out.items()
    }

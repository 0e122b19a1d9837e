"""Biomarker thresholds: ORR and PFS of the patients at or above each threshold of a
covariate, and the share of patients that would be treated — the enrichment question."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..response import km_at, km_median, wilson_ci
from ._cohort import SIX_MONTHS_DAYS, arm_list, covariates, responders


def biomarker_thresholds(
    ds: xr.Dataset,
    covariate: str = "L",
    *,
    thresholds: Sequence[float] | None = None,
    arms: str | Sequence[str] | None = None,
    pfs_day: float = SIX_MONTHS_DAYS,
) -> xr.Dataset:
    """Outcomes of the patients with ``covariate >= threshold``, for each threshold.

    Args:
        ds: results of a cohort.
        covariate: the biomarker (default ``"L"``, PD-L1 expression), a name of
            :func:`covariates`.
        thresholds: the cut-offs (default: the covariate's 0, 5, ..., 95 % quantiles, so
            that the first keeps every patient).
        arms: arms (default all).
        pfs_day: landmark of ``pfs_at`` (days, default six months).

    Returns:
        Dataset on ``(arm, threshold)``: ``share_treated`` (fraction of the cohort at or
        above), ``n`` (evaluable patients kept), ``orr`` with Wilson ``orr_lo``/``orr_hi``,
        ``median_pfs_days`` (+ ``_lo``/``_hi``, Kaplan–Meier; NaN when not reached or
        nobody is kept) and ``pfs_at`` (+ ``_lo``/``_hi``) at ``pfs_day``.
    """
    cov = covariates(ds, include=(covariate,))[covariate].values
    thr = np.asarray(
        np.quantile(cov[np.isfinite(cov)], np.linspace(0.0, 0.95, 20))
        if thresholds is None
        else thresholds,
        dtype=np.float64,
    )
    if thr.ndim != 1 or thr.size == 0 or not np.all(np.isfinite(thr)):
        raise ValueError("thresholds must be a non-empty list of finite numbers")
    names = arm_list(ds, arms)
    resp = responders(ds).sel(arm=names).values
    shape = (len(names), thr.size)
    n = np.zeros(shape, dtype=np.int64)
    share = np.zeros(shape)
    k = np.zeros(shape, dtype=np.int64)
    med, med_lo, med_hi, at, at_lo, at_hi = (np.full(shape, np.nan) for _ in range(6))
    for j, t in enumerate(thr):
        keep = np.isfinite(cov) & (cov >= t)
        share[:, j] = keep.sum() / max(cov.size, 1)
        for a, arm in enumerate(names):
            m = keep & np.isfinite(resp[a])
            n[a, j] = int(m.sum())
            k[a, j] = int(resp[a][m].sum())
            if n[a, j] == 0:
                continue
            days = ds["pfs_days"].sel(arm=arm).values[m]
            event = ds["pfs_event"].sel(arm=arm).values[m].astype(bool)
            med[a, j], med_lo[a, j], med_hi[a, j] = km_median(days, event)
            at[a, j], at_lo[a, j], at_hi[a, j] = km_at(days, event, pfs_day)
    with np.errstate(invalid="ignore", divide="ignore"):
        orr = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    lo, hi = wilson_ci(k, n)
    dims = ("arm", "threshold")
    return xr.Dataset(
        {
            "share_treated": (dims, share, {"long_name": "share of the cohort at or above"}),
            "n": (dims, n),
            "orr": (dims, orr),
            "orr_lo": (dims, lo),
            "orr_hi": (dims, hi),
            "median_pfs_days": (dims, med, {"units": "days"}),
            "median_pfs_days_lo": (dims, med_lo, {"units": "days"}),
            "median_pfs_days_hi": (dims, med_hi, {"units": "days"}),
            "pfs_at": (dims, at),
            "pfs_at_lo": (dims, at_lo),
            "pfs_at_hi": (dims, at_hi),
        },
        coords={"arm": names, "threshold": thr},
        attrs={"covariate": covariate, "pfs_day": float(pfs_day)},
    )

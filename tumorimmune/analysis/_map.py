"""Covariate response maps: the probability of response (or of PFS at a landmark) over two
patient covariates, binned by quantiles or on given edges."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import xarray as xr

from ..response import km_at, wilson_ci
from ._cohort import SIX_MONTHS_DAYS, arm_list, covariates, responders

Bins = int | Sequence[float]


def bin_edges(values: np.ndarray, bins: Bins) -> np.ndarray:
    """Edges of ``bins`` quantile bins of ``values`` (an int; ties merged), or the given
    edges (increasing, at least two). The last bin includes its upper edge."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise ValueError(f"bins must be >= 1; got {bins}")
        if v.size == 0:
            raise ValueError("no finite values to bin")
        edges = np.unique(np.quantile(v, np.linspace(0.0, 1.0, int(bins) + 1)))
        return edges if edges.size > 1 else np.array([edges[0], edges[0]])
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise ValueError(f"bin edges must be increasing, at least two; got {list(bins)}")
    return edges


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value (``0 .. len(edges) - 2``; the last bin closed), -1 outside or NaN."""
    v = np.asarray(values, dtype=np.float64)
    i = np.searchsorted(edges, v, side="right") - 1
    i = np.where(v == edges[-1], edges.size - 2, i)
    return np.where(np.isfinite(v) & (i >= 0) & (i <= edges.size - 2), i, -1)


def covariate_map(
    ds: xr.Dataset,
    x: str,
    y: str,
    *,
    bins: Bins = 4,
    y_bins: Bins | None = None,
    outcome: Literal["response", "pfs"] = "response",
    pfs_day: float = SIX_MONTHS_DAYS,
    arms: str | Sequence[str] | None = None,
) -> xr.Dataset:
    """Probability of response (or of PFS at ``pfs_day``) per cell of two covariates.

    Args:
        ds: sweep results of a cohort (``param_*``, ``best_response``; ``pfs_days`` and
            ``pfs_event`` for ``outcome="pfs"``).
        x: covariate of the first axis (:func:`covariates`: a varying parameter such as
            ``"L"``, or ``"baseline_sld_mm"``).
        y: covariate of the second axis.
        bins: quantile bins (an int) or bin edges of ``x``, and of ``y`` unless ``y_bins``.
        y_bins: quantile bins or edges of ``y`` (default: ``bins``).
        outcome: ``"response"``: objective response rate (CR + PR among evaluable patients)
            with a Wilson 95 % interval; ``"pfs"``: Kaplan–Meier progression-free probability
            at ``pfs_day`` with its log-log 95 % band (censoring-aware).
        pfs_day: landmark of ``outcome="pfs"``, days (default six months).
        arms: arms to map (default all).

    Returns:
        Dataset on ``(arm, x_bin, y_bin)``: ``n`` (evaluable patients in the cell), ``rate``,
        ``rate_lo``, ``rate_hi`` (NaN in an empty cell), with coordinates ``x_lo``/``x_hi``
        and ``y_lo``/``y_hi`` (bin edges, covariate units) and attributes ``x``, ``y``,
        ``outcome``.
    """
    if outcome not in ("response", "pfs"):
        raise ValueError(f"outcome must be 'response' or 'pfs'; got {outcome!r}")
    if x == y:
        raise ValueError(f"a map needs two different covariates; got {x!r} twice")
    cov = covariates(ds, include=(x, y))
    ex = bin_edges(cov[x].values, bins)
    ey = bin_edges(cov[y].values, bins if y_bins is None else y_bins)
    ix, iy = bin_index(cov[x].values, ex), bin_index(cov[y].values, ey)
    names = arm_list(ds, arms)
    shape = (len(names), ex.size - 1, ey.size - 1)
    n = np.zeros(shape, dtype=np.int64)
    rate, lo, hi = (np.full(shape, np.nan) for _ in range(3))
    resp = responders(ds).sel(arm=names).values
    for a, arm in enumerate(names):
        ok = np.isfinite(resp[a]) & (ix >= 0) & (iy >= 0)
        for i in range(shape[1]):
            for j in range(shape[2]):
                m = ok & (ix == i) & (iy == j)
                n[a, i, j] = k = int(m.sum())
                if k == 0:
                    continue
                if outcome == "response":
                    r = int(resp[a][m].sum())
                    rate[a, i, j] = r / k
                    lo[a, i, j], hi[a, i, j] = (float(b) for b in wilson_ci(r, k))
                else:
                    t = ds["pfs_days"].sel(arm=arm).values[m]
                    e = ds["pfs_event"].sel(arm=arm).values[m].astype(bool)
                    rate[a, i, j], lo[a, i, j], hi[a, i, j] = km_at(t, e, pfs_day)
    dims = ("arm", "x_bin", "y_bin")
    return xr.Dataset(
        {
            "n": (dims, n, {"long_name": "evaluable patients in the cell"}),
            "rate": (dims, rate, {"long_name": _rate_name(outcome, pfs_day)}),
            "rate_lo": (dims, lo),
            "rate_hi": (dims, hi),
        },
        coords={
            "arm": names,
            "x_lo": ("x_bin", ex[:-1], dict(cov[x].attrs)),
            "x_hi": ("x_bin", ex[1:], dict(cov[x].attrs)),
            "y_lo": ("y_bin", ey[:-1], dict(cov[y].attrs)),
            "y_hi": ("y_bin", ey[1:], dict(cov[y].attrs)),
        },
        attrs={"x": x, "y": y, "outcome": outcome, "pfs_day": float(pfs_day)},
    )


def _rate_name(outcome: str, day: float) -> str:
    if outcome == "response":
        return "objective response rate (CR + PR), Wilson 95 % interval"
    return f"progression-free at day {day:g} (Kaplan–Meier, log-log 95 % band)"

"""Kaplan–Meier curves of progression-free survival per arm."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from ..sweeps import kaplan_meier as _kaplan_meier
from ._data import arm_names, require
from ._style import arm_color, band_traces, base_layout


def kaplan_meier(ds: xr.Dataset, *, confidence: float = 0.95) -> go.Figure:
    """Kaplan–Meier curves of progression-free survival, one step curve per arm, with
    pointwise confidence bands (Greenwood, log-log) and censoring ticks.

    The estimate is :func:`tumorimmune.sweeps.kaplan_meier` on ``pfs_days`` (days)
    and ``pfs_event`` (True = RECIST progression); failed solves (``status != 0`` or NaN
    PFS) are left out.

    Args:
        ds: results dataset with ``pfs_days`` and ``pfs_event`` (arm, patient).
        confidence: level of the bands, in (0, 1).

    Returns:
        A figure with, per arm, three traces: lower band (invisible line), upper band filled
        down to it, and the survival step curve (``line.shape = "hv"``); plus a censoring-tick
        trace when some patients are censored before the last time.
    """
    require(ds, "pfs_days", "pfs_event", figure="kaplan_meier")
    arms = arm_names(ds)
    days_all = np.asarray(ds["pfs_days"].transpose("arm", "patient").values, dtype=float)
    ev_all = np.asarray(ds["pfs_event"].transpose("arm", "patient").values).astype(bool)
    if "status" in ds.variables:
        failed = np.asarray(ds["status"].transpose("arm", "patient").values) != 0
        days_all = np.where(failed, np.nan, days_all)
    fig = go.Figure()
    t_max = 0.0
    for i, arm in enumerate(arms):
        days, ev = days_all[i], ev_all[i]
        km = _kaplan_meier(days, ev, confidence=confidence)
        ok = np.isfinite(days)
        t_end = float(np.nanmax(days)) if ok.any() else 0.0
        t_max = max(t_max, t_end)
        # extend the last step to the end of follow-up so the curve does not stop short
        t = np.append(km.time, t_end) if t_end > km.time[-1] else km.time
        pad = t.size - km.time.size

        def ext(a: np.ndarray, pad: int = pad) -> np.ndarray:
            return np.append(a, a[-1:]) if pad else a

        s, lo, hi = ext(km.survival), ext(km.lower), ext(km.upper)
        risk = ext(km.at_risk.astype(np.float64))
        color = arm_color(i)
        group = f"arm{i}"
        for trace in band_traces(
            t,
            lo,
            hi,
            color=color,
            group=group,
            names=(f"{arm} lower {confidence:.0%} CI", f"{arm} upper {confidence:.0%} CI"),
            shape="hv",
        ):
            fig.add_trace(trace)
        fig.add_trace(
            go.Scatter(
                x=t,
                y=s,
                customdata=np.stack([lo, hi, risk], axis=1),
                mode="lines",
                line={"shape": "hv", "width": 2.5, "color": color},
                legendgroup=group,
                name=f"{arm} (n = {int(ok.sum()):,}, {int(ev[ok].sum()):,} events)",
                hovertemplate=(
                    f"<b>{arm}</b><br>from day %{{x:.0f}}: PFS %{{y:.1%}} "
                    f"({confidence:.0%} CI %{{customdata[0]:.1%}}–%{{customdata[1]:.1%}})<br>"
                    "at risk: %{customdata[2]:,.0f}<extra>Kaplan–Meier</extra>"
                ),
            )
        )
        # censoring ticks at distinct censoring times before the end of follow-up
        cens = np.unique(days[ok & ~ev])
        cens = cens[cens < t_end]
        if cens.size:
            idx = np.searchsorted(km.time, cens, side="right") - 1
            fig.add_trace(
                go.Scatter(
                    x=cens,
                    y=km.survival[idx],
                    mode="markers",
                    marker={"symbol": "line-ns-open", "size": 9, "color": color},
                    legendgroup=group,
                    showlegend=False,
                    name=f"{arm} censored",
                    hovertemplate=f"<b>{arm}</b><br>censored at day %{{x:.0f}}<extra></extra>",
                )
            )
    fig.add_hline(y=0.5, line={"dash": "dot", "color": "#777777", "width": 1})
    fig.update_xaxes(title_text="days since start of treatment", range=[0, t_max * 1.02 or 1])
    fig.update_yaxes(title_text="progression-free probability", range=[0, 1.03], tickformat=".0%")
    return base_layout(
        fig,
        title=(
            f"Progression-free survival (Kaplan–Meier, {confidence:.0%} log-log bands; "
            "event = RECIST progression at a scan)"
        ),
        height=460,
        legend={"orientation": "h", "y": -0.2, "yanchor": "top", "x": 0.0},
    )

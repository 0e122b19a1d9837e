"""Time to response: a histogram per treated arm over the scan days."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from ._data import arm_names, require, text
from ._style import arm_color, base_layout
from ._survival import responder_arms


def time_to_response_figure(ds: xr.Dataset) -> go.Figure:
    """Histogram of the time to response (``ttr_days``, days; see
    :func:`tumorimmune.response.time_to_response`): for each treated arm with responders, the
    share of its responders whose response was first seen at each scan day (one bar per
    post-baseline scan day, arms side by side). Hover a bar for the count.

    Args:
        ds: results dataset with ``ttr_days`` (arm, patient) and the ``scan_day`` coordinate.

    Returns:
        A figure with one ``go.Bar`` trace per drawn arm (``meta = "ttr-bars"``), x = scan days.
    """
    require(ds, "ttr_days", "scan_day", figure="time_to_response_figure")
    names = arm_names(ds)
    days = np.asarray(ds["scan_day"].values, dtype=float)[1:]
    ttr = np.asarray(ds["ttr_days"].transpose("arm", "patient").values, dtype=float)
    fig = go.Figure()
    for i in responder_arms(ds, "ttr_days"):
        t = ttr[i][np.isfinite(ttr[i])]
        counts = np.array([np.sum(t == d) for d in days], dtype=np.int64)
        share = counts / max(t.size, 1)
        label = text(names[i])
        median = float(np.median(t))
        fig.add_trace(
            go.Bar(
                x=days,
                y=share,
                customdata=counts,
                name=f"{label} ({t.size:,} responders, median {median:.0f} days)",
                marker={"color": arm_color(i)},
                meta="ttr-bars",
                hovertemplate=(
                    f"<b>{label}</b><br>response first seen on day %{{x:.0f}}: "
                    "%{customdata:,} responders (%{y:.1%})<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(title_text="day of the first response scan (days since start of treatment)")
    fig.update_yaxes(
        title_text="share of the arm's responders", tickformat=".0%", rangemode="tozero"
    )
    if days.size:
        fig.update_xaxes(tickvals=days if days.size <= 20 else None)
    return base_layout(
        fig,
        title="Time to response (first CR/PR scan, responders of each treated arm)",
        height=420,
        barmode="group",
        bargap=0.15,
        legend={"orientation": "h", "y": -0.22, "yanchor": "top", "x": 0.0},
    )

"""Report page of a fit: data vs fitted curves per patient (plotly)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ._fit import FitResult


def fit_figure(
    result: FitResult,
    *,
    max_patients: int = 24,
    n_points: int = 200,
    columns: int = 4,
) -> go.Figure:
    """Small multiples: measured tumor cells (markers) and fitted curve (line) per patient.

    Args:
        result: output of :func:`~tumorimmune.calibrate.fit_patients`.
        max_patients: at most this many patients (the first ones) are drawn.
        n_points: points of each fitted curve.
        columns: panels per row.

    Returns:
        ``plotly.graph_objects.Figure``; y axis log scale in cells, x axis days since
        baseline; panel titles carry the estimates with 95 % intervals.
    """
    from plotly.subplots import make_subplots

    ds = result.dataset
    P = min(int(ds.sizes["patient"]), int(max_patients))
    days_max = float(np.nanmax(ds["obs_day"].values))
    dense = np.linspace(0.0, days_max, int(n_points))
    curves = result.predict(dense)[:P]
    rows = math.ceil(P / columns)
    params = [str(p) for p in ds["param"].values]
    titles = []
    for i in range(P):
        parts = []
        for p in params:
            e = float(ds["estimate"].values[i, params.index(p)])
            lo = float(ds["ci_lo"].values[i, params.index(p)])
            hi = float(ds["ci_hi"].values[i, params.index(p)])
            parts.append(f"{p}={e:.3g} [{lo:.3g}, {hi:.3g}]")
        titles.append(f"{ds['patient'].values[i]}<br><sup>{'; '.join(parts)}</sup>")
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=titles,
        shared_xaxes=True,
        vertical_spacing=min(0.12, 0.6 / max(rows, 1)),
    )
    for i in range(P):
        r, c = i // columns + 1, i % columns + 1
        fig.add_scatter(
            x=ds["obs_day"].values[i],
            y=ds["observed"].values[i],
            mode="markers",
            marker={"color": "#1f77b4", "size": 6},
            name="measured",
            legendgroup="measured",
            showlegend=i == 0,
            row=r,
            col=c,
        )
        fig.add_scatter(
            x=dense,
            y=curves[i],
            mode="lines",
            line={"color": "#d62728"},
            name="fitted",
            legendgroup="fitted",
            showlegend=i == 0,
            row=r,
            col=c,
        )
    fig.update_yaxes(type="log", title_text="tumor cells")
    fig.update_xaxes(title_text="days since baseline", row=rows)
    fig.update_annotations(font_size=10)
    free = ", ".join(json.loads(ds.attrs["free"]))
    fig.update_layout(
        title=(
            f"{ds.attrs['model']} fit of {free} ({ds.attrs['mode']}, {ds.attrs['noise']} noise);"
            f" AIC {ds.attrs['aic']:.1f}"
        ),
        height=260 * rows + 120,
        template="plotly_white",
    )
    return fig


def write_fit_report(result: FitResult, path: str | Path, **kwargs: object) -> Path:
    """Write :func:`fit_figure` as a standalone HTML page (plotly.js inlined)."""
    path = Path(path)
    fig = fit_figure(result, **kwargs)  # type: ignore[arg-type]
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path

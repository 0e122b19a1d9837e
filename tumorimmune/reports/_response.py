"""Response figures: response map over the grid, waterfall and spider plots."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ._data import (
    arm_names,
    evenly_spaced,
    grid_axes,
    is_log_spaced,
    label_with_units,
    require,
    text,
    units_of,
)
from ._style import (
    MIN_PLOT_PX,
    RESPONSE_COLORS,
    RESPONSE_NAMES,
    SEQUENTIAL_SCALE,
    SUBPLOT_CHAR_PX,
    SUBPLOT_TITLE_LINE_PX,
    base_layout,
    legend_rows,
    subplot_titles_at,
    subplot_titles_left,
)

_METRICS: dict[str, tuple[str, str, str, float]] = {
    # metric: (variable, colour-bar title, tick format, default contour level)
    "orr": ("cell_orr", "ORR", ".0%", 0.3),
    "dcr": ("cell_dcr", "DCR", ".0%", 0.5),
    "mean_best_pct_change": ("cell_mean_best_pct_change", "mean best<br>% change", ".0f", -30.0),
}

#: RECIST thresholds drawn on the waterfall and spider plots (% change from baseline).
PD_THRESHOLD = 20.0
PR_THRESHOLD = -30.0

#: Layout of the waterfall and spider plots (px): height of a waterfall panel and of a
#: spider row's plot area, the space an x axis with tick labels and title takes under a
#: spider row, the right margin of the waterfall that holds the threshold labels, the bottom
#: margin, and the height of a row of the horizontal legend above the panels.
WATERFALL_PANEL_PX = 170
SPIDER_ROW_PX = 280
SPIDER_AXIS_PX = 58
WATERFALL_RIGHT_PX = 92
BOTTOM_PX = 60
LEGEND_ROW_PX = 26


def _response_legend(*, plot_px: float, above_px: float) -> dict:
    """A horizontal legend of the response classes whose bottom is ``above_px`` over the top
    of a plot area ``plot_px`` tall (paper coordinates)."""
    return {
        "title": {"text": "best response"},
        "orientation": "h",
        "x": 0.0,
        "xanchor": "left",
        "y": 1.0 + above_px / plot_px,
        "yanchor": "bottom",
        "traceorder": "normal",
    }


def _top_margin(codes: list[int], title_lines: int) -> tuple[int, int]:
    """Top margin (px, for a one-line figure title; :func:`base_layout` adds the others) of a
    figure with the horizontal response legend above panels whose first row has subplot
    titles of ``title_lines`` lines; and the legend's height (px)."""
    names = [RESPONSE_NAMES[c] for c in codes]
    legend_px = LEGEND_ROW_PX * legend_rows(names, title="best response")
    return 80 - 30 + legend_px + 8 + SUBPLOT_TITLE_LINE_PX * title_lines, legend_px


def _facet_grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def map_axes(ds: xr.Dataset, x: str | None, y: str | None, *, figure: str) -> tuple[str, str]:
    """The grid dimensions on the horizontal and vertical axes of a map (default: the first
    two grid axes); ``ValueError`` naming ``figure`` for fewer than two or unknown axes."""
    axes = grid_axes(ds)
    if len(axes) < 2:
        raise ValueError(f"{figure} needs at least two grid axes (dims 'axis_<param>'); got {axes}")
    x = axes[0] if x is None else x
    y = (axes[1] if axes[1] != x else axes[0]) if y is None else y
    for key, val in (("x", x), ("y", y)):
        if val not in axes:
            raise ValueError(f"{figure} {key}={val!r} is not a grid axis; grid axes: {axes}")
    if x == y:
        raise ValueError(f"{figure} needs two different axes; got x = y = {x!r}")
    return x, y


def map_facets(titles: list[str], max_cols: int) -> tuple[go.Figure, int, int]:
    """Subplots of a map with one facet per title (arm): the figure, rows and columns."""
    rows, cols = _facet_grid(len(titles), max_cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=titles,
        horizontal_spacing=0.08,
        vertical_spacing=0.16 if rows > 1 else 0.1,
    )
    return fig, rows, cols


def response_map(
    ds: xr.Dataset,
    *,
    metric: str = "orr",
    level: float | None = None,
    x: str | None = None,
    y: str | None = None,
    max_cols: int = 3,
) -> go.Figure:
    """Heatmap of a per-cell response metric over two swept axes, one facet per arm, with a
    contour line at ``level``.

    Args:
        ds: results dataset with ``cell_<metric>`` of dims ``(arm, axis_..., ...)``.
        metric: ``"orr"`` (fraction responding, CR+PR), ``"dcr"`` (CR+PR+SD) or
            ``"mean_best_pct_change"`` (% change from baseline).
        level: contour level in the metric's units (fraction for ORR/DCR, % for the mean best
            change); default 0.3 (ORR), 0.5 (DCR), −30 % (mean best change).
        x: grid dimension (``"axis_<param>"``) on the horizontal axis; default the first.
            Further grid axes (beyond ``x`` and ``y``) are averaged over (equal weights).
        y: grid dimension on the vertical axis; default the second.
        max_cols: facets per row.

    Raises:
        ValueError: fewer than two grid axes, unknown ``metric``, or unknown ``x``/``y``.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}; got {metric!r}")
    var, cbar_title, tickformat, default_level = _METRICS[metric]
    level = default_level if level is None else float(level)
    x, y = map_axes(ds, x, y, figure="response_map")
    require(ds, var, figure="response_map")
    da = ds[var]
    others = [d for d in da.dims if d not in ("arm", x, y)]
    if others:
        da = da.mean(dim=others)
    da = da.transpose("arm", y, x)
    z_all = np.asarray(da.values, dtype=float)
    xs = np.asarray(ds[x].values, dtype=float)
    ys = np.asarray(ds[y].values, dtype=float)
    xname, yname = x[len("axis_") :], y[len("axis_") :]
    xlabel = text(label_with_units(xname, units_of(ds, x, xname)))
    ylabel = text(label_with_units(yname, units_of(ds, y, yname)))
    xname, yname = text(xname), text(yname)

    arms = [text(a) for a in arm_names(ds)]
    fig, rows, cols = map_facets(arms, max_cols)
    finite = z_all[np.isfinite(z_all)]
    if metric == "mean_best_pct_change":
        zmin = float(finite.min()) if finite.size else -100.0
        zmax = float(finite.max()) if finite.size else 100.0
    else:
        zmin, zmax = 0.0, 1.0
    hover_z = "%{z:" + tickformat + "}"
    for i, arm in enumerate(arms):
        r, c = divmod(i, cols)
        z = z_all[i]
        fig.add_trace(
            go.Heatmap(
                x=xs,
                y=ys,
                z=z,
                coloraxis="coloraxis",
                name=arm,
                hovertemplate=(
                    f"<b>{arm}</b><br>{xname} = %{{x:.3g}}<br>{yname} = %{{y:.3g}}<br>"
                    f"{cbar_title.replace('<br>', ' ')} = {hover_z}<extra>grid cell</extra>"
                ),
            ),
            row=r + 1,
            col=c + 1,
        )
        zf = z[np.isfinite(z)]
        if zf.size and zf.min() < level < zf.max():
            fig.add_trace(
                go.Contour(
                    x=xs,
                    y=ys,
                    z=z,
                    showscale=False,
                    contours={
                        "start": level,
                        "end": level,
                        "size": 1.0,
                        "coloring": "none",
                        "showlabels": True,
                        "labelformat": tickformat,
                        "labelfont": {"color": "white", "size": 12},
                    },
                    line={"color": "white", "width": 2.5, "dash": "dash"},
                    name=f"{cbar_title.replace('<br>', ' ')} = {level:{tickformat}}",
                    hoverinfo="skip",
                    showlegend=False,
                ),
                row=r + 1,
                col=c + 1,
            )
        fig.update_xaxes(
            title_text=xlabel,
            type="log" if is_log_spaced(xs) else "linear",
            row=r + 1,
            col=c + 1,
        )
        fig.update_yaxes(
            title_text=ylabel if c == 0 else None,
            type="log" if is_log_spaced(ys) else "linear",
            row=r + 1,
            col=c + 1,
        )
    title = f"Response map: {cbar_title.replace('<br>', ' ')} per grid cell"
    title += f" (dashed contour at {level:{tickformat}})"
    if others:
        title += f"; averaged over {', '.join(text(str(o)[5:]) for o in others)}"
    fig.update_layout(
        coloraxis={
            "colorscale": SEQUENTIAL_SCALE,
            "cmin": zmin,
            "cmax": zmax,
            "colorbar": {"title": {"text": cbar_title}, "tickformat": tickformat},
        }
    )
    return base_layout(fig, title=title, height=120 + 330 * rows)


def waterfall(ds: xr.Dataset, *, max_points: int = 5000) -> go.Figure:
    """Waterfall plot of best % change from baseline per patient, one panel per arm.

    Bars are sorted from the largest increase (left) to the largest decrease (right) and
    coloured by RECIST best overall response; dashed lines mark +20 % (progression) and
    −30 % (partial response). Bars are clipped at +100 % for display (hover shows the true
    value). Failed solves (NaN) are left out and counted in the panel title.

    Args:
        ds: results dataset with ``best_pct_change`` and ``best_response`` (arm, patient).
        max_points: at most this many bars per arm; larger cohorts show patients at evenly
            spaced ranks of the sorted order (deterministic; keeps the shape of the curve).
    """
    require(ds, "best_pct_change", "best_response", figure="waterfall")
    if max_points < 2:
        raise ValueError(f"waterfall max_points must be >= 2; got {max_points}")
    arms = arm_names(ds)
    best_all = np.asarray(ds["best_pct_change"].transpose("arm", "patient").values, dtype=float)
    resp_all = np.asarray(ds["best_response"].transpose("arm", "patient").values).astype(int)
    pid_all = np.asarray(ds["patient"].values) if "patient" in ds.coords else None
    titles = []
    panels = []
    for i, arm in enumerate(arms):
        best, resp = best_all[i], resp_all[i]
        ok = np.isfinite(best) & (resp >= 0)
        idx = np.flatnonzero(ok)
        order = idx[np.argsort(-best[idx], kind="stable")]
        shown = order[evenly_spaced(order.size, max_points)]
        panels.append(shown)
        note = f"{text(arm)}: {ok.sum():,} patients"
        if shown.size < order.size:
            note += f" ({shown.size:,} shown at evenly spaced ranks)"
        if (~ok).sum():
            k = int((~ok).sum())
            note += f", {k:,} failed solve{'s' if k > 1 else ''} not shown"
        titles.append(note)
    # panels WATERFALL_PANEL_PX tall, apart by their (wrapped, left-aligned) titles only
    fig = make_subplots(rows=len(arms), cols=1, subplot_titles=titles, shared_yaxes=True)
    lines = subplot_titles_left(fig, int((MIN_PLOT_PX + 30 - WATERFALL_RIGHT_PX) / SUBPLOT_CHAR_PX))
    gap_px = 18 + SUBPLOT_TITLE_LINE_PX * lines
    plot_px = len(arms) * WATERFALL_PANEL_PX + (len(arms) - 1) * gap_px
    tops = [1.0 - i * (WATERFALL_PANEL_PX + gap_px) / plot_px for i in range(len(arms))]
    for i, top in enumerate(tops):
        fig.update_yaxes(
            domain=(max(top - WATERFALL_PANEL_PX / plot_px, 0.0), top), row=i + 1, col=1
        )
    subplot_titles_at(fig, tops)
    seen: set[int] = set()
    for i, shown in enumerate(panels):
        best, resp = best_all[i], resp_all[i]
        rank = np.arange(shown.size, dtype=np.int32)
        for code in (3, 2, 1, 0):
            sel = resp[shown] == code
            if not sel.any():
                continue
            pts = shown[sel]
            pid = pid_all[pts] if pid_all is not None else pts
            custom = np.stack([pid.astype(np.float64), best[pts]], axis=1)
            fig.add_trace(
                go.Bar(
                    x=rank[sel],
                    y=np.minimum(best[pts], 100.0).astype(np.float32),
                    customdata=custom,
                    marker={"color": RESPONSE_COLORS[code], "line": {"width": 0}},
                    name=RESPONSE_NAMES[code],
                    legendgroup=str(code),
                    showlegend=code not in seen,
                    hovertemplate=(
                        f"<b>patient %{{customdata[0]:d}}</b> ({text(arms[i])})<br>"
                        "best change from baseline: %{customdata[1]:.1f} %<br>"
                        f"best response: {RESPONSE_NAMES[code]}<extra></extra>"
                    ),
                ),
                row=i + 1,
                col=1,
            )
            seen.add(code)
        fig.update_xaxes(
            title_text="patients, sorted by best change" if i == len(panels) - 1 else None,
            showticklabels=False,
            row=i + 1,
            col=1,
        )
        fig.update_yaxes(title_text="best change (%)", range=[-105, 105], row=i + 1, col=1)
    for level, mark in ((PD_THRESHOLD, "+20 % (PD)"), (PR_THRESHOLD, "−30 % (PR)")):
        # the label in the right margin, beside its line: never over a bar
        fig.add_hline(
            y=level,
            line={"dash": "dash", "color": "#333333", "width": 1.2},
            annotation_text=mark,
            annotation_position="right",
            annotation_font_size=11,
            row="all",  # type: ignore[arg-type]
            col="all",  # type: ignore[arg-type]
        )
    fig.update_layout(bargap=0.0, barmode="overlay")
    t, _ = _top_margin(sorted(seen), lines)
    return base_layout(
        fig,
        title="Waterfall: best % change in the sum of diameters from baseline, read up to "
        "progression (clipped at +100 %)",
        height=t + plot_px + BOTTOM_PX,
        margin={"l": 70, "r": WATERFALL_RIGHT_PX, "t": t, "b": BOTTOM_PX},
        legend=_response_legend(plot_px=plot_px, above_px=8 + SUBPLOT_TITLE_LINE_PX * lines),
    )


def spider(ds: xr.Dataset, *, n_patients: int = 30, seed: int = 0, max_cols: int = 3) -> go.Figure:
    """Spider plot: % change in the sum of diameters from baseline over scan days, one facet
    per arm,
    for the same random sample of patients in every arm, coloured by best response.

    Args:
        ds: results dataset with ``pct_change`` (arm, patient, scan), ``best_response`` and the
            coordinate ``scan_day`` (days).
        n_patients: patients drawn (without replacement) from the cohort.
        seed: seed of the draw (``numpy.random.default_rng``), so the sample is reproducible.
        max_cols: facets per row.
    """
    require(ds, "pct_change", "best_response", "scan_day", figure="spider")
    if n_patients < 1:
        raise ValueError(f"spider n_patients must be >= 1; got {n_patients}")
    arms = arm_names(ds)
    n = ds.sizes["patient"]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size=min(n_patients, n), replace=False))
    pct = np.asarray(
        ds["pct_change"].isel(patient=pick).transpose("arm", "patient", "scan").values,
        dtype=float,
    )
    resp = np.asarray(
        ds["best_response"].isel(patient=pick).transpose("arm", "patient").values
    ).astype(int)
    days = np.asarray(ds["scan_day"].values, dtype=float)
    pid = np.asarray(ds["patient"].values)[pick] if "patient" in ds.coords else pick
    rows, cols = _facet_grid(len(arms), max_cols)
    spacing = 0.05
    # titles wrapped to the width of a facet in a 1000 px window, left-aligned in it; rows
    # SPIDER_ROW_PX tall, apart by the x axis and the next row's titles
    width = int(MIN_PLOT_PX * (1.0 - (cols - 1) * spacing) / cols / SUBPLOT_CHAR_PX)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[text(a) for a in arms],
        shared_yaxes=True,
        horizontal_spacing=spacing,
    )
    lines = subplot_titles_left(fig, width)
    gap_px = SPIDER_AXIS_PX + 6 + SUBPLOT_TITLE_LINE_PX * lines
    plot_px = rows * SPIDER_ROW_PX + (rows - 1) * gap_px
    tops = [1.0 - r * (SPIDER_ROW_PX + gap_px) / plot_px for r in range(rows)]
    for r, top in enumerate(tops):
        for c in range(cols):
            fig.update_yaxes(
                domain=(max(top - SPIDER_ROW_PX / plot_px, 0.0), top), row=r + 1, col=c + 1
            )
    subplot_titles_at(fig, [tops[i // cols] for i in range(len(arms))])
    finite = pct[np.isfinite(pct)]
    top = float(np.clip(finite.max(), 50.0, 150.0)) if finite.size else 100.0
    clipped = bool(finite.size and finite.max() > top)
    seen: set[int] = set()
    n_scan = days.size
    for i, arm in enumerate(arms):
        r, c = divmod(i, cols)
        for code in (3, 2, 1, 0, -1):
            sel = np.flatnonzero(resp[i] == code)
            if sel.size == 0 or code == -1:
                continue
            # one trace per response class: patients separated by NaN gaps
            xs = np.full((sel.size, n_scan + 1), np.nan)
            ys = np.full((sel.size, n_scan + 1), np.nan)
            ids = np.zeros((sel.size, n_scan + 1))
            xs[:, :n_scan] = days
            ys[:, :n_scan] = pct[i, sel]
            ids[:, :] = pid[sel, None]
            fig.add_trace(
                go.Scatter(
                    x=xs.ravel(),
                    y=ys.ravel(),
                    customdata=ids.ravel(),
                    mode="lines+markers",
                    connectgaps=False,
                    line={"color": RESPONSE_COLORS[code], "width": 1.5},
                    marker={"size": 4},
                    name=RESPONSE_NAMES[code],
                    legendgroup=str(code),
                    showlegend=code not in seen,
                    hovertemplate=(
                        f"<b>patient %{{customdata:d}}</b> ({text(arm)})<br>day %{{x:.0f}}: "
                        f"%{{y:.1f}} % from baseline<br>best response: {RESPONSE_NAMES[code]}"
                        "<extra></extra>"
                    ),
                ),
                row=r + 1,
                col=c + 1,
            )
            seen.add(code)
        fig.update_xaxes(title_text="day of scan", row=r + 1, col=c + 1)
        fig.update_yaxes(
            title_text="change from baseline (%)" if c == 0 else None,
            range=[-105, top + 5],
            row=r + 1,
            col=c + 1,
        )
    for level in (PD_THRESHOLD, PR_THRESHOLD):
        fig.add_hline(
            y=level,
            line={"dash": "dash", "color": "#333333", "width": 1},
            row="all",  # type: ignore[arg-type]
            col="all",  # type: ignore[arg-type]
        )
    return base_layout(
        fig,
        title=(
            f"Spider plot: change in tumor size over time, {pick.size} sampled patients "
            f"(seed {seed}); dashed: +20 % / −30 %"
            + (f"; y axis cut at +{top:.0f} %" if clipped else "")
        ),
        height=_top_margin(sorted(seen), lines)[0] + plot_px + BOTTOM_PX,
        margin={"l": 70, "r": 30, "t": _top_margin(sorted(seen), lines)[0], "b": BOTTOM_PX},
        legend=_response_legend(plot_px=plot_px, above_px=8 + SUBPLOT_TITLE_LINE_PX * lines),
    )

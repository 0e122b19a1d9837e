"""The "What decides response" section of a cohort's report: response over two covariates,
which parameters decide response, the individual treatment effect and biomarker thresholds,
all read from the trial's own patients (:mod:`tumorimmune.analysis`, no extra solves)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from markupsafe import Markup
from plotly.subplots import make_subplots
from pydantic import ValidationError

from .. import analysis
from ..sweeps import ReportSpec
from ._data import arm_names, grid_axes, is_log_spaced, spec_table, text
from ._sections import Section, html_table
from ._style import (
    MIN_PLOT_PX,
    OKABE_ITO,
    SEQUENTIAL_SCALE,
    SUBPLOT_TITLE_LINE_PX,
    arm_color,
    band_traces,
    base_layout,
    legend_height,
    title_height,
)

SECTION_ID = "what-decides-response"
HEADING = "What decides response"
#: Variables the section reads.
NEEDS = ("best_response", "best_pct_change", "pfs_days", "pfs_event")
#: The ranking's bootstrap resamples and most patients (its cost: about 2 s per output at
#: 10,000 patients on one CPU core).
RANK_RESAMPLES = 100
RANK_PATIENTS = 10_000
#: Quantile bins of the top-ranked parameter in the treatment-effect figure.
EFFECT_BINS = 10
#: Space (px) under a plot area for its x tick labels and axis title, above a legend.
AXIS_BELOW_PX = 62

#: Height (px) of the row that holds an arm menu, under the figure's title.
MENU_PX = 44

Options = ReportSpec | Mapping[str, Any] | None


def decides_options(ds: xr.Dataset, overrides: Options = None) -> tuple[ReportSpec, str]:
    """The section's options: the stored spec's ``[report]``, updated by ``overrides``
    (:class:`~tumorimmune.sweeps.ReportSpec` or a mapping of its keys); and a note on a
    stored ``[report]`` that is not valid (its defaults are used then).

    Raises:
        ValueError: ``overrides`` is not valid (names the key).
    """
    note = ""
    raw = spec_table(ds).get("report")
    stored: dict[str, Any] = {}
    if isinstance(raw, dict):
        try:
            stored = ReportSpec.model_validate(raw).model_dump(exclude_none=True)
        except (ValidationError, ValueError) as err:
            note = f"The spec's [report] is not valid ({_first_error(err)}); defaults are used. "
    if overrides is None:
        extra: dict[str, Any] = {}
    elif isinstance(overrides, ReportSpec):
        extra = overrides.model_dump(exclude_none=True, exclude_unset=True)
    else:
        extra = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}
    try:
        return ReportSpec.model_validate({**stored, **extra}), note
    except ValidationError as err:
        raise ValueError(f"decides: {_first_error(err)}") from None


def _first_error(err: Exception) -> str:
    if isinstance(err, ValidationError):
        e = err.errors()[0]
        loc = ".".join(str(x) for x in e["loc"])
        return f"{loc}: {e['msg']}" if loc else str(e["msg"])
    return str(err)


def decides_missing(ds: xr.Dataset) -> str | None:
    """Why the section is left out of a treated study's report, or ``None``."""
    if len(grid_axes(ds)) >= 2:
        return "a grid sweep shows its response map instead"
    lacking = [v for v in NEEDS if v not in ds.variables]
    if lacking:
        return "the results lack " + ", ".join(lacking)
    cov = analysis.covariates(ds)
    params = [str(k) for k in cov.data_vars if k != "baseline_sld_mm"]
    if not params or len(cov.data_vars) < 2:
        return "it needs at least two patient covariates that vary, the results have " + (
            ", ".join(map(str, cov.data_vars)) or "none"
        )
    if ds.sizes.get("patient", 0) < 40:
        return f"it needs at least 40 patients, the results have {ds.sizes.get('patient', 0)}"
    return None


def _label(ds: xr.Dataset, name: str) -> str:
    return text(analysis.covariate_label(ds, name))


def _fmt(v: float) -> str:
    return f"{v:.3g}" if np.isfinite(v) else "–"


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %" if np.isfinite(v) else "–"


def _ci(v: float, lo: float, hi: float) -> str:
    if not np.isfinite(v):
        return "–"
    return f"{100 * v:.1f} ({100 * lo:.1f}–{100 * hi:.1f})"


def _legend_below(plot_px: float) -> dict[str, Any]:
    """A horizontal legend under the x axes of a plot area ``plot_px`` tall."""
    return {
        "orientation": "h",
        "x": 0.0,
        "xanchor": "left",
        "y": -AXIS_BELOW_PX / plot_px,
        "yanchor": "top",
        "traceorder": "normal",
    }


def _arm_menu(fig: go.Figure, arms: list[str], owner: list[int], y: float) -> None:
    """A dropdown with its top at ``y`` (paper coordinates) that shows the traces of one arm
    (``owner[i]``: arm of trace i)."""
    if len(arms) < 2:
        return
    fig.update_layout(
        updatemenus=[
            {
                "buttons": [
                    {
                        "label": text(a),
                        "method": "restyle",
                        "args": [{"visible": [o == k for o in owner]}],
                    }
                    for k, a in enumerate(arms)
                ],
                "direction": "down",
                "x": 0.0,
                "xanchor": "left",
                "y": y,
                "yanchor": "top",
                "showactive": True,
                "pad": {"l": 0, "t": 0},
            }
        ]
    )


def covariate_map_figure(
    ds: xr.Dataset, x: str, y: str, *, bins: int = 4, arms: list[str] | None = None
) -> go.Figure:
    """Heatmaps of the objective response rate and of 6-month progression-free survival over
    two covariates (quantile bins, :func:`tumorimmune.analysis.covariate_map`), one arm at a
    time (a menu switches the arm); each cell shows its rate and patient count, its hover
    the 95 % interval."""
    arms = arm_names(ds) if arms is None else arms
    maps = [
        analysis.covariate_map(ds, x, y, bins=bins, outcome=o, arms=arms)
        for o in ("response", "pfs")
    ]
    xs = _ranges(maps[0].x_lo.values, maps[0].x_hi.values)
    ys = _ranges(maps[0].y_lo.values, maps[0].y_hi.values)
    names = ("ORR", "PFS at 6 months")
    titles = ["objective response rate (CR + PR)", "progression-free at 6 months"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.14)
    xlabel, ylabel = _label(ds, x), _label(ds, y)
    owner: list[int] = []
    for a, arm in enumerate(arms):
        for k, m in enumerate(maps):
            sel = m.sel(arm=arm)
            z = np.asarray(sel["rate"].values, dtype=float).T  # (y_bin, x_bin)
            n = np.asarray(sel["n"].values).T
            lo, hi = sel["rate_lo"].values.T, sel["rate_hi"].values.T
            cells = [
                [
                    f"{_pct(z[j, i])}<br>n = {n[j, i]:,}" if n[j, i] else "n = 0"
                    for i in range(len(xs))
                ]
                for j in range(len(ys))
            ]
            custom = np.stack([lo, hi, n.astype(float)], axis=-1)
            fig.add_trace(
                go.Heatmap(
                    x=xs,
                    y=ys,
                    z=z,
                    text=cells,
                    texttemplate="%{text}",
                    textfont={"size": 12},
                    customdata=custom,
                    coloraxis="coloraxis",
                    name=f"{text(arm)}: {names[k]}",
                    visible=a == 0,
                    hovertemplate=(
                        f"<b>{text(arm)}</b><br>{xlabel}: %{{x}}<br>{ylabel}: %{{y}}<br>"
                        f"{names[k]} %{{z:.1%}} (95 % CI %{{customdata[0]:.1%}}–"
                        "%{customdata[1]:.1%})<br>%{customdata[2]:,} patients<extra></extra>"
                    ),
                ),
                row=1,
                col=k + 1,
            )
            owner.append(a)
    for k in (1, 2):
        fig.update_xaxes(title_text=xlabel, type="category", tickangle=0, row=1, col=k)
        fig.update_yaxes(title_text=ylabel if k == 1 else None, type="category", row=1, col=k)
    title = f"Response by {xlabel} and {ylabel} (quantile bins)"
    menu = len(arms) > 1
    top = title_height(title) + (MENU_PX if menu else 6) + SUBPLOT_TITLE_LINE_PX * 2 + 8
    plot_px = 330
    fig.update_layout(
        coloraxis={
            "colorscale": SEQUENTIAL_SCALE,
            "cmin": 0.0,
            "cmax": 1.0,
            "colorbar": {"title": {"text": "share of<br>patients"}, "tickformat": ".0%"},
        }
    )
    _wrap_subplot_titles(fig)
    height = top + plot_px + AXIS_BELOW_PX + 10
    base_layout(fig, title=title, height=height, margin={"l": 90, "r": 30, "t": top, "b": 72})
    t = float(fig.layout.margin.t)  # type: ignore[union-attr]
    _arm_menu(fig, arms, owner, 1.0 + (t - title_height(title) - 6) / plot_px)
    return fig


def _wrap_subplot_titles(fig: go.Figure, cols: int = 2) -> None:
    """Subplot titles of a figure of ``cols`` panels wrapped to their panel's width."""
    from ._style import SUBPLOT_CHAR_PX, subplot_titles_left

    subplot_titles_left(fig, int(MIN_PLOT_PX * (0.86 / cols) / SUBPLOT_CHAR_PX))


def _ranges(lo: np.ndarray, hi: np.ndarray) -> list[str]:
    """Tick labels ``"0.32–0.59"`` of bins: as many decimals as the narrowest bin needs
    (two significant digits of large or tiny values)."""
    edges = np.append(np.asarray(lo, float), float(hi[-1]))
    width = float(np.min(np.diff(edges))) if edges.size > 1 else 0.0
    big = float(np.max(np.abs(edges)))
    if big >= 1e5 or width <= 0 or width < 1e-3:

        def f(v: float) -> str:
            return f"{v:.2g}"
    else:
        digits = max(0, int(-np.floor(np.log10(width))) + 1) if width < 10 else 0

        def f(v: float) -> str:
            return f"{v:.{digits}f}"

    return [f"{f(a)}–{f(b)}" for a, b in itertools.pairwise(edges)]


def ranking_figure(ds: xr.Dataset, rank: xr.Dataset, arm: str) -> go.Figure:
    """Horizontal bars of the first-order index of each parameter on each output in ``arm``,
    with the bootstrap 95 % interval as whiskers; the largest on top."""
    sel = rank.sel(arm=arm)
    params = [str(p) for p in rank["param"].values]
    labels = [_label(ds, p) for p in params]
    fig = go.Figure()
    colors = (OKABE_ITO["blue"], OKABE_ITO["orange"])
    for k, out in enumerate(str(o) for o in rank["output"].values):
        s = sel.sel(output=out)
        v, lo, hi = s["S1"].values, s["S1_lo"].values, s["S1_hi"].values
        name = text(analysis.RANKING_OUTPUTS[out])
        fig.add_trace(
            go.Bar(
                x=v,
                y=labels,
                orientation="h",
                name=name,
                marker_color=colors[k % 2],
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": np.maximum(hi - v, 0.0),
                    "arrayminus": np.maximum(v - lo, 0.0),
                    "thickness": 1.2,
                    "width": 3,
                },
                customdata=np.stack([lo, hi], axis=-1),
                hovertemplate=f"%{{y}}<br>{name}: S1 = %{{x:.3f}} (95 % CI "
                "%{customdata[0]:.3f}–%{customdata[1]:.3f})<extra></extra>",
            )
        )
    plot_px = 34 * len(params) + 20
    names = [text(analysis.RANKING_OUTPUTS[str(o)]) for o in rank["output"].values]
    legend_px = legend_height(names)
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], automargin=True)
    fig.update_xaxes(title_text="first-order index S1 (share of the output's variance)")
    title = f"Who responds: what each parameter explains alone in “{text(arm)}”"
    top = title_height(title) + 12
    return base_layout(
        fig,
        title=title,
        height=top + plot_px + AXIS_BELOW_PX + legend_px + 10,
        margin={"l": 70, "r": 30, "t": top, "b": AXIS_BELOW_PX + legend_px + 10},
        barmode="group",
        bargap=0.25,
        legend=_legend_below(plot_px),
    )


def correlation_figure(ds: xr.Dataset, rho: xr.DataArray) -> go.Figure:
    """Heatmap of the Spearman correlation of the parameters (the ranking's order)."""
    params = [str(p) for p in rho["param"].values]
    shown = [text(p) for p in params]
    z = np.asarray(rho.values, dtype=float)
    cells = [
        [f"{z[i, j]:.2f}" if i != j and abs(z[i, j]) >= 0.05 else "" for j in range(len(params))]
        for i in range(len(params))
    ]
    full = [[_label(ds, p) for p in params] for _ in params]
    fig = go.Figure(
        go.Heatmap(
            x=shown,
            y=shown,
            z=z,
            text=cells,
            texttemplate="%{text}",
            textfont={"size": 10},
            customdata=np.stack([np.array(full), np.array(full).T], axis=-1),
            zmin=-1.0,
            zmax=1.0,
            colorscale="RdBu",
            reversescale=True,
            colorbar={"title": {"text": "Spearman ρ"}},
            hovertemplate="%{customdata[1]} and %{customdata[0]}: ρ = %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", tickangle=-45)
    fig.update_yaxes(type="category", autorange="reversed")
    title = "Correlation of the patients' parameters (Spearman ρ; shown where |ρ| ≥ 0.05)"
    top = title_height(title) + 12
    plot_px = max(24 * len(params), 200)
    return base_layout(
        fig, title=title, height=top + plot_px + 90, margin={"l": 90, "r": 30, "t": top, "b": 90}
    )


def effect_figure(ds: xr.Dataset, effect: xr.Dataset, covariate: str, arms: list[str]) -> go.Figure:
    """Per treated arm, the distribution of the 6-month tumor size ratio treated / untreated
    (log10) of the same patients, and its median per decile of ``covariate``."""
    r = np.asarray(effect["log10_size_ratio"].sel(arm=arms).values, dtype=float)
    finite = r[np.isfinite(r)]
    lo, hi = (np.floor(finite.min()), np.ceil(finite.max())) if finite.size else (-1.0, 1.0)
    edges = np.arange(lo, max(hi, lo + 1.0) + 1e-9, 0.25)
    cov = analysis.covariates(ds, include=(covariate,))[covariate].values
    cedges = analysis.bin_edges(cov, EFFECT_BINS)
    ci = analysis.bin_index(cov, cedges)
    mids = np.array(
        [np.median(cov[ci == b]) if (ci == b).any() else np.nan for b in range(cedges.size - 1)]
    )
    day = float(effect.attrs.get("scan_day", analysis.SIX_MONTHS_DAYS))
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=[
            f"tumor cells treated / untreated at the day-{day:.0f} scan",
            f"median and quartiles per decile of {_label(ds, covariate)}",
        ],
    )
    all_arms = arm_names(ds)
    for a, arm in enumerate(arms):
        color = arm_color(all_arms.index(arm))
        v = r[a][np.isfinite(r[a])]
        counts, _ = np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)
        frac = counts / max(v.size, 1)
        fig.add_trace(
            go.Scatter(
                x=edges,
                y=np.append(frac, frac[-1]),
                mode="lines",
                line={"shape": "hv", "color": color, "width": 1.8},
                name=text(arm),
                legendgroup=str(a),
                hovertemplate=(
                    f"{text(arm)}<br>log10 ratio from %{{x:.2f}}: %{{y:.1%}} of patients"
                    "<extra></extra>"
                ),
            ),
            row=1,
            col=1,
        )
        q = np.full((3, mids.size), np.nan)
        for b in range(mids.size):
            w = r[a][(ci == b) & np.isfinite(r[a])]
            if w.size:
                q[:, b] = np.quantile(w, (0.25, 0.5, 0.75))
        if a == 0:
            for trace in band_traces(
                mids, q[0], q[2], color=color, group=str(a), names=("q25", "q75")
            ):
                fig.add_trace(trace, row=1, col=2)
        fig.add_trace(
            go.Scatter(
                x=mids,
                y=q[1],
                mode="lines+markers",
                line={"color": color, "width": 1.8},
                marker={"size": 5},
                name=text(arm),
                legendgroup=str(a),
                showlegend=False,
                customdata=np.stack([q[0], q[2]], axis=-1),
                hovertemplate=(
                    f"{text(arm)}<br>{_label(ds, covariate)} ≈ %{{x:.3g}}<br>median log10 "
                    "ratio %{y:.2f} (quartiles %{customdata[0]:.2f} to %{customdata[1]:.2f})"
                    "<extra></extra>"
                ),
            ),
            row=1,
            col=2,
        )
    line = {"dash": "dot", "color": "#777777", "width": 1}
    fig.add_vline(x=0.0, line=line, row=1, col=1)  # type: ignore[arg-type]
    fig.add_hline(y=0.0, line=line, row=1, col=2)  # type: ignore[arg-type]
    fig.update_xaxes(
        title_text="log10 size ratio (decades; < 0: smaller when treated)", row=1, col=1
    )
    fig.update_yaxes(title_text="share of patients", tickformat=".0%", row=1, col=1)
    fig.update_xaxes(
        title_text=_label(ds, covariate),
        type="log" if is_log_spaced(mids) else None,
        row=1,
        col=2,
    )
    fig.update_yaxes(title_text="log10 size ratio (decades)", row=1, col=2)
    _wrap_subplot_titles(fig)
    title = "Individual treatment effect: the same patient with and without treatment"
    top = title_height(title) + SUBPLOT_TITLE_LINE_PX * 2 + 10
    plot_px = 320
    legend_px = legend_height([text(a) for a in arms])
    return base_layout(
        fig,
        title=title,
        height=top + plot_px + AXIS_BELOW_PX + legend_px + 10,
        margin={"l": 70, "r": 30, "t": top, "b": AXIS_BELOW_PX + legend_px + 10},
        legend=_legend_below(plot_px),
    )


def effect_table(summary: xr.Dataset) -> Markup:
    """Per treated arm: median size ratio (IQR), share benefiting and share of RECIST
    non-responders benefiting (Wilson 95 % CI)."""
    rows = []
    for arm in summary["arm"].values:
        s = summary.sel(arm=arm)
        f = {k: float(s[k]) for k in s.data_vars}
        rows.append(
            [
                str(arm),
                f"{int(f['n']):,}",
                f"{_fmt(f['median_size_ratio'])} ({_fmt(f['size_ratio_q25'])}–"
                f"{_fmt(f['size_ratio_q75'])})",
                _ci(f["benefit"], f["benefit_lo"], f["benefit_hi"]),
                f"{int(f['n_nonresponders']):,}",
                _ci(
                    f["nonresponder_benefit"],
                    f["nonresponder_benefit_lo"],
                    f["nonresponder_benefit_hi"],
                ),
            ]
        )
    day = float(summary.attrs.get("scan_day", analysis.SIX_MONTHS_DAYS))
    return html_table(
        (
            "Arm",
            "Patients",
            f"Size ratio at day {day:.0f}, median (IQR)",
            "Longer PFS than untreated, % (95% CI)",
            "Non-responders (SD/PD)",
            "Non-responders with longer PFS, % (95% CI)",
        ),
        rows,
        caption=f"Individual treatment effect against the same patients untreated "
        f"(arm “{summary.attrs.get('control', '')}”)",
        table_id="effect-table",
    )


def thresholds_figure(ds: xr.Dataset, thr: xr.Dataset) -> go.Figure:
    """ORR and 6-month PFS of the patients at or above each threshold of the biomarker, and
    the share of the cohort that would be treated."""
    cov = str(thr.attrs["covariate"])
    x = np.asarray(thr["threshold"].values, dtype=float)
    label = _label(ds, cov)
    fig = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.09,
        subplot_titles=[
            "ORR of the patients kept (Wilson 95 % CI)",
            "PFS at 6 months of the patients kept",
            "share of the cohort kept (treated)",
        ],
    )
    _wrap_subplot_titles(fig, 3)
    all_arms = arm_names(ds)
    for a, arm in enumerate(str(v) for v in thr["arm"].values):
        color = arm_color(all_arms.index(arm))
        s = thr.sel(arm=arm)
        for col, key in ((1, "orr"), (2, "pfs_at")):
            for trace in band_traces(
                x,
                s[f"{key}_lo"].values,
                s[f"{key}_hi"].values,
                color=color,
                group=str(a),
                names=("lo", "hi"),
            ):
                fig.add_trace(trace, row=1, col=col)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=s[key].values,
                    mode="lines",
                    line={"color": color, "width": 1.8},
                    name=text(arm),
                    legendgroup=str(a),
                    showlegend=col == 1,
                    customdata=np.stack(
                        [s[f"{key}_lo"].values, s[f"{key}_hi"].values, s["n"].values], axis=-1
                    ),
                    hovertemplate=(
                        f"{text(arm)}<br>{label} ≥ %{{x:.3g}}: %{{y:.1%}} (95 % CI "
                        "%{customdata[0]:.1%}–%{customdata[1]:.1%}), %{customdata[2]:,} "
                        "patients<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )
    share = thr["share_treated"].isel(arm=0).values
    fig.add_trace(
        go.Scatter(
            x=x,
            y=share,
            mode="lines",
            line={"color": "#555555", "width": 1.8, "dash": "dash"},
            name="share of the cohort at or above the threshold",
            hovertemplate=f"{label} ≥ %{{x:.3g}}: %{{y:.1%}} of the cohort<extra></extra>",
        ),
        row=1,
        col=3,
    )
    for col in (1, 2, 3):
        fig.update_xaxes(title_text=f"{label} threshold" if col == 2 else None, row=1, col=col)
        fig.update_yaxes(tickformat=".0%", rangemode="tozero", row=1, col=col)
    fig.update_yaxes(range=[0, 1.02], row=1, col=3)
    title = f"Biomarker thresholds: treating only patients with {label} at or above a cut-off"
    top = title_height(title) + SUBPLOT_TITLE_LINE_PX * 2 + 12
    plot_px = 300
    names = [text(a) for a in thr["arm"].values] + ["share of the cohort at or above"]
    legend_px = legend_height(names)
    return base_layout(
        fig,
        title=title,
        height=top + plot_px + AXIS_BELOW_PX + legend_px + 10,
        margin={"l": 70, "r": 30, "t": top, "b": AXIS_BELOW_PX + legend_px + 10},
        legend=_legend_below(plot_px),
    )


def _pick(
    want: list[str] | None, have: list[str], default: list[str], what: str
) -> tuple[list[str], str]:
    """``want`` when every name is a covariate of the results, else ``default`` and a note."""
    if want is None:
        return default, ""
    bad = [w for w in want if w not in have]
    if not bad:
        return want, ""
    return default, (
        f"[report] {what} names {', '.join(map(repr, bad))}, not a varying covariate of these "
        f"results (they have: {', '.join(have)}); {', '.join(default)} shown instead. "
    )


def decides_section(ds: xr.Dataset, options: Options = None) -> Section:
    """The "What decides response" section of a cohort (see :func:`decides_missing`)."""
    opts, notes = decides_options(ds, options)
    arms = arm_names(ds)
    control = analysis.control_arm(ds)
    treated = [a for a in arms if a != control] or arms
    have = [str(k) for k in analysis.covariates(ds).data_vars]
    rank = analysis.response_ranking(
        ds, arms=treated[:1], num_resamples=RANK_RESAMPLES, max_patients=RANK_PATIENTS
    )
    ranked = [str(p) for p in rank["param"].values]
    default_map = (
        ["L", "baseline_sld_mm"]
        if "L" in have and "baseline_sld_mm" in have
        else (ranked + [h for h in have if h not in ranked])[:2]
    )
    pair, note = _pick(opts.map, have, default_map, "map")
    notes += note
    marker, note = _pick(
        [opts.biomarker] if opts.biomarker else None,
        have,
        ["L" if "L" in have else ranked[0]],
        "biomarker",
    )
    notes += note
    figures = [covariate_map_figure(ds, pair[0], pair[1], bins=opts.map_bins, arms=treated)]
    figures.append(ranking_figure(ds, rank, treated[0]))
    figures.append(correlation_figure(ds, analysis.parameter_correlation(ds, parameters=ranked)))
    html = Markup("")
    n_rank = int(rank["n"].values.max())
    method = (
        f"Ranking: RBD-FAST first-order indices from the trial's own patients (given data, "
        f"SALib; {n_rank:,} patients of “{treated[0]}”, bootstrap 95 % intervals of "
        f"{RANK_RESAMPLES} resamples; about 2 s per output at 10,000 patients): the share of "
        "the output's variance a parameter explains alone. A calibrated population's "
        "parameters are correlated by its selection (matrix below the bars), and correlated "
        "parameters share what they explain: an index is not an effect of changing the "
        "parameter alone."
    )
    html += Markup('<p class="note" id="ranking-note">{}</p>').format(method)
    effect_note = ""
    if control is not None and control in arms and len(arms) > 1 and "tumor_cells" in ds:
        effect = analysis.treatment_effect(ds, control=control, arms=treated)
        summary = analysis.effect_summary(effect)
        html += effect_table(summary)
        figures.append(effect_figure(ds, effect, ranked[0], treated))
        effect_note = (
            "Treatment effect: every virtual patient is in every arm, so each treated patient "
            f"is compared with the same patient untreated (“{control}”): the tumor size ratio "
            f"at the day-{float(effect.attrs['scan_day']):.0f} scan and whether PFS is longer "
            "(benefit); RECIST non-responders (SD/PD) can benefit, their progression delayed. "
        )
    else:
        notes += "Treatment effect: not shown, the results have no untreated arm to compare. "
    figures.append(
        thresholds_figure(
            ds,
            analysis.biomarker_thresholds(ds, marker[0], thresholds=opts.thresholds, arms=treated),
        )
    )
    note = (
        f"What decides response among the trial's own patients, with no extra solves. Map: "
        f"ORR and 6-month PFS by {analysis.covariate_label(ds, pair[0])} and "
        f"{analysis.covariate_label(ds, pair[1])} in {opts.map_bins} quantile bins each "
        "(hover a cell for its interval; the menu switches the arm; [report] map = [...] "
        f"chooses the pair). {effect_note}Thresholds: ORR and PFS of the patients at or above "
        f"each cut-off of {analysis.covariate_label(ds, marker[0])}. {notes}"
    ).strip()
    return Section(HEADING, figures=tuple(figures), html=html, note=note, id=SECTION_ID)

"""Sensitivity section of the report: index bars with CI whiskers, Morris μ*–σ, convergence.

Figures read the ``sens_*`` variables a sensitivity run writes into the results
(``tumorimmune.sensitivity``); each has one panel per arm and a menu to switch the output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ._style import OKABE_ITO, base_layout

_INDEX_COLORS = {
    "S1": OKABE_ITO["sky_blue"],
    "ST": OKABE_ITO["vermillion"],
    "mu_star": OKABE_ITO["blue"],
    "prcc": OKABE_ITO["bluish_green"],
}
_INDEX_NAMES = {
    "S1": "first order S1",
    "ST": "total order ST",
    "mu_star": "μ*",
    "prcc": "PRCC",
}


def _idx(ds: xr.Dataset) -> xr.Dataset:
    from ..sensitivity import indices

    return indices(ds)


def _method(idx: xr.Dataset) -> str:
    return str(idx.attrs.get("method", "sobol"))


def _main(method: str) -> tuple[str, ...]:
    from ..sensitivity import INDEX_VARIABLES

    return INDEX_VARIABLES[method]


def _param_color(i: int) -> str:
    colors = list(OKABE_ITO.values())
    return colors[i % len(colors)]


def _grid(n_arms: int, titles: list[str], **kw: Any) -> go.Figure:
    return make_subplots(rows=1, cols=n_arms, subplot_titles=titles, **kw)


def _output_menu(
    fig: go.Figure, outputs: list[str], owner: list[int], layouts: list[dict[str, Any]]
) -> None:
    """A dropdown that shows the traces of one output (``owner[i]`` = output of trace i)."""
    from ..sensitivity import output_label

    if len(outputs) < 2:
        return
    buttons = [
        {
            "label": output_label(o),
            "method": "update",
            "args": [{"visible": [j == k for j in owner]}, layouts[k]],
        }
        for k, o in enumerate(outputs)
    ]
    fig.update_layout(
        updatemenus=[
            {
                "buttons": buttons,
                "direction": "down",
                "x": 1.01,
                "xanchor": "left",
                "y": 0.35,
                "yanchor": "top",
                "showactive": True,
            }
        ]
    )


def sensitivity_indices(ds: xr.Dataset) -> go.Figure:
    """Per arm, the main indices of each parameter as horizontal bars with CI whiskers, sorted
    (largest on top): sobol first- and total-order, morris μ*, prcc PRCC."""
    idx = _idx(ds)
    method = _method(idx)
    keys = _main(method)
    arms = [str(a) for a in idx["arm"].values]
    outputs = [str(o) for o in idx["output"].values]
    params = [str(p) for p in idx["param"].values]
    conf = float(idx.attrs.get("confidence", 0.95))
    fig = _grid(len(arms), arms, shared_xaxes=False, horizontal_spacing=0.08)
    owner: list[int] = []
    layouts: list[dict[str, Any]] = []
    sort_key = keys[-1]
    for k, out in enumerate(outputs):
        layout: dict[str, Any] = {}
        for a, arm in enumerate(arms):
            sel = idx.sel(arm=arm, output=out)
            v = np.nan_to_num(np.abs(sel[sort_key].values), nan=-1.0)
            order = [params[i] for i in np.argsort(v, kind="stable")]  # ascending: top = largest
            layout[f"yaxis{'' if a == 0 else a + 1}.categoryarray"] = order
            for key in keys:
                val = sel[key].values
                lo, hi = sel[f"{key}_lo"].values, sel[f"{key}_hi"].values
                fig.add_trace(
                    go.Bar(
                        x=val,
                        y=params,
                        orientation="h",
                        name=_INDEX_NAMES[key],
                        legendgroup=key,
                        showlegend=a == 0,
                        marker_color=_INDEX_COLORS[key],
                        error_x={
                            "type": "data",
                            "symmetric": False,
                            "array": np.maximum(hi - val, 0.0),
                            "arrayminus": np.maximum(val - lo, 0.0),
                            "thickness": 1.2,
                            "width": 3,
                        },
                        customdata=np.stack([lo, hi], axis=-1),
                        hovertemplate=f"%{{y}}: %{{x:.3f}} ({100 * conf:.0f} % CI "
                        "%{customdata[0]:.3f}–%{customdata[1]:.3f})<extra>"
                        f"{_INDEX_NAMES[key]}</extra>",
                        visible=k == 0,
                    ),
                    row=1,
                    col=a + 1,
                )
                owner.append(k)
        layouts.append(layout)
    for a in range(len(arms)):
        fig.update_yaxes(
            categoryorder="array", categoryarray=layouts[0][_ykey(a)], row=1, col=a + 1
        )
    xlabel = {"sobol": "Sobol' index", "morris": "μ* (output units per quantile range)"}
    fig.update_xaxes(title_text=xlabel.get(method, "PRCC"), zeroline=True)
    base_layout(
        fig,
        title=f"Sensitivity indices ({method}; whiskers: {100 * conf:.0f} % bootstrap CI)",
        height=120 + 48 * max(len(params), 3),
        barmode="group",
    )
    _output_menu(fig, outputs, owner, layouts)
    return fig


def _ykey(a: int) -> str:
    return f"yaxis{'' if a == 0 else a + 1}.categoryarray"


def morris_scatter(ds: xr.Dataset) -> go.Figure:
    """Morris screening: μ* (importance) against σ (nonlinearity or interaction), per arm."""
    idx = _idx(ds)
    arms = [str(a) for a in idx["arm"].values]
    outputs = [str(o) for o in idx["output"].values]
    params = [str(p) for p in idx["param"].values]
    fig = _grid(len(arms), arms, horizontal_spacing=0.08)
    owner: list[int] = []
    for k, out in enumerate(outputs):
        for a, arm in enumerate(arms):
            sel = idx.sel(arm=arm, output=out)
            mu, sd = sel["mu_star"].values, sel["sigma"].values
            lo, hi = sel["mu_star_lo"].values, sel["mu_star_hi"].values
            top = float(np.nanmax(np.concatenate([hi, sd, [0.0]])))
            fig.add_trace(
                go.Scatter(
                    x=[0.0, top],
                    y=[0.0, top],
                    mode="lines",
                    line={"dash": "dot", "color": "#999999", "width": 1},
                    name="σ = μ*",
                    legendgroup="diag",
                    showlegend=a == 0 and k == 0,
                    hoverinfo="skip",
                    visible=k == 0,
                ),
                row=1,
                col=a + 1,
            )
            fig.add_trace(
                go.Scatter(
                    x=mu,
                    y=sd,
                    mode="markers+text",
                    text=params,
                    textposition="top center",
                    marker={"size": 10, "color": [_param_color(i) for i in range(len(params))]},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": np.maximum(hi - mu, 0.0),
                        "arrayminus": np.maximum(mu - lo, 0.0),
                        "thickness": 1,
                    },
                    name="parameters",
                    showlegend=False,
                    hovertemplate="%{text}: μ* = %{x:.3g}, σ = %{y:.3g}<extra></extra>",
                    visible=k == 0,
                ),
                row=1,
                col=a + 1,
            )
            owner += [k, k]
    fig.update_xaxes(title_text="μ*", rangemode="tozero")
    fig.update_yaxes(title_text="σ", rangemode="tozero")
    base_layout(fig, title="Morris screening: μ* against σ", height=460)
    _output_menu(fig, outputs, owner, [{} for _ in outputs])
    return fig


def sensitivity_convergence(ds: xr.Dataset) -> go.Figure:
    """The main index of each parameter against the base sample size (log axis), with CI
    whiskers: where the lines flatten and stop crossing, the ranking has stabilised."""
    idx = _idx(ds)
    method = _method(idx)
    key = _main(method)[-1]
    arms = [str(a) for a in idx["arm"].values]
    outputs = [str(o) for o in idx["output"].values]
    params = [str(p) for p in idx["param"].values]
    n = np.asarray(idx["n"].values, dtype=float)
    fig = _grid(len(arms), arms, horizontal_spacing=0.08)
    owner: list[int] = []
    for k, out in enumerate(outputs):
        for a, arm in enumerate(arms):
            sel = idx.sel(arm=arm, output=out)
            for i, p in enumerate(params):
                v = sel[f"{key}_conv"].sel(param=p).values
                lo = sel[f"{key}_lo_conv"].sel(param=p).values
                hi = sel[f"{key}_hi_conv"].sel(param=p).values
                fig.add_trace(
                    go.Scatter(
                        x=n,
                        y=v,
                        mode="lines+markers",
                        name=p,
                        legendgroup=p,
                        showlegend=a == 0 and k == 0,
                        line={"color": _param_color(i)},
                        error_y={
                            "type": "data",
                            "symmetric": False,
                            "array": np.maximum(hi - v, 0.0),
                            "arrayminus": np.maximum(v - lo, 0.0),
                            "thickness": 1,
                        },
                        hovertemplate=f"{p}: %{{y:.3f}} at n = %{{x}}<extra></extra>",
                        visible=k == 0,
                    ),
                    row=1,
                    col=a + 1,
                )
                owner.append(k)
    unit = {"morris": "trajectories"}.get(method, "base samples")
    fig.update_xaxes(type="log", title_text=f"{unit} n")
    fig.update_yaxes(title_text=_INDEX_NAMES[key])
    base_layout(fig, title=f"Convergence of {_INDEX_NAMES[key]} with sample size", height=440)
    _output_menu(fig, outputs, owner, [{} for _ in outputs])
    return fig


def sensitivity_sections(
    ds: xr.Dataset,
) -> list[tuple[str, str, str, Callable[[], go.Figure]]]:
    """``(id, heading, note, make_figure)`` of the sensitivity sections; none without indices."""
    if not any(str(k).startswith("sens_") for k in ds.data_vars):
        return []
    from ..sensitivity import summary_sentences

    idx = _idx(ds)
    method = _method(idx)
    first = str(idx["output"].values[0])
    sentences = " ".join(summary_sentences(ds, output=first))
    menu = " Use the menu to switch the output." if idx.sizes["output"] > 1 else ""
    what = {
        "sobol": "Variance-based Sobol' indices: first order S1 = share of the output variance "
        "explained by the parameter alone, total order ST = alone and through interactions "
        "(ST − S1 = interaction share).",
        "morris": "Morris elementary effects: μ* ranks importance.",
        "prcc": "Partial rank correlation coefficients (monotone effects, −1 to 1).",
    }[method]
    out = [
        (
            "sensitivity",
            "Sensitivity",
            f"{what} {sentences}{menu}",
            lambda: sensitivity_indices(ds),
        )
    ]
    if method == "morris":
        out.append(
            (
                "sensitivity-morris",
                "Sensitivity: Morris μ*–σ",
                "σ large against μ* (above the dotted diagonal) signals nonlinear effects or "
                "interactions; parameters near the origin can be fixed.",
                lambda: morris_scatter(ds),
            )
        )
    out.append(
        (
            "sensitivity-convergence",
            "Sensitivity: convergence",
            "Indices recomputed on the first n base samples of the same design; the ranking "
            "is stable from the sample size at which the lines stop crossing.",
            lambda: sensitivity_convergence(ds),
        )
    )
    return out

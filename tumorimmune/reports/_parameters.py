"""Distributions of the sampled patient parameters, responders vs non-responders."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ..sweeps import PK_ETAS
from ._data import (
    arm_names,
    arm_treatments,
    grid_axes,
    is_log_spaced,
    label_with_units,
    parameter_names,
    require,
    text,
    units_of,
)
from ._style import OKABE_ITO, base_layout, rgba

#: Parameters with at most this many distinct values (grid axes) are drawn as grouped bars.
MAX_DISCRETE = 12

_GROUPS = {
    "response": (
        ("responders (CR/PR)", OKABE_ITO["blue"]),
        ("non-responders (SD/PD)", OKABE_ITO["vermillion"]),
    ),
    "outcome": (
        ("extinct or controlled", OKABE_ITO["blue"]),
        ("escaped", OKABE_ITO["vermillion"]),
    ),
}


def inert_parameters(ds: xr.Dataset, arm: str) -> dict[str, str]:
    """Varying parameters that cannot act in ``arm``, each with the reason: the PK etas
    (``eta_CL``, ``eta_V1``, …) in a control arm or when the arm's drug has no PK variability
    (ω² = 0). Read from the spec; empty when the spec does not say."""
    arms = arm_treatments(ds)
    info = None if arms is None else arms.get(arm)
    if info is None:
        return {}
    out: dict[str, str] = {}
    for name in PK_ETAS:
        if not info.treated:
            out[name] = "no drug in this arm"
        elif not info.antibody:
            out[name] = "no antibody in this arm (chemotherapy only)"
        elif name in info.inert_etas:
            out[name] = f"{info.drug}'s PK model has no variability on this effect (ω² = 0)"
    return out


def parameter_distributions(
    ds: xr.Dataset,
    *,
    arm: str | None = None,
    bins: int | None = None,
    max_cols: int = 3,
    by: str = "response",
) -> go.Figure:
    """Distribution of every varying patient parameter (``param_<name>``), responders
    (best response CR or PR) against non-responders (SD or PD) in one arm.

    Each group is normalised to fractions of its own size, so the shapes compare even when
    the groups differ in size. Continuous parameters are binned (log-spaced bins on a log axis
    for positive parameters spanning ≥ 1.5 decades) and drawn as step outlines; parameters
    with at most 12 distinct values (grid axes) as grouped bars. Failed solves are left out.
    Binning happens here, so the figure size does not grow with N. Panels: grid parameters
    first (grid order), then the others alphabetically; parameters that cannot act in the arm
    (:func:`inert_parameters`: PK etas of a drug without PK variability) are left out and
    named in the title.

    Args:
        ds: results dataset with ``param_<name>`` (patient) and ``best_response``.
        arm: arm whose responses split the cohort; default the last arm (the control, when
            there is one, is the first).
        bins: number of bins of continuous parameters (>= 2); default the Rice rule
            ``ceil(2·N^(1/3))`` clipped to [10, 40].
        max_cols: panels per row.
        by: ``"response"``: responders (CR/PR) vs non-responders (SD/PD), from
            ``best_response``; ``"outcome"``: extinct or controlled vs escaped, from
            ``outcome`` (for untreated studies).

    Raises:
        ValueError: no ``param_*`` variable, unknown ``arm`` or ``by``, or ``bins < 2``.
    """
    if by not in _GROUPS:
        raise ValueError(f"by must be one of {sorted(_GROUPS)}; got {by!r}")
    grid = [a[len("axis_") :] for a in grid_axes(ds)]
    names = parameter_names(ds)
    names = [g for g in grid if g in names] + sorted(
        (p for p in names if p not in grid), key=str.lower
    )
    if not names:
        raise ValueError("parameter_distributions needs 'param_<name>' variables; none present")
    group_var = "best_response" if by == "response" else "outcome"
    require(ds, group_var, figure="parameter_distributions")
    if bins is None:
        bins = int(np.clip(np.ceil(2.0 * ds.sizes["patient"] ** (1 / 3)), 10, 40))
    if bins < 2:
        raise ValueError(f"bins must be >= 2; got {bins}")
    arms = arm_names(ds)
    arm = arms[-1] if arm is None else arm
    if arm not in arms:
        raise ValueError(f"arm {arm!r} is not in the dataset; arms: {arms}")
    inert = {k: v for k, v in inert_parameters(ds, arm).items() if k in names}
    names = [p for p in names if p not in inert]
    if not names:
        raise ValueError(
            f"parameter_distributions: no parameter acts in arm {arm!r} "
            f"({', '.join(f'{k}: {v}' for k, v in inert.items())})"
        )
    codes = np.asarray(ds[group_var].sel(arm=arm).values).astype(int)
    if by == "response":
        masks = (np.isin(codes, (0, 1)), np.isin(codes, (2, 3)))
    else:
        masks = (np.isin(codes, (0, 1)), codes == 2)
    groups = _GROUPS[by]
    n_groups = [int(m.sum()) for m in masks]
    cols = min(len(names), max_cols)
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        horizontal_spacing=0.07,
        vertical_spacing=0.5 / rows if rows > 1 else 0.1,
    )
    for k, name in enumerate(names):
        r, c = divmod(k, cols)
        var = f"param_{name}"
        values = np.asarray(ds[var].values, dtype=float)
        units = units_of(ds, var, name)
        shown = text(name)
        uniq = np.unique(values[np.isfinite(values)])
        log = False
        if uniq.size <= MAX_DISCRETE:
            for g, ((label, color), mask) in enumerate(zip(groups, masks, strict=True)):
                v = values[mask]
                frac = np.array([(v == u).sum() for u in uniq], dtype=float) / max(v.size, 1)
                fig.add_trace(
                    go.Bar(
                        x=[f"{u:.3g}" for u in uniq],
                        y=frac.astype(np.float32),
                        marker={"color": color},
                        name=f"{label}, n = {n_groups[g]:,}",
                        legendgroup=str(g),
                        showlegend=k == 0,
                        hovertemplate=(f"{shown} = %{{x}}<br>%{{y:.1%}} of {label}<extra></extra>"),
                    ),
                    row=r + 1,
                    col=c + 1,
                )
            fig.update_xaxes(type="category", row=r + 1, col=c + 1)
        else:
            finite = values[np.isfinite(values)]
            log = is_log_spaced(finite)
            if log:
                edges = np.geomspace(finite.min(), finite.max(), bins + 1)
            else:
                edges = np.linspace(finite.min(), finite.max(), bins + 1)
            for g, ((label, color), mask) in enumerate(zip(groups, masks, strict=True)):
                v = values[mask]
                counts, _ = np.histogram(v[np.isfinite(v)], bins=edges)
                frac = counts / max(v.size, 1)
                fig.add_trace(
                    go.Scatter(
                        x=edges,
                        y=np.append(frac, frac[-1]).astype(np.float32),
                        mode="lines",
                        line={"shape": "hv", "color": color, "width": 1.8},
                        fill="tozeroy",
                        fillcolor=rgba(color, 0.15),
                        name=f"{label}, n = {n_groups[g]:,}",
                        legendgroup=str(g),
                        showlegend=k == 0,
                        hovertemplate=(
                            f"{shown} from %{{x:.3g}}: %{{y:.1%}} of {label}<extra></extra>"
                        ),
                    ),
                    row=r + 1,
                    col=c + 1,
                )
        fig.update_xaxes(
            title_text=text(label_with_units(name, units)),
            type="log" if log else None,
            exponentformat="power",
            dtick=1 if log else None,
            row=r + 1,
            col=c + 1,
        )
        fig.update_yaxes(
            title_text="fraction of group" if c == 0 else None,
            tickformat=".0%",
            rangemode="tozero",
            row=r + 1,
            col=c + 1,
        )
    title = f"Patient parameters, {groups[0][0]} vs {groups[1][0]} in arm “{text(arm)}”"
    if inert:
        title += "<br><sup>not shown: " + "; ".join(f"{k} ({v})" for k, v in sorted(inert.items()))
        title += "</sup>"
    return base_layout(
        fig,
        title=title,
        height=130 + 280 * rows,
        barmode="group",
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1.0, "xanchor": "right"},
    )

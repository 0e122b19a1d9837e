"""Kaplan–Meier curves per arm: progression-free survival, (with ``[survival]``) overall
survival and duration of response among the responders of the treated arms, from one function
on the time and event variables (:func:`survival_figure`)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from ..response import kaplan_meier
from ._data import arm_names, arm_treatments, attr_json, require, text
from ._style import arm_color, band_traces, base_layout, legend_height, n_lines, wrap

#: Two Kaplan–Meier curves closer than this everywhere (in probability) are drawn as
#: coinciding: different dash styles and widths, and a note that names them.
COINCIDE_TOL = 0.005
#: Line styles of the members of a group of coinciding curves, in drawing order.
COINCIDE_DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
#: Line width of a curve; the k-th of m coinciding curves is drawn ``2·(m-1-k)`` wider, so
#: each shows around the ones drawn on top of it.
CURVE_WIDTH = 2.5
#: Longest line (characters) of a legend entry and of the note on coinciding curves: both
#: fit a figure in a 1000 px window (plotly cuts a legend entry at the figure's edge).
LEGEND_CHARS = 70
NOTE_CHARS = 105
#: Height (px) of a line of the note on coinciding curves (12 px font).
NOTE_LINE_PX = 16
#: Height (px) of the plot area, and of the x axis (tick labels and title) under it.
PLOT_PX = 320
AXIS_PX = 62


def _step_at(time: np.ndarray, surv: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Right-continuous step function through ``(time, surv)`` evaluated at ``t``."""
    idx = np.searchsorted(time, t, side="right") - 1
    return surv[np.clip(idx, 0, time.size - 1)]


def coinciding_groups(
    curves: list[tuple[np.ndarray, np.ndarray]], *, tol: float = COINCIDE_TOL
) -> list[list[int]]:
    """Groups (lists of indices, each in input order) of step curves ``(time, survival)``
    that differ by at most ``tol`` at every time and end at the same time (within 1 % of the
    longest follow-up); a curve that coincides with no other is a group of one."""
    if not curves:
        return []
    t_max = max(float(t[-1]) for t, _ in curves) or 1.0
    groups: list[list[int]] = []
    for i, (ti, si) in enumerate(curves):
        for g in groups:
            tj, sj = curves[g[0]]
            grid = np.union1d(ti, tj)
            close = np.max(np.abs(_step_at(ti, si, grid) - _step_at(tj, sj, grid))) <= tol
            if close and abs(float(ti[-1]) - float(tj[-1])) <= 0.01 * t_max:
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


def kaplan_meier_figure(ds: xr.Dataset, *, confidence: float = 0.95) -> go.Figure:
    """Kaplan–Meier curves of progression-free survival, one step curve per arm, with
    pointwise confidence bands (Greenwood, log-log) and censoring ticks.

    The estimate is :func:`tumorimmune.sweeps.kaplan_meier` on ``pfs_days`` (days)
    and ``pfs_event`` (True = RECIST progression, or death with ``[survival]``); failed
    solves (``status != 0`` or NaN PFS) are left out. The figure of
    :func:`survival_figure` with the PFS variables.

    Curves that coincide (within :data:`COINCIDE_TOL` everywhere, e.g. two drugs with the same
    effect) would hide each other: they get different dash styles (:data:`COINCIDE_DASHES`) and
    widths (the first drawn widest, so each shows around the next), their legend entries say
    "coincides with …", and a note above the plot names them.

    Args:
        ds: results dataset with ``pfs_days`` and ``pfs_event`` (arm, patient).
        confidence: level of the bands, in (0, 1).

    Returns:
        A figure with, per arm, three traces: lower band (invisible line), upper band filled
        down to it, and the survival step curve (``line.shape = "hv"``, ``meta = "km-curve"``);
        plus a censoring-tick trace when some patients are censored before the last time.
    """
    event = "RECIST progression at a scan"
    if "os_days" in ds.variables:
        event += " or death"
    return survival_figure(
        ds,
        time="pfs_days",
        event="pfs_event",
        confidence=confidence,
        label="PFS",
        y_title="progression-free probability",
        title=f"Progression-free survival (Kaplan–Meier, {confidence:.0%} log-log bands; "
        f"event = {event})",
        figure="kaplan_meier_figure",
    )


def overall_survival_figure(ds: xr.Dataset, *, confidence: float = 0.95) -> go.Figure:
    """Kaplan–Meier curves of overall survival per arm (a sweep with ``[survival]``), with
    the published targets of kinds ``os_at`` and ``median_os`` (attribute ``calibration``)
    drawn as markers with their intervals.

    The estimate is :func:`tumorimmune.sweeps.kaplan_meier` on ``os_days`` (days) and
    ``os_event`` (True = death from the tumor-size-driven hazard; censored at the end of
    follow-up); otherwise as :func:`kaplan_meier_figure` (:func:`survival_figure`).

    Args:
        ds: results dataset with ``os_days`` and ``os_event`` (arm, patient).
        confidence: level of the bands, in (0, 1).
    """
    return survival_figure(
        ds,
        time="os_days",
        event="os_event",
        confidence=confidence,
        label="OS",
        y_title="probability alive",
        title=f"Overall survival (Kaplan–Meier, {confidence:.0%} log-log bands; event = death)",
        target_kinds=("os_at", "median_os"),
        figure="overall_survival_figure",
    )


def duration_of_response_figure(ds: xr.Dataset, *, confidence: float = 0.95) -> go.Figure:
    """Kaplan–Meier curves of the duration of response among the responders of each treated
    arm (``dor_days`` from the first response scan, ``dor_event`` = progression, or death
    with ``[survival]``; see :func:`tumorimmune.response.duration_of_response`), with
    confidence bands and censoring ticks as in :func:`kaplan_meier_figure`
    (:func:`survival_figure`). Non-responders (NaN) and failed solves are left out; arms
    without a drug (from the spec) or without responders are not drawn.

    Args:
        ds: results dataset with ``dor_days`` and ``dor_event`` (arm, patient).
        confidence: level of the bands, in (0, 1).
    """
    require(ds, "dor_days", "dor_event", figure="duration_of_response_figure")
    event = "progression or death" if "os_days" in ds.variables else "progression"
    return survival_figure(
        ds,
        time="dor_days",
        event="dor_event",
        arm_indices=responder_arms(ds, "dor_days"),
        confidence=confidence,
        label="in response",
        y_title="probability of response ongoing",
        x_title="days since the first response scan",
        title=(
            f"Duration of response (Kaplan–Meier among responders, {confidence:.0%} bands; "
            f"event = {event})"
        ),
        figure="duration_of_response_figure",
    )


def responder_arms(ds: xr.Dataset, var: str) -> list[int]:
    """Indices of the treated arms (all arms when the spec does not say) with at least one
    finite value of ``var`` (a responder)."""
    names = arm_names(ds)
    treatments = arm_treatments(ds)
    vals = np.asarray(ds[var].transpose("arm", "patient").values, dtype=float)
    return [
        i
        for i, a in enumerate(names)
        if (treatments is None or a not in treatments or treatments[a].treated)
        and np.isfinite(vals[i]).any()
    ]


def _target_traces(
    ds: xr.Dataset, arms: list[str], kinds: tuple[str, ...], colors: list[int]
) -> list[go.Scatter]:
    """Markers of the published targets of ``kinds`` (attribute ``calibration``) of the
    ``arms`` drawn: a landmark (``*_at``) at ``(day, value)`` with its interval as a vertical
    bar, a median at ``(value, 0.5)`` with a horizontal bar; colored by arm (``colors[i]``:
    the :func:`arm_color` index of ``arms[i]``)."""
    cal = attr_json(ds, "calibration") if kinds else None
    rows = cal.get("targets", []) if isinstance(cal, dict) else []
    out = []
    for r in rows:
        if not isinstance(r, dict) or r.get("kind") not in kinds or r.get("arm") not in arms:
            continue
        if r.get("subgroup"):  # a subgroup's value is not a point of the whole arm's curve
            continue
        i = arms.index(str(r["arm"]))
        value = float(r.get("target", np.nan))
        lo = float(r["target_lo"]) if r.get("target_lo") is not None else np.nan
        hi = float(r["target_hi"]) if r.get("target_hi") is not None else np.nan
        has_iv = bool(np.isfinite(lo) and np.isfinite(hi))
        median = str(r["kind"]).startswith("median")
        x, y = (value, 0.5) if median else (float(r.get("day") or np.nan), value)
        bar = {"type": "data", "symmetric": False, "color": arm_color(colors[i]), "thickness": 1.5}
        if has_iv:
            bar.update(array=[hi - value], arrayminus=[value - lo])
        unit = " days" if median else ""
        out.append(
            go.Scatter(
                x=[x],
                y=[y],
                mode="markers",
                marker={
                    "symbol": "diamond",
                    "size": 11,
                    "color": arm_color(colors[i]),
                    "line": {"color": "#000000", "width": 1},
                },
                error_x=bar if median and has_iv else None,
                error_y=bar if not median and has_iv else None,
                legendgroup=f"arm{i}",
                name=f"published: {text(_short_target(str(r.get('name', '')), arms[i]))}",
                meta="target",
                hovertemplate=(
                    f"<b>{text(str(r.get('name', '')))}</b><br>published {value:.3g}{unit}"
                    + (f" ({lo:.3g}–{hi:.3g})" if has_iv else "")
                    + f"<br>{text(str(r.get('source', '')))}<extra>target</extra>"
                ),
            )
        )
    return out


def _short_target(name: str, arm: str) -> str:
    """A target's name without the ``"ARM: "`` prefix the run gives it."""
    return name.removeprefix(f"{arm}: ")


def survival_figure(
    ds: xr.Dataset,
    *,
    time: str,
    event: str,
    confidence: float = 0.95,
    label: str = "S",
    y_title: str = "survival probability",
    title: str = "Kaplan–Meier",
    target_kinds: tuple[str, ...] = (),
    figure: str = "survival_figure",
    x_title: str = "days since start of treatment",
    arm_indices: list[int] | None = None,
) -> go.Figure:
    """Kaplan–Meier curves of the time-to-event variables ``time`` (days) and ``event``
    (bool), both (arm, patient), one step curve per arm with pointwise confidence bands
    (Greenwood, log-log), censoring ticks and, for ``target_kinds``, markers of the
    published targets of the attribute ``calibration``.

    Failed solves (``status != 0`` or NaN times) are left out; curves that coincide get
    different dash styles (see :func:`kaplan_meier_figure`).

    Args:
        ds: results dataset.
        time: name of the time variable (days), e.g. ``"pfs_days"``, ``"os_days"``.
        event: name of the event variable (True = event, False = censored).
        confidence: level of the bands, in (0, 1).
        label: short name of the endpoint in hover texts (``"PFS"``, ``"OS"``).
        y_title: title of the y axis.
        title: figure title.
        target_kinds: kinds of calibration targets drawn as markers (e.g. ``("os_at",
            "median_os")``).
        figure: name used in the error for a missing variable.
        x_title: title of the x axis (the origin of ``time``).
        arm_indices: the arms drawn, as indices into the dataset's arms (default all); each
            keeps its arm color.
    """
    require(ds, time, event, figure=figure)
    all_arms = arm_names(ds)
    pick = list(range(len(all_arms))) if arm_indices is None else list(arm_indices)
    arms = [all_arms[i] for i in pick]
    days_all = np.asarray(ds[time].transpose("arm", "patient").values, dtype=float)
    ev_all = np.asarray(ds[event].transpose("arm", "patient").values).astype(bool)
    if "status" in ds.variables:
        failed = np.asarray(ds["status"].transpose("arm", "patient").values) != 0
        days_all = np.where(failed, np.nan, days_all)
    days_all, ev_all = days_all[pick], ev_all[pick]
    estimates = []
    for i in range(len(arms)):
        days, ev = days_all[i], ev_all[i]
        km = kaplan_meier(days, ev, confidence=confidence)
        ok = np.isfinite(days)
        t_end = float(np.nanmax(days)) if ok.any() else 0.0
        # extend the last step to the end of follow-up so the curve does not stop short
        t = np.append(km.time, t_end) if t_end > km.time[-1] else km.time
        estimates.append((km, ok, t_end, t))
    groups = coinciding_groups(
        [(t, np.append(km.survival, km.survival[-1:])[: t.size]) for km, _, _, t in estimates]
    )
    style: dict[int, tuple[str, float, list[int]]] = {}
    for g in groups:
        for k, i in enumerate(g):
            dash = COINCIDE_DASHES[k % len(COINCIDE_DASHES)]
            style[i] = (dash, CURVE_WIDTH + 2.0 * (len(g) - 1 - k), g)
    what = text(label)
    fig = go.Figure()
    t_max = 0.0
    for i, arm in enumerate(arms):
        km, ok, t_end, t = estimates[i]
        days, ev = days_all[i], ev_all[i]
        label = text(arm)
        t_max = max(t_max, t_end)
        pad = t.size - km.time.size

        def ext(a: np.ndarray, pad: int = pad) -> np.ndarray:
            return np.append(a, a[-1:]) if pad else a

        s, lo, hi = ext(km.survival), ext(km.lower), ext(km.upper)
        risk = ext(km.at_risk.astype(np.float64))
        color = arm_color(pick[i])
        group = f"arm{i}"
        dash, width, members = style[i]
        others = [text(arms[j]) for j in members if j != i]
        for trace in band_traces(
            t,
            lo,
            hi,
            color=color,
            group=group,
            names=(f"{label} lower {confidence:.0%} CI", f"{label} upper {confidence:.0%} CI"),
            shape="hv",
        ):
            fig.add_trace(trace)
        name = f"{label} (n = {int(ok.sum()):,}, {int(ev[ok].sum()):,} events)"
        if others:
            name += f" – {dash} line, coincides with {', '.join(others)}"
        name = wrap(name, LEGEND_CHARS)  # a long entry on more lines, not cut at the edge
        fig.add_trace(
            go.Scatter(
                x=t,
                y=s,
                customdata=np.stack([lo, hi, risk], axis=1),
                mode="lines",
                line={"shape": "hv", "width": width, "color": color, "dash": dash},
                legendgroup=group,
                name=name,
                meta="km-curve",
                hovertemplate=(
                    f"<b>{label}</b><br>from day %{{x:.0f}}: {what} %{{y:.1%}} "
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
                    name=f"{label} censored",
                    hovertemplate=f"<b>{label}</b><br>censored at day %{{x:.0f}}<extra></extra>",
                )
            )
    notes = [
        " and ".join(text(arms[j]) for j in g)
        + f" coincide (drawn {', '.join(style[j][0] for j in g)})"
        for g in groups
        if len(g) > 1
    ]
    note = wrap("Curves " + "; ".join(notes) + ".", NOTE_CHARS) if notes else ""
    if notes:
        fig.add_annotation(
            text=note,
            xref="paper",
            yref="paper",
            x=0.0,
            y=1.0,
            xanchor="left",
            yanchor="bottom",
            showarrow=False,
            align="left",
            font={"size": 12},
            name="coincide-note",
        )
    for trace in _target_traces(ds, arms, target_kinds, pick):
        fig.add_trace(trace)
        x = float(np.asarray(trace.x)[0]) + float(np.max(trace.error_x.array or [0.0]))  # type: ignore[attr-defined]
        t_max = max(t_max, x) if np.isfinite(x) else t_max
    fig.add_hline(y=0.5, line={"dash": "dot", "color": "#777777", "width": 1})
    fig.update_xaxes(title_text=x_title, range=[0, t_max * 1.02 or 1])
    fig.update_yaxes(title_text=y_title, range=[0, 1.03], tickformat=".0%")
    # the legend under the x axis, the figure as tall as it needs: nothing cut or scrolled
    top = 80 + NOTE_LINE_PX * (n_lines(note) - 1)
    names = [
        str(d["name"])
        for d in fig.to_plotly_json()["data"]
        if d.get("showlegend", True) and d.get("name")
    ]
    bottom = AXIS_PX + legend_height(names) + 10
    return base_layout(
        fig,
        title=title,
        height=top + PLOT_PX + bottom,
        margin={"l": 70, "r": 30, "t": top, "b": bottom},
        legend={"orientation": "h", "y": -AXIS_PX / PLOT_PX, "yanchor": "top", "x": 0.0},
    )

"""Trajectory bands: median and 5–95 % of the stored trajectories, per arm."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ._data import arm_names, require, text, treated_arms
from ._style import arm_color, band_traces, base_layout

#: (variable, panel title, y-axis title, cell counts?, value scale)
_PANELS: tuple[tuple[str, str, str, bool, float], ...] = (
    ("traj_T", "Tumor burden (imaged lesions)", "tumor cells", True, 1.0),
    ("traj_E", "Effector cells E", "effector cells", True, 1.0),
    ("traj_C", "Antibody concentration C (treated arms)", "C (µg/mL)", False, 1.0),
    ("traj_RO", "PD-1 receptor occupancy RO (treated arms)", "RO (%)", False, 100.0),
)

#: Cell counts below this are drawn at it (extinct tumors reach 0; log axes cannot show 0).
CELL_FLOOR = 1.0
#: Cell panels use a log axis when the band spans at least this factor.
LOG_SPAN = 30.0
#: Fewest stored patients per arm for a quantile band; with fewer, the band is the range
#: (smallest to largest value) and says so.
MIN_BAND_PATIENTS = 20
#: Least vertical distance (px) between two labelled ticks of a log axis: a label "10⁹" with
#: its superscript is about 18 px tall, so ticks closer than this print over each other.
LOG_TICK_PX = 24.0
#: Vertical space between the panels (fraction of the plot area, as ``make_subplots``).
_SPACING = 0.07


def log_dtick(low: float, high: float, panel_px: float) -> int:
    """Decades between labelled ticks of a log axis from ``low`` to ``high`` (> 0, data
    units) drawn ``panel_px`` tall: 1 (every power of ten) when the labels are at least
    :data:`LOG_TICK_PX` apart, else the fewest decades that keep them so (plotly pads the
    range by about 5 % of the span at each end)."""
    decades = max(np.log10(high / low), 1.0) * 1.1
    return max(1, int(np.ceil(decades * LOG_TICK_PX / panel_px)))


def band_label(n: int, lower: float, upper: float) -> str:
    """What the shaded band of :func:`trajectory_bands` shows over ``n`` stored patients."""
    if n < MIN_BAND_PATIENTS:
        return f"range (min–max; too few for a {lower:.0%}–{upper:.0%} band) of {n:,}"
    return f"{lower:.0%}–{upper:.0%} band of {n:,}"


def trajectory_bands(ds: xr.Dataset, *, lower: float = 0.05, upper: float = 0.95) -> go.Figure:
    """Median and ``[lower, upper]`` quantile band over the stored patients, per arm and time.

    The stored patients (``traj_patient``) are a small subset of the cohort, so the band is
    an estimate from few values: the title says how many patients it uses, and with fewer
    than :data:`MIN_BAND_PATIENTS` the band is their range (min–max) instead of quantiles.

    Panels: tumor cells ``traj_T`` and effector cells ``traj_E`` (cells, log axis; values
    below 1 cell drawn at 1 cell), and — when present — antibody concentration ``traj_C``
    (µg/mL) and receptor occupancy ``traj_RO`` (%) for the treated arms (arms whose ``traj_C``
    is positive somewhere). Quantiles ignore NaN (failed solves).

    Args:
        ds: results dataset with ``traj_T``, ``traj_E`` (arm, traj_patient, time) and coord
            ``time`` (days).
        lower: lower quantile of the band, ``0 <= lower < upper``.
        upper: upper quantile of the band, ``lower < upper <= 1``.
    """
    require(ds, "traj_T", "time", figure="trajectory_bands")  # traj_E: models with effectors
    if not (0.0 <= lower < upper <= 1.0):
        raise ValueError(f"need 0 <= lower < upper <= 1; got lower={lower!r}, upper={upper!r}")
    arms = arm_names(ds)
    treated = set(treated_arms(ds))
    panels = [
        p for p in _PANELS if p[0] in ds.variables and (p[0] in ("traj_T", "traj_E") or treated)
    ]
    t = np.asarray(ds["time"].values, dtype=float)
    fig = make_subplots(
        rows=len(panels),
        cols=1,
        shared_xaxes=True,
        subplot_titles=[p[1] for p in panels],
        vertical_spacing=_SPACING,
    )
    height = 120 + 260 * len(panels)
    panel_px = (height - 140) * (1.0 - _SPACING * (len(panels) - 1)) / len(panels)
    n_traj = ds.sizes.get("traj_patient", 0)
    n_all = ds.sizes.get("patient", 0)
    for r, (var, _title, ytitle, cells, scale) in enumerate(panels, start=1):
        data = np.asarray(ds[var].transpose("arm", "traj_patient", "time").values, dtype=float)
        if cells:
            data = np.maximum(data, CELL_FLOOR)
        finite = data[np.isfinite(data)]
        log = cells and finite.size > 0 and bool(finite.max() >= LOG_SPAN * finite.min())
        for i, arm in enumerate(arms):
            if var in ("traj_C", "traj_RO") and arm not in treated:
                continue
            x = data[i] * scale
            good = np.isfinite(x).any(axis=1)
            if not good.any():
                continue
            n_good = int(good.sum())
            band = (lower, upper) if n_good >= MIN_BAND_PATIENTS else (0.0, 1.0)
            q_lo, med, q_hi = np.nanquantile(x[good], [band[0], 0.5, band[1]], axis=0)
            band_name = f"{lower:.0%}–{upper:.0%}" if band == (lower, upper) else "min–max"
            color = arm_color(i)
            group = f"arm{i}"
            label = text(arm)
            unit = ytitle
            for trace in band_traces(
                t,
                q_lo.astype(np.float32),
                q_hi.astype(np.float32),
                color=color,
                group=group,
                names=(f"{label} {band_name} low", f"{label} {band_name} high"),
            ):
                fig.add_trace(trace, row=r, col=1)
            fig.add_trace(
                go.Scatter(
                    x=t,
                    y=med.astype(np.float32),
                    customdata=np.stack([q_lo, q_hi], axis=1).astype(np.float32),
                    mode="lines",
                    line={"width": 2.2, "color": color},
                    legendgroup=group,
                    showlegend=r == 1,
                    name=label,
                    hovertemplate=(
                        f"<b>{label}</b>, day %{{x:.0f}}<br>median {unit}: %{{y:.3g}}<br>"
                        f"{band_name}: %{{customdata[0]:.3g}}–%{{customdata[1]:.3g}}"
                        f"<extra>{n_good:,} patients</extra>"
                    ),
                ),
                row=r,
                col=1,
            )
        fig.update_yaxes(
            title_text=ytitle,
            type="log" if log else "linear",
            exponentformat="power",
            # powers of ten only (no cluttered 2/5 labels), as many as fit without overlap
            dtick=log_dtick(float(finite.min()), float(finite.max()), panel_px) if log else None,
            row=r,
            col=1,
        )
    fig.update_xaxes(title_text="days since start of treatment", row=len(panels), col=1)
    return base_layout(
        fig,
        title=(
            f"Trajectories: median (line) and {band_label(n_traj, lower, upper)} stored "
            f"patients per arm"
            + (f" (of {n_all:,} simulated)" if n_all > n_traj else "")
            + ("; the dead left out after death" if "os_days" in ds else "")
        ),
        height=height,
        legend={"title": {"text": "arm"}, "y": 1.0, "yanchor": "top"},
    )

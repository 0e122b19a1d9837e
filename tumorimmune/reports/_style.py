"""Colours, labels and units shared by all report figures (colour-blind-safe Okabe–Ito palette)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

#: Okabe & Ito (2008) palette, safe for the common forms of colour blindness.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: Colours of the arms, in order (the control, when there is one, is first and black).
ARM_COLORS: tuple[str, ...] = (
    OKABE_ITO["black"],
    OKABE_ITO["blue"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["orange"],
    OKABE_ITO["sky_blue"],
)

#: RECIST best overall response codes of the results dataset (``best_response``).
RESPONSE_LABELS: dict[int, str] = {0: "CR", 1: "PR", 2: "SD", 3: "PD", -1: "failed solve"}
RESPONSE_NAMES: dict[int, str] = {
    0: "complete response (CR)",
    1: "partial response (PR)",
    2: "stable disease (SD)",
    3: "progressive disease (PD)",
    -1: "failed solve",
}
RESPONSE_COLORS: dict[int, str] = {
    0: OKABE_ITO["blue"],
    1: OKABE_ITO["sky_blue"],
    2: OKABE_ITO["orange"],
    3: OKABE_ITO["vermillion"],
    -1: "#999999",
}

#: Sequential colour scale of heatmaps (perceptually uniform, colour-blind safe).
SEQUENTIAL_SCALE = "Viridis"

#: Units of the model parameters (as in the models' docstrings); a ``units`` attribute on the
#: ``param_<name>`` / ``axis_<name>`` variable of the dataset takes precedence.
PARAMETER_UNITS: dict[str, str] = {
    "s": "cells/day",
    "p": "1/day",
    "g": "cells",
    "m": "1/(cell·day)",
    "d": "1/day",
    "a": "1/day",
    "b": "1/cell",
    "n": "1/(cell·day)",
    "L": "—",
    "eps_n": "—",
    "eps_m": "—",
    "EC50": "µg/mL",
    "CL": "L/day",
    "V1": "L",
    "Q": "L/day",
    "V2": "L",
    "CL_emax": "—",
    "CL_T50": "days",
    "CL_gamma": "—",
    "weight": "kg",
    "E0": "cells",
    "T0": "cells",
}


def arm_color(i: int) -> str:
    """Colour of the ``i``-th arm (cycles through :data:`ARM_COLORS`)."""
    return ARM_COLORS[i % len(ARM_COLORS)]


def rgba(hex_color: str, alpha: float) -> str:
    """``'#RRGGBB'`` as a CSS ``rgba(...)`` string with opacity ``alpha``."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[k : k + 2], 16) for k in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:g})"


def base_layout(fig: go.Figure, *, title: str, height: int, **extra: Any) -> go.Figure:
    """Apply the common look: white template, title, fixed height, legend on top."""
    settings: dict[str, Any] = {
        "template": "plotly_white",
        "title": {"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 17}},
        "height": height,
        "margin": {"l": 70, "r": 30, "t": 80, "b": 60},
        "font": {"size": 13},
        "hoverlabel": {"namelength": -1},
    }
    settings.update(extra)
    fig.update_layout(**settings)
    return fig


def band_traces(
    x: Any,
    lo: Any,
    hi: Any,
    *,
    color: str,
    group: str,
    names: tuple[str, str],
    shape: str | None = None,
) -> tuple[go.Scatter, go.Scatter]:
    """A shaded band between ``lo`` and ``hi``: two invisible lines, the second filled to the first.

    Add both to a figure, in order, before the central line (plotly's ``fill="tonexty"``).
    """
    line = (
        {"width": 0, "color": color}
        if shape is None
        else {"shape": shape, "width": 0, "color": color}
    )
    common = {"x": x, "mode": "lines", "legendgroup": group, "showlegend": False}
    lower = go.Scatter(y=lo, line=line, hoverinfo="skip", name=names[0], **common)
    upper = go.Scatter(
        y=hi,
        line=line,
        fill="tonexty",
        fillcolor=rgba(color, 0.18),
        hoverinfo="skip",
        name=names[1],
        **common,
    )
    return lower, upper

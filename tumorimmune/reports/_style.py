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


#: Longest line of a figure title (characters of the 17 px title font): a figure in a 1000 px
#: window is about 918 px wide, and 90 characters are about 760 px of it.
TITLE_CHARS = 90
#: Height of one line of a figure title (px), and of one line of a subplot title (16 px font).
TITLE_LINE_PX = 22
SUBPLOT_TITLE_LINE_PX = 19
#: Gap (px) between the top of the figure and its title.
TITLE_PAD_PX = 12
#: Plot-area width (px) of a figure in a 1000 px window (918 px figure less the default
#: margins): the narrowest the report lays its figures out for.
MIN_PLOT_PX = 818
#: Mean width (px) of a character of a subplot title (16 px font), generously rounded up.
SUBPLOT_CHAR_PX = 9.0
#: Mean width (px) of a character of a legend entry (13 px font), generously rounded up.
LEGEND_CHAR_PX = 7.6


def wrap(value: str, width: int) -> str:
    """``value`` with ``<br>`` (plotly's line break) at spaces so that no line is longer than
    ``width`` characters; a single longer word stays whole; existing ``<br>`` are kept."""
    out = []
    for para in value.split("<br>"):
        line = ""
        for word in para.split(" "):
            if line and len(line) + 1 + len(word) > width:
                out.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        out.append(line)
    return "<br>".join(out)


def n_lines(value: str) -> int:
    """Number of lines of a plotly text (``<br>``-separated)."""
    return value.count("<br>") + 1


def title_height(title: str) -> int:
    """Pixels from the top of a figure to the bottom of its title (:func:`base_layout`)."""
    return TITLE_PAD_PX + TITLE_LINE_PX * n_lines(wrap(title, TITLE_CHARS))


def subplot_titles_left(fig: go.Figure, width: int) -> int:
    """Wrap the subplot titles of ``fig`` (``make_subplots``) to ``width`` characters and
    align each with the left edge of its subplot, so that a title longer than its subplot
    neither runs off the figure nor over its neighbour. Returns the most lines of a title."""
    layout = fig.layout.to_plotly_json()
    left = {
        round(sum(v["domain"]) / 2, 9): v["domain"][0]
        for k, v in layout.items()
        if k.startswith("xaxis") and "domain" in v
    }
    most = [1]

    def fix(ann: Any) -> None:
        ann.text = wrap(str(ann.text), width)
        x0 = left.get(round(float(ann.x), 9))
        if x0 is not None:
            ann.update(x=x0, xanchor="left", align="left")
        most[0] = max(most[0], n_lines(ann.text))

    fig.for_each_annotation(fix, selector={"xref": "paper", "yref": "paper"})
    return most[0]


def subplot_titles_at(fig: go.Figure, tops: list[float]) -> None:
    """Put the subplot titles of ``fig`` (in order) on top of subplots whose domains end at
    ``tops`` (paper fractions), e.g. after changing the domains."""
    it = iter(tops)
    fig.for_each_annotation(lambda ann: ann.update(y=next(it)))


#: Height (px) of a line of a legend entry (13 px font), and the space between two rows of
#: a horizontal legend.
LEGEND_LINE_PX = 17
LEGEND_ROW_GAP_PX = 9


def _legend_layout(names: list[str], title: str, width_px: float) -> list[int]:
    """Lines of the tallest entry of each row of a horizontal legend of ``names`` in
    ``width_px`` (an estimate that errs towards more rows: 40 px of symbol and gap per
    entry, :data:`LEGEND_CHAR_PX` per character)."""
    rows: list[int] = [1]
    used = len(title) * LEGEND_CHAR_PX + 10 if title else 0.0
    for name in names:
        lines = name.split("<br>")
        w = 40 + LEGEND_CHAR_PX * max(len(line) for line in lines)
        if used and used + w > width_px:
            rows.append(1)
            used = 0.0
        used += w
        rows[-1] = max(rows[-1], len(lines))
    return rows


def legend_rows(names: list[str], *, title: str = "", width_px: float = MIN_PLOT_PX) -> int:
    """Rows a horizontal legend of ``names`` takes in ``width_px`` (an estimate that errs
    towards more rows)."""
    return len(_legend_layout(names, title, width_px))


def legend_height(names: list[str], *, title: str = "", width_px: float = MIN_PLOT_PX) -> int:
    """Height (px) of a horizontal legend of ``names`` (``<br>`` for more lines) in
    ``width_px``: an estimate that errs towards more height."""
    rows = _legend_layout(names, title, width_px)
    return sum(LEGEND_LINE_PX * n + LEGEND_ROW_GAP_PX for n in rows)


def base_layout(fig: go.Figure, *, title: str, height: int, **extra: Any) -> go.Figure:
    """Apply the common look: white template, title, fixed height, legend on top.

    A title longer than :data:`TITLE_CHARS` is wrapped onto more lines (the top margin grows
    by :data:`TITLE_LINE_PX` a line), so that it fits a figure in a 1000 px window.
    """
    title = wrap(title, TITLE_CHARS)
    more = TITLE_LINE_PX * (n_lines(title) - 1)
    # plotly.js puts the top of a one-line title 4 px, of a longer one 16 px, above its "top"
    # anchor; the title's top is TITLE_PAD_PX under the figure's
    shift = TITLE_PAD_PX + (16 if more else 4)
    settings: dict[str, Any] = {
        "template": "plotly_white",
        "title": {
            "text": title,
            "x": 0.0,
            "xanchor": "left",
            "y": 1.0 - shift / (height + more),
            "yref": "container",
            "yanchor": "top",
            "pad": {"l": 4},  # the first glyph would start a pixel left of the figure
            "font": {"size": 17},
        },
        "height": height + more,
        "margin": {"l": 70, "r": 30, "t": 80, "b": 60},
        "font": {"size": 13},
        "hoverlabel": {"namelength": -1},
    }
    settings.update(extra)
    settings["margin"] = {**settings["margin"], "t": settings["margin"]["t"] + more}
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

"""Report page of a fit: an estimates table with intervals and flags, and data vs fitted
curves per patient (plotly) in the table's own unit (mm, mm³ or cells)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from ..response import Readout
from ._data import cells_to_unit as cells_to_unit

if TYPE_CHECKING:
    import plotly.graph_objects as go
    import xarray as xr


@runtime_checkable
class _FitLike(Protocol):
    """What the report reads of a :class:`~tumorimmune.calibrate.FitResult` (this module does
    not import ``_fit``, which imports it on use: the dependency is one-way)."""

    @property
    def dataset(self) -> xr.Dataset: ...

    def predict(self, days: np.ndarray) -> np.ndarray: ...


_UNIT_LABEL = {"cells": "tumor cells", "mm3": "tumor volume (mm³)", "mm": "sum of diameters (mm)"}


def fit_figure(
    result: _FitLike,
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
        ``plotly.graph_objects.Figure``; y axis log scale in the table's unit (mm, mm³ or
        cells), x axis days since baseline; panel titles name the patient and its flags (the
        estimates with intervals are in :func:`write_fit_report`'s table).
    """
    import html

    from plotly.subplots import make_subplots

    ds = result.dataset
    P = min(int(ds.sizes["patient"]), int(max_patients))
    columns = max(1, min(int(columns), P))  # no empty columns for a few patients
    days_max = float(np.nanmax(ds["obs_day"].values))
    dense = np.linspace(0.0, days_max, int(n_points))
    unit = str(ds.attrs.get("unit", "cells"))
    density = float(ds.attrs.get("cells_per_cm3", 1e9))

    def conv(x):
        return cells_to_unit(x, unit, readout=Readout(cells_per_cm3=density))

    curves = conv(result.predict(dense)[:P])
    rows = math.ceil(P / columns)
    titles = []
    for i in range(P):
        name = html.escape(str(ds["patient"].values[i]))
        ok = bool(ds["fit_ok"].values[i]) if "fit_ok" in ds else True
        titles.append(name if ok else f"{name} <sup>(flagged)</sup>")
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
            y=conv(ds["observed"].values[i]),
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
    fig.update_yaxes(type="log")
    fig.update_yaxes(title_text=_UNIT_LABEL.get(unit, unit), col=1)
    fig.update_xaxes(title_text="days since baseline", row=rows)
    fig.update_annotations(font_size=11)
    free = ", ".join(json.loads(ds.attrs["free"]))
    fig.update_layout(
        title=html.escape(
            f"{ds.attrs['model']} fit of {free} ({ds.attrs['mode']}, {ds.attrs['noise']} noise);"
            f" AIC {ds.attrs['aic']:.1f}"
        ),
        height=230 * rows + 110,
        margin={"t": 80, "b": 50, "l": 70, "r": 20},
        template="plotly_white",
    )
    return fig


def estimates_html(result: _FitLike) -> str:
    """The estimates as an HTML table: one row per patient, each free parameter's estimate
    with its 95 % interval (``*`` at a bound), residual SD and the flags. Text is escaped."""
    import html

    ds = result.dataset
    params = [str(p) for p in ds["param"].values]
    head = "".join(f"<th>{html.escape(p)} [95% CI]</th>" for p in params)
    rows = []
    for i in range(ds.sizes["patient"]):
        cells = []
        for j in range(len(params)):
            e, lo, hi = (float(ds[k].values[i, j]) for k in ("estimate", "ci_lo", "ci_hi"))
            mark = "*" if "at_bound" in ds and bool(ds["at_bound"].values[i, j]) else ""
            cells.append(f"<td>{e:.3g}{mark} [{lo:.3g}, {hi:.3g}]</td>")
        flags = str(ds["flags"].values[i]) if "flags" in ds else ""
        status = html.escape(flags) if flags else "ok"
        cls = ' class="flag"' if flags else ""
        rows.append(
            f"<tr><td>{html.escape(str(ds['patient'].values[i]))}</td>{''.join(cells)}"
            f"<td>{float(ds['residual_sd'].values[i]):.2g}</td><td{cls}>{status}</td></tr>"
        )
    return (
        f"<table><thead><tr><th>patient</th>{head}<th>residual SD</th><th>status</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; }}
table {{ border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0 1.5em; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; }}
td {{ white-space: nowrap; }}
td:last-child {{ white-space: normal; }}
th:first-child, td:first-child, td:last-child {{ text-align: left; }}
td.flag {{ color: #b00020; }}
p.note {{ color: #555; font-size: 0.9em; }}
</style></head><body>
<h1>{title}</h1>
<p class="note">{summary}</p>
{table}
<p class="note">Estimates in model units; 95 % intervals: {intervals}. <code>*</code>: at a
bound (the data do not pin the value inside the bounds). Sizes are shown in the table's unit
({unit}); conversions assume {density:.3g} cells/cm³ and one spherical lesion.</p>
{figure}
</body></html>
"""


def write_fit_report(result: _FitLike, path: str | Path, **kwargs: object) -> Path:
    """Write the fit report: estimates table with intervals and flags, then
    :func:`fit_figure`, as one standalone HTML page (plotly.js inlined)."""
    import html

    path = Path(path)
    ds = result.dataset
    fig = fit_figure(result, **kwargs)  # type: ignore[arg-type]
    n = int(ds.sizes["patient"])
    ok = int(ds["fit_ok"].sum()) if "fit_ok" in ds else n
    shown = min(n, int(kwargs.get("max_patients", 24)))  # type: ignore[arg-type]
    summary = f"{n} patient{'s' if n != 1 else ''}: {ok} fitted without flags"
    summary += f", {n - ok} flagged" if n - ok else ""
    summary += f"; curves of the first {shown} below" if shown < n else ""
    page = _PAGE.format(
        title=html.escape(f"{ds.attrs['model']} fit"),
        summary=html.escape(summary),
        table=estimates_html(result),
        intervals=html.escape(str(ds.attrs.get("interval_method", "Laplace"))),
        unit=html.escape(str(ds.attrs.get("unit", "cells"))),
        density=float(ds.attrs.get("cells_per_cm3", 1e9)),
        figure=fig.to_html(include_plotlyjs=True, full_html=False),
    )
    path.write_text(page, encoding="utf-8")
    return path

"""Outcome-class map: extinct / controlled / escaped over two swept axes (untreated studies)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from ._data import (
    arm_names,
    grid_axes,
    is_log_spaced,
    label_with_units,
    require,
    spec_table,
    text,
    units_of,
)
from ._response import map_axes, map_facets
from ._style import OKABE_ITO, base_layout

#: Final outcome classes of the results dataset (``outcome``) and their colours.
OUTCOME_CLASSES: tuple[tuple[int, str, str], ...] = (
    (0, "extinct", OKABE_ITO["blue"]),
    (1, "controlled", OKABE_ITO["bluish_green"]),
    (2, "escaped", OKABE_ITO["vermillion"]),
)


def _cell_axes(ds: xr.Dataset) -> list[str]:
    """Grid dims in the order of the flat ``cell`` index (C order over the spec's axes)."""
    if "cell_orr" in ds.variables:
        return [str(d) for d in ds["cell_orr"].dims if str(d).startswith("axis_")]
    axes = spec_table(ds).get("axes")
    if isinstance(axes, dict):
        order = [f"axis_{k}" for k in axes]
        if sorted(order) == sorted(grid_axes(ds)):
            return order
    return grid_axes(ds)


def cell_outcome_counts(ds: xr.Dataset) -> xr.DataArray:
    """Patients of each outcome class per arm and grid cell: dims ``(arm, axis_..., outcome)``
    with coord ``outcome`` = ``["extinct", "controlled", "escaped"]`` (failed solves left out).
    """
    require(ds, "outcome", "cell", figure="outcome_map")
    axes = _cell_axes(ds)
    shape = tuple(ds.sizes[a] for a in axes)
    n_cells = int(np.prod(shape))
    cell = np.asarray(ds["cell"].values).astype(np.int64)
    if cell.size and (cell.min() < 0 or cell.max() >= n_cells):
        raise ValueError(
            f"outcome_map: 'cell' indices run to {int(cell.max())}, but the grid "
            f"{dict(zip(axes, shape, strict=True))} has {n_cells} cells"
        )
    out = np.asarray(ds["outcome"].transpose("arm", "patient").values).astype(np.int64)
    k = len(OUTCOME_CLASSES)
    counts = np.zeros((out.shape[0], n_cells, k), dtype=np.int64)
    for i, o in enumerate(out):
        ok = (o >= 0) & (o < k)
        counts[i] = np.bincount(cell[ok] * k + o[ok], minlength=n_cells * k).reshape(n_cells, k)
    return xr.DataArray(
        counts.reshape((out.shape[0], *shape, k)),
        dims=("arm", *axes, "outcome"),
        coords={
            "arm": ds["arm"].values,
            **{a: ds[a].values for a in axes if a in ds.coords},
            "outcome": [name for _, name, _ in OUTCOME_CLASSES],
        },
    )


def outcome_map(
    ds: xr.Dataset, *, x: str | None = None, y: str | None = None, max_cols: int = 3
) -> go.Figure:
    """Map of the final outcome class (0 extinct, 1 controlled, 2 escaped) over two swept axes,
    one facet per arm: each grid cell coloured by its most frequent class (ties: the lower
    class); hover gives the share of every class. The read-out of an untreated
    dormant-vs-escape study, where RECIST response does not apply.

    Args:
        ds: results dataset with ``outcome`` (arm, patient), ``cell`` (patient) and at least
            two grid dims ``axis_<param>``.
        x: grid dimension on the horizontal axis; default the first. Further grid axes
            (beyond ``x`` and ``y``) are pooled (their patients counted together).
        y: grid dimension on the vertical axis; default the second.
        max_cols: facets per row.

    Raises:
        ValueError: fewer than two grid axes, unknown ``x``/``y``, or missing variables.
    """
    x, y = map_axes(ds, x, y, figure="outcome_map")
    counts = cell_outcome_counts(ds)
    others = [d for d in counts.dims if d not in ("arm", "outcome", x, y)]
    if others:
        counts = counts.sum(dim=others)
    c = np.asarray(counts.transpose("arm", y, x, "outcome").values, dtype=float)
    total = c.sum(axis=-1)
    majority = np.where(total > 0, np.argmax(c, axis=-1), np.nan)
    frac = np.divide(c, total[..., None], out=np.full_like(c, np.nan), where=total[..., None] > 0)
    xs = np.asarray(ds[x].values, dtype=float)
    ys = np.asarray(ds[y].values, dtype=float)
    xname, yname = x[len("axis_") :], y[len("axis_") :]
    xlabel = text(label_with_units(xname, units_of(ds, x, xname)))
    ylabel = text(label_with_units(yname, units_of(ds, y, yname)))
    arms = [text(a) for a in arm_names(ds)]
    fig, rows, cols = map_facets(arms, max_cols)
    k = len(OUTCOME_CLASSES)
    scale = []
    for j, (_, _, color) in enumerate(OUTCOME_CLASSES):
        scale += [[j / k, color], [(j + 1) / k, color]]
    names = np.array([name for _, name, _ in OUTCOME_CLASSES] + ["no patient"])
    for i, arm in enumerate(arms):
        r, cc = divmod(i, cols)
        label = names[np.where(np.isfinite(majority[i]), majority[i], k).astype(int)]
        custom = np.concatenate([frac[i], total[i][..., None]], axis=-1)
        fig.add_trace(
            go.Heatmap(
                x=xs,
                y=ys,
                z=majority[i],
                text=label,
                customdata=custom,
                coloraxis="coloraxis",
                name=arm,
                hovertemplate=(
                    f"<b>{arm}</b><br>{text(xname)} = %{{x:.3g}}<br>{text(yname)} = %{{y:.3g}}"
                    "<br>class: %{text}<br>extinct %{customdata[0]:.0%}, controlled "
                    "%{customdata[1]:.0%}, escaped %{customdata[2]:.0%} of "
                    "%{customdata[3]:.0f}<extra>grid cell</extra>"
                ),
            ),
            row=r + 1,
            col=cc + 1,
        )
        fig.update_xaxes(
            title_text=xlabel,
            type="log" if is_log_spaced(xs) else "linear",
            exponentformat="power",
            row=r + 1,
            col=cc + 1,
        )
        fig.update_yaxes(
            title_text=ylabel if cc == 0 else None,
            type="log" if is_log_spaced(ys) else "linear",
            exponentformat="power",
            row=r + 1,
            col=cc + 1,
        )
    fig.update_layout(
        coloraxis={
            "colorscale": scale,
            "cmin": -0.5,
            "cmax": k - 0.5,
            "colorbar": {
                "title": {"text": "outcome"},
                "tickvals": list(range(k)),
                "ticktext": [name for _, name, _ in OUTCOME_CLASSES],
            },
        }
    )
    several = bool(np.nanmax(total, initial=0) > 1)
    title = "Outcome class per grid cell at the end of follow-up"
    if several:
        title += " (most frequent class among the cell's patients)"
    if others:
        title += f"; pooled over {', '.join(text(str(o)[5:]) for o in others)}"
    return base_layout(fig, title=title, height=120 + 400 * rows)

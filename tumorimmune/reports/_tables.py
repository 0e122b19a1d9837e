"""Table figures: per-arm response summary and run metadata."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from ._data import arm_names, attr_json, require
from ._style import base_layout

_HEADER_FILL = "#E8EEF4"
_ROW_FILLS = ("#FFFFFF", "#F6F8FA")


def _pct(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{100.0 * x:.1f}"


def _rate_ci(ds: xr.Dataset, name: str) -> list[str]:
    est, lo, hi = (np.asarray(ds[f"{name}{s}"].values, dtype=float) for s in ("", "_lo", "_hi"))
    return [f"{_pct(e)} ({_pct(a)}–{_pct(b)})" for e, a, b in zip(est, lo, hi, strict=True)]


def _days(x: float) -> str:
    return "NR" if not np.isfinite(x) else f"{x:.0f}"  # NR: not reached


def summary_table(ds: xr.Dataset) -> go.Figure:
    """Per-arm summary: N, ORR and DCR (%) with 95 % CI, median PFS (days) with 95 % CI,
    counts of CR/PR/SD/PD and failed solves.

    Args:
        ds: sweep results dataset (needs the per-arm variables ``n``, ``orr``, ``orr_lo``,
            ``orr_hi``, ``dcr`` (+ ``_lo``/``_hi``), ``median_pfs_days`` (+ ``_lo``/``_hi``),
            ``n_cr``, ``n_pr``, ``n_sd``, ``n_pd``, ``n_failed``).

    Returns:
        A figure with one ``go.Table`` trace, one row per arm. A median PFS that the data do
        not reach (NaN) reads "not reached"; an unreached confidence bound reads "NR".
    """
    rates = ("orr", "dcr", "median_pfs_days")
    counts = ("n", "n_cr", "n_pr", "n_sd", "n_pd", "n_failed")
    require(
        ds,
        *counts,
        *(f"{r}{s}" for r in rates for s in ("", "_lo", "_hi")),
        figure="summary_table",
    )
    arms = arm_names(ds)
    med, lo, hi = (
        np.asarray(ds[f"median_pfs_days{s}"].values, dtype=float) for s in ("", "_lo", "_hi")
    )
    pfs = [
        f"{_days(m)} ({_days(a)}–{_days(b)})" if np.isfinite(m) else "not reached"
        for m, a, b in zip(med, lo, hi, strict=True)
    ]

    def ints(name: str) -> list[str]:
        return [f"{int(v):,}" for v in np.asarray(ds[name].values)]

    header = [
        "<b>Arm</b>",
        "<b>N</b>",
        "<b>ORR, % (95% CI)</b>",
        "<b>DCR, % (95% CI)</b>",
        "<b>Median PFS, days (95% CI)</b>",
        "<b>CR</b>",
        "<b>PR</b>",
        "<b>SD</b>",
        "<b>PD</b>",
        "<b>Failed</b>",
    ]
    cells = [
        arms,
        ints("n"),
        _rate_ci(ds, "orr"),
        _rate_ci(ds, "dcr"),
        pfs,
        ints("n_cr"),
        ints("n_pr"),
        ints("n_sd"),
        ints("n_pd"),
        ints("n_failed"),
    ]
    fills = [[_ROW_FILLS[i % 2] for i in range(len(arms))]] * len(header)
    fig = go.Figure(
        go.Table(
            columnwidth=[2.2, 1.0, 1.8, 1.8, 2.2, 0.8, 0.8, 0.8, 0.8, 0.9],
            header={
                "values": header,
                "fill_color": _HEADER_FILL,
                "align": ["left"] + ["right"] * (len(header) - 1),
                "height": 30,
            },
            cells={
                "values": cells,
                "fill_color": fills,
                "align": ["left"] + ["right"] * (len(header) - 1),
                "height": 30,
            },
        )
    )
    return base_layout(
        fig,
        title="Response per arm (RECIST 1.1 best overall response, 95% CI)",
        height=50 + 10 + 32 + 32 * len(arms) + 16,
        margin={"l": 20, "r": 20, "t": 50, "b": 10},
    )


_SHOWN_ATTRS = frozenset(
    {
        "model",
        "backend",
        "device",
        "precision",
        "wall_time_s",
        "patients_per_s",
        "versions",
        "response_codes",
        "outcome_codes",
        "spec",
        "tumorimmune_status",
    }
)


def _metadata_rows(ds: xr.Dataset, *, include_spec: bool) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, label in (
        ("model", "Model"),
        ("backend", "Backend"),
        ("device", "Device"),
        ("precision", "Precision"),
    ):
        if key in ds.attrs:
            rows.append((label, str(ds.attrs[key])))
    if "wall_time_s" in ds.attrs:
        rows.append(("Wall time (s)", f"{float(ds.attrs['wall_time_s']):,.2f}"))
    if "patients_per_s" in ds.attrs:
        rows.append(("Throughput (patients/s)", f"{float(ds.attrs['patients_per_s']):,.0f}"))
    if "patient" in ds.sizes:
        rows.append(("Patients per arm", f"{ds.sizes['patient']:,}"))
    if "arm" in ds.coords:
        rows.append(("Arms", ", ".join(arm_names(ds))))
    if "scan_day" in ds.variables:
        days = ", ".join(f"{d:g}" for d in np.asarray(ds["scan_day"].values, dtype=float))
        rows.append(("Scan days", days))
    versions = attr_json(ds, "versions")
    if isinstance(versions, dict):
        for k in sorted(versions):
            rows.append((f"Version of {k}", str(versions[k])))
    elif versions is not None:
        rows.append(("Versions", str(versions)))
    for key, label in (("response_codes", "Response codes"), ("outcome_codes", "Outcome codes")):
        codes = attr_json(ds, key)
        if codes is not None:
            rows.append((label, json.dumps(codes) if not isinstance(codes, str) else codes))
    for key in sorted(ds.attrs):
        value = ds.attrs[key]
        if key in _SHOWN_ATTRS or key.startswith("spec") or isinstance(value, bytes):
            continue
        text = str(value)
        if len(text) <= 200 and "\n" not in text:
            rows.append((f"attribute {key}", text))
    if include_spec and "spec" in ds.attrs:
        rows.append(("Spec (TOML)", str(ds.attrs["spec"]).strip().replace("\n", "<br>")))
    return rows


def run_metadata(ds: xr.Dataset, *, include_spec: bool = True) -> go.Figure:
    """Run metadata as a two-column table: model, backend, device, precision, wall time (s),
    throughput (patients/s), cohort size, arms, scan days, package versions, the other
    short attributes of the dataset and (with ``include_spec``) the sweep spec (TOML text).

    Missing attributes are left out rather than shown empty.
    """
    rows = _metadata_rows(ds, include_spec=include_spec)
    keys = [f"<b>{k}</b>" for k, _ in rows]
    values = [v for _, v in rows]
    extra_rows = sum(v.count("<br>") for v in values)
    fig = go.Figure(
        go.Table(
            columnwidth=[1.0, 3.0],
            header={
                "values": ["<b>Item</b>", "<b>Value</b>"],
                "fill_color": _HEADER_FILL,
                "align": "left",
            },
            cells={
                "values": [keys, values],
                "align": "left",
                "fill_color": [[_ROW_FILLS[i % 2] for i in range(len(rows))]] * 2,
            },
        )
    )
    return base_layout(
        fig,
        title="Run metadata",
        height=min(50 + 10 + 32 + 32 * len(rows) + 20 * extra_rows + 16, 2400),
        margin={"l": 20, "r": 20, "t": 50, "b": 10},
    )

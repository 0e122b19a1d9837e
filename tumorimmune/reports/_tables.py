"""Table figures: per-arm response summary and run metadata."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from ._data import (
    arm_names,
    attr_json,
    attr_label,
    format_attr,
    n_patients,
    require,
    spec_table,
    text,
)
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


#: Columns of the per-arm summary (:func:`summary_rows`).
SUMMARY_HEADER: tuple[str, ...] = (
    "Arm",
    "N",
    "ORR, % (95% CI)",
    "DCR, % (95% CI)",
    "Median PFS, days (95% CI)",
    "CR",
    "PR",
    "SD",
    "PD",
    "Failed",
)


def _os_columns(ds: xr.Dataset) -> list[tuple[str, str]]:
    """``(header, variable)`` of the overall-survival columns present (``[survival]``)."""
    if "median_os_days" not in ds.variables:
        return []
    cols = [("Median OS, days (95% CI)", "median_os_days")]
    for y in (1, 2, 3, 5):
        if f"os_{y}y" in ds.variables:
            cols.append((f"OS at {y} y, % (95% CI)", f"os_{y}y"))
    return cols


def summary_header(ds: xr.Dataset) -> tuple[str, ...]:
    """Columns of :func:`summary_rows` for ``ds``: :data:`SUMMARY_HEADER`, and after the
    median PFS the overall-survival columns when the results have them (median OS and OS at
    1, 2, 3, 5 years within follow-up)."""
    i = SUMMARY_HEADER.index("Median PFS, days (95% CI)") + 1
    return (*SUMMARY_HEADER[:i], *(h for h, _ in _os_columns(ds)), *SUMMARY_HEADER[i:])


#: Marks a median PFS whose 95 % CI has zero width (:func:`median_pfs_note` explains it).
SCAN_MARK = "*"


def _median_pfs(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median PFS and its 95 % CI bounds per arm (days; NaN: not reached)."""
    med, lo, hi = (
        np.asarray(ds[f"median_pfs_days{s}"].values, dtype=float) for s in ("", "_lo", "_hi")
    )
    return med, lo, hi


def _scan_windows(ds: xr.Dataset) -> list[tuple[float, float] | None]:
    """Per arm, for a median PFS that is a post-baseline scan day with a zero-width 95 % CI
    (lower = upper = median): the previous scan day (0: baseline) and the median, days;
    else None. Empty without ``scan_day``."""
    if "scan_day" not in ds.variables:
        return []
    days = np.sort(np.asarray(ds["scan_day"].values, dtype=float))
    out: list[tuple[float, float] | None] = []
    for m, a, b in zip(*_median_pfs(ds), strict=True):
        k = np.flatnonzero(np.isclose(days, m, rtol=0.0, atol=1e-6)) if np.isfinite(m) else []
        if len(k) and k[0] > 0 and a == m == b:
            out.append((float(days[k[0] - 1]), float(m)))
        else:
            out.append(None)
    return out


def median_pfs_note(ds: xr.Dataset) -> str:
    """The scan-resolution caveat of the median PFS column of :func:`summary_rows`, or ""
    when no arm's median PFS has a zero-width 95 % CI.

    Progression is read at the scans only (``scan_day``, days), so the Kaplan–Meier curve of
    PFS drops only on scan days (and on days of death with ``[survival]``): the median and
    its confidence limits are scan days, and with a large cohort both limits are often the
    same scan. Such a "126 (126–126)" (marked :data:`SCAN_MARK`) does not mean the median is
    known to the day: the median time to progression lies between that scan and the one
    before it, and the note gives those days per arm.
    """
    windows = _scan_windows(ds)
    if not any(windows):
        return ""
    days = np.sort(np.asarray(ds["scan_day"].values, dtype=float))
    gaps = np.unique(np.round(np.diff(days), 6))
    every = f"every {gaps.min():g}" + (f"–{gaps.max():g}" if gaps.size > 1 else "") + " days"
    deaths = "; deaths count on their day" if "os_days" in ds.variables else ""
    arms = arm_names(ds)
    spans = "; ".join(f"{arms[i]}: days {w[0]:g}–{w[1]:g}" for i, w in enumerate(windows) if w)
    example = next(w[1] for w in windows if w)
    return (
        f"{SCAN_MARK} Median PFS is resolved to the scan grid: progression is seen only at "
        f"the scans ({every}{deaths}), so the Kaplan–Meier median and its 95 % CI fall on "
        f"scan days. A zero-width interval such as {example:.0f} ({example:.0f}–{example:.0f}) "
        "means that the curve crosses 50 % at that scan with 95 % confidence, not that the "
        "median is known to the day: the progressions behind it happened between that scan "
        f"and the one before ({spans})."
    )


def summary_rows(ds: xr.Dataset) -> list[list[str]]:
    """Rows of the per-arm summary (columns :func:`summary_header`), one per arm, as text.

    Needs the per-arm variables ``n``, ``orr``, ``orr_lo``, ``orr_hi``, ``dcr`` (+ ``_lo``/
    ``_hi``), ``median_pfs_days`` (+ ``_lo``/``_hi``), ``n_cr``, ``n_pr``, ``n_sd``, ``n_pd``,
    ``n_failed``; with ``median_os_days`` (a sweep with ``[survival]``) also median OS and
    the OS landmarks ``os_<y>y`` (+ ``_lo``/``_hi``). A median PFS or OS that the data do
    not reach (NaN) reads "not reached"; an unreached confidence bound reads "NR"; a median
    PFS with a zero-width CI on a scan day ends in :data:`SCAN_MARK` (see
    :func:`median_pfs_note`).
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
    windows = _scan_windows(ds) or [None] * len(arms)
    pfs = [
        (f"{_days(m)} ({_days(a)}–{_days(b)})" + (f" {SCAN_MARK}" if w else ""))
        if np.isfinite(m)
        else "not reached"
        for m, a, b, w in zip(*_median_pfs(ds), windows, strict=True)
    ]

    def ints(name: str) -> list[str]:
        return [f"{int(v):,}" for v in np.asarray(ds[name].values)]

    os_cols = []
    for _, name in _os_columns(ds):
        require(ds, f"{name}_lo", f"{name}_hi", figure="summary_table")
        if name == "median_os_days":
            m3 = [np.asarray(ds[f"{name}{s}"].values, dtype=float) for s in ("", "_lo", "_hi")]
            os_cols.append(
                [
                    f"{_days(m)} ({_days(a)}–{_days(b)})" if np.isfinite(m) else "not reached"
                    for m, a, b in zip(*m3, strict=True)
                ]
            )
        else:
            os_cols.append(_rate_ci(ds, name))
    columns = [
        arms,
        ints("n"),
        _rate_ci(ds, "orr"),
        _rate_ci(ds, "dcr"),
        pfs,
        *os_cols,
        ints("n_cr"),
        ints("n_pr"),
        ints("n_sd"),
        ints("n_pd"),
        ints("n_failed"),
    ]
    return [list(r) for r in zip(*columns, strict=True)]


#: Columns of the per-arm time-course table (:func:`timecourse_rows`).
TIMECOURSE_HEADER: tuple[str, ...] = (
    "Arm",
    "Responders",
    "Median TTR, days",
    "Response at first scan, %",
    "Median DoR, days (95% CI)",
    "Response ongoing at 1 / 2 / 3 years, %",
    "Pseudo-progression early / delayed, %",
)

#: Per-arm variables :func:`timecourse_rows` reads.
TIMECOURSE_VARIABLES: tuple[str, ...] = (
    "n_responders",
    "median_ttr_days",
    "ttr_first_scan",
    "median_dor_days",
    "median_dor_days_lo",
    "median_dor_days_hi",
    "response_ongoing_1y",
    "response_ongoing_2y",
    "response_ongoing_3y",
    "pseudo_progression_early",
    "pseudo_progression_delayed",
)


def timecourse_rows(ds: xr.Dataset) -> list[list[str]]:
    """Rows (one per arm, columns :data:`TIMECOURSE_HEADER`) of RECIST over time: responders,
    median time to response (days), share of responses seen at the first on-study scan,
    Kaplan–Meier median duration of response with 95 % CI ("not reached"), responders still in
    response at 1, 2, 3 years ("–" beyond follow-up), early / delayed pseudo-progression
    (``tumorimmune.response.timecourse_summary``)."""
    require(ds, *TIMECOURSE_VARIABLES, figure="timecourse_table")
    v = {k: np.asarray(ds[k].values, dtype=float) for k in TIMECOURSE_VARIABLES}
    rows = []
    for i, arm in enumerate(arm_names(ds)):
        m, lo, hi = (v[f"median_dor_days{s}"][i] for s in ("", "_lo", "_hi"))
        k = int(v["n_responders"][i])
        dor = (
            f"{_days(m)} ({_days(lo)}–{_days(hi)})"
            if np.isfinite(m)
            else ("not reached" if k else "–")
        )
        ttr = v["median_ttr_days"][i]
        rows.append(
            [
                arm,
                f"{k:,}",
                f"{ttr:.0f}" if np.isfinite(ttr) else "–",
                _pct(v["ttr_first_scan"][i]),
                dor,
                " / ".join(_pct(v[f"response_ongoing_{y}"][i]) for y in ("1y", "2y", "3y")),
                " / ".join(_pct(v[f"pseudo_progression_{w}"][i]) for w in ("early", "delayed")),
            ]
        )
    return rows


#: Outcome classes of the results dataset (``outcome``), in table order.
OUTCOME_LABELS: dict[int, str] = {0: "extinct", 1: "controlled", 2: "escaped", -1: "failed"}


def outcome_rows(ds: xr.Dataset) -> list[list[str]]:
    """Per-arm counts of the final outcome class: N, then extinct / controlled / escaped as
    ``count (percent of the evaluable)``, then failed solves. Columns :data:`OUTCOME_HEADER`."""
    require(ds, "outcome", figure="outcome_table")
    out = np.asarray(ds["outcome"].transpose("arm", "patient").values).astype(int)
    rows = []
    for arm, o in zip(arm_names(ds), out, strict=True):
        ok = int((o >= 0).sum())
        row = [arm, f"{ok:,}"]
        for code in (0, 1, 2):
            k = int((o == code).sum())
            row.append(f"{k:,} ({100.0 * k / ok:.1f} %)" if ok else "–")
        row.append(f"{int((o < 0).sum()):,}")
        rows.append(row)
    return rows


#: Columns of :func:`outcome_rows`.
OUTCOME_HEADER: tuple[str, ...] = ("Arm", "N", "Extinct", "Controlled", "Escaped", "Failed")


def summary_table(ds: xr.Dataset) -> go.Figure:
    """Per-arm summary: N, ORR and DCR (%) with 95 % CI, median PFS (days) with 95 % CI,
    counts of CR/PR/SD/PD and failed solves (rows of :func:`summary_rows`).

    The HTML report shows the same rows as an HTML table; this figure is for notebooks.

    Args:
        ds: sweep results dataset (needs the per-arm variables ``n``, ``orr``, ``orr_lo``,
            ``orr_hi``, ``dcr`` (+ ``_lo``/``_hi``), ``median_pfs_days`` (+ ``_lo``/``_hi``),
            ``n_cr``, ``n_pr``, ``n_sd``, ``n_pd``, ``n_failed``).

    Returns:
        A figure with one ``go.Table`` trace, one row per arm. A median PFS that the data do
        not reach (NaN) reads "not reached"; an unreached confidence bound reads "NR".
    """
    rows = summary_rows(ds)
    header = [f"<b>{h}</b>" for h in summary_header(ds)]
    widths = [2.2, 1.0, 1.8, 1.8, 2.2] + [2.2] * (len(header) - 10) + [0.8] * 4 + [0.9]
    cells = [[text(r[j]) for r in rows] for j in range(len(header))]
    fills = [[_ROW_FILLS[i % 2] for i in range(len(rows))]] * len(header)
    fig = go.Figure(
        go.Table(
            columnwidth=widths,
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
    # room for rows that wrap onto two lines in a narrow window
    return base_layout(
        fig,
        title="Response per arm (RECIST 1.1 best overall response, 95% CI)",
        height=50 + 10 + 60 + 60 * len(rows) + 16,
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
        "caveats",
        "calibration",
        "warnings",  # its own box at the top of the page
    }
)


def metadata_rows(ds: xr.Dataset, *, include_spec: bool = False) -> list[tuple[str, str]]:
    """(label, value) rows of the run metadata, as plain text: sweep name and description,
    model, backend, device, precision, wall time (s), throughput (patients/s), cohort size,
    arms, scan days, package versions, the other short attributes (numbers rounded: seconds
    to 0.01, rates to whole units, others to 4 significant digits) and, with
    ``include_spec``, the sweep spec (TOML text)."""
    rows: list[tuple[str, str]] = []
    spec = spec_table(ds)
    for key, label in (("name", "Sweep"), ("description", "Description")):
        if isinstance(spec.get(key), str) and spec[key].strip():
            rows.append((label, spec[key]))
    for key in ("model", "backend", "device", "precision", "wall_time_s", "patients_per_s"):
        if key in ds.attrs:
            rows.append((attr_label(key), format_attr(key, ds.attrs[key])))
    if n_patients(ds):
        rows.append(("Patients per arm", f"{n_patients(ds):,}"))
    if isinstance(ds.attrs.get("keep"), str):  # [store] keep
        rows.append(("Store keeps", str(ds.attrs["keep"])))
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
        value_text = format_attr(key, value)
        if len(value_text) <= 200 and "\n" not in value_text:
            rows.append((attr_label(key), value_text))
    if include_spec and "spec" in ds.attrs:
        rows.append(("Spec (TOML)", str(ds.attrs["spec"]).strip()))
    return rows


def run_metadata(ds: xr.Dataset, *, include_spec: bool = True) -> go.Figure:
    """Run metadata as a two-column table (rows of :func:`metadata_rows`): sweep name and
    description, model, backend, device, precision, wall time (s), throughput (patients/s),
    cohort size, arms, scan days, package versions, the other short attributes of the dataset
    and (with ``include_spec``) the sweep spec (TOML text).

    Missing attributes are left out rather than shown empty.
    """
    rows = metadata_rows(ds, include_spec=include_spec)
    keys = [f"<b>{text(k)}</b>" for k, _ in rows]
    values = [text(v).replace("\n", "<br>") for _, v in rows]
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

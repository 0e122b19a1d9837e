"""Report sections: the public :class:`Section` hook, HTML tables, and sections that come from
optional parts of the results dataset (calibration targets, caveats)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import plotly.graph_objects as go
import xarray as xr
from markupsafe import Markup

from ._data import attr_json


@dataclasses.dataclass(frozen=True)
class Section:
    """One section of the HTML report, for :func:`write_report`'s ``extra_sections``.

    Shown in this order: heading ``title``, ``note`` (plain text), ``html``, each figure of
    ``figures`` (drawn by plotly.js), then ``details`` as a collapsed block of preformatted text.

    Attributes:
        title: heading, also the link in the navigation bar (plain text, escaped).
        figures: plotly figures; strings inside them that come from users should pass through
            :func:`tumorimmune.reports._data.text` (plotly reads a small HTML subset).
        html: an HTML fragment inserted as is: build it with :func:`html_table`, or escape
            every user-provided string with ``markupsafe.escape``; never raw user text.
        note: a sentence under the heading (plain text, escaped).
        id: anchor of the section (letters, digits, ``-``); default derived from ``title``.
        details: ``(label, text)``: preformatted ``text`` behind a collapsed ``label``.
    """

    title: str
    figures: Sequence[go.Figure] = ()
    html: str = ""
    note: str = ""
    id: str | None = None
    details: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("Section title must not be empty")
        if self.id is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", self.id):
            raise ValueError(
                f"Section id must be lower-case letters, digits and '-'; got {self.id!r}"
            )

    @property
    def anchor(self) -> str:
        """The section's anchor: ``id``, or the title in lower case with ``-`` between words."""
        if self.id is not None:
            return self.id
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        return slug or "section"


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    numeric: Sequence[bool] | None = None,
    row_classes: Sequence[str] | None = None,
    caption: str | None = None,
    table_id: str | None = None,
) -> Markup:
    """An HTML ``<table>`` (in a horizontally scrolling wrapper); every cell is escaped.

    Args:
        header: column titles.
        rows: cell values, one sequence per row (``str()`` of each, escaped).
        numeric: per column, True to right-align (numbers); default left for the first column
            and right for the others.
        row_classes: a CSS class per row (e.g. ``"fitted"``/``"validation"``).
        caption: table caption (plain text).
        table_id: ``id`` attribute of the table.
    """
    ncol = len(header)
    if numeric is None:
        numeric = [i > 0 for i in range(ncol)]
    if len(numeric) != ncol:
        raise ValueError(f"numeric needs one flag per column ({ncol}); got {len(numeric)}")

    def cls(i: int) -> Markup:
        return Markup(' class="num"') if numeric[i] else Markup("")

    parts = [Markup('<div class="table-wrap"><table class="data"')]
    if table_id:
        parts.append(Markup(' id="{}"').format(table_id))
    parts.append(Markup(">"))
    if caption:
        parts.append(Markup("<caption>{}</caption>").format(caption))
    parts.append(Markup("<thead><tr>"))
    parts += [Markup("<th{}>{}</th>").format(cls(i), h) for i, h in enumerate(header)]
    parts.append(Markup("</tr></thead><tbody>"))
    for r, row in enumerate(rows):
        if len(row) != ncol:
            raise ValueError(f"row {r} has {len(row)} cells; the header has {ncol}")
        rc = row_classes[r] if row_classes is not None else ""
        parts.append(Markup('<tr class="{}">').format(rc) if rc else Markup("<tr>"))
        parts += [
            Markup("<td{}>{}</td>").format(cls(i), _cell(v, numeric[i])) for i, v in enumerate(row)
        ]
        parts.append(Markup("</tr>"))
    parts.append(Markup("</tbody></table></div>"))
    return Markup("").join(parts)


_INTERVAL = re.compile(r"^(\S+) (\([^()]*\))(.*)$")


def _cell(value: object, numeric: bool) -> Markup | str:
    """A cell's content: a number with an interval, ``"37.2 (36.2–38.1)"``, keeps its interval
    on one line, so that a narrow page wraps it under the number instead of inside it."""
    text = str(value)
    match = _INTERVAL.match(text) if numeric else None
    if match is None:
        return text
    head, interval, tail = match.groups()
    return Markup('{} <span class="ci">{}</span>{}').format(head, interval, tail)


def html_list(items: Sequence[object], *, css_class: str = "") -> Markup:
    """An HTML ``<ul>`` of ``items`` (each ``str()``-ed and escaped)."""
    open_tag = Markup('<ul class="{}">').format(css_class) if css_class else Markup("<ul>")
    body = Markup("").join(Markup("<li>{}</li>").format(str(i)) for i in items)
    return open_tag + body + Markup("</ul>")


def caveats(ds: xr.Dataset) -> list[str]:
    """The run's caveats: attribute ``caveats`` (JSON list of strings, or one string)."""
    value = attr_json(ds, "caveats")
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v).strip()]
    raise ValueError(
        f"attribute 'caveats' must be a JSON list of strings; got {type(value).__name__}"
    )


def run_warnings(ds: xr.Dataset) -> list[str]:
    """The run's warnings: attribute ``warnings`` (JSON list of strings; questionable spec
    settings, implausible inputs and runaway states, ``tumorimmune.sweeps.spec_warnings``)."""
    value = attr_json(ds, "warnings")
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v).strip()]
    return []


def _number(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _fmt(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:.3g}"


def _interval(value: float, lo: float, hi: float) -> str:
    if not math.isfinite(lo) and not math.isfinite(hi):
        return _fmt(value)
    return f"{_fmt(value)} ({_fmt(lo)}–{_fmt(hi)})"


#: Columns of the calibration table.
CALIBRATION_HEADER = (
    "Target",
    "Role",
    "Target value (interval)",
    "Simulated (95 % CI)",
    "Prediction interval (re-selected trials)",
    "Unit",
    "Published within prediction",
    "Source",
)


def calibration_rows(ds: xr.Dataset) -> tuple[list[list[str]], list[str]]:
    """Rows of the calibration table from attribute ``calibration`` and each row's role
    (``"fitted"`` or ``"validation"``); fitted targets first, then held-out validation ones.

    The attribute is JSON: ``{"targets": [{"name", "target", "target_lo", "target_hi",
    "simulated", "simulated_lo", "simulated_hi", "unit", "source", "fitted"}], "caveats":
    [str], "notes": str}``, optionally ``prediction_lo``/``prediction_hi`` (the interval of
    re-selected virtual trials of the published size:
    :func:`tumorimmune.calibrate.reselection_intervals`). "Within interval" says whether the
    published value lies in that prediction interval, else whether the simulated value lies in
    the target's interval (``[target_lo, target_hi]``), "–" when there is neither.

    Raises:
        ValueError: the attribute is not of that shape (names the offending key).
    """
    cal = attr_json(ds, "calibration")
    if not isinstance(cal, dict):
        raise ValueError("attribute 'calibration' must be a JSON object with a 'targets' list")
    targets = cal.get("targets", [])
    if not isinstance(targets, list):
        raise ValueError("calibration 'targets' must be a list of objects")
    rows: list[tuple[bool, list[str]]] = []
    for k, t in enumerate(targets):
        if not isinstance(t, dict) or "name" not in t:
            raise ValueError(f"calibration targets[{k}] must be an object with a 'name'")
        fitted = bool(t.get("fitted", False))
        target, lo, hi = (_number(t.get(key)) for key in ("target", "target_lo", "target_hi"))
        sim, slo, shi = (
            _number(t.get(key)) for key in ("simulated", "simulated_lo", "simulated_hi")
        )
        plo, phi = (_number(t.get(key)) for key in ("prediction_lo", "prediction_hi"))
        if math.isfinite(plo) and math.isfinite(phi) and math.isfinite(target):
            # the published value within the interval of re-selected virtual trials
            inside = "yes" if plo <= target <= phi else "no"
        elif math.isfinite(lo) and math.isfinite(hi) and math.isfinite(sim):
            inside = "yes" if lo <= sim <= hi else "no"
        else:
            inside = "–"
        rows.append(
            (
                fitted,
                [
                    str(t["name"]),
                    "fitted" if fitted else "validation (held out)",
                    _interval(target, lo, hi),
                    _interval(sim, slo, shi),
                    f"{_fmt(plo)}–{_fmt(phi)}" if math.isfinite(plo) else "–",
                    str(t.get("unit", "")),
                    inside,
                    str(t.get("source", "")),
                ],
            )
        )
    rows.sort(key=lambda r: not r[0])  # stable: fitted first, each group in given order
    return [r for _, r in rows], ["fitted" if f else "validation" for f, _ in rows]


def calibration_section(ds: xr.Dataset) -> Section | None:
    """The "Calibration and validation" section, when ``ds`` has attribute ``calibration``."""
    if "calibration" not in ds.attrs:
        return None
    rows, roles = calibration_rows(ds)
    cal = attr_json(ds, "calibration")
    assert isinstance(cal, dict)
    n_fit = roles.count("fitted")
    parts = [
        html_table(
            CALIBRATION_HEADER,
            rows,
            numeric=[False, False, True, True, True, False, False, False],
            row_classes=roles,
            table_id="calibration-table",
        )
    ]
    notes = cal.get("notes")
    if notes:
        parts.append(Markup('<p class="note">{}</p>').format(str(notes)))
    cav = cal.get("caveats") or []
    if isinstance(cav, str):
        cav = [cav]
    if cav:
        parts.append(Markup("<h3>Caveats</h3>"))
        parts.append(html_list([str(c) for c in cav], css_class="caveats-list"))
    return Section(
        "Calibration and validation",
        id="calibration",
        note=(
            f"{n_fit} target{'s' if n_fit != 1 else ''} fitted (shaded rows) and "
            f"{len(roles) - n_fit} held out for validation. Simulated: binomial / Kaplan–"
            "Meier 95 % interval of the virtual cohort. Prediction interval: 95 % of virtual "
            "trials of the published size drawn from populations re-selected under the "
            "calibration targets' own uncertainty (no extra solves)."
        ),
        html=Markup("").join(parts),
    )


#: Columns of the PD-L1 strata table.
PDL1_HEADER = ("Arm", "PD-L1 TPS", "Patients", "Share", "Responders (CR + PR)", "ORR (95 % CI)")


def pdl1_rows(ds: xr.Dataset) -> list[list[str]]:
    """Rows of the PD-L1 strata table from attribute ``pdl1_strata`` (JSON rows of
    :func:`tumorimmune.response.response_by_tps`: objective response per arm and TPS
    category).

    Raises:
        ValueError: the attribute is not a JSON list of such rows.
    """
    value = attr_json(ds, "pdl1_strata")
    if not isinstance(value, list):
        raise ValueError("attribute 'pdl1_strata' must be a JSON list of objects")
    rows: list[list[str]] = []
    for k, r in enumerate(value):
        if not isinstance(r, dict) or not {"arm", "category", "n", "responders"} <= set(r):
            raise ValueError(
                f"pdl1_strata[{k}] must be an object with arm, category, n and responders"
            )
        orr = _interval(*(_number(r.get(key)) for key in ("orr", "orr_lo", "orr_hi")))
        share = _number(r.get("share"))
        rows.append(
            [
                str(r["arm"]),
                str(r["category"]),
                str(int(r["n"])),
                "–" if not math.isfinite(share) else f"{100 * share:.1f} %",
                str(int(r["responders"])),
                orr,
            ]
        )
    return rows


def pdl1_section(ds: xr.Dataset) -> Section | None:
    """The "Response by PD-L1 TPS" section, when ``ds`` has attribute ``pdl1_strata``
    (written by a run whose patients have a per-patient PD-L1 ``L``)."""
    if "pdl1_strata" not in ds.attrs:
        return None
    return Section(
        "Response by PD-L1 TPS",
        id="pdl1-strata",
        note=(
            "Objective response by PD-L1 tumor proportion score (TPS, 22C3) in the trials' "
            "categories (NSCLC: < 1 %, 1–49 %, ≥ 50 %, or the spec's [report] tps_cutoffs; "
            "melanoma PD-L1 positive: ≥ 1 %). TPS = "
            "100·L, the model's PD-L1 expression (an assumption, docs/science.md \"PD-L1 as "
            "an assay\"). Patients: evaluable patients of the category; share: of the arm's."
        ),
        html=html_table(
            PDL1_HEADER,
            pdl1_rows(ds),
            numeric=[False, False, True, True, True, True],
            table_id="pdl1-table",
        ),
    )


#: Sections derived from optional parts of the results dataset, in report order. Each takes
#: the dataset and returns a :class:`Section`, or ``None`` when the dataset lacks its part.
DATASET_SECTIONS: tuple[Callable[[xr.Dataset], Section | None], ...] = (
    calibration_section,
    pdl1_section,
)

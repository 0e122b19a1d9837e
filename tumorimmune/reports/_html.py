"""The self-contained HTML report: every figure in one offline file (plotly.js inlined once)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import jinja2
import plotly.graph_objects as go
import xarray as xr
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from .._version import __version__
from ._data import (
    arm_names,
    grid_axes,
    n_patients,
    not_kept,
    parameter_names,
    spec_table,
    untreated_only,
)
from ._decides import HEADING as DECIDES_HEADING
from ._decides import NEEDS as DECIDES_NEEDS
from ._decides import SECTION_ID as DECIDES_ID
from ._decides import Options as DecidesOptions
from ._decides import decides_missing, decides_section
from ._outcome import outcome_map
from ._parameters import inert_parameters, parameter_distributions
from ._response import response_map, spider, waterfall
from ._sections import DATASET_SECTIONS, Section, caveats, html_table, run_warnings
from ._sensitivity import sensitivity_sections
from ._survival import (
    duration_of_response_figure,
    kaplan_meier_figure,
    overall_survival_figure,
    responder_arms,
)
from ._tables import (
    OUTCOME_HEADER,
    TIMECOURSE_HEADER,
    TIMECOURSE_VARIABLES,
    median_pfs_note,
    metadata_rows,
    outcome_rows,
    summary_header,
    summary_rows,
    timecourse_rows,
)
from ._timecourse import time_to_response_figure
from ._trajectories import MIN_BAND_PATIENTS, band_label, trajectory_bands


def _lesions(ds: xr.Dataset) -> str:
    """How tumor cells were read as target lesions (the store's read-out attributes)."""
    k = ds.attrs.get("n_lesions", 1)
    limit = float(ds.attrs.get("detection_limit_mm", 0.0) or 0.0)
    what = (
        "a single spherical lesion"
        if str(k) in ("1", "1.0")
        else f"the sum of diameters of {k} equal spherical target lesions"
        if not isinstance(k, str) or k.replace(".", "", 1).isdigit()
        else "the sum of diameters of target lesions (per-patient count)"
    )
    return what + (f", lesions under {limit:g} mm counted as disappeared" if limit > 0 else "")


def _has(ds: xr.Dataset, *names: str) -> bool:
    return all(n in ds.variables for n in names)


def _summary_tables(ds: xr.Dataset) -> Markup:
    """The per-arm summary as two tables, response and (with ``[survival]``) overall
    survival, so that each fits a 1000 px page: the columns of :func:`summary_header`,
    the OS columns moved to the second table."""
    header, rows = summary_header(ds), summary_rows(ds)
    survival = [i for i, h in enumerate(header) if h.startswith(("Median OS", "OS at"))]
    response = [i for i in range(len(header)) if i not in survival]
    html = html_table(
        [header[i] for i in response],
        [[r[i] for i in response] for r in rows],
        caption="Response per arm (RECIST 1.1 best overall response, 95% CI)",
        table_id="summary-table",
    ) + _note(median_pfs_note(ds), "pfs-scan-note")
    if survival:
        html += html_table(
            [header[0], *(header[i] for i in survival)],
            [[r[0], *(r[i] for i in survival)] for r in rows],
            caption="Overall survival per arm (Kaplan–Meier, 95% CI)",
            table_id="os-table",
        )
    return html


def _note(text: str, note_id: str) -> Markup:
    """A note paragraph (escaped) with ``id`` ``note_id``; nothing for an empty ``text``."""
    return Markup('<p class="note" id="{}">{}</p>').format(note_id, text) if text else Markup("")


def _sections(
    ds: xr.Dataset,
    *,
    max_points: int,
    spider_patients: int,
    seed: int,
    decides: DecidesOptions = None,
) -> tuple[list[Section], list[str]]:
    """The report's built-in sections in order, and a sentence for each part left out (and
    why). Sections of the dataset's optional parts (:data:`DATASET_SECTIONS`) come before the
    run metadata."""
    sections: list[Section] = []
    missing: list[str] = []

    def add(
        sid: str,
        heading: str,
        note: str,
        needs: tuple[str, ...],
        make: Callable[[], go.Figure | Section],
        why: str | None = None,
    ) -> None:
        if why is None and not _has(ds, *needs):
            why = not_kept(ds, needs) or "the results lack " + ", ".join(
                n for n in needs if n not in ds.variables
            )
        if why is not None:
            missing.append(f"{heading}: {why}.")
            return
        made = make()
        if isinstance(made, Section):
            sections.append(made)
        else:
            sections.append(Section(heading, figures=(made,), note=note, id=sid))

    n = n_patients(ds)
    axes = grid_axes(ds)
    untreated = untreated_only(ds)
    if untreated:
        add(
            "summary",
            "Outcome summary",
            "",
            ("outcome",),
            lambda: Section(
                "Outcome summary",
                id="summary",
                note=(
                    "Final outcome class at the end of follow-up: extinct (below one cell), "
                    "controlled (between extinct and the escape threshold: dormant or "
                    "shrinking) or escaped; percentages of the patients whose solve succeeded."
                ),
                html=html_table(OUTCOME_HEADER, outcome_rows(ds), table_id="summary-table"),
            ),
        )
        add(
            "outcome-map",
            "Outcome map",
            "Final outcome class in each cell of the parameter grid. Hover a cell for the "
            "share of each class.",
            ("outcome", "cell"),
            lambda: outcome_map(ds),
            why=None if len(axes) >= 2 else f"needs two swept grid axes, the run has {len(axes)}",
        )
        missing.append(
            "Response map, waterfall, spider plot and progression-free survival: no arm of "
            "this study has a drug, so RECIST response does not apply; its read-out is the "
            "outcome class (extinct, controlled, escaped)."
        )
    else:
        add(
            "summary",
            "Summary",
            "",
            ("n", "orr", "dcr", "median_pfs_days"),
            lambda: Section(
                "Summary",
                id="summary",
                note=(
                    f"Best overall response by RECIST 1.1 on {_lesions(ds)}; "
                    "ORR = (CR + PR)/N, DCR = (CR + PR + SD)/N; median PFS not reached when "
                    "fewer than half progress."
                ),
                html=_summary_tables(ds)
                + (
                    html_table(
                        TIMECOURSE_HEADER,
                        timecourse_rows(ds),
                        caption=(
                            "Response over time per arm: time to response (TTR) and duration "
                            "of response (DoR, Kaplan–Meier among responders), "
                            "pseudo-progression (Hodi et al. 2016)"
                        ),
                        table_id="timecourse-table",
                    )
                    if _has(ds, *TIMECOURSE_VARIABLES)
                    else ""
                ),
            ),
        )
        n_ax = len(axes)
        decides_why = decides_missing(ds) if n_ax < 2 else None
        if len(axes) >= 2 or decides_why is not None:
            add(
                "response-map",
                "Response map",
                "Objective response rate in each cell of the parameter grid; the dashed contour "
                "marks an ORR of 30 %. Hover a cell for its value.",
                ("cell_orr",),
                lambda: response_map(ds),
                why=None if len(axes) >= 2 else f"needs two swept grid axes, the run has {n_ax}",
            )
        if len(axes) < 2:  # a cohort: response over its patients' covariates instead
            add(
                DECIDES_ID,
                DECIDES_HEADING,
                "",
                DECIDES_NEEDS,
                lambda: decides_section(ds, decides),
                why=decides_why,
            )
        add(
            "waterfall",
            "Waterfall",
            f"One bar per patient ({n:,} per arm"
            + (
                f"; at most {max_points:,} bars per arm are drawn, at evenly spaced ranks"
                if n > max_points
                else ""
            )
            + "). Hover a bar for the patient and the unclipped value.",
            ("best_pct_change", "best_response"),
            lambda: waterfall(ds, max_points=max_points),
        )
        add(
            "spider",
            "Spider plot",
            "Tumor diameter change at each scan for the same randomly drawn patients in every arm.",
            ("pct_change", "best_response", "scan_day"),
            lambda: spider(ds, n_patients=spider_patients, seed=seed),
        )
        add(
            "pfs",
            "Progression-free survival",
            "Kaplan–Meier estimate per arm; shaded: 95 % pointwise confidence band; ticks: "
            "censored patients. Failed solves are left out. Curves that coincide are drawn "
            "with different dash styles and named above the plot.",
            ("pfs_days", "pfs_event"),
            lambda: kaplan_meier_figure(ds),
        )
        # a sweep with [survival] (its per-patient times kept, or only the summaries)
        if _has(ds, "os_days", "os_event") or _has(ds, "median_os_days"):
            add(
                "os",
                "Overall survival",
                "Kaplan–Meier estimate per arm of the deaths drawn from the tumor-size-driven "
                "hazard ([survival]; attributes survival_*), censored at the end of follow-up; "
                "shaded: 95 % pointwise confidence band; diamonds: published targets with "
                "their intervals. Deaths end follow-up: no response or progression is read "
                "after death, and a death before progression is a PFS event.",
                ("os_days", "os_event"),
                lambda: overall_survival_figure(ds),
            )
        no_responders = (
            "no treated arm has a responder"
            if _has(ds, "ttr_days") and not responder_arms(ds, "ttr_days")
            else None
        )
        add(
            "time-to-response",
            "Time to response",
            "Share of each treated arm's responders (CR/PR before progression"
            + (", confirmed" if _confirmed(ds) else "")
            + ") by the scan day at which the response was first seen.",
            ("ttr_days", "scan_day"),
            lambda: time_to_response_figure(ds),
            why=no_responders,
        )
        add(
            "duration-of-response",
            "Duration of response",
            "Kaplan–Meier estimate among each treated arm's responders, from the first "
            "response scan to progression"
            + (" or death" if _has(ds, "os_days") else "")
            + "; shaded: 95 % pointwise confidence band; ticks: censored responders.",
            ("dor_days", "dor_event"),
            lambda: duration_of_response_figure(ds),
            why=no_responders,
        )
    n_traj = ds.sizes.get("traj_patient", 0)
    add(
        "trajectories",
        "Trajectories",
        f"Median and {band_label(n_traj, 0.05, 0.95)} patients per arm whose trajectories "
        "were stored"
        + (f" (a subset of the {n:,} simulated)" if n > n_traj else "")
        + (
            f"; with {n_traj} patients the band's edges are rough estimates."
            if MIN_BAND_PATIENTS <= n_traj < 100
            else "."
        ),
        ("traj_T",),
        lambda: trajectory_bands(ds),
    )
    by = "outcome" if untreated else "response"
    add(
        "parameters",
        "Patient parameters",
        "Distribution of each varying parameter "
        + (
            "among patients whose tumor escaped and the others."
            if untreated
            else "among responders and non-responders."
        ),
        ("outcome",) if untreated else ("best_response",),
        lambda: parameter_distributions(ds, by=by),
        why=not_kept(ds, ("outcome",) if untreated else ("best_response",))
        or _parameters_missing(ds),
    )
    for sid, heading, note, make in sensitivity_sections(ds):
        add(sid, heading, note, (), make)
    for build in DATASET_SECTIONS:
        section = build(ds)
        if section is not None:
            sections.append(section)
    return sections, missing


def _confirmed(ds: xr.Dataset) -> bool:
    """Whether the spec asks for confirmed responses (``[response] confirm``)."""
    response = spec_table(ds).get("response")
    return isinstance(response, dict) and response.get("confirm") is True


def _parameters_missing(ds: xr.Dataset) -> str | None:
    """Why the parameter section is left out, or ``None``."""
    names = parameter_names(ds)
    if not names:
        return "no parameter varies across patients"
    arms = arm_names(ds) if "arm" in ds.coords else []
    inert = inert_parameters(ds, arms[-1]) if arms else {}
    if all(p in inert for p in names):
        return f"no varying parameter acts in arm “{arms[-1]}” ({', '.join(sorted(inert))})"
    return None


def _metadata_section(ds: xr.Dataset) -> Section:
    spec = str(ds.attrs.get("spec", "")).strip()
    return Section(
        "Run metadata",
        id="metadata",
        html=html_table(
            ("Item", "Value"),
            metadata_rows(ds, include_spec=False),
            numeric=(False, False),
            table_id="metadata-table",
        ),
        details=("Sweep spec (TOML)", spec) if spec else None,
    )


def _figure_json(fig: go.Figure) -> str:
    """Plotly JSON of ``fig`` (numpy arrays become base64 typed arrays), safe inside <script>."""
    text = fig.to_json(validate=False)
    if text is None:  # pragma: no cover - to_json returns a string when no file is given
        raise RuntimeError("plotly returned no JSON")
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render_report(
    ds: xr.Dataset,
    *,
    title: str | None = None,
    max_points: int = 5000,
    spider_patients: int = 30,
    seed: int = 0,
    extra_sections: Sequence[Section] = (),
    decides: DecidesOptions = None,
) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2; got {max_points}")
    for s in extra_sections:
        if not isinstance(s, Section):
            raise TypeError(
                f"extra_sections takes tumorimmune.reports.Section objects; got {type(s).__name__}"
            )
    sections, missing = _sections(
        ds, max_points=max_points, spider_patients=spider_patients, seed=seed, decides=decides
    )
    sections += [*extra_sections, _metadata_section(ds)]
    anchors = [s.anchor for s in sections]
    dup = sorted({a for a in anchors if anchors.count(a) > 1})
    if dup:
        raise ValueError(f"report sections need distinct ids; repeated: {dup}")
    arms = arm_names(ds) if "arm" in ds.coords else []
    model = ds.attrs.get("model", "")
    subtitle = ", ".join(
        s
        for s in (
            str(model) if model else "",
            f"{n_patients(ds):,} virtual patients per arm",
            f"arms: {', '.join(arms)}" if arms else "",
        )
        if s
    )
    spec = spec_table(ds)
    sweep_name = spec.get("name") if isinstance(spec.get("name"), str) else ""
    description = spec.get("description") if isinstance(spec.get("description"), str) else ""
    blocks = []
    figures = []
    for s in sections:
        ids = [
            f"fig-{s.anchor}" if k == 0 else f"fig-{s.anchor}-{k + 1}"
            for k in range(len(s.figures))
        ]
        figures += zip(ids, s.figures, strict=True)
        blocks.append({"section": s, "div_ids": ids, "html": Markup(s.html)})
    figures_json = (
        "["
        + ",".join(
            '{"id": ' + json.dumps(div) + ', "figure": ' + _figure_json(fig) + "}"
            for div, fig in figures
        )
        + "]"
    )
    env = jinja2.Environment(autoescape=True, keep_trailing_newline=True)
    source = resources.files("tumorimmune.reports").joinpath("_template.html.j2").read_text("utf-8")
    template = env.from_string(source)
    return template.render(
        title=title or "tumorimmune virtual trial report",
        subtitle=subtitle,
        sweep_name=sweep_name,
        description=description,
        caveats=caveats(ds),
        warnings=run_warnings(ds),
        version=__version__,
        blocks=blocks,
        missing=missing,
        plotlyjs=Markup(get_plotlyjs()),
        figures_json=Markup(figures_json),
    )


def write_report(
    ds: xr.Dataset,
    path: str | Path,
    *,
    title: str | None = None,
    max_points: int = 5000,
    spider_patients: int = 30,
    seed: int = 0,
    extra_sections: Sequence[Section] = (),
    decides: DecidesOptions = None,
) -> Path:
    """Write the sweep report as ONE self-contained HTML file that renders offline.

    plotly.js is inlined once (no CDN); each figure is a ``<div id="fig-<section>">`` drawn
    from JSON in which numeric arrays are base64 typed arrays. Sections, in order:

    * a treated study: summary (HTML tables: response, and response over time), response map
      (only with ≥ 2 grid axes), waterfall, spider, progression-free survival, overall
      survival (with ``os_days``: a sweep with ``[survival]``), time to response and
      duration of response (treated arms with responders); a cohort (fewer than two grid
      axes, per-patient parameters that vary) gets "What decides response" in place of the
      response map: ORR and 6-month PFS over two covariates, a ranking of the parameters
      (RBD-FAST) with their correlation, the individual treatment effect against the
      untreated arm and biomarker thresholds (:mod:`tumorimmune.analysis`; options from the
      spec's ``[report]``, overridden by ``decides``);
    * an untreated study (no arm has a drug, e.g. a dormant-vs-escape study of
      ``Kuznetsov1994``): outcome summary (extinct / controlled / escaped) and outcome map
      (with ≥ 2 grid axes) instead of the RECIST read-outs;
    * then trajectories (with ``traj_*``), patient parameters (with ``param_*``), the sections
      of the dataset's optional parts (attribute ``calibration``: "Calibration and
      validation"), ``extra_sections``, and run metadata (HTML table and the spec).

    A "Caveats" box on top lists attribute ``caveats`` (JSON list of strings) when present,
    a "Warnings" box attribute ``warnings`` (what ``tumorimmune run`` warned about);
    parts the results lack are listed under "Not shown". Every string of the spec and the
    dataset (sweep name, description, arm and parameter names) is escaped, in the page and
    in the figures. The output is deterministic: the same results give byte-identical files.

    Large cohorts stay small: the waterfall draws at most ``max_points`` bars per arm
    (evenly spaced ranks), the spider plot ``spider_patients`` patients, parameters are
    binned and trajectories summarised by quantiles, so the file is a few MB at any N.

    Args:
        ds: sweep results dataset (schema in CONTRIBUTING.md), in memory or lazily opened.
        path: output file (``.html``); parent folders are created.
        title: page title; default "tumorimmune virtual trial report".
        max_points: most waterfall bars per arm (>= 2).
        spider_patients: patients in the spider plot.
        seed: seed of the spider plot's patient draw.
        extra_sections: more :class:`Section` objects, placed before the run metadata (their
            ids must differ from the built-in ones).
        decides: options of the "What decides response" section, over the stored spec's
            ``[report]``: a :class:`tumorimmune.sweeps.ReportSpec` or a mapping of its keys,
            e.g. ``{"map": ("L", "T0"), "map_bins": 3, "biomarker": "L"}``; an invalid
            value is a ``ValueError``.

    Returns:
        The path written.
    """
    html = render_report(
        ds,
        title=title,
        max_points=max_points,
        spider_patients=spider_patients,
        seed=seed,
        extra_sections=extra_sections,
        decides=decides,
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out

"""The self-contained HTML report: every figure in one offline file (plotly.js inlined once)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import jinja2
import plotly.graph_objects as go
import xarray as xr
from plotly.offline import get_plotlyjs

from .._version import __version__
from ._data import arm_names, grid_axes, parameter_names
from ._parameters import parameter_distributions
from ._response import response_map, spider, waterfall
from ._survival import kaplan_meier
from ._tables import run_metadata, summary_table
from ._trajectories import trajectory_bands


@dataclasses.dataclass(frozen=True)
class _Section:
    id: str
    heading: str
    note: str
    figure: go.Figure
    pre: str = ""
    pre_label: str = ""

    @property
    def div_id(self) -> str:
        return f"fig-{self.id}"


def _has(ds: xr.Dataset, *names: str) -> bool:
    return all(n in ds.variables for n in names)


def _sections(
    ds: xr.Dataset, *, max_points: int, spider_patients: int, seed: int
) -> tuple[list[_Section], list[str]]:
    """The report's sections in order, and a sentence for each part left out (and why)."""
    sections: list[_Section] = []
    missing: list[str] = []

    def add(
        sid: str,
        heading: str,
        note: str,
        needs: tuple[str, ...],
        make: Callable[[], go.Figure],
        why: str | None = None,
        **extra: str,
    ) -> None:
        if why is None and not _has(ds, *needs):
            why = "the results lack " + ", ".join(n for n in needs if n not in ds.variables)
        if why is not None:
            missing.append(f"{heading}: {why}.")
            return
        sections.append(_Section(sid, heading, note, make(), **extra))

    n = ds.sizes.get("patient", 0)
    add(
        "summary",
        "Summary",
        "Best overall response by RECIST 1.1 on a single spherical lesion; ORR = (CR + PR)/N, "
        "DCR = (CR + PR + SD)/N; median PFS not reached when fewer than half progress.",
        ("n", "orr", "dcr", "median_pfs_days"),
        lambda: summary_table(ds),
    )
    axes = grid_axes(ds)
    add(
        "response-map",
        "Response map",
        "Objective response rate in each cell of the parameter grid; the dashed contour marks "
        "an ORR of 30 %. Hover a cell for its value.",
        ("cell_orr",),
        lambda: response_map(ds),
        why=None if len(axes) >= 2 else f"needs two swept grid axes, the run has {len(axes)}",
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
        "censored patients. Failed solves are left out.",
        ("pfs_days", "pfs_event"),
        lambda: kaplan_meier(ds),
    )
    add(
        "trajectories",
        "Trajectories",
        "Median and 5–95 % band over the patients whose trajectories were stored.",
        ("traj_T",),
        lambda: trajectory_bands(ds),
    )
    add(
        "parameters",
        "Patient parameters",
        "Distribution of each varying parameter among responders and non-responders.",
        ("best_response",),
        lambda: parameter_distributions(ds),
        why=None if parameter_names(ds) else "no parameter varies across patients",
    )
    spec = str(ds.attrs.get("spec", "")).strip()
    add(
        "metadata",
        "Run metadata",
        "",
        (),
        lambda: run_metadata(ds, include_spec=False),
        pre=spec,
        pre_label="Sweep spec (TOML)",
    )
    return sections, missing


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
) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2; got {max_points}")
    sections, missing = _sections(
        ds, max_points=max_points, spider_patients=spider_patients, seed=seed
    )
    arms = arm_names(ds) if "arm" in ds.coords else []
    model = ds.attrs.get("model", "")
    subtitle = ", ".join(
        s
        for s in (
            str(model) if model else "",
            f"{ds.sizes.get('patient', 0):,} virtual patients per arm",
            f"arms: {', '.join(arms)}" if arms else "",
        )
        if s
    )
    figures_json = (
        "["
        + ",".join(
            '{"id": ' + json.dumps(s.div_id) + ', "figure": ' + _figure_json(s.figure) + "}"
            for s in sections
        )
        + "]"
    )
    env = jinja2.Environment(autoescape=True, keep_trailing_newline=True)
    source = resources.files("tumorimmune.reports").joinpath("_template.html.j2").read_text("utf-8")
    template = env.from_string(source)
    return template.render(
        title=title or "tumorimmune virtual trial report",
        subtitle=subtitle,
        version=__version__,
        sections=sections,
        missing=missing,
        plotlyjs=jinja2.utils.markupsafe.Markup(get_plotlyjs()),
        figures_json=jinja2.utils.markupsafe.Markup(figures_json),
    )


def write_report(
    ds: xr.Dataset,
    path: str | Path,
    *,
    title: str | None = None,
    max_points: int = 5000,
    spider_patients: int = 30,
    seed: int = 0,
) -> Path:
    """Write the sweep report as ONE self-contained HTML file that renders offline.

    plotly.js is inlined once (no CDN); each figure is a ``<div id="fig-<section>">`` drawn
    from JSON in which numeric arrays are base64 typed arrays. Sections, in order: summary,
    response map (only with ≥ 2 grid axes), waterfall, spider, progression-free survival,
    trajectories (with ``traj_*``), patient parameters (with ``param_*``), run metadata;
    parts the results lack are listed under "Not shown". The output is deterministic: the
    same results give byte-identical files.

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

    Returns:
        The path written.
    """
    html = render_report(
        ds, title=title, max_points=max_points, spider_patients=spider_patients, seed=seed
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out

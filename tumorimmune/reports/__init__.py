"""Plotly figures of a sweep's results and the self-contained HTML report.

Every figure function takes a results ``xarray.Dataset`` (schema in CONTRIBUTING.md) and
returns a :class:`plotly.graph_objects.Figure`; :func:`write_report` assembles them into one
offline HTML file::

    import xarray as xr
    from tumorimmune import reports

    ds = xr.open_zarr("results.zarr")
    reports.write_report(ds, "report.html")

More sections (other analyses) plug in with :class:`Section`::

    reports.write_report(ds, "report.html", extra_sections=[
        reports.Section("Sensitivity", figures=[fig], note="...", id="sensitivity"),
    ])
"""

from ._html import render_report as render_report
from ._html import write_report as write_report
from ._outcome import outcome_map as outcome_map
from ._parameters import parameter_distributions as parameter_distributions
from ._response import response_map as response_map
from ._response import spider as spider
from ._response import waterfall as waterfall
from ._sections import Section as Section
from ._sections import calibration_section as calibration_section
from ._sections import html_table as html_table
from ._sections import pdl1_section as pdl1_section
from ._style import OKABE_ITO as OKABE_ITO
from ._survival import duration_of_response_figure as duration_of_response_figure
from ._survival import kaplan_meier_figure as kaplan_meier_figure
from ._survival import overall_survival_figure as overall_survival_figure
from ._survival import survival_figure as survival_figure
from ._tables import median_pfs_note as median_pfs_note
from ._tables import metadata_rows as metadata_rows
from ._tables import outcome_rows as outcome_rows
from ._tables import run_metadata as run_metadata
from ._tables import summary_header as summary_header
from ._tables import summary_rows as summary_rows
from ._tables import summary_table as summary_table
from ._tables import timecourse_rows as timecourse_rows
from ._timecourse import time_to_response_figure as time_to_response_figure
from ._trajectories import trajectory_bands as trajectory_bands

#: Former name of :func:`kaplan_meier_figure` (the statistic is
#: :func:`tumorimmune.response.kaplan_meier`).
kaplan_meier = kaplan_meier_figure

__all__ = [
    "OKABE_ITO",
    "Section",
    "calibration_section",
    "duration_of_response_figure",
    "html_table",
    "kaplan_meier",
    "kaplan_meier_figure",
    "median_pfs_note",
    "metadata_rows",
    "outcome_map",
    "outcome_rows",
    "overall_survival_figure",
    "parameter_distributions",
    "pdl1_section",
    "render_report",
    "response_map",
    "run_metadata",
    "spider",
    "summary_header",
    "summary_rows",
    "summary_table",
    "survival_figure",
    "time_to_response_figure",
    "timecourse_rows",
    "trajectory_bands",
    "waterfall",
    "write_report",
]

"""Response statistics of a virtual trial: RECIST 1.1 read-out, PFS, Kaplan–Meier, Wilson
intervals, per-arm summaries, published endpoints, overall survival from tumor kinetics
(:class:`SurvivalLink`, :func:`sample_death_days`) and RECIST over time (time to and duration
of response, confirmation, pseudo-progression, iRECIST) in ``_timecourse``.

How cells are read (lesions, detection limit, cell density, RECIST thresholds, the relaxed
read-out's temperature) is one :class:`Readout`, taken as ``readout=`` by every read-out
function. The relaxed (differentiable) read-out, :func:`soft_readout` and its views
(:func:`soft_response`, :func:`soft_endpoints`, ...), is the one used by both
:mod:`tumorimmune.calibrate` and :mod:`tumorimmune.optimize`.

A leaf package (NumPy and SciPy; ``jax_readout``, the same read-out in ``jax.numpy`` for the
device, and the relaxed read-out import jax on use): :mod:`tumorimmune.sweeps`,
:mod:`tumorimmune.calibrate` and :mod:`tumorimmune.reports` all read their clinical numbers
from here.

Typical use::

    from tumorimmune import response
    sld = response.sum_of_diameters_mm(tumor_cells_at_scans)          # (patient, scan) mm
    sld1 = response.sum_of_diameters_mm(cells, readout=response.Readout(n_lesions=1))
    bor = response.best_overall_response(sld)                          # codes, see RESPONSE_CODES
    km = response.kaplan_meier(pfs_days, pfs_event)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._endpoints import DERIVED_COLUMNS as DERIVED_COLUMNS
from ._endpoints import OUTCOME_COLUMNS as OUTCOME_COLUMNS
from ._endpoints import AssayColumns as AssayColumns
from ._endpoints import Endpoint as Endpoint
from ._endpoints import EndpointKind as EndpointKind
from ._endpoints import TargetLike as TargetLike
from ._endpoints import arm_subgroup_mask as arm_subgroup_mask
from ._endpoints import evaluate_endpoints as evaluate_endpoints
from ._endpoints import evaluate_targets as evaluate_targets
from ._endpoints import parse_subgroup as parse_subgroup
from ._endpoints import parse_subgroups as parse_subgroups
from ._endpoints import subgroup_mask as subgroup_mask
from ._jax import readout as jax_readout
from ._jax_survival import death_days as jax_death_days
from ._jax_timecourse import timecourse_readout as jax_timecourse_readout
from ._metrics import OUTCOME_CODES as OUTCOME_CODES
from ._metrics import RESPONSE_CODES as RESPONSE_CODES
from ._metrics import KaplanMeier as KaplanMeier
from ._metrics import best_overall_response as best_overall_response
from ._metrics import best_pct_change as best_pct_change
from ._metrics import cells_from_sum_of_diameters as cells_from_sum_of_diameters
from ._metrics import diameter_mm as diameter_mm
from ._metrics import kaplan_meier as kaplan_meier
from ._metrics import km_at as km_at
from ._metrics import km_median as km_median
from ._metrics import outcome_class as outcome_class
from ._metrics import pct_change as pct_change
from ._metrics import pfs as pfs
from ._metrics import scan_responses as scan_responses
from ._metrics import sum_of_diameters_mm as sum_of_diameters_mm
from ._metrics import wilson_ci as wilson_ci
from ._readout import DEFAULT_CELLS_PER_CM3 as DEFAULT_CELLS_PER_CM3
from ._readout import DEFAULT_DETECTION_LIMIT_MM as DEFAULT_DETECTION_LIMIT_MM
from ._readout import DEFAULT_N_LESIONS as DEFAULT_N_LESIONS
from ._readout import DEFAULT_TEMPERATURE as DEFAULT_TEMPERATURE
from ._readout import Readout as Readout
from ._strata import response_by_tps as response_by_tps
from ._summary import arm_summary as arm_summary
from ._summary import cell_summary as cell_summary
from ._survival import DAYS_PER_YEAR as DAYS_PER_YEAR
from ._survival import OS_LANDMARKS as OS_LANDMARKS
from ._survival import SurvivalLink as SurvivalLink
from ._survival import apply_deaths as apply_deaths
from ._survival import censor_after_death as censor_after_death
from ._survival import cumulative_hazard as cumulative_hazard
from ._survival import cutoff_readout as cutoff_readout
from ._survival import os_summary as os_summary
from ._survival import patient_uniforms as patient_uniforms
from ._survival import sample_death_days as sample_death_days
from ._timecourse import ONGOING_LANDMARKS_DAYS as ONGOING_LANDMARKS_DAYS
from ._timecourse import PSEUDO_PROGRESSION_CODES as PSEUDO_PROGRESSION_CODES
from ._timecourse import confirmed_best_response as confirmed_best_response
from ._timecourse import duration_of_response as duration_of_response
from ._timecourse import increase_then_response as increase_then_response
from ._timecourse import irecist_pfs as irecist_pfs
from ._timecourse import pseudo_progression as pseudo_progression
from ._timecourse import time_to_response as time_to_response
from ._timecourse import timecourse_readout as timecourse_readout
from ._timecourse import timecourse_summary as timecourse_summary

if TYPE_CHECKING:
    from ._relaxed import SoftReadout as SoftReadout
    from ._relaxed import evaluable as evaluable
    from ._relaxed import soft_complete_response as soft_complete_response
    from ._relaxed import soft_diameter_mm as soft_diameter_mm
    from ._relaxed import soft_endpoints as soft_endpoints
    from ._relaxed import soft_progression_free as soft_progression_free
    from ._relaxed import soft_readout as soft_readout
    from ._relaxed import soft_response as soft_response


def __getattr__(name: str) -> Any:
    """The names of ``__all__`` not imported above are the relaxed read-out's (jax), imported
    on first use so that the package stays light."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("._relaxed", __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "DAYS_PER_YEAR",
    "DEFAULT_CELLS_PER_CM3",
    "DEFAULT_DETECTION_LIMIT_MM",
    "DEFAULT_N_LESIONS",
    "DEFAULT_TEMPERATURE",
    "DERIVED_COLUMNS",
    "ONGOING_LANDMARKS_DAYS",
    "OS_LANDMARKS",
    "OUTCOME_CODES",
    "OUTCOME_COLUMNS",
    "PSEUDO_PROGRESSION_CODES",
    "RESPONSE_CODES",
    "AssayColumns",
    "Endpoint",
    "EndpointKind",
    "KaplanMeier",
    "Readout",
    "SoftReadout",
    "SurvivalLink",
    "TargetLike",
    "apply_deaths",
    "arm_subgroup_mask",
    "arm_summary",
    "best_overall_response",
    "best_pct_change",
    "cell_summary",
    "cells_from_sum_of_diameters",
    "censor_after_death",
    "confirmed_best_response",
    "cumulative_hazard",
    "cutoff_readout",
    "diameter_mm",
    "duration_of_response",
    "evaluable",
    "evaluate_endpoints",
    "evaluate_targets",
    "increase_then_response",
    "irecist_pfs",
    "jax_death_days",
    "jax_readout",
    "jax_timecourse_readout",
    "kaplan_meier",
    "km_at",
    "km_median",
    "os_summary",
    "outcome_class",
    "parse_subgroup",
    "parse_subgroups",
    "patient_uniforms",
    "pct_change",
    "pfs",
    "pseudo_progression",
    "response_by_tps",
    "sample_death_days",
    "scan_responses",
    "soft_complete_response",
    "soft_diameter_mm",
    "soft_endpoints",
    "soft_progression_free",
    "soft_readout",
    "soft_response",
    "subgroup_mask",
    "sum_of_diameters_mm",
    "time_to_response",
    "timecourse_readout",
    "timecourse_summary",
    "wilson_ci",
]

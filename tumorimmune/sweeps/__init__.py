"""Virtual cohorts and parameter sweeps: TOML specs, sampling, chunked engine, resumable store.

Typical use::

    from tumorimmune import sweeps
    spec = sweeps.load_spec("examples/quickstart.toml")
    ds = sweeps.run_sweep(spec, output="out/results.zarr")
    ds = sweeps.load("out/results.zarr")       # in memory
    ds = sweeps.open("out/results.zarr")       # lazily: dask arrays of the store's chunks
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..response import DEFAULT_DETECTION_LIMIT_MM as DEFAULT_DETECTION_LIMIT_MM
    from ..response import DEFAULT_N_LESIONS as DEFAULT_N_LESIONS
    from ..response import OUTCOME_CODES as OUTCOME_CODES
    from ..response import RESPONSE_CODES as RESPONSE_CODES
    from ..response import KaplanMeier as KaplanMeier
    from ..response import arm_summary as arm_summary
    from ..response import best_overall_response as best_overall_response
    from ..response import best_pct_change as best_pct_change
    from ..response import cell_summary as cell_summary
    from ..response import cells_from_sum_of_diameters as cells_from_sum_of_diameters
    from ..response import diameter_mm as diameter_mm
    from ..response import kaplan_meier as kaplan_meier
    from ..response import km_median as km_median
    from ..response import outcome_class as outcome_class
    from ..response import pct_change as pct_change
    from ..response import pfs as pfs
    from ..response import scan_responses as scan_responses
    from ..response import sum_of_diameters_mm as sum_of_diameters_mm
    from ..response import wilson_ci as wilson_ci
    from ..solvers import tumor_cells as tumor_cells
    from ._backends import backend_names as backend_names
    from ._backends import get_backend as get_backend
    from ._design import block_size as sensitivity_block_size
    from ._design import design_rows as design_rows
    from ._design import sample as sensitivity_sample
    from ._design import spec_design as sensitivity_design
    from ._engine import Engine as Engine
    from ._load import load_spec as load_spec
    from ._multihost import Processes as Processes
    from ._multihost import init_distributed as init_distributed
    from ._plan import SweepPlan as SweepPlan
    from ._plan import patient_table as patient_table
    from ._populations import POPULATIONS as POPULATIONS
    from ._populations import PopulationEntry as PopulationEntry
    from ._populations import get_population as get_population
    from ._populations import population_entry as population_entry
    from ._runner import ProgressCallback as ProgressCallback
    from ._runner import package_versions as package_versions
    from ._runner import run_sweep as run_sweep
    from ._sampling import base_value as base_value
    from ._sampling import patient_columns as patient_columns
    from ._sampling import transform as transform
    from ._sizing import Sizes as Sizes
    from ._sizing import memory_estimate as memory_estimate
    from ._sizing import memory_limit_bytes as memory_limit_bytes
    from ._spec import PK_ETAS as PK_ETAS
    from ._spec import ArmSpec as ArmSpec
    from ._spec import AxisSpec as AxisSpec
    from ._spec import DistSpec as DistSpec
    from ._spec import ReportSpec as ReportSpec
    from ._spec import SolverSpec as SolverSpec
    from ._spec import StoreSpec as StoreSpec
    from ._spec import SurvivalSpec as SurvivalSpec
    from ._spec import SweepSpec as SweepSpec
    from ._spec import same_spec_key as same_spec_key
    from ._spec import spec_key as spec_key
    from ._store import STATUS_KEY as STATUS_KEY
    from ._store import SweepStore as SweepStore
    from ._store import finished_chunks as finished_chunks
    from ._store import load as load
    from ._store import open as open
    from ._tiers import KEEP_TIERS as KEEP_TIERS
    from ._tiers import default_keep as default_keep
    from ._tiers import tier_of_name as tier_of_name
    from ._tiers import tier_rank as tier_rank
    from ._validate import auto_chunk_size as auto_chunk_size
    from ._validate import spec_warnings as spec_warnings
    from ._validate import validate_spec as validate_spec

#: The public names, imported on first use (``load_spec`` reads a TOML file without JAX; a
#: run imports the engine): name -> (module, attribute).
_LAZY: dict[str, tuple[str, str]] = {
    "DEFAULT_DETECTION_LIMIT_MM": ("..response", "DEFAULT_DETECTION_LIMIT_MM"),
    "DEFAULT_N_LESIONS": ("..response", "DEFAULT_N_LESIONS"),
    "OUTCOME_CODES": ("..response", "OUTCOME_CODES"),
    "RESPONSE_CODES": ("..response", "RESPONSE_CODES"),
    "KaplanMeier": ("..response", "KaplanMeier"),
    "arm_summary": ("..response", "arm_summary"),
    "best_overall_response": ("..response", "best_overall_response"),
    "best_pct_change": ("..response", "best_pct_change"),
    "cell_summary": ("..response", "cell_summary"),
    "cells_from_sum_of_diameters": ("..response", "cells_from_sum_of_diameters"),
    "diameter_mm": ("..response", "diameter_mm"),
    "kaplan_meier": ("..response", "kaplan_meier"),
    "km_median": ("..response", "km_median"),
    "outcome_class": ("..response", "outcome_class"),
    "pct_change": ("..response", "pct_change"),
    "pfs": ("..response", "pfs"),
    "scan_responses": ("..response", "scan_responses"),
    "sum_of_diameters_mm": ("..response", "sum_of_diameters_mm"),
    "wilson_ci": ("..response", "wilson_ci"),
    "tumor_cells": ("..solvers", "tumor_cells"),
    "backend_names": ("._backends", "backend_names"),
    "get_backend": ("._backends", "get_backend"),
    "sensitivity_block_size": ("._design", "block_size"),
    "design_rows": ("._design", "design_rows"),
    "sensitivity_sample": ("._design", "sample"),
    "sensitivity_design": ("._design", "spec_design"),
    "Engine": ("._engine", "Engine"),
    "Processes": ("._multihost", "Processes"),
    "init_distributed": ("._multihost", "init_distributed"),
    "SweepPlan": ("._plan", "SweepPlan"),
    "patient_table": ("._plan", "patient_table"),
    "ProgressCallback": ("._runner", "ProgressCallback"),
    "package_versions": ("._runner", "package_versions"),
    "run_sweep": ("._runner", "run_sweep"),
    "base_value": ("._sampling", "base_value"),
    "patient_columns": ("._sampling", "patient_columns"),
    "transform": ("._sampling", "transform"),
    "POPULATIONS": ("._populations", "POPULATIONS"),
    "PopulationEntry": ("._populations", "PopulationEntry"),
    "get_population": ("._populations", "get_population"),
    "population_entry": ("._populations", "population_entry"),
    "Sizes": ("._sizing", "Sizes"),
    "memory_estimate": ("._sizing", "memory_estimate"),
    "memory_limit_bytes": ("._sizing", "memory_limit_bytes"),
    "PK_ETAS": ("._spec", "PK_ETAS"),
    "ArmSpec": ("._spec", "ArmSpec"),
    "AxisSpec": ("._spec", "AxisSpec"),
    "DistSpec": ("._spec", "DistSpec"),
    "ReportSpec": ("._spec", "ReportSpec"),
    "SolverSpec": ("._spec", "SolverSpec"),
    "StoreSpec": ("._spec", "StoreSpec"),
    "SurvivalSpec": ("._spec", "SurvivalSpec"),
    "SweepSpec": ("._spec", "SweepSpec"),
    "same_spec_key": ("._spec", "same_spec_key"),
    "spec_key": ("._spec", "spec_key"),
    "STATUS_KEY": ("._store", "STATUS_KEY"),
    "SweepStore": ("._store", "SweepStore"),
    "finished_chunks": ("._store", "finished_chunks"),
    "load": ("._store", "load"),
    "open": ("._store", "open"),
    "KEEP_TIERS": ("._tiers", "KEEP_TIERS"),
    "default_keep": ("._tiers", "default_keep"),
    "tier_of_name": ("._tiers", "tier_of_name"),
    "tier_rank": ("._tiers", "tier_rank"),
    "auto_chunk_size": ("._validate", "auto_chunk_size"),
    "load_spec": ("._load", "load_spec"),
    "spec_warnings": ("._validate", "spec_warnings"),
    "validate_spec": ("._validate", "validate_spec"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "DEFAULT_DETECTION_LIMIT_MM",
    "DEFAULT_N_LESIONS",
    "KEEP_TIERS",
    "OUTCOME_CODES",
    "PK_ETAS",
    "POPULATIONS",
    "RESPONSE_CODES",
    "STATUS_KEY",
    "ArmSpec",
    "AxisSpec",
    "DistSpec",
    "Engine",
    "KaplanMeier",
    "PopulationEntry",
    "Processes",
    "ProgressCallback",
    "ReportSpec",
    "Sizes",
    "SolverSpec",
    "StoreSpec",
    "SurvivalSpec",
    "SweepPlan",
    "SweepSpec",
    "SweepStore",
    "arm_summary",
    "auto_chunk_size",
    "backend_names",
    "base_value",
    "best_overall_response",
    "best_pct_change",
    "cell_summary",
    "cells_from_sum_of_diameters",
    "default_keep",
    "design_rows",
    "diameter_mm",
    "finished_chunks",
    "get_backend",
    "get_population",
    "init_distributed",
    "kaplan_meier",
    "km_median",
    "load",
    "load_spec",
    "memory_estimate",
    "memory_limit_bytes",
    "open",
    "outcome_class",
    "package_versions",
    "patient_columns",
    "patient_table",
    "pct_change",
    "pfs",
    "population_entry",
    "run_sweep",
    "same_spec_key",
    "scan_responses",
    "sensitivity_block_size",
    "sensitivity_design",
    "sensitivity_sample",
    "spec_key",
    "spec_warnings",
    "sum_of_diameters_mm",
    "tier_of_name",
    "tier_rank",
    "transform",
    "tumor_cells",
    "validate_spec",
    "wilson_ci",
]

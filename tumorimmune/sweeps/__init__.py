"""Virtual cohorts and parameter sweeps: TOML specs, sampling, chunked engine, resumable store.

Typical use::

    from tumorimmune import sweeps
    spec = sweeps.load_spec("examples/quickstart.toml")
    ds = sweeps.run_sweep(spec, output="out/results.zarr")
    ds = sweeps.load("out/results.zarr")
"""

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
from ._multihost import Processes as Processes
from ._multihost import init_distributed as init_distributed
from ._plan import SweepPlan as SweepPlan
from ._plan import patient_table as patient_table
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
from ._spec import SolverSpec as SolverSpec
from ._spec import SurvivalSpec as SurvivalSpec
from ._spec import SweepSpec as SweepSpec
from ._spec import same_spec_key as same_spec_key
from ._spec import spec_key as spec_key
from ._store import STATUS_KEY as STATUS_KEY
from ._store import SweepStore as SweepStore
from ._store import load as load
from ._validate import auto_chunk_size as auto_chunk_size
from ._validate import load_spec as load_spec
from ._validate import spec_warnings as spec_warnings
from ._validate import validate_spec as validate_spec

__all__ = [
    "DEFAULT_DETECTION_LIMIT_MM",
    "DEFAULT_N_LESIONS",
    "OUTCOME_CODES",
    "PK_ETAS",
    "RESPONSE_CODES",
    "STATUS_KEY",
    "ArmSpec",
    "AxisSpec",
    "DistSpec",
    "Engine",
    "KaplanMeier",
    "Processes",
    "ProgressCallback",
    "Sizes",
    "SolverSpec",
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
    "design_rows",
    "diameter_mm",
    "get_backend",
    "init_distributed",
    "kaplan_meier",
    "km_median",
    "load",
    "load_spec",
    "memory_estimate",
    "memory_limit_bytes",
    "outcome_class",
    "package_versions",
    "patient_columns",
    "patient_table",
    "pct_change",
    "pfs",
    "run_sweep",
    "same_spec_key",
    "scan_responses",
    "sensitivity_block_size",
    "sensitivity_design",
    "sensitivity_sample",
    "spec_key",
    "spec_warnings",
    "sum_of_diameters_mm",
    "transform",
    "tumor_cells",
    "validate_spec",
    "wilson_ci",
]

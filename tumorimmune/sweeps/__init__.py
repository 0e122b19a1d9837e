"""Virtual cohorts and parameter sweeps: TOML specs, sampling, chunked engine, resumable store.

Typical use::

    from tumorimmune import sweeps
    spec = sweeps.load_spec("examples/quickstart.toml")
    ds = sweeps.run_sweep(spec, output="out/results.zarr")
    ds = sweeps.load("out/results.zarr")
"""

from ._backends import backend_names as backend_names
from ._backends import get_backend as get_backend
from ._engine import Engine as Engine
from ._engine import tumor_cells as tumor_cells
from ._metrics import DEFAULT_DETECTION_LIMIT_MM as DEFAULT_DETECTION_LIMIT_MM
from ._metrics import DEFAULT_N_LESIONS as DEFAULT_N_LESIONS
from ._metrics import OUTCOME_CODES as OUTCOME_CODES
from ._metrics import RESPONSE_CODES as RESPONSE_CODES
from ._metrics import KaplanMeier as KaplanMeier
from ._metrics import best_overall_response as best_overall_response
from ._metrics import best_pct_change as best_pct_change
from ._metrics import cells_from_sum_of_diameters as cells_from_sum_of_diameters
from ._metrics import diameter_mm as diameter_mm
from ._metrics import kaplan_meier as kaplan_meier
from ._metrics import km_median as km_median
from ._metrics import outcome_class as outcome_class
from ._metrics import pct_change as pct_change
from ._metrics import pfs as pfs
from ._metrics import scan_responses as scan_responses
from ._metrics import sum_of_diameters_mm as sum_of_diameters_mm
from ._metrics import wilson_ci as wilson_ci
from ._runner import package_versions as package_versions
from ._runner import run_sweep as run_sweep
from ._sampling import patient_table as patient_table
from ._spec import ArmSpec as ArmSpec
from ._spec import AxisSpec as AxisSpec
from ._spec import DistSpec as DistSpec
from ._spec import SweepSpec as SweepSpec
from ._spec import load_spec as load_spec
from ._spec import spec_warnings as spec_warnings
from ._spec import validate_spec as validate_spec
from ._store import SweepStore as SweepStore
from ._store import load as load
from ._summary import arm_summary as arm_summary
from ._summary import cell_summary as cell_summary

__all__ = [
    "DEFAULT_DETECTION_LIMIT_MM",
    "DEFAULT_N_LESIONS",
    "OUTCOME_CODES",
    "RESPONSE_CODES",
    "ArmSpec",
    "AxisSpec",
    "DistSpec",
    "Engine",
    "SweepSpec",
    "SweepStore",
    "arm_summary",
    "backend_names",
    "best_overall_response",
    "best_pct_change",
    "cell_summary",
    "cells_from_sum_of_diameters",
    "diameter_mm",
    "get_backend",
    "kaplan_meier",
    "km_median",
    "load",
    "load_spec",
    "outcome_class",
    "package_versions",
    "patient_table",
    "pct_change",
    "pfs",
    "run_sweep",
    "scan_responses",
    "spec_warnings",
    "sum_of_diameters_mm",
    "tumor_cells",
    "validate_spec",
    "wilson_ci",
]

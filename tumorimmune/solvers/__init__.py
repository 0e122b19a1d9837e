"""Batch ODE backends and their options. ``Diffrax()`` is the reference backend.

Backends are option objects (``Fused(lanes=256)``, ``Pallas(block=64)``, ``Diffrax()``,
``Auto()``) callable with the backend contract (:meth:`AbstractBackend.__call__`);
:func:`get_backend` turns a name into one.
Batch preparation (:func:`prepare_batch`, :func:`make_schedule`) and the one segment builder
(:class:`Schedule`) are here for every caller.
"""

from ._batch import make_schedule as make_schedule
from ._batch import prepare_batch as prepare_batch
from ._batch import set_dose_clock as set_dose_clock
from ._common import DEFAULT_TOLERANCES as DEFAULT_TOLERANCES
from ._common import MAX_STEPS as MAX_STEPS
from ._common import check_dtype as check_dtype
from ._common import tumor_state_index as tumor_state_index
from ._diffrax import GRADIENT_CHECKPOINTS as GRADIENT_CHECKPOINTS
from ._diffrax import solve_diffrax as solve_diffrax
from ._diffrax import solve_patient as solve_patient
from ._extinction import EXTINCTION_CELLS as EXTINCTION_CELLS
from ._extinction import tumor_cells as tumor_cells
from ._fused import default_sizes as default_sizes
from ._fused import solve_fused as solve_fused
from ._fused import solve_fused_groups as solve_fused_groups
from ._options import BACKENDS as BACKENDS
from ._options import AbstractBackend as AbstractBackend
from ._options import Auto as Auto
from ._options import Diffrax as Diffrax
from ._options import Fused as Fused
from ._options import Pallas as Pallas
from ._options import Tolerances as Tolerances
from ._options import as_backend as as_backend
from ._options import as_tolerances as as_tolerances
from ._options import backend_names as backend_names
from ._options import get_backend as get_backend
from ._pallas import solve_pallas as solve_pallas
from ._pallas import solve_pallas_groups as solve_pallas_groups
from ._schedule import Schedule as Schedule
from ._schedule import masked_segments as masked_segments
from ._schedule import validate_times as validate_times
from ._shard import shard_solve as shard_solve

#: The type of a backend (an option object callable with the backend contract,
#: :meth:`AbstractBackend.__call__`).
Backend = AbstractBackend

__all__ = [
    "BACKENDS",
    "DEFAULT_TOLERANCES",
    "EXTINCTION_CELLS",
    "GRADIENT_CHECKPOINTS",
    "MAX_STEPS",
    "AbstractBackend",
    "Auto",
    "Backend",
    "Diffrax",
    "Fused",
    "Pallas",
    "Schedule",
    "Tolerances",
    "as_backend",
    "as_tolerances",
    "backend_names",
    "check_dtype",
    "default_sizes",
    "get_backend",
    "make_schedule",
    "masked_segments",
    "prepare_batch",
    "set_dose_clock",
    "shard_solve",
    "solve_diffrax",
    "solve_fused",
    "solve_fused_groups",
    "solve_pallas",
    "solve_pallas_groups",
    "solve_patient",
    "tumor_cells",
    "tumor_state_index",
    "validate_times",
]

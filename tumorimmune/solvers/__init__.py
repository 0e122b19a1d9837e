"""Batch ODE backends. ``solve_diffrax`` is the reference backend."""

from ._diffrax import solve_diffrax as solve_diffrax
from ._diffrax import solve_patient as solve_patient
from ._extinction import EXTINCTION_CELLS as EXTINCTION_CELLS
from ._fused import default_sizes as default_sizes
from ._fused import solve_fused as solve_fused
from ._pallas import solve_pallas as solve_pallas
from ._registry import BACKENDS as BACKENDS
from ._registry import Backend as Backend
from ._registry import get_backend as get_backend
from ._schedule import Schedule as Schedule
from ._schedule import validate_times as validate_times
from ._shard import shard_solve as shard_solve

__all__ = [
    "BACKENDS",
    "EXTINCTION_CELLS",
    "Backend",
    "Schedule",
    "default_sizes",
    "get_backend",
    "shard_solve",
    "solve_diffrax",
    "solve_fused",
    "solve_pallas",
    "solve_patient",
    "validate_times",
]

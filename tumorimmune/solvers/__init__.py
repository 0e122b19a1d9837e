"""Batch ODE backends. ``solve_diffrax`` is the reference backend."""

from ._diffrax import EXTINCTION_CELLS as EXTINCTION_CELLS
from ._diffrax import solve_diffrax as solve_diffrax
from ._schedule import Schedule as Schedule
from ._schedule import validate_times as validate_times

__all__ = ["EXTINCTION_CELLS", "Schedule", "solve_diffrax", "validate_times"]

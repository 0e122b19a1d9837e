"""Read the parts of a sweep results dataset that the figures need (schema in CONTRIBUTING.md)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

from ._style import PARAMETER_UNITS


def require(ds: xr.Dataset, *names: str, figure: str) -> None:
    """Raise ``ValueError`` naming the first variable of ``names`` missing from ``ds``."""
    for name in names:
        if name not in ds.variables:
            raise ValueError(
                f"{figure} needs the variable {name!r} in the results dataset; it is missing "
                f"(present: {sorted(map(str, ds.data_vars))})"
            )


def arm_names(ds: xr.Dataset) -> list[str]:
    """Arm names in dataset order (the control, when there is one, comes first)."""
    if "arm" not in ds.coords:
        raise ValueError("the results dataset has no 'arm' coordinate")
    return [str(a) for a in ds["arm"].values]


def grid_axes(ds: xr.Dataset) -> list[str]:
    """Names of the grid dimensions (``axis_<param>``), in dataset order."""
    return [str(d) for d in ds.dims if str(d).startswith("axis_")]


def parameter_names(ds: xr.Dataset) -> list[str]:
    """Names ``<name>`` of the per-patient ``param_<name>`` variables, in dataset order."""
    return [str(v)[len("param_") :] for v in ds.data_vars if str(v).startswith("param_")]


def units_of(ds: xr.Dataset, var: str, name: str) -> str:
    """Units of parameter ``name``: the ``units`` attribute of ``var`` if set, else the table."""
    if var in ds.variables:
        u = ds[var].attrs.get("units")
        if u:
            return str(u)
    return PARAMETER_UNITS.get(name, "")


def label_with_units(name: str, units: str) -> str:
    """Axis title ``"name (units)"``; dimensionless (``—``, ``1``, empty) gives ``"name (–)"``."""
    if units in ("", "1", "—", "-"):
        return f"{name} (dimensionless)"
    return f"{name} ({units})"


def is_log_spaced(values: np.ndarray) -> bool:
    """True for positive values spanning at least 1.5 decades (drawn on a log axis)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return v.size > 1 and bool(np.all(v > 0)) and float(v.max() / v.min()) >= 10**1.5


def treated_arms(ds: xr.Dataset) -> list[str]:
    """Arms with drug on board (``traj_C`` above 0 somewhere); empty without ``traj_C``."""
    if "traj_C" not in ds.variables:
        return []
    cmax = ds["traj_C"].fillna(0.0).max(dim=[d for d in ds["traj_C"].dims if d != "arm"])
    return [str(a) for a, c in zip(ds["arm"].values, np.asarray(cmax.values), strict=True) if c > 0]


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """``min(n, k)`` indices into ``range(n)``, evenly spaced and including both ends."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(np.int64))


def attr_json(ds: xr.Dataset, key: str) -> Any:
    """Attribute ``key`` decoded from JSON when it is a JSON string; ``None`` when absent."""
    value = ds.attrs.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value

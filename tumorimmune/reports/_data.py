"""Read the parts of a sweep results dataset that the figures need (schema in CONTRIBUTING.md)."""

from __future__ import annotations

import dataclasses
import html
import json
import math
import tomllib
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


def n_patients(ds: xr.Dataset) -> int:
    """Patients per arm: the ``patient`` dimension, else (a store of ``[store] keep =
    "summary"``, without per-patient variables) the attribute ``n_patients``; 0 if neither."""
    if "patient" in ds.sizes:
        return int(ds.sizes["patient"])
    try:
        return int(ds.attrs.get("n_patients", 0))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def not_kept(ds: xr.Dataset, names: tuple[str, ...] | list[str]) -> str | None:
    """Why variables of ``names`` are missing when the store's tier (attribute ``keep``,
    ``[store] keep``) drops them: ``'not kept in this store (keep = "readout"): pct_change'``;
    ``None`` when none is missing for that reason."""
    keep = ds.attrs.get("keep")
    if not isinstance(keep, str):
        return None
    from ..sweeps import tier_of_name, tier_rank

    try:
        rank = tier_rank(keep)
    except ValueError:
        return None
    dropped = [n for n in names if n not in ds.variables and tier_rank(tier_of_name(n)) > rank]
    if not dropped:
        return None
    return f'not kept in this store (keep = "{keep}"): {", ".join(dropped)}'


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


def text(value: object) -> str:
    """``value`` as text that plotly shows literally: ``&``, ``<``, ``>`` become entities.

    Plotly reads titles, legend names, table cells and hover texts as a small HTML subset; a
    spec-provided string (arm or parameter name, sweep name) goes through here first so that
    ``"<b>"`` or ``"<script>"`` is shown as typed rather than read as markup.
    """
    return html.escape(str(value), quote=False)


def spec_table(ds: xr.Dataset) -> dict[str, Any]:
    """The sweep spec (attribute ``spec``, TOML text) as a dict; empty when absent or unreadable."""
    raw = ds.attrs.get("spec")
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        return tomllib.loads(raw)
    except tomllib.TOMLDecodeError:
        return {}


@dataclasses.dataclass(frozen=True)
class ArmTreatment:
    """What an arm of the spec gives: a drug (``None`` for a control; a chemotherapy-only
    arm's chemotherapy preset, with ``antibody`` false) and which of the standard-normal PK
    draws (``eta_CL``, ``eta_V1``, ...) the drug's inter-individual variability does not use
    (a zero column of its Ω loadings; all of them without an antibody)."""

    drug: str | None
    inert_etas: tuple[str, ...] = ()
    antibody: bool = True

    @property
    def treated(self) -> bool:
        return self.drug is not None


def arm_treatments(ds: xr.Dataset) -> dict[str, ArmTreatment] | None:
    """Treatment of every arm, read from the spec; ``None`` when the spec does not say.

    A model without a drug (``Kuznetsov1994``) makes every arm a control.
    """
    from ..model import IIV_PARAMETERS, get_drug
    from ..sweeps import ArmSpec

    spec = spec_table(ds)
    arms = spec.get("arms")
    if not isinstance(arms, list) or not arms:
        if str(ds.attrs.get("model", spec.get("model", ""))) == "Kuznetsov1994" and "arm" in ds:
            return {a: ArmTreatment(None) for a in arm_names(ds)}
        return None
    drugless = str(spec.get("model", ds.attrs.get("model", ""))) == "Kuznetsov1994"
    out: dict[str, ArmTreatment] = {}
    for entry in arms:
        try:
            arm = ArmSpec.model_validate(entry)
            if drugless or arm.is_control:
                out[arm.name] = ArmTreatment(None)
                continue
            chemo = arm.chemo_obj()
            if arm.regimen_obj() is None and chemo is not None:  # chemotherapy only
                etas = tuple(f"eta_{k}" for k in IIV_PARAMETERS)
                out[arm.name] = ArmTreatment(chemo.name, etas, antibody=False)
                continue
            drug = get_drug(arm.drug_name())
        except (ValueError, TypeError, KeyError):
            return None
        loadings = drug.iiv_loadings()
        inert = tuple(
            f"eta_{k}" for j, k in enumerate(IIV_PARAMETERS) if not np.any(loadings[:, j])
        )
        out[arm.name] = ArmTreatment(drug.name, inert)
    return out


def untreated_only(ds: xr.Dataset) -> bool:
    """True for a study without any treated arm (read-out: the outcome class, not RECIST).

    Decided from the spec's arms when it lists every arm of ``ds``, else from ``traj_C`` (no
    arm with drug on board); without either, False.
    """
    arms = arm_treatments(ds)
    present = arm_names(ds) if "arm" in ds.coords else []
    if arms is not None and all(a in arms for a in present):
        return not any(arms[a].treated for a in present)
    if "traj_C" in ds.variables:
        return not treated_arms(ds)
    return False


#: Labels and formats of the run attributes written by the sweep runner (key: (label, kind)).
_ATTR_LABELS: dict[str, tuple[str, str]] = {
    "model": ("Model", "text"),
    "backend": ("Backend", "text"),
    "device": ("Device", "text"),
    "platform": ("Platform", "text"),
    "precision": ("Precision", "text"),
    "wall_time_s": ("Wall time (s)", "seconds"),
    "solve_time_s": ("Solve time (s)", "seconds"),
    "patients_per_s": ("Throughput (patients/s)", "rate"),
    "solves_per_s": ("Throughput (solves/s)", "rate"),
    "n_patients": ("Patients", "count"),
    "n_failed": ("Failed solves", "count"),
    "jax_devices": ("JAX devices", "count"),
    "chunk_size": ("Chunk size (patients)", "count"),
    "n_chunks": ("Chunks", "count"),
    "cells_per_cm3": ("Tumor cells per cm³", "number"),
    "tumorimmune_version": ("tumorimmune version", "text"),
}


def attr_label(key: str) -> str:
    """Readable label of a dataset attribute (``solve_time_s`` -> ``Solve time (s)``)."""
    if key in _ATTR_LABELS:
        return _ATTR_LABELS[key][0]
    words = key.replace("_", " ").strip()
    for suffix, unit in ((" per s", " (per s)"), (" s", " (s)")):
        if words.endswith(suffix):
            words = words[: -len(suffix)] + unit
            break
    return words[:1].upper() + words[1:]


def format_attr(key: str, value: object) -> str:
    """An attribute value as short text: integers with thousands separators, seconds to
    0.01 s, rates to whole units, other floats to 4 significant digits, no float noise."""
    kind = _ATTR_LABELS.get(key, ("", ""))[1]
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return "–"
        if kind == "count" and v.is_integer():
            return f"{int(v):,}"
        if kind == "seconds" or (key.endswith("_s") and not key.endswith("_per_s")):
            return f"{v:,.2f}"
        if kind == "rate" or key.endswith("_per_s"):
            return f"{v:,.0f}" if abs(v) >= 10 else f"{v:.3g}"
        return f"{v:.4g}"
    return str(value)

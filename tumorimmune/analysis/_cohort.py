"""What the analyses read from a sweep's results: the patients' covariates, per-patient
outcomes (response, PFS at a landmark), the control arm."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence

import numpy as np
import xarray as xr

#: Per-patient draws that are not patient traits: ``u_death`` is the uniform draw that sets a
#: death time from the tumor's course (``[survival]``); it decides no response.
NOT_COVARIATES: tuple[str, ...] = ("u_death",)

#: Six months in days (365.25 / 2), the default PFS landmark.
SIX_MONTHS_DAYS = 182.625

#: Display names of the model parameters read as clinical covariates.
COVARIATE_LABELS: dict[str, str] = {
    "L": "PD-L1 expression L",
    "T0": "baseline tumor T0",
    "E0": "baseline effector cells E0",
    "a": "tumor growth rate a",
    "s": "effector influx s",
    "m": "effector inactivation by tumor m",
    "n": "tumor kill rate n",
    "kappa": "lesion infiltrate κ",
    "f_R": "escape-variant fraction f_R",
    "h_kill": "kill handling time h_kill",
    "k_clear": "infiltrate clearance k_clear",
    "weight": "body weight",
    "eta_CL": "PK draw η_CL",
    "eta_V1": "PK draw η_V1",
    "eta_Q": "PK draw η_Q",
    "eta_V2": "PK draw η_V2",
    "eta_CL_emax": "PK draw η_CL,max",
    "baseline_sld_mm": "baseline sum of diameters",
}


def covariates(
    ds: xr.Dataset, *, include: tuple[str, ...] | None = None, exclude: tuple[str, ...] = ()
) -> xr.Dataset:
    """The patients' covariates: every ``param_<name>`` that varies between patients (a
    variable ``<name>`` on dimension ``patient``, its ``units`` kept), and the baseline sum
    of diameters ``baseline_sld_mm`` (mm, the first scan's ``diameter_mm``) when stored.

    Args:
        ds: sweep results (``param_*`` variables on ``patient``).
        include: only these names (in this order); an unknown name is an error.
        exclude: names to leave out, besides :data:`NOT_COVARIATES` (default only).

    Returns:
        A dataset of float64 variables ``(patient,)``.
    """
    out: dict[str, xr.DataArray] = {}
    for var in ds.data_vars:
        name = str(var)
        if not name.startswith("param_") or ds[name].dims != ("patient",):
            continue
        key = name[len("param_") :]
        v = np.asarray(ds[name].values, dtype=np.float64)
        finite = v[np.isfinite(v)]
        if finite.size and np.ptp(finite) > 0:
            out[key] = xr.DataArray(v, dims=("patient",), attrs=dict(ds[name].attrs))
    if "diameter_mm" in ds.variables and "scan" in ds["diameter_mm"].dims:
        sld = ds["diameter_mm"].isel(scan=0)
        if "arm" in sld.dims:
            sld = sld.isel(arm=0)
        out["baseline_sld_mm"] = xr.DataArray(
            np.asarray(sld.values, dtype=np.float64), dims=("patient",), attrs={"units": "mm"}
        )
    if include is not None:
        unknown = [k for k in include if k not in out]
        if unknown:
            raise ValueError(
                f"no varying patient covariate {', '.join(map(repr, unknown))} in the results; "
                f"they have: {', '.join(out) or 'none'}"
            )
        out = {k: out[k] for k in include}
    else:
        out = {k: v for k, v in out.items() if k not in NOT_COVARIATES and k not in exclude}
    return xr.Dataset(out, coords={"patient": ds["patient"].values} if "patient" in ds else None)


def covariate_label(ds: xr.Dataset | None, name: str) -> str:
    """``"PD-L1 expression L (dimensionless)"``-style label of covariate ``name``."""
    units = ""
    if ds is not None:
        var = name if name == "baseline_sld_mm" else f"param_{name}"
        units = str(ds[var].attrs.get("units", "")) if var in ds.variables else ""
        if name == "baseline_sld_mm":
            units = "mm"
    label = COVARIATE_LABELS.get(name, name)
    return f"{label} ({units})" if units and units not in ("1", "—", "-") else label


def responders(ds: xr.Dataset) -> xr.DataArray:
    """1.0 for an objective response (best overall response CR or PR), 0.0 for SD or PD, NaN
    for a patient not evaluable (failed solve), ``(arm, patient)``."""
    br = ds["best_response"]
    return xr.where(br >= 0, (br <= 1).astype(np.float64), np.nan)


def pfs_landmark(ds: xr.Dataset, day: float = SIX_MONTHS_DAYS) -> xr.DataArray:
    """1.0 for a patient progression-free at ``day`` (days), 0.0 for progression or death
    before it, NaN when censored before ``day`` or not evaluable, ``(arm, patient)``."""
    t, e = ds["pfs_days"], ds["pfs_event"].astype(bool)
    ok = ds["best_response"] >= 0 if "best_response" in ds else np.isfinite(t)
    value = xr.where(t > day, 1.0, xr.where(e, 0.0, np.nan))
    return xr.where(ok & np.isfinite(t), value, np.nan)


def control_arm(ds: xr.Dataset) -> str | None:
    """The untreated (control) arm: the spec's arm without a regimen, or else the only arm
    without drug on board in ``traj_C``; ``None`` when neither says."""
    from ..sweeps import ArmSpec

    arms = [str(a) for a in ds["arm"].values]
    raw = ds.attrs.get("spec")
    if isinstance(raw, str):
        try:
            entries = tomllib.loads(raw).get("arms", [])
        except tomllib.TOMLDecodeError:
            entries = []
        for entry in entries if isinstance(entries, list) else []:
            try:
                arm = ArmSpec.model_validate(entry)
            except (ValueError, TypeError):
                continue
            if arm.is_control and arm.name in arms:
                return arm.name
    if "traj_C" in ds.variables:
        cmax = ds["traj_C"].fillna(0.0).max(dim=[d for d in ds["traj_C"].dims if d != "arm"])
        off = [a for a, c in zip(arms, np.asarray(cmax.values), strict=True) if c <= 0]
        if len(off) == 1:
            return off[0]
    return None


def arm_list(ds: xr.Dataset, arms: str | Sequence[str] | None) -> list[str]:
    """``arms`` checked against the results' arms (``None``: all of them, in order)."""
    have = [str(a) for a in ds["arm"].values]
    if arms is None:
        return have
    want = [arms] if isinstance(arms, str) else list(arms)
    unknown = [a for a in want if a not in have]
    if unknown:
        raise ValueError(f"no arm {', '.join(map(repr, unknown))}; the arms are {have}")
    return want

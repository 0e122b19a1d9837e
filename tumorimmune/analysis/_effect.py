"""Individual treatment effects: every virtual patient is in every arm, so each treated arm
can be read against the same patient untreated."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..response import wilson_ci
from ._cohort import SIX_MONTHS_DAYS, arm_list, control_arm


def _at_day(ds: xr.Dataset, day: float) -> int:
    """Index of the first scan on or after ``day`` (the last scan if none)."""
    scans = np.asarray(ds["scan_day"].values, dtype=float)
    return int(min(np.searchsorted(scans, day - 1e-9), scans.size - 1))


def treatment_effect(
    ds: xr.Dataset,
    *,
    control: str | None = None,
    arms: str | Sequence[str] | None = None,
    day: float = SIX_MONTHS_DAYS,
    min_gain_days: float = 0.0,
) -> xr.Dataset:
    """Per patient and treated arm: the effect of treatment on the same virtual patient.

    Args:
        ds: results with every patient in every arm (``tumor_cells`` at the scans,
            ``pfs_days``, ``best_response``).
        control: the untreated arm (default: :func:`control_arm`).
        arms: treated arms (default every arm but the control).
        day: day of the tumor-size comparison (the first scan on or after it; default six
            months).
        min_gain_days: a patient *benefits* when treated PFS exceeds untreated PFS by more
            than this (days; PFS is read at scans, so any gain is at least one scan interval).

    Returns:
        Dataset on ``(arm, patient)``: ``size_ratio`` (treated / untreated tumor cells at
        the scan, cells floored at 1), ``log10_size_ratio``, ``pfs_gain_days`` (treated −
        untreated PFS; a patient progression-free at the end of follow-up in both counts 0),
        ``benefit`` (bool), ``responder`` (bool, RECIST CR/PR on the treated arm); NaN /
        False where either solve failed. Attributes: ``control``, ``scan_day`` compared.
    """
    control = control if control is not None else control_arm(ds)
    if control is None:
        raise ValueError(
            "no untreated arm in these results to compare with; name one with control="
        )
    have = [str(a) for a in ds["arm"].values]
    if control not in have:
        raise ValueError(f"no arm {control!r}; the arms are {have}")
    treated = [a for a in arm_list(ds, arms) if a != control]
    if not treated:
        raise ValueError("no treated arm besides the control")
    for var in ("tumor_cells", "pfs_days", "best_response"):
        if var not in ds.variables:
            raise ValueError(f"the results have no {var!r} (needed for treatment effects)")
    k = _at_day(ds, day)
    tumor = ds["tumor_cells"].isel(scan=k).astype(np.float64)
    ok_c = ds["best_response"].sel(arm=control) >= 0
    ok = (ds["best_response"].sel(arm=treated) >= 0) & ok_c
    ratio = np.maximum(tumor.sel(arm=treated), 1.0) / np.maximum(tumor.sel(arm=control), 1.0)
    gain = ds["pfs_days"].sel(arm=treated) - ds["pfs_days"].sel(arm=control)
    ratio, gain = xr.DataArray(ratio).where(ok), gain.where(ok)
    br = ds["best_response"].sel(arm=treated)
    out = xr.Dataset(
        {
            "size_ratio": ratio.assign_attrs(
                long_name="tumor cells treated / untreated at the scan", units="1"
            ),
            "log10_size_ratio": xr.DataArray(np.log10(ratio)).assign_attrs(units="decades"),
            "pfs_gain_days": gain.assign_attrs(units="days"),
            "benefit": (gain > min_gain_days) & ok,
            "responder": (br >= 0) & (br <= 1) & ok,
            "evaluable": ok,
        }
    )
    out = out.drop_vars([c for c in out.coords if c not in ("arm", "patient")])
    return out.assign_attrs(
        control=control,
        scan_day=float(ds["scan_day"].values[k]),
        min_gain_days=float(min_gain_days),
    )


def effect_summary(effect: xr.Dataset) -> xr.Dataset:
    """Per treated arm, from :func:`treatment_effect`: the median and quartiles of the size
    ratio, the share of patients who benefit, and the share of RECIST non-responders (SD or
    PD on the treated arm) who benefit all the same — with Wilson 95 % intervals.

    Returns:
        Dataset on ``arm``: ``n``, ``median_size_ratio``, ``size_ratio_q25``/``_q75``,
        ``median_pfs_gain_days``, ``benefit`` (+ ``_lo``/``_hi``), ``n_nonresponders``,
        ``nonresponder_benefit`` (+ ``_lo``/``_hi``).
    """
    ok = effect["evaluable"].values
    ben, resp = effect["benefit"].values, effect["responder"].values
    ratio, gain = effect["size_ratio"].values, effect["pfs_gain_days"].values
    n = ok.sum(axis=1)
    k_b = (ben & ok).sum(axis=1)
    non = ok & ~resp
    n_non = non.sum(axis=1)
    k_nb = (ben & non).sum(axis=1)
    b_lo, b_hi = wilson_ci(k_b, n)
    nb_lo, nb_hi = wilson_ci(k_nb, n_non)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.array(
            [
                np.nanquantile(r, (0.25, 0.5, 0.75)) if np.isfinite(r).any() else np.full(3, np.nan)
                for r in ratio
            ]
        )
        med_gain = np.array([np.nanmedian(g) if np.isfinite(g).any() else np.nan for g in gain])
        share_b = np.where(n > 0, k_b / np.maximum(n, 1), np.nan)
        share_nb = np.where(n_non > 0, k_nb / np.maximum(n_non, 1), np.nan)
    return xr.Dataset(
        {
            "n": ("arm", n),
            "median_size_ratio": ("arm", q[:, 1]),
            "size_ratio_q25": ("arm", q[:, 0]),
            "size_ratio_q75": ("arm", q[:, 2]),
            "median_pfs_gain_days": ("arm", med_gain),
            "benefit": ("arm", share_b),
            "benefit_lo": ("arm", b_lo),
            "benefit_hi": ("arm", b_hi),
            "n_nonresponders": ("arm", n_non),
            "nonresponder_benefit": ("arm", share_nb),
            "nonresponder_benefit_lo": ("arm", nb_lo),
            "nonresponder_benefit_hi": ("arm", nb_hi),
        },
        coords={"arm": effect["arm"].values},
        attrs=dict(effect.attrs),
    )

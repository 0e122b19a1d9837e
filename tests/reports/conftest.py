"""A synthetic sweep results dataset that follows the schema of CONTRIBUTING.md exactly.

Tumor sizes follow a closed form (a sensitive clone shrinking at a rate set by the grid
parameters ``eps_n`` and ``L``, a resistant clone growing), and every response variable is
derived from them with the project's own metric functions (``tumorimmune.response``),
so the dataset is internally consistent, small and deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
import xarray as xr

from tumorimmune import response as met

EPS_N = np.array([0.5, 1.0, 2.0])
L_VALUES = np.array([0.25, 0.5, 0.75, 1.0])
SPEC = """name = "synthetic"
description = "synthetic results for the report tests"
model = "TumorImmunePD1"
"""
GRID_SPEC = """
[axes.eps_n]
values = [0.5, 1.0, 2.0]

[axes.L]
values = [0.25, 0.5, 0.75, 1.0]
"""


def _is_control(name: str) -> bool:
    return name.startswith("control") or name.startswith("untreated")


def spec_text(arms: tuple[str, ...], *, grid: bool = True, pk_variability: bool = False) -> str:
    """TOML spec of the synthetic results: controls ("control…"/"untreated…") without a
    regimen, arms naming nivolumab on nivolumab 240 mg q2w, the others on pembrolizumab."""
    text = SPEC + (GRID_SPEC if grid else "")
    if pk_variability:
        text += "\n[pk]\nvariability = true\n"
    for name in arms:
        text += f"\n[[arms]]\nname = {json.dumps(name)}\n"
        if not _is_control(name):
            reg = "nivolumab_240mg_q2w" if "nivolumab" in name else "pembrolizumab_200mg_q3w"
            text += f'regimen = "{reg}"\n'
    return text


def _pk(time: np.ndarray) -> np.ndarray:
    """Toy antibody concentration (µg/mL): 200 mg boluses q3w, one-compartment decay."""
    c = np.zeros_like(time)
    for td in np.arange(0.0, time.max() + 1e-9, 21.0):
        c += np.where(time >= td, 57.5 * np.exp(-np.log(2) / 22.0 * (time - td)), 0.0)
    return c


def make_results(
    *,
    n_per_cell: int = 5,
    n_scans: int = 9,
    seed: int = 0,
    arms: tuple[str, ...] = ("control", "pembrolizumab 200 mg q3w"),
    grid: bool = True,
    traj: bool = True,
    n_traj: int = 24,
    failed: tuple[tuple[int, int], ...] = ((1, 3),),
    pk_etas: bool = False,
    cohort: bool = False,
) -> xr.Dataset:
    """Results dataset: ``len(arms)`` arms (untreated when named "control…" or
    "untreated…"), 12 grid cells (``eps_n`` × ``L``) × ``n_per_cell`` patients (one cell
    without a grid), scans every 42 days, weekly trajectories of ``n_traj`` patients;
    ``failed`` lists ``(arm, patient)`` pairs whose solve failed (NaN rows, status 1);
    ``pk_etas`` adds standard-normal ``param_eta_CL``, ``param_eta_V1``, … and ``[pk] variability``
    to the spec (the arms' regimens are in the spec, see :func:`spec_text`); ``cohort`` (no
    grid) draws ``eps_n`` and ``L`` per patient instead (a cohort like the default run's)."""
    rng = np.random.default_rng(seed)
    n_cells = EPS_N.size * L_VALUES.size if grid else 1
    n = n_cells * n_per_cell
    cell = np.repeat(np.arange(n_cells), n_per_cell)
    eps_n = EPS_N[cell // L_VALUES.size] if grid else np.full(n, 1.0)
    L = L_VALUES[cell % L_VALUES.size] if grid else np.full(n, 1.0)
    a = 0.18 * rng.lognormal(0.0, 0.3, n)
    T0 = 10.0 ** rng.uniform(8.0, 10.0, n)
    resistant = np.where(rng.uniform(size=n) < 0.25, 0.0, 10.0 ** rng.uniform(-3.0, -0.5, n))
    if cohort:
        if grid:
            raise ValueError("cohort=True draws eps_n and L per patient: give grid=False")
        eps_n, L = rng.lognormal(0.0, 0.4, n), rng.uniform(0.05, 1.0, n)
    scan_day = 42.0 * np.arange(n_scans)
    time = np.arange(0.0, scan_day[-1] + 1e-9, 7.0)
    treated = np.array([not _is_control(name) for name in arms])
    growth = 0.03 * a / 0.18  # 1/day
    potency = np.where(treated, np.maximum(np.cumsum(treated), 1) ** -0.5, 0.0)  # later: weaker

    def tumor(t: np.ndarray, arm: int) -> np.ndarray:
        arm_treated = bool(treated[arm])
        kill = (0.04 * potency[arm] * eps_n * L)[:, None] if arm_treated else 0.0
        frac = resistant[:, None] if arm_treated else 1.0
        T = T0[:, None] * (
            (1.0 - frac) * np.exp(-kill * t[None, :]) + frac * np.exp(growth[:, None] * t)
        )
        T = np.minimum(T, 5e11)
        return np.where(T < 1.0, 0.0, T)

    cells_scan = np.stack([tumor(scan_day, i) for i in range(len(arms))])  # (arm, patient, scan)
    status = np.zeros((len(arms), n), dtype=np.int32)
    for ai, pi in failed:
        status[ai, pi] = 1
        cells_scan[ai, pi] = np.nan
    diam = met.diameter_mm(cells_scan)
    pct = met.pct_change(diam)
    best = met.best_pct_change(diam)
    best_resp = met.best_overall_response(diam)
    pfs_days, pfs_event = met.pfs(diam, scan_day, follow_up=float(scan_day[-1]))
    outcome = met.outcome_class(cells_scan[..., -1], escape_cells=2.5e11)

    per_arm: dict[str, list[float]] = {
        k: []
        for k in (
            "n",
            "orr",
            "orr_lo",
            "orr_hi",
            "dcr",
            "dcr_lo",
            "dcr_hi",
            "median_pfs_days",
            "median_pfs_days_lo",
            "median_pfs_days_hi",
            "n_cr",
            "n_pr",
            "n_sd",
            "n_pd",
            "n_failed",
        )
    }
    for i in range(len(arms)):
        br = best_resp[i]
        ok = br >= 0
        counts = [int((br == c).sum()) for c in range(4)]
        n_ok = int(ok.sum())
        k_orr, k_dcr = counts[0] + counts[1], counts[0] + counts[1] + counts[2]
        orr_lo, orr_hi = met.wilson_ci(k_orr, n_ok)
        dcr_lo, dcr_hi = met.wilson_ci(k_dcr, n_ok)
        med = met.km_median(pfs_days[i], pfs_event[i])
        for key, val in zip(
            per_arm,
            (
                n_ok,
                k_orr / n_ok if n_ok else np.nan,
                orr_lo,
                orr_hi,
                k_dcr / n_ok if n_ok else np.nan,
                dcr_lo,
                dcr_hi,
                *med,
                *counts,
                int((~ok).sum()),
            ),
            strict=True,
        ):
            per_arm[key].append(float(val))

    grid_dims: tuple[str, ...] = ("axis_eps_n", "axis_L") if grid else ()
    grid_shape = (EPS_N.size, L_VALUES.size) if grid else ()

    def per_cell(values: np.ndarray) -> np.ndarray:
        out = np.full((len(arms), n_cells), np.nan)
        for c in range(n_cells):
            v = values[:, cell == c]
            out[:, c] = np.nanmean(v, axis=1)
        return out.reshape((len(arms), *grid_shape))

    evaluable = np.where(best_resp >= 0, 1.0, np.nan)
    data_vars: dict[str, tuple] = {
        "cell": (("patient",), cell.astype(np.int64)),
        "tumor_cells": (("arm", "patient", "scan"), cells_scan),
        "diameter_mm": (("arm", "patient", "scan"), diam),
        "pct_change": (("arm", "patient", "scan"), pct),
        "best_pct_change": (("arm", "patient"), best),
        "best_response": (("arm", "patient"), best_resp.astype(np.int8)),
        "pfs_days": (("arm", "patient"), pfs_days),
        "pfs_event": (("arm", "patient"), pfs_event.astype(bool)),
        "outcome": (("arm", "patient"), outcome.astype(np.int8)),
        "status": (("arm", "patient"), status),
    }
    timecourse = met.timecourse_readout(diam, scan_day, follow_up=float(scan_day[-1]))
    for key, vals in timecourse.items():
        data_vars[key] = (("arm", "patient"), vals)
    tc_summary = met.timecourse_summary(
        timecourse["ttr_days"],
        timecourse["dor_days"],
        timecourse["dor_event"],
        timecourse["pseudo_progression"],
        scan_days=scan_day,
        follow_up=float(scan_day[-1]),
    )
    for key, vals in tc_summary.items():
        data_vars[key] = (("arm",), vals)
    data_vars["param_a"] = (("patient",), a, {"units": "1/day"})
    data_vars["param_T0"] = (("patient",), T0, {"units": "cells"})
    if pk_etas:
        for eta in ("eta_CL", "eta_V1", "eta_Q", "eta_V2", "eta_CL_emax"):
            data_vars[f"param_{eta}"] = (("patient",), rng.standard_normal(n))
    if cohort:
        data_vars["param_eps_n"] = (("patient",), eps_n)
        data_vars["param_L"] = (("patient",), L)
    if grid:
        data_vars["param_eps_n"] = (("patient",), eps_n)
        data_vars["param_L"] = (("patient",), L)
        data_vars["cell_orr"] = (
            ("arm", *grid_dims),
            per_cell(np.isin(best_resp, (0, 1)) * evaluable),
        )
        data_vars["cell_dcr"] = (
            ("arm", *grid_dims),
            per_cell(np.isin(best_resp, (0, 1, 2)) * evaluable),
        )
        data_vars["cell_mean_best_pct_change"] = (("arm", *grid_dims), per_cell(best))
    for key, vals in per_arm.items():
        is_count = key == "n" or key.startswith("n_")
        data_vars[key] = (("arm",), np.asarray(vals, dtype=np.int64 if is_count else float))
    coords: dict[str, object] = {
        "arm": np.array(arms),
        "patient": np.arange(n),
        "scan_day": (("scan",), scan_day),
        "time": time,
    }
    if grid:
        coords["axis_eps_n"] = EPS_N
        coords["axis_L"] = L_VALUES
    if traj:
        tp = np.linspace(0, n - 1, min(n_traj, n)).astype(np.int64)
        coords["traj_patient"] = tp
        T_traj = np.stack([tumor(time, i)[tp] for i in range(len(arms))])
        E_traj = 3.2e5 * (
            1.0
            + 4.0
            * treated[:, None, None]
            * L[tp][None, :, None]
            * (1.0 - np.exp(-time / 30.0))[None, None, :]
        )
        E_traj = np.broadcast_to(E_traj, T_traj.shape).copy()
        C = np.stack([_pk(time) * tr for tr in treated])[:, None, :].repeat(tp.size, axis=1)
        for ai, pi in failed:
            hit = tp == pi
            T_traj[ai, hit] = np.nan
            E_traj[ai, hit] = np.nan
            C[ai, hit] = np.nan
        data_vars["traj_T"] = (("arm", "traj_patient", "time"), T_traj)
        data_vars["traj_E"] = (("arm", "traj_patient", "time"), E_traj)
        data_vars["traj_C"] = (("arm", "traj_patient", "time"), C)
        data_vars["traj_RO"] = (("arm", "traj_patient", "time"), C / (C + 0.5))
    attrs = {
        "spec": spec_text(arms, grid=grid, pk_variability=pk_etas),
        "versions": json.dumps({"tumorimmune": "0.1.0", "jax": "0.10.0", "diffrax": "0.7.0"}),
        "device": "cpu",
        "precision": "float64",
        "wall_time_s": 12.5,
        "patients_per_s": 2 * n / 12.5,
        "backend": "diffrax",
        "model": "TumorImmunePD1",
        "n_failed": len(failed),
        "response_codes": json.dumps(met.RESPONSE_CODES),
        "outcome_codes": json.dumps(met.OUTCOME_CODES),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


@pytest.fixture(scope="session")
def results() -> xr.Dataset:
    """Small synthetic results: 2 arms × 60 patients, 3×4 grid, trajectories, one failure."""
    return make_results()


@pytest.fixture(scope="session")
def results_factory() -> Callable[..., xr.Dataset]:
    """:func:`make_results`, for tests that need a variant (no grid, no trajectories, ...)."""
    return make_results


#: A spec-provided string that must stay text everywhere in the report.
HOSTILE = "<script>alert(1)</script>"


def make_hostile_results() -> xr.Dataset:
    """Results whose sweep name, description, arm names, a parameter name, caveats and a
    calibration target all carry :data:`HOSTILE`."""
    arms = (f"control {HOSTILE}", f"pembrolizumab {HOSTILE}")
    ds = make_results(arms=arms)
    ds = ds.rename_vars({"param_a": f"param_{HOSTILE}"})
    spec = ds.attrs["spec"].replace('"synthetic"', json.dumps(HOSTILE), 1)
    spec = spec.replace(
        '"synthetic results for the report tests"', json.dumps(f"about {HOSTILE}"), 1
    )
    calibration = {
        "targets": [
            {"name": HOSTILE, "target": 0.3, "target_lo": 0.2, "target_hi": 0.4,
             "simulated": 0.31, "simulated_lo": 0.25, "simulated_hi": 0.37, "unit": HOSTILE,
             "source": HOSTILE, "fitted": True},
        ],
        "caveats": [HOSTILE],
        "notes": HOSTILE,
    }  # fmt: skip
    return ds.assign_attrs(
        spec=spec, caveats=json.dumps([HOSTILE]), calibration=json.dumps(calibration)
    )


@pytest.fixture(scope="session")
def hostile_results() -> xr.Dataset:
    """:func:`make_hostile_results`: :data:`HOSTILE` in every spec-provided string."""
    return make_hostile_results()

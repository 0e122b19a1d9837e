"""Benchmark cohorts shared by the engine benchmarks (``ensemble``, ``ensemble_gpu``,
``gpu_probe``, ``engine_passes``, ``vs_alternatives``).

Imports only numpy and ``tumorimmune.model`` / ``tumorimmune.solvers`` (no xarray, zarr, plotly,
typer), so that it runs on the bare GPU machine (jax, diffrax, equinox, numpy).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tumorimmune.model import (
    PEMBROLIZUMAB_200MG_Q3W,
    Kuznetsov1994,
    Model,
    TumorImmunePD1,
)
from tumorimmune.solvers import Schedule

#: Scan days: baseline, then every 6 weeks, and day 365.
SCANS = np.append(np.arange(0.0, 365.0, 42.0), 365.0)


@dataclasses.dataclass
class Cohort:
    """A batched model with initial states, schedule and doses (solver contract)."""

    name: str
    model: Model
    y0: np.ndarray
    schedule: Schedule
    doses: np.ndarray

    def subset(self, n: int) -> Cohort:
        # fields read directly: ``model.parameters()`` would round to float32 (x64 off) and
        # copy every parameter to the device
        p = {k: np.asarray(getattr(self.model, k))[:n] for k in self.model.parameter_names()}
        return Cohort(
            self.name, self.model.replace(**p), self.y0[:n], self.schedule, self.doses[:n]
        )

    @property
    def n(self) -> int:
        return self.y0.shape[0]


def _variability(n: int, seed: int) -> tuple[np.random.Generator, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return rng, {
        "a": 0.18 * rng.lognormal(0.0, 0.2, n),  # tumor growth rate, 1/day
        "s": 1.3e4 * rng.lognormal(0.0, 0.3, n),  # effector influx, cells/day
    }


def _full(model: Model, n: int, fields: dict[str, np.ndarray]) -> Model:
    params = {k: np.full(n, float(getattr(model, k))) for k in model.parameter_names()}
    params.update(fields)
    return model.replace(**params)


def kuznetsov(n: int, seed: int = 0) -> Cohort:
    """Kuznetsov (1994), one year, lognormal a and s; only the final state is saved."""
    _, fields = _variability(n, seed)
    model = _full(Kuznetsov1994(), n, fields)
    y0 = np.tile([3.2e5, 5e6], (n, 1))
    schedule = Schedule(ts=np.array([0.0, 365.0]), dose_times=np.zeros(0))
    return Cohort("kuznetsov1994", model, y0, schedule, np.zeros((n, 0)))


def pd1(n: int, seed: int = 0) -> Cohort:
    """PD-1 model, pembrolizumab 200 mg q3w for one year, scans every 6 weeks."""
    rng, fields = _variability(n, seed)
    fields["L"] = rng.uniform(0.0, 1.0, n)  # PD-L1 expression
    model = _full(TumorImmunePD1(), n, fields)
    y0 = np.tile([3.2e5, 5e6, 0.0, 0.0, 0.0, 0.0], (n, 1))
    reg = PEMBROLIZUMAB_200MG_Q3W
    times = reg.dose_times(float(SCANS[0]), float(SCANS[-1]))
    schedule = Schedule(ts=SCANS, dose_times=times, dosing_state=TumorImmunePD1.dosing_state)
    doses = np.tile(reg.dose_amount_mg(np.full(n, 70.0))[:, None], (1, len(times)))
    return Cohort("pd1_pembro_q3w", model, y0, schedule, doses)


COHORTS = {"kuznetsov": kuznetsov, "pd1": pd1}


def tumor_index(model: Model) -> int:
    """Index of the tumor state ``T`` (-1 when the model has none), as the solvers take it."""
    names = list(model.state_names)
    return names.index("T") if "T" in names else -1


def max_rel_error_T(ys: np.ndarray, ref: np.ndarray, tumor_index: int = 1) -> float:
    """Max over patients and saved times of |T - T_ref| / max(T_ref, 1 cell)."""
    T, Tr = ys[..., tumor_index], ref[..., tumor_index]
    ok = np.all(np.isfinite(Tr), axis=-1)
    err = np.abs(T[ok] - Tr[ok]) / np.maximum(np.abs(Tr[ok]), 1.0)
    return float(np.max(err)) if err.size else float("nan")

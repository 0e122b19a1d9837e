"""Batch preparation: a model and initial states broadcast to N patients, and their schedule.

Every caller of the batch backends (``simulate``, ``solve``, the sweep engine, tests and
benchmarks) builds its batch with these functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
from jaxtyping import ArrayLike, Float

from ..model import AbstractDrugModel, Model, Regimen, common_length
from ._schedule import Schedule


def prepare_batch(
    model: Model, y0: Mapping[str, ArrayLike | Sequence[float]]
) -> tuple[Model, np.ndarray, int]:
    """Validate ``model`` and ``y0``; broadcast every parameter and state to length N.

    Returns the batched model (every field an array of shape ``(N,)``), ``y0`` as an array of
    shape ``(N, n_states)`` and ``N``.
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a tumorimmune Model; got {type(model).__name__}")
    model.validate()
    names = model.state_names
    unknown = sorted(set(y0) - set(names))
    if unknown:
        raise ValueError(
            f"unknown state {unknown[0]!r} in y0 for {type(model).__name__}; states: {list(names)}"
        )
    y0 = model.baseline_state(dict(y0))
    # no antibody on board unless given; the model's declared initial states
    defaults = {"A1": 0.0, "A2": 0.0, **type(model).initial_state}
    missing = [k for k in names if k not in y0 and k not in defaults]
    if missing:
        raise ValueError(
            f"y0 is missing state {missing[0]!r} for {type(model).__name__}; "
            f"required: {[k for k in names if k not in defaults]}"
        )
    values = {k: np.asarray(y0.get(k, defaults.get(k, 0.0)), dtype=float) for k in names}
    for k, v in values.items():
        if v.ndim > 1:
            raise ValueError(f"y0[{k!r}] must be a scalar or 1-D array; got shape {v.shape}")
        bad = ~np.isfinite(v) | (v < 0)
        if np.any(bad):
            bad_v = np.atleast_1d(v)[np.flatnonzero(np.atleast_1d(bad))[0]]
            raise ValueError(f"y0[{k!r}] must be finite and >= 0 (cells/mg); got {bad_v!r}")
    shapes = {f"y0[{k!r}]": v.shape for k, v in values.items()}
    shapes.update({k: np.shape(v) for k, v in model.parameters().items()})
    empty = [k for k, s in shapes.items() if s == (0,)]
    if empty:
        what = empty[0] if empty[0].startswith("y0[") else f"parameter {empty[0]!r}"
        raise ValueError(f"{what} is an empty array; give at least one patient")
    n = common_length(shapes)
    batched = dataclasses.replace(
        model,  # type: ignore[type-var]
        **{
            k: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
            for k, v in model.parameters().items()
        },
    )
    y = np.stack([np.broadcast_to(values[k], (n,)) for k in names], axis=-1)
    return batched, y, n


def make_schedule(
    model: Model, ts: np.ndarray, regimen: Regimen | None
) -> tuple[Schedule, Float[np.ndarray, "N k"] | None]:
    """Schedule (output and dose times) for a batched model; doses in mg of shape (N, k)."""
    if regimen is None:
        return Schedule(ts=ts, dose_times=np.zeros(0)), None
    if not isinstance(model, AbstractDrugModel):
        raise ValueError(
            f"regimen given but {type(model).__name__} has no drug compartment; use "
            "TumorImmunePD1 or a DrugModel (docs/models.md)"
        )
    dosing_state = model.dosing_state
    model_drug = model.drug
    if regimen.drug is not None and model_drug is not None and regimen.drug != model_drug:
        raise ValueError(
            f"regimen.drug={regimen.drug!r} but the model holds {model_drug!r} PK; "
            f"use TumorImmunePD1.with_drug({regimen.drug!r}, ...)"
        )
    times = regimen.dose_times(float(ts[0]), float(ts[-1]))
    weight = np.asarray(model.weight)
    doses = np.repeat(regimen.dose_amount_mg(weight)[:, None], len(times), axis=1)
    return Schedule(ts=ts, dose_times=times, dosing_state=dosing_state), doses


def set_dose_clock(model: Model, regimen: Regimen | None) -> Model:
    """The batched model with its clearance clock ``t_dose0`` at the regimen's first dose day
    (``regimen.start_day``); unchanged without a regimen or for a model without the field."""
    if regimen is None or "t_dose0" not in model.parameter_names():
        return model
    n = np.shape(model.t_dose0)  # type: ignore[attr-defined]
    return model.replace(t_dose0=np.full(n, float(regimen.start_day)))

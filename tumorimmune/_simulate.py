"""``simulate``: integrate one patient or a batch of patients and return an xarray Dataset."""

from __future__ import annotations

import dataclasses
import time as _time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
from jaxtyping import ArrayLike, Float

from ._version import __version__
from .model._base import AbstractDrugModel, Model, _common_length
from .model._regimen import Regimen
from .solvers import BACKENDS, EXTINCTION_CELLS, Schedule, get_backend, validate_times

if TYPE_CHECKING:  # xarray is imported on use: the engine runs without it
    import xarray as xr

#: Default tolerances per precision (relative, absolute in the states' units: cells, mg).
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-8, 1e-6),
    "float32": (1e-5, 1e-3),
}


def _check_dtype(dtype: str) -> str:
    if dtype not in DEFAULT_TOLERANCES:
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    return dtype


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
    n = _common_length(shapes)
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


def to_dataset(
    model: Model,
    ts: np.ndarray,
    ys: np.ndarray,
    status: np.ndarray,
    *,
    squeeze: bool,
) -> xr.Dataset:
    """Package states (N, n_t, S) and observables into a labelled Dataset."""
    import jax

    names = model.state_names
    ys = ys.copy()
    if "T" in names:  # a tumor below one cell is extinct, and stays so
        iT = names.index("T")
        gone = np.maximum.accumulate(
            np.nan_to_num(ys[..., iT], nan=np.inf) < EXTINCTION_CELLS, axis=1
        )
        ys[..., iT] = np.where(gone, 0.0, np.maximum(ys[..., iT], 0.0))
    if "E" in names:
        iE = names.index("E")
        ys[..., iE] = np.maximum(ys[..., iE], 0.0)
    with jax.enable_x64(ys.dtype == np.float64):
        obs = jax.vmap(lambda m, y: m.observables(ts, y))(model, ys)
    obs = {k: np.asarray(v) for k, v in obs.items()}
    dims = ("patient", "time")
    data: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
        k: (dims, ys[..., i]) for i, k in enumerate(names)
    }
    data.update({k: (dims, v) for k, v in obs.items()})
    data["status"] = (("patient",), status.astype(np.int32))
    import xarray as xr

    ds = xr.Dataset(data, coords={"time": ("time", ts), "patient": np.arange(ys.shape[0])})
    units = {**model.state_units, **model.observable_units}
    for k, u in units.items():
        if k in ds:
            ds[k].attrs["units"] = u
    ds["time"].attrs["units"] = "days"
    ds["status"].attrs["description"] = "solver status: 0 = success, else a diffrax.RESULTS code"
    if squeeze and ys.shape[0] == 1:
        ds = ds.isel(patient=0, drop=True)
    return ds


def simulate(
    model: Model,
    y0: Mapping[str, ArrayLike | Sequence[float]],
    t: Float[ArrayLike, " n_t"],
    *,
    regimen: Regimen | str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    dtype: Literal["float32", "float64"] = "float64",
    max_steps: int = 100_000,
    backend: str = "auto",
) -> xr.Dataset:
    """Integrate a model for one patient or a batch of patients.

    Args:
        model: a :class:`~tumorimmune.model.Model` (e.g. ``Kuznetsov1994()``). Parameters may be
            scalars or 1-D arrays of a common length N (one value per patient).
        y0: initial state by name, e.g. ``{"E": 3.2e5, "T": 5e6}`` (cells); scalars or arrays of
            length N. Drug amounts ``A1``, ``A2`` (mg) default to 0.
        t: output times in days, strictly increasing, ``t[0] >= 0`` is the initial time.
        regimen: dosing regimen (PD-1 model only), or a preset name such as
            ``"pembrolizumab_200mg_q3w"``. At a dose day the reported value is pre-dose.
            Sets the model's clearance clock ``t_dose0`` to ``regimen.start_day``. A mg/kg
            regimen doses ``dose × model.weight``; build the model with
            ``TumorImmunePD1.with_drug(drug, weight=w)`` so that its PK follows the weight too.
        rtol, atol: step-size controller tolerances (default 1e-8/1e-6 for float64,
            1e-5/1e-3 for float32; ``atol`` in cells and mg).
        dtype: ``"float64"`` (accurate; default) or ``"float32"`` (fast; agrees with float64
            to about 1e-3 relative on tumor size).
        max_steps: step limit per segment; a patient that hits it is flagged, not fatal.
        backend: ``"auto"`` (default: the Pallas kernel on a GPU, the fused ensemble engine
            elsewhere; diffrax for a model without an explicit ``vector_field``), ``"fused"``,
            ``"pallas"`` or ``"diffrax"`` (the reference; same Tsit5 + PI controller, same
            accuracy contract). See :func:`tumorimmune.solvers.get_backend`.

    Returns:
        ``xarray.Dataset`` with coordinate ``time`` (days), one variable per state (``E``, ``T``
        in cells; ``A1``, ``A2`` in mg), observables (``C`` in µg/mL, ``RO`` in [0, 1]) and
        ``status`` (0 = success). Dims ``(time,)`` for a single patient, ``(patient, time)``
        when N > 1. Tumors that fall below one cell are extinct: ``T`` is 0 from then on.
        Failed patients have NaN states and a non-zero ``status``.

    Raises:
        ValueError: unknown or missing states, invalid parameters, times, dtype or regimen.
        TypeError: traced inputs (``jax.grad``/``jit``/``vmap``): use :func:`tumorimmune.solve`.
    """
    from ._solve import reject_traced

    reject_traced(model, y0, t)
    _check_dtype(dtype)
    if isinstance(regimen, str):
        from .model import get_regimen

        regimen = get_regimen(regimen)  # raises, listing the presets
    elif regimen is not None and not isinstance(regimen, Regimen):
        raise TypeError(
            f"regimen must be a tumorimmune Regimen, a preset name or None; "
            f"got {type(regimen).__name__}"
        )
    ts = validate_times(t)
    rt, at = DEFAULT_TOLERANCES[dtype]
    rtol = rt if rtol is None else float(rtol)
    atol = at if atol is None else float(atol)
    if not (rtol > 0 and atol > 0):
        raise ValueError(f"rtol and atol must be positive; got rtol={rtol!r}, atol={atol!r}")
    batched, y, n = prepare_batch(model, y0)
    batched = set_dose_clock(batched, regimen)
    schedule, doses = make_schedule(batched, ts, regimen)
    if doses is None:
        doses = np.zeros((n, 0))
    start = _time.perf_counter()
    solve = get_backend(backend, batched)
    ys, status, steps = solve(
        batched, y, schedule, doses, rtol=rtol, atol=atol, dtype=dtype, max_steps=max_steps
    )
    elapsed = _time.perf_counter() - start
    ds = to_dataset(batched, ts, ys, status, squeeze=True)
    ds.attrs.update(
        model=type(model).__name__,
        regimen=regimen.label if regimen is not None else "none",
        dose_times=np.asarray(schedule.dose_times, dtype=float).tolist(),
        solver="Tsit5 + PI step-size control",
        backend=next(k for k, v in BACKENDS.items() if v is solve),
        rtol=rtol,
        atol=atol,
        dtype=dtype,
        n_failed=int(np.sum(status != 0)),
        wall_time_s=elapsed,
        tumorimmune_version=__version__,
    )
    steps_dims = ("patient",) if "patient" in ds.dims else ()
    import xarray as xr

    ds["num_steps"] = xr.Variable(steps_dims, steps if n > 1 else steps[0])
    return ds

"""``simulate``: integrate one patient or a batch of patients and return an xarray Dataset."""

from __future__ import annotations

import time as _time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
from jaxtyping import ArrayLike, Float

from ._version import __version__
from .model import Model, Regimen
from .solvers import (
    EXTINCTION_CELLS,
    AbstractBackend,
    Tolerances,
    as_tolerances,
    check_dtype,
    get_backend,
    make_schedule,
    prepare_batch,
    set_dose_clock,
    validate_times,
)

if TYPE_CHECKING:  # xarray is imported on use: the engine runs without it
    import xarray as xr


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
    dtype: Literal["float32", "float64"] | None = None,
    max_steps: int | None = None,
    backend: str | AbstractBackend = "auto",
    tolerances: Tolerances | None = None,
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
        rtol: relative tolerance of the step-size controller (default 1e-8 for float64,
            1e-5 for float32); a shorthand for ``tolerances.rtol`` (give one or the other).
        atol: absolute tolerance in cells and mg (default 1e-6 for float64, 1e-3 for
            float32); a shorthand for ``tolerances.atol``.
        max_steps: step limit per segment; a patient that hits it is flagged, not fatal
            (default :data:`~tumorimmune.solvers.MAX_STEPS`); a shorthand for
            ``tolerances.max_steps``.
        dtype: ``"float64"`` (accurate) or ``"float32"`` (fast; agrees with float64 to about
            1e-3 relative on tumor size); ``None``: the backend object's ``dtype`` if it has
            one (e.g. ``Pallas(dtype="float32")``), else float64.
        backend: a backend object with its options — ``Auto()``, ``Fused(lanes=...)``,
            ``Pallas(block=...)``, ``Diffrax()`` from :mod:`tumorimmune.solvers` — or its name
            ``"auto"`` (default: the Pallas kernel on a GPU, the fused ensemble engine
            elsewhere),
            ``"fused"``, ``"pallas"`` or ``"diffrax"`` (the reference; same Tsit5 + PI
            controller, same accuracy contract).
        tolerances: a :class:`~tumorimmune.solvers.Tolerances`.

    Returns:
        ``xarray.Dataset`` with coordinate ``time`` (days), one variable per state (``E``, ``T``
        in cells; ``A1``, ``A2`` in mg), observables (``C`` in µg/mL, ``RO`` in [0, 1]) and
        ``status`` (0 = success). Dims ``(time,)`` for a single patient, ``(patient, time)``
        when N > 1. Tumors that fall below one cell are extinct: ``T`` is 0 from then on.
        Failed patients have NaN states and a non-zero ``status``.

    Raises:
        ValueError: unknown or missing states, invalid parameters, times, dtype, regimen,
            backend or tolerances.
        TypeError: traced inputs (``jax.grad``/``jit``/``vmap``): use :func:`tumorimmune.solve`.
    """
    from ._solve import reject_traced

    reject_traced(model, y0, t)
    tol = as_tolerances(tolerances, rtol=rtol, atol=atol, max_steps=max_steps)
    if isinstance(regimen, str):
        from .model import get_regimen

        regimen = get_regimen(regimen)  # raises, listing the presets
    elif regimen is not None and not isinstance(regimen, Regimen):
        raise TypeError(
            f"regimen must be a tumorimmune Regimen, a preset name or None; "
            f"got {type(regimen).__name__}"
        )
    ts = validate_times(t)
    batched, y, n = prepare_batch(model, y0)
    solve = get_backend(backend, batched)
    dtype = check_dtype(dtype) if dtype is not None else (solve.dtype or "float64")
    rtol, atol, steps_max = tol.resolve(dtype)
    batched = set_dose_clock(batched, regimen)
    schedule, doses = make_schedule(batched, ts, regimen)
    if doses is None:
        doses = np.zeros((n, 0))
    start = _time.perf_counter()
    ys, status, steps = solve(
        batched, y, schedule, doses, rtol=rtol, atol=atol, dtype=dtype, max_steps=steps_max
    )
    elapsed = _time.perf_counter() - start
    ds = to_dataset(batched, ts, ys, status, squeeze=True)
    ds.attrs.update(
        model=type(model).__name__,
        regimen=regimen.label if regimen is not None else "none",
        dose_times=np.asarray(schedule.dose_times, dtype=float).tolist(),
        solver="Tsit5 + PI step-size control",
        backend=solve.name,
        rtol=rtol,
        atol=atol,
        max_steps=steps_max,
        dtype=dtype,
        n_failed=int(np.sum(status != 0)),
        wall_time_s=elapsed,
        tumorimmune_version=__version__,
    )
    steps_dims = ("patient",) if "patient" in ds.dims else ()
    import xarray as xr

    ds["num_steps"] = xr.Variable(steps_dims, steps if n > 1 else steps[0])
    return ds

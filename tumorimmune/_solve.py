"""``solve``: the pure functional core — arrays in, arrays out; jit/vmap/grad-composable.

``solve(model, y0, t, dosing=...)`` integrates one patient (scalar parameters) or a batch
(parameters of shape ``(N,)``) with the reference Tsit5 solver
(:func:`tumorimmune.solvers.solve_patient`, the same numerics as ``simulate(...,
backend="diffrax")``) and returns a :class:`Solution` of JAX arrays. Nothing inside converts to
NumPy, so every input — model parameters, initial states, output times, dose amounts, dosing
interval and start day — may be a traced JAX value.

Dose times are built with ``jnp`` from a :class:`Dosing` (``start + k·interval`` for
``k < n_max``, ``n_max`` static): the integration restarts at each dose time; doses at or after
the final time are masked (zero-length segments, no bolus). The derivative with respect to a
dose time ``τ`` is the derivative of the solution across the restart, through the segment
boundaries: ``y(t) = Φ(t, τ; y(τ⁻) + dose·e_A1)`` for ``t > τ``, and ``d/dτ`` is taken through
both the end of the segment before ``τ`` and the start of the one after (it equals
``∂Φ/∂τ + ∂Φ/∂y·(f(y(τ⁻)) − f(y(τ⁺)))`` in the limit of exact integration). Dose interval and
start enter only through the dose times; the number of active doses is piecewise constant in
them (its derivative is 0 where defined).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Literal, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer
from jaxtyping import Array, ArrayLike, Float, Int

from .model import AbstractDrugModel, Model, Regimen
from .solvers import (
    EXTINCTION_CELLS,
    GRADIENT_CHECKPOINTS,
    AbstractBackend,
    Diffrax,
    Tolerances,
    as_backend,
    as_tolerances,
    masked_segments,
    solve_patient,
    tumor_cells,
)

#: Adjoints by name (``adjoint=`` of :func:`solve`).
ADJOINTS: dict[str, type[diffrax.AbstractAdjoint]] = {
    "checkpoint": diffrax.RecursiveCheckpointAdjoint,
    "backsolve": diffrax.BacksolveAdjoint,
    "forward": diffrax.ForwardMode,
}


class Dosing(eqx.Module):
    """Repeated boluses with traceable amount, interval and start (days).

    Doses of ``dose`` mg are given at ``start + k·interval`` for ``k = 0, …, n_max − 1``;
    those at or after the final output time (or before the initial one) are not given. Unlike
    :class:`~tumorimmune.model.Regimen` (a validated, NumPy-based description used by
    ``simulate`` and sweeps), every numeric field may be a JAX tracer, so the solution can be
    differentiated with respect to them. ``n_max`` is static (it fixes the shapes); choose it
    at least the number of doses that fit in the horizon for the smallest interval considered.

    Attributes:
        dose: mg per administration; scalar or ``(N,)`` (per patient, e.g. mg/kg × weight).
        interval: days between doses (> 0); scalar or ``(N,)``.
        start: day of the first dose; scalar or ``(N,)``.
        n_max: maximum number of doses (static).
    """

    dose: Float[ArrayLike, "*#N"]
    interval: Float[ArrayLike, "*#N"]
    start: Float[ArrayLike, "*#N"] = 0.0
    n_max: int = eqx.field(static=True, default=64)

    def times(self) -> Float[Array, " n_max"]:
        """Dose days ``start + k·interval``, ``k < n_max`` (one patient: scalar fields)."""
        k = jnp.arange(self.n_max, dtype=jnp.result_type(float))
        return jnp.asarray(self.start) + k * jnp.asarray(self.interval)

    @classmethod
    def from_regimen(
        cls,
        regimen: Regimen,
        t: Float[ArrayLike, " n_t"],
        *,
        weight: Float[ArrayLike, "*N"] = 70.0,
    ) -> Dosing:
        """The dosing of a :class:`~tumorimmune.model.Regimen` over the output times ``t``.

        ``weight`` (kg) converts mg/kg doses to mg (scalar or per patient); ``n_max`` is the
        number of regimen doses in ``[t[0], t[-1])`` (``end_day`` and ``n_doses`` honoured).
        """
        tt = np.asarray(t, dtype=float)
        n = len(regimen.dose_times(float(tt[0]), float(tt[-1])))
        if regimen.start_day < tt[0]:  # doses before t0 are dropped by Regimen too
            n += math.ceil((tt[0] - regimen.start_day) / regimen.interval)
        w = jnp.asarray(weight)
        dose = regimen.dose * w if regimen.unit == "mg/kg" else jnp.full_like(w, regimen.dose)
        return cls(dose=dose, interval=regimen.interval, start=regimen.start_day, n_max=max(n, 1))


class Solution(NamedTuple):
    """Output of :func:`solve`.

    Attributes:
        ys: states at the output times, ``(n_t, S)`` for one patient, ``(N, n_t, S)`` for a
            batch (cells, mg); NaN where the solve failed. A tumor below one cell is extinct:
            ``T`` is 0 from then on (as in ``simulate``). Values at a dose time are pre-dose.
        status: ``()`` or ``(N,)`` int32, 0 = success, else a ``diffrax.RESULTS`` code.
    """

    ys: Float[Array, "*N n_t S"]
    status: Int[Array, "*N"]


def _is_traced(tree: object) -> bool:
    return any(isinstance(x, Tracer) for x in jax.tree_util.tree_leaves(tree))


def _state_vector(model: Model, y0: Mapping[str, ArrayLike] | ArrayLike) -> Array:
    if not isinstance(y0, Mapping):
        return jnp.asarray(y0, jnp.result_type(float))
    names = model.state_names
    unknown = sorted(set(y0) - set(names))
    if unknown:
        raise ValueError(f"unknown state {unknown[0]!r} in y0; states: {list(names)}")
    y0 = model.baseline_state(dict(y0))  # e.g. escape variants split off the baseline tumor
    defaults = {"A1": 0.0, "A2": 0.0, **type(model).initial_state}
    missing = [k for k in names if k not in y0 and k not in defaults]
    if missing:
        raise ValueError(f"y0 is missing state {missing[0]!r}; required: {missing}")
    cols = [jnp.asarray(y0.get(k, defaults.get(k, 0.0)), jnp.result_type(float)) for k in names]
    cols = jnp.broadcast_arrays(*cols)
    return jnp.stack(cols, axis=-1)


def _segments(dosing: Dosing | None, t0: Array, t1: Array) -> tuple[Array, Array, Array]:
    """(start, end, bolus mg) of the ``n_max + 1`` segments for one patient (masked)."""
    if dosing is None:
        return t0[None], t1[None], jnp.zeros(1, t0.dtype)
    return masked_segments(dosing.times(), dosing.dose, t0, t1)


def _solve_one(
    model: Model,
    y0: Float[Array, " S"],
    ts: Float[Array, " n_t"],
    dosing: Dosing | None,
    *,
    rtol: float,
    atol: float,
    max_steps: int,
    adjoint: diffrax.AbstractAdjoint,
) -> tuple[Array, Array]:
    names = model.state_names
    starts, ends, dose = _segments(dosing, ts[0], ts[-1])
    it = names.index("T") if "T" in names else -1
    ys, status, _ = solve_patient(
        model,
        y0,
        ts,
        starts,
        ends,
        dose,
        rtol=rtol,
        atol=atol,
        dosing_state=(
            model.dosing_state
            if dosing is not None and isinstance(model, AbstractDrugModel)
            else -1
        ),
        tumor_index=it,
        max_steps=max_steps,
        adjoint=adjoint,
    )
    if it >= 0:  # extinction is absorbing at every output (as simulate's to_dataset)
        T = ys[:, it]
        gone = jnp.cumsum(jnp.where(jnp.isnan(T), False, T < EXTINCTION_CELLS)) > 0
        ys = ys.at[:, it].set(jnp.where(gone, 0.0, jnp.where(T < 0, 0.0, T)))
    return ys, status


def solve(
    model: Model,
    y0: Mapping[str, Float[ArrayLike, "*N"]] | Float[ArrayLike, "*N S"],
    t: Float[ArrayLike, " n_t"],
    *,
    dosing: Dosing | Regimen | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int | None = None,
    adjoint: Literal["checkpoint", "backsolve", "forward"] | diffrax.AbstractAdjoint = (
        "checkpoint"
    ),
    backend: Literal["diffrax", "fused", "pallas", "auto"] | AbstractBackend = "diffrax",
    tolerances: Tolerances | None = None,
) -> Solution:
    """Integrate a model and return JAX arrays; composable with ``jit``/``vmap``/``grad``.

    Args:
        model: a :class:`~tumorimmune.model.Model`; every parameter a scalar (one patient) or
            an array of shape ``(N,)`` (a batch; scalars are shared). May hold tracers.
        y0: initial states, ``(S,)``, ``(N, S)`` (order of ``model.state_names``) or a mapping
            by state name (``A1``/``A2`` default to 0 mg); cells and mg.
        t: output times, days, strictly increasing; ``t[0]`` is the initial time.
        dosing: a :class:`Dosing` (traceable amount/interval/start), a
            :class:`~tumorimmune.model.Regimen` (converted with :meth:`Dosing.from_regimen`,
            mg/kg scaled by ``model.weight``) or ``None``. Needs a model with a drug state.
        rtol: relative tolerance of the Tsit5 + PID step-size controller (default 1e-8 in
            float64, 1e-5 in float32); a shorthand for ``tolerances.rtol`` (give one or the
            other).
        atol: absolute tolerance (cells and mg; default 1e-6 in float64, 1e-3 in float32); a
            shorthand for ``tolerances.atol``. Run with
            ``jax.config.update("jax_enable_x64", True)`` for float64 (gradients then agree
            with central differences to 1e-5 at tight tolerances, ``tests/test_solve.py``).
        max_steps: step limit per segment; a patient that hits it has NaN rows and non-zero
            ``status`` (no exception); a shorthand for ``tolerances.max_steps``.
        adjoint: how reverse/forward mode differentiate the solve: ``"checkpoint"``
            (``diffrax.RecursiveCheckpointAdjoint``, discretise-then-optimise, exact gradient
            of the numerical solution; default), ``"backsolve"`` (``BacksolveAdjoint``,
            optimise-then-discretise, O(1) memory), ``"forward"`` (``ForwardMode``, for
            ``jax.jacfwd``) or any ``diffrax.AbstractAdjoint``. ``"backsolve"`` differentiates
            parameters, initial states and dose amounts, not dose times (diffrax's
            ``BacksolveAdjoint`` has no derivative with respect to the integration bounds): a
            traced ``Dosing.interval``/``start`` with it raises ``ValueError``.
        backend: ``"diffrax"`` / ``Diffrax()`` (default; differentiable). The fast engines
            (``"fused"``, ``"pallas"``, ``"auto"`` or their objects with options, e.g.
            ``Fused(lanes=256)``; :mod:`tumorimmune.solvers`) are used when every input is
            concrete (a batch forward solve, same accuracy contract); when traced
            (``jax.grad``, ``jit``, ``vmap``) they cannot be differentiated and ``solve``
            falls back to diffrax with a ``UserWarning``. Solved in the precision of JAX
            (float64 with x64 enabled), whatever the backend's ``dtype``.
        tolerances: a :class:`~tumorimmune.solvers.Tolerances`.

    Returns:
        :class:`Solution` ``(ys, status)``: ``ys`` ``(n_t, S)`` or ``(N, n_t, S)``.
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a tumorimmune Model; got {type(model).__name__}")
    if isinstance(adjoint, str):
        if adjoint not in ADJOINTS:
            raise ValueError(f"adjoint must be one of {sorted(ADJOINTS)}; got {adjoint!r}")
        adjoint_obj = (
            diffrax.RecursiveCheckpointAdjoint(checkpoints=GRADIENT_CHECKPOINTS)
            if adjoint == "checkpoint"
            else ADJOINTS[adjoint]()
        )
    else:
        adjoint_obj = adjoint
    engine = as_backend(backend)
    precision = "float64" if jnp.result_type(float) == jnp.float64 else "float32"
    rtol, atol, max_steps = as_tolerances(
        tolerances, rtol=rtol, atol=atol, max_steps=max_steps
    ).resolve(precision)
    ts = jnp.asarray(t, jnp.result_type(float))
    if not _is_traced(t):
        from .solvers import validate_times

        validate_times(np.asarray(t))
    if isinstance(dosing, Regimen):
        if not _is_traced(t):
            dosing = Dosing.from_regimen(dosing, np.asarray(t), weight=_weight(model))
        else:
            raise ValueError("a Regimen needs concrete times t; pass a Dosing instead")
    if dosing is not None and not isinstance(model, AbstractDrugModel):
        raise ValueError(
            f"dosing given but {type(model).__name__} has no drug compartment; use TumorImmunePD1"
        )
    y = _state_vector(model, y0)
    if y.shape[-1] != len(model.state_names):
        raise ValueError(
            f"y0 must have {len(model.state_names)} states {model.state_names} on its last "
            f"axis; got shape {y.shape}"
        )
    if not isinstance(engine, Diffrax):
        if _is_traced((model, y, t, dosing)):
            warnings.warn(
                f"tumorimmune.solve: backend {engine.name!r} cannot be traced (jax.grad/jit/vmap); "
                "using the differentiable diffrax backend",
                UserWarning,
                stacklevel=2,
            )
        else:
            return _solve_fast(
                model, y, ts, dosing, engine, rtol=rtol, atol=atol, max_steps=max_steps
            )
    if (
        isinstance(adjoint_obj, diffrax.BacksolveAdjoint)
        and dosing is not None
        and _is_traced((dosing.interval, dosing.start))
    ):
        raise ValueError(
            "adjoint='backsolve' cannot differentiate dose times (traced Dosing.interval/start);"
            " use adjoint='checkpoint' or 'forward'"
        )
    kw = dict(rtol=rtol, atol=atol, max_steps=max_steps, adjoint=adjoint_obj)
    leaves = jax.tree_util.tree_leaves((model, dosing))
    batched = y.ndim == 2 or any(jnp.ndim(x) == 1 for x in leaves)
    if not batched:
        return Solution(*_solve_one(model, y, ts, dosing, **kw))  # type: ignore[arg-type]
    n = _batch_size(y, leaves)
    y = jnp.broadcast_to(y, (n, y.shape[-1]))
    axes = lambda tree: jax.tree_util.tree_map(lambda x: 0 if jnp.ndim(x) == 1 else None, tree)  # noqa: E731
    one = lambda m, y_, d: _solve_one(m, y_, ts, d, **kw)  # type: ignore[arg-type]  # noqa: E731
    ys, status = jax.vmap(one, in_axes=(axes(model), 0, axes(dosing)))(model, y, dosing)
    return Solution(ys, status)


def _weight(model: Model) -> ArrayLike:
    return model.weight if isinstance(model, AbstractDrugModel) else 70.0


def _batch_size(y: Array, leaves: list) -> int:
    sizes = {int(jnp.shape(x)[0]) for x in leaves if jnp.ndim(x) == 1}
    if y.ndim == 2:
        sizes.add(int(y.shape[0]))
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"per-patient arrays must share one length N; got lengths {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def _solve_fast(
    model: Model,
    y: Array,
    ts: Array,
    dosing: Dosing | None,
    backend: AbstractBackend,
    *,
    rtol: float,
    atol: float,
    max_steps: int,
) -> Solution:
    """Concrete inputs: one batch forward solve on a fast engine (NumPy contract)."""
    import dataclasses

    from .solvers import Schedule

    leaves = jax.tree_util.tree_leaves((model, dosing))
    n = _batch_size(y, leaves)
    single = y.ndim == 1 and not any(jnp.ndim(x) == 1 for x in leaves)
    params = {
        k: np.broadcast_to(np.asarray(v, float), (n,)).copy() for k, v in model.parameters().items()
    }
    batch = dataclasses.replace(model, **params)  # type: ignore[type-var]
    y_np = np.broadcast_to(np.asarray(y, float), (n, y.shape[-1]))
    t_np = np.asarray(ts, float)
    if dosing is None:
        sched, doses = Schedule(ts=t_np, dose_times=np.zeros(0)), np.zeros((n, 0))
    else:
        if np.ndim(dosing.interval) or np.ndim(dosing.start):
            raise ValueError("fast backends need one dosing interval/start for the batch")
        tau = np.asarray(dosing.times(), float)
        tau = tau[(tau >= t_np[0]) & (tau < t_np[-1])]
        sched = Schedule(ts=t_np, dose_times=tau, dosing_state=model.dosing_state)  # type: ignore[attr-defined]
        doses = np.repeat(
            np.broadcast_to(np.asarray(dosing.dose, float), (n,))[:, None], len(tau), axis=1
        )
    dtype = "float64" if jnp.result_type(float) == jnp.float64 else "float32"
    ys, status, _ = backend.resolve(batch)(
        batch, y_np, sched, doses, rtol=rtol, atol=atol, dtype=dtype, max_steps=max_steps
    )
    names = model.state_names
    if "T" in names:
        ys = np.array(ys)
        ys[..., names.index("T")] = tumor_cells(ys[..., names.index("T")])
    out = Solution(jnp.asarray(ys), jnp.asarray(status, jnp.int32))
    return Solution(out.ys[0], out.status[0]) if single else out


def reject_traced(*args: object) -> None:
    """Raise a one-line ``TypeError`` when an argument of ``simulate`` is a JAX tracer.

    ``simulate`` returns an ``xarray.Dataset`` of NumPy arrays and cannot be traced by
    ``jax.grad``/``jit``/``vmap``; the message points to :func:`solve`.
    """
    leaves = jax.tree_util.tree_leaves([dict(a) if isinstance(a, Mapping) else a for a in args])
    if any(isinstance(x, Tracer) for x in leaves):
        raise TypeError(
            "simulate returns NumPy/xarray and cannot be traced by jax.grad/jit/vmap; "
            "use tumorimmune.solve(model, y0, t, dosing=...) (JAX arrays) instead"
        )

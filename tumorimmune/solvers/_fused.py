"""Fast ensemble backend: per-patient adaptive Tsit5 fused into one ``lax.while_loop``.

Every iteration of the loop advances *every* lane (patient) by one Runge–Kutta step (or one
rejected trial), each with its own time ``t`` and step size ``dt``; lanes that have finished are
masked or refilled. States are kept in structure-of-arrays layout ``(n_states, lanes)`` so that
each stage is a handful of long vectorised loops. Compared with ``jax.vmap(diffrax.diffeqsolve)``
there are no nested loops, no per-segment restarts and no dense-output bookkeeping.

Numerics (:mod:`._tsit5`, shared with the Pallas kernels; same accuracy contract as
:func:`~tumorimmune.solvers.solve_diffrax`): Tsit5 with the tableau of ``diffrax.Tsit5``, the
integral controller with the defaults of ``diffrax.PIDController``, Hairer's initial step.

- Steps land *exactly* on every output time and every dose time (the step is clipped there;
  after such a clipped step the next step is not smaller than the unclipped proposal).
  The output is the state at the step end (pre-dose at a dose time); then the bolus is added
  to ``schedule.dosing_state`` and the FSAL derivative is re-evaluated (one extra iteration).
- Extinction (the rule of every backend, :mod:`._extinction`): the vector field treats a tumor
  below :data:`EXTINCTION_CELLS` as 0 and freezes it; at the end of an accepted step such a tumor
  is also set to exactly 0 (the FSAL derivative needs no refresh: the field already saw a 0).
- Failure (one definition for every backend): a patient fails when it cannot reach the end of
  follow-up. ``max_steps`` bounds accepted+rejected steps *per segment between doses*, as in
  diffrax; a patient that hits it gets status 1 (``max_steps_reached``). A patient whose step
  size no longer advances time (``t + dt == t`` in the working precision, e.g. a non-finite
  vector field) cannot finish: it stops early with status 10 (``dt_min_reached``), where diffrax
  would spend its remaining steps and report status 1. A very fast (but finite) tumor kill is
  not a failure. A failed patient's row is NaN; the rest of the batch is unaffected.

Scheduling: the cohort is cut into pools (``chunk_size``) solved by one compiled call each; in a
pool, ``lanes`` patients are stepped together and a lane whose patient has finished takes the
pool's next patient (checked every ``refill_every`` iterations), so the loop does not idle while
the slowest patient of a batch finishes. CPU: 512 lanes (their working set stays in L2), pools
of up to 2^16 patients, one pool per core at a time (threads). GPU: one lane per patient, pools
of up to 2^21 patients. Memory is bounded by the pool size, not by the cohort. Parameters
equal for the whole cohort are passed once (not per lane); exact zeros become static constants
so that model fast paths apply (e.g. constant antibody clearance when ``CL_emax = 0``). On CPU
the pool loop is compiled with its own XLA options (:data:`_CPU_COMPILER_OPTIONS`: 512-bit
vectors), which change its speed, not its results.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..model import Model
from ._common import MAX_STEPS, Result, check_dtype, split_parameters, tumor_state_index
from ._extinction import absorbing_field
from ._schedule import Schedule
from ._tsit5 import STATUS_OK, Field, Lanes, advance, initial_lanes, running, start

_CPU_LANES = 512
_CPU_POOL = 1 << 16
_GPU_CHUNK = 1 << 21
#: XLA options of the CPU pool loop only (per compiled function, no process-wide state):
#: LLVM may use 512-bit vectors where the CPU has them (XLA's default prefers 256 bits).
#: Elementwise code only, so the results are bitwise those of 256-bit vectors
#: (``tests/solvers/test_fused.py::test_cpu_compiler_options_keep_results_bitwise``); about
#: 7-16 % more patients/s on an AVX-512 Xeon (benchmarks/RESULTS.md, "CPU engine: passes per
#: step"). Ignored by LLVM on CPUs without 512-bit vectors.
_CPU_COMPILER_OPTIONS: dict[str, Any] = {"xla_cpu_prefer_vector_width": 512}


def _batched_field(model: Model, tumor_index: int) -> Field:
    """``f(t (N,), y (S, N)) -> (S, N)``; model fields of shape (N,) vary, others are shared.
    Extinction is absorbing (:func:`~._extinction.absorbing_field`)."""
    axes = jax.tree_util.tree_map(lambda x: 0 if jnp.ndim(x) == 1 else None, model)
    one = absorbing_field(
        lambda t, y, m: m.vector_field(t, y, None), tumor_index, len(model.state_names)
    )
    vf = jax.vmap(lambda m, t, y: one(t, y, m), in_axes=(axes, 0, 1), out_axes=1)
    return lambda t, y: vf(model, t, y)


def _take(x: Array, idx: Array) -> Array:
    """Gather along the patient (last) axis."""
    return jnp.take(x, idx, axis=-1, mode="clip")


@dataclasses.dataclass(frozen=True)
class _Config:
    """Static settings of a pool's compiled loop (hashable)."""

    lanes: int
    refill_every: int
    unroll: int
    n_t: int
    dosing_state: int
    tumor_index: int
    max_steps: int


class _Pool(eqx.Module):
    """Inputs of one pool of P patients (padding patients ``>= n_valid`` are never stepped).

    The patients follow one of G schedules (``group``: the schedule of each patient; ``None``
    when G = 1). ``stop_t[g]``: every time a step of schedule g must land on (outputs after t0
    and doses in (t0, t1)), increasing, ``stop_t[g, n_stops[g] - 1]`` = t1 (padded beyond with
    t1, never visited); ``stop_out[g, k]``: output index of stop k or -1; ``stop_dose[:, k]``:
    bolus given at the patient's stop k (0: none); ``dose0``: bolus at t0.
    """

    model: Model
    y0: Float[Array, "S P"]
    dose0: Float[Array, " P"]
    stop_t: Float[Array, "G n_stop"]
    stop_out: Int[Array, "G n_stop"]
    n_stops: Int[Array, " G"]
    group: Int[Array, " P"] | None
    stop_dose: Float[Array, "P n_stop"]
    t0: Float[Array, ""]
    rtol: Float[Array, ""]
    atol: Float[Array, ""]
    n_valid: Int[Array, ""]

    @property
    def size(self) -> int:
        return self.y0.shape[1]


class _LaneSet(eqx.Module):
    """The lanes of the loop: their numerics state and the patient each one holds."""

    num: Lanes
    pid: Int[Array, " lanes"]  # pool index of the lane's patient; P: free
    params: tuple[Array, ...]  # the patient's varying parameters
    dose_row: Float[Array, "n_stop lanes"]  # the patient's boluses per stop
    grp: Int[Array, " lanes"] | None  # the patient's schedule (None: one schedule)


def _stops_of(pool: _Pool, grp: Array | None, js: Array) -> tuple[Any, Array, Array, Array]:
    """``(end, jc, stop time, output index)`` of each lane's next stop ``js`` in its schedule:
    ``end`` the number of stops of the schedule, ``jc`` the index clipped to it. One schedule:
    a static count and a row lookup (the program of a single-schedule solve)."""
    n_stop = pool.stop_t.shape[1]
    if grp is None:
        jc = jnp.minimum(js, n_stop - 1)
        return n_stop, jc, pool.stop_t[0][jc], pool.stop_out[0][jc]
    end = pool.n_stops[grp]
    jc = jnp.minimum(js, end - 1)
    flat = grp * n_stop + jc
    return end, jc, pool.stop_t.reshape(-1)[flat], pool.stop_out.reshape(-1)[flat]


class _Carry(eqx.Module):
    """Loop state of :func:`_solve_pool`."""

    lanes: _LaneSet
    next: Int[Array, ""]  # next patient of the pool to start
    it: Int[Array, ""]
    ys: Float[Array, "S n_t_times_P"]  # outputs, flat index (output, patient)
    status: Int[Array, " P"]
    nsteps: Int[Array, " P"]


class _Start(eqx.Module):
    """State of every patient of the pool at t0 (after the bolus there)."""

    y: Float[Array, "S P"]
    k1: Float[Array, "S P"]
    dt: Float[Array, " P"]


def _varying(model: Model) -> list[int]:
    """Indices of the model leaves that differ between patients (shape (P,))."""
    return [i for i, x in enumerate(jax.tree_util.tree_leaves(model)) if jnp.ndim(x) == 1]


def _with_params(model: Model, params: tuple[Array, ...]) -> Model:
    """``model`` with its varying leaves replaced by ``params`` (the lanes' values)."""
    leaves, treedef = jax.tree_util.tree_flatten(model)
    for i, p in zip(_varying(model), params, strict=True):
        leaves[i] = p
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _params_of(model: Model, idx: Array) -> tuple[Array, ...]:
    leaves = jax.tree_util.tree_leaves(model)
    return tuple(_take(leaves[i], idx) for i in _varying(model))


def _start(pool: _Pool, cfg: _Config) -> _Start:
    """Bolus at t0, extinction, FSAL derivative and initial step of every patient of the pool."""
    t = jnp.full((pool.size,), pool.t0, pool.y0.dtype)
    y, k1, dt = start(
        _batched_field(pool.model, cfg.tumor_index), t, pool.y0, pool.dose0,
        rtol=pool.rtol, atol=pool.atol, tumor_index=cfg.tumor_index,
        dosing_state=cfg.dosing_state,
    )  # fmt: skip
    return _Start(y, k1, dt)


def _initial_carry(pool: _Pool, begin: _Start, cfg: _Config) -> _Carry:
    """The first ``lanes`` patients on the lanes (lanes beyond ``n_valid`` free)."""
    n_pool, n_stop = pool.size, pool.stop_t.shape[1]
    pid0 = jnp.arange(cfg.lanes)
    held = pid0 < pool.n_valid
    num = initial_lanes(
        jnp.full((cfg.lanes,), pool.t0, pool.y0.dtype),
        _take(begin.y, pid0),
        _take(begin.k1, pid0),
        _take(begin.dt, pid0),
        js=jnp.where(held, 0, n_stop).astype(jnp.int32),  # a free lane has no stop left
    )
    lanes = _LaneSet(
        num=num,
        pid=jnp.where(held, pid0, n_pool),
        params=_params_of(pool.model, pid0),
        dose_row=_take(pool.stop_dose.T, pid0),
        grp=None if pool.group is None else _take(pool.group, pid0),
    )
    return _Carry(
        lanes=lanes,
        next=jnp.minimum(jnp.int32(cfg.lanes), pool.n_valid),
        it=jnp.asarray(0, jnp.int32),
        ys=jnp.zeros((pool.y0.shape[0], cfg.n_t * n_pool), pool.y0.dtype)
        .at[:, :n_pool]
        .set(pool.y0),
        status=jnp.zeros((n_pool,), jnp.int32),
        nsteps=jnp.zeros((n_pool,), jnp.int32),
    )


def _step(c: _Carry, pool: _Pool, cfg: _Config) -> _Carry:
    """One iteration of every lane (:func:`~._tsit5.advance`); outputs, status and step count
    of the patients that reach a stop or leave are written to the pool's arrays."""
    n_pool = pool.size
    lanes, s = c.lanes, c.lanes.num
    end, jc, stop, out_idx = _stops_of(pool, lanes.grp, s.js)
    active = running(s, end)
    new, hit, y_stop = advance(
        _batched_field(_with_params(pool.model, lanes.params), cfg.tumor_index), s,
        active=active, stop=stop,
        dose=jnp.take_along_axis(lanes.dose_row, jc[None, :], axis=0)[0],
        last=s.js + 1 >= end, rtol=pool.rtol, atol=pool.atol, max_steps=cfg.max_steps,
        tumor_index=cfg.tumor_index, dosing_state=cfg.dosing_state,
    )  # fmt: skip
    write = hit & (out_idx >= 0)
    flat = jnp.where(write, out_idx * n_pool + lanes.pid, cfg.n_t * n_pool)  # else dropped
    leave = active & ~running(new, end)
    where_pid = jnp.where(leave, lanes.pid, n_pool)
    return _Carry(
        lanes=dataclasses.replace(lanes, num=new, pid=jnp.where(leave, n_pool, lanes.pid)),
        next=c.next,
        it=c.it + 1,
        ys=c.ys.at[:, flat].set(y_stop, mode="drop"),
        status=c.status.at[where_pid].set(new.status, mode="drop"),
        nsteps=c.nsteps.at[where_pid].set(new.steps, mode="drop"),
    )


def _refill(lanes: _LaneSet, nxt: Array, pool: _Pool, begin: _Start) -> tuple[_LaneSet, Array]:
    """Free lanes take the pool's next patients (in order); ``(lanes, next)``."""
    n_pool = pool.size
    free = lanes.pid >= n_pool
    new = nxt + jnp.cumsum(free, dtype=jnp.int32) - 1
    take = free & (new < pool.n_valid)
    idx = jnp.minimum(new, n_pool - 1)

    def sel(new_v: Any, old_v: Array) -> Array:
        return jnp.where(take, new_v, old_v)

    s = lanes.num
    num = Lanes(
        t=sel(pool.t0, s.t),
        dt=sel(_take(begin.dt, idx), s.dt),
        y=sel(_take(begin.y, idx), s.y),
        k1=sel(_take(begin.k1, idx), s.k1),
        js=sel(0, s.js),
        seg=sel(0, s.seg),
        steps=sel(0, s.steps),
        status=sel(STATUS_OK, s.status),
        refresh=sel(0, s.refresh),
    )
    params = _params_of(pool.model, idx)
    refilled = _LaneSet(
        num=num,
        pid=jnp.where(take, new, lanes.pid),
        params=tuple(sel(p, o) for p, o in zip(params, lanes.params, strict=True)),
        dose_row=sel(_take(pool.stop_dose.T, idx), lanes.dose_row),
        grp=None
        if lanes.grp is None or pool.group is None
        else sel(_take(pool.group, idx), lanes.grp),
    )
    return refilled, jnp.minimum(nxt + jnp.sum(free, dtype=jnp.int32), pool.n_valid)


def _solve_pool_impl(
    pool: _Pool, *, cfg: _Config
) -> tuple[Float[Array, "P n_t S"], Int[Array, " P"], Int[Array, " P"]]:
    """Fused adaptive Tsit5 for a pool of P patients stepped on ``cfg.lanes`` lanes.

    Each loop iteration does ``cfg.unroll`` steps on every lane; every ``cfg.refill_every``
    iterations (or when every lane is free), lanes whose patient has finished take the next
    patient of the pool, so that lanes do not idle while the slowest patient finishes.
    Returns ``ys (P, n_t, S)``, ``status (P,)``, ``num_steps (P,)``.
    """
    n_pool = pool.size
    begin = _start(pool, cfg)
    every = max(-(-cfg.refill_every // cfg.unroll), 1)  # in loop iterations

    def cond(c: _Carry) -> Array:
        return jnp.any(c.lanes.pid < n_pool) | (c.next < pool.n_valid)

    def body(c: _Carry) -> _Carry:
        for _ in range(cfg.unroll):
            c = _step(c, pool, cfg)
        if cfg.lanes >= n_pool:
            return c
        free = c.lanes.pid >= n_pool
        due = (c.next < pool.n_valid) & jnp.any(free)
        due = due & ((c.it // cfg.unroll % every == 0) | jnp.all(free))
        lanes, nxt = jax.lax.cond(
            due, lambda a, b: _refill(a, b, pool, begin), lambda a, b: (a, b), c.lanes, c.next
        )
        return dataclasses.replace(c, lanes=lanes, next=nxt)

    out = jax.lax.while_loop(cond, body, _initial_carry(pool, begin, cfg))
    # (P, n_t, S): transposed on the device, so that the host only copies contiguous rows
    ys = jnp.transpose(out.ys.reshape(-1, cfg.n_t, n_pool), (2, 1, 0))
    return ys, out.status, out.nsteps


#: The compiled pool loop: default XLA options (accelerators) and CPU options.
_solve_pool = eqx.filter_jit(_solve_pool_impl)
_solve_pool_cpu = eqx.filter_jit(  # pyright: ignore[reportCallIssue] (jit keywords: not typed)
    _solve_pool_impl, compiler_options=_CPU_COMPILER_OPTIONS
)


def _stops_batch(
    schedule: Schedule, doses: np.ndarray, np_dtype: type
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:meth:`Schedule.stops` for a batch; computed once (broadcast views) when every patient
    gets the same doses, which avoids per-patient column loops over large cohorts."""
    n = doses.shape[0]
    if n > 1 and bool(np.all(doses == doses[:1])):
        stop_t, stop_out, stop_dose, dose0 = schedule.stops(doses[:1], np_dtype)
        return (stop_t, stop_out, np.broadcast_to(stop_dose, (n, stop_dose.shape[1])),
                np.broadcast_to(dose0, (n,)))  # fmt: skip
    return schedule.stops(doses, np_dtype)


def _pow2(x: int) -> int:
    return 1 << max(int(x) - 1, 0).bit_length()


def default_sizes(n: int, n_threads: int = 1) -> tuple[int, int]:
    """Default ``(chunk_size, lanes)`` for ``n`` patients on the default JAX backend.

    CPU: 512 lanes (a lane's working set stays in L1/L2) refilled from pools of up to 2^16
    patients, at least one pool per thread. Accelerators: one pool of up to 2^21 patients,
    one lane per patient (no refill).
    """
    if jax.default_backend() == "cpu":
        chunk = min(_CPU_POOL, max(_pow2(math.ceil(n / max(n_threads, 1))), _CPU_LANES))
        return chunk, _CPU_LANES
    chunk = min(_GPU_CHUNK, _pow2(max(n, 1)))
    return chunk, chunk


def _pool_sizes(
    n: int, n_t: int, n_states: int, threads: int, *, chunk_size: int | None = None,
    lanes: int | None = None,
) -> tuple[int, int]:  # fmt: skip
    """``(chunk, lanes)``: :func:`default_sizes` unless given, checked and clamped so that the
    flat output index (``n_t · chunk``) fits int32 and the output buffer about 2^28 values."""
    chunk, n_lanes = default_sizes(n, threads)
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}")
        chunk = int(chunk_size)
        n_lanes = min(n_lanes, chunk)
    if lanes is not None:
        if int(lanes) < 1:
            raise ValueError(f"lanes must be a positive integer; got {lanes!r}")
        n_lanes = int(lanes)
    chunk = max(1, min(chunk, (2**31 - 1) // n_t, max(2**28 // (n_t * n_states), 1024)))
    return chunk, min(n_lanes, chunk)


@dataclasses.dataclass(frozen=True)
class _Host:
    """A cohort prepared on the host, cut into :class:`_Pool` s by :meth:`pool`.

    Parameters shared by the whole cohort are passed once (0-d), exact zeros as static Python
    floats so that the model's fast paths apply (e.g. constant clearance when ``CL_emax = 0``).
    """

    model: Model
    shared: dict[str, float]
    varying: dict[str, np.ndarray]
    y0: np.ndarray  # (N, S)
    dose0: np.ndarray  # (N,)
    stop_t: np.ndarray  # (G, n_stop) in the working precision
    stop_out: np.ndarray  # (G, n_stop)
    n_stops: np.ndarray  # (G,)
    group: np.ndarray | None  # (N,): the schedule of each patient (None: G = 1)
    stop_dose: np.ndarray  # (N, n_stop)
    t0: float
    rtol: float
    atol: float
    x64: bool

    def pool(self, lo: int, size: int) -> _Pool:
        """Patients ``lo .. lo + size - 1`` (past the cohort: copies of the last patient, never
        stepped). Call inside ``jax.enable_x64(self.x64)``."""
        n = self.y0.shape[0]
        idx = np.minimum(np.arange(lo, lo + size), n - 1)
        jdt = jnp.float64 if self.x64 else jnp.float32
        fields: dict[str, float | Array] = {
            k: jnp.asarray(v[idx], jdt) for k, v in self.varying.items()
        }
        fields.update({k: 0.0 if v == 0 else jnp.asarray(v, jdt) for k, v in self.shared.items()})
        return _Pool(
            model=self.model.replace(**fields),
            y0=jnp.asarray(self.y0[idx].T, jdt),
            dose0=jnp.asarray(self.dose0[idx], jdt),
            stop_t=jnp.asarray(self.stop_t, jdt),
            stop_out=jnp.asarray(self.stop_out),
            n_stops=jnp.asarray(self.n_stops),
            group=None if self.group is None else jnp.asarray(self.group[idx]),
            stop_dose=jnp.asarray(self.stop_dose[idx], jdt),
            t0=jnp.asarray(self.t0, jdt),
            rtol=jnp.asarray(self.rtol, jdt),
            atol=jnp.asarray(self.atol, jdt),
            n_valid=jnp.asarray(min(size, n - lo), jnp.int32),
        )


def _check_batch(model: Model, y0: np.ndarray, schedule: Schedule, doses: Any) -> np.ndarray:
    """``doses`` as ``(N, k)`` floats; a clear error for ``y0`` of the wrong shape."""
    if y0.ndim != 2 or y0.shape[1] != len(model.state_names):
        raise ValueError(
            f"y0 must have shape (N, {len(model.state_names)}) for {type(model).__name__}; "
            f"got {y0.shape}"
        )
    n = y0.shape[0]
    return np.asarray(doses, dtype=float).reshape(n, len(schedule.dose_times))


def _concat_models(models: list[Model], sizes: list[int]) -> Model:
    """One batched model of ``sum(sizes)`` patients: the groups' models stacked (a field of a
    group's model is a scalar or has that group's length)."""
    flat = [jax.tree_util.tree_flatten(m) for m in models]
    treedef = flat[0][1]
    for g, (_, td) in enumerate(flat):
        if td != treedef:
            a, b = models[0], models[g]
            if type(a) is not type(b):
                why = f"{type(b).__name__}, not {type(a).__name__}"
            else:
                diff = [
                    f.name
                    for f in dataclasses.fields(a)
                    if f.metadata.get("static") and getattr(a, f.name) != getattr(b, f.name)
                ]
                why = f"static field(s) {diff} differ" if diff else "its pytree structure differs"
            raise ValueError(
                f"group {g}'s model does not have the structure of group 0's ({why}): one"
                " program solves models of one class with the same static fields"
            )
    pairs = list(zip([f[0] for f in flat], sizes, strict=True))
    leaves = [
        np.concatenate([np.broadcast_to(np.asarray(ls[i], float), (n,)) for ls, n in pairs])
        for i in range(len(flat[0][0]))
    ]
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _prepare(
    models: list[Model], y0s: list[np.ndarray], schedules: list[Schedule],
    doses: list[np.ndarray], *, rtol: float, atol: float, dtype: str,
) -> tuple[_Host, int]:  # fmt: skip
    """Stop tables, parameter split and initial states of a cohort of one or more schedule
    groups (see :class:`_Host`), and the dosing state of the program.

    Every group has the output times of group 0. A group without a dosing state
    (``dosing_state = -1``) gets no boluses; the others must share their dosing state.
    """
    np_dtype = np.float64 if dtype == "float64" else np.float32
    ts = np.asarray(schedules[0].ts, float)
    dosing = sorted({s.dosing_state for s in schedules if s.dosing_state >= 0})
    if len(dosing) > 1:
        raise ValueError(f"the groups' schedules dose different states ({dosing}); give one")
    tabs, sizes = [], [y.shape[0] for y in y0s]
    for g, (sch, d, n) in enumerate(zip(schedules, doses, sizes, strict=True)):
        if not np.array_equal(np.asarray(sch.ts, float), ts):
            raise ValueError(f"group {g}'s output times differ from group 0's; give the same ts")
        stop_t, stop_out, stop_dose, dose0 = _stops_batch(sch, d, np_dtype)
        if sch.dosing_state < 0:  # no dosing state: nothing is given (broadcast zeros)
            stop_dose = np.broadcast_to(np.zeros(len(stop_t), np_dtype), (n, len(stop_t)))
            dose0 = np.broadcast_to(np.zeros((), np_dtype), (n,))
        tabs.append((stop_t, stop_out, stop_dose, dose0))
    n_stops = np.array([len(t[0]) for t in tabs], np.int32)
    width = int(n_stops.max())
    stop_t = np.stack([np.pad(t[0], (0, width - len(t[0])), mode="edge") for t in tabs])
    stop_out = np.stack([np.pad(t[1], (0, width - len(t[1])), constant_values=-1) for t in tabs])
    if len(tabs) == 1:
        stop_dose, dose0, group = tabs[0][2], tabs[0][3], None
    else:
        stop_dose = np.concatenate(
            [np.pad(t[2], ((0, 0), (0, width - t[2].shape[1]))) for t in tabs]
        )
        dose0 = np.concatenate([t[3] for t in tabs])
        group = np.repeat(np.arange(len(tabs), dtype=np.int32), sizes)
    model = models[0] if len(models) == 1 else _concat_models(models, sizes)
    n = sum(sizes)
    shared, varying = split_parameters(model, n)
    y0 = np.concatenate([np.asarray(y, float) for y in y0s])
    host = _Host(
        model, shared, varying, y0, dose0, stop_t, stop_out, n_stops, group, stop_dose,
        float(ts[0]), float(rtol), float(atol), dtype == "float64",
    )  # fmt: skip
    return host, dosing[0] if dosing else -1


def _check_options(dtype: str, max_steps: int, refill_every: int, unroll: int) -> None:
    check_dtype(dtype)
    for name, v in (("max_steps", max_steps), ("refill_every", refill_every), ("unroll", unroll)):
        if int(v) < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")


def _run_host(
    host: _Host, model: Model, n_t: int, dosing_state: int, *, max_steps: int,
    chunk_size: int | None, lanes: int | None, refill_every: int, unroll: int,
    n_threads: int | None,
) -> Result:  # fmt: skip
    """Solve a prepared cohort pool by pool (concurrently on the CPU threads)."""
    n, n_states = host.y0.shape
    on_cpu = jax.default_backend() == "cpu"
    threads = (n_threads or os.cpu_count() or 1) if on_cpu else 1
    chunk, n_lanes = _pool_sizes(n, n_t, n_states, threads, chunk_size=chunk_size, lanes=lanes)
    cfg = _Config(
        lanes=n_lanes,
        refill_every=int(refill_every),
        unroll=int(unroll),
        n_t=n_t,
        dosing_state=dosing_state,
        tumor_index=tumor_state_index(model),
        max_steps=int(max_steps),
    )
    n_chunks = math.ceil(n / chunk)
    solve_pool = _solve_pool_cpu if on_cpu else _solve_pool
    ys = np.empty((n, n_t, n_states), host.stop_t.dtype)
    status = np.empty(n, np.int32)
    steps = np.empty(n, np.int32)

    def run(c: int) -> None:
        lo = c * chunk
        k = min(chunk, n - lo)
        with jax.enable_x64(host.x64):  # thread-local: enter in every worker
            out_y, out_s, out_n = jax.device_get(solve_pool(host.pool(lo, chunk), cfg=cfg))
        ys[lo : lo + k] = out_y[:k]
        status[lo : lo + k] = out_s[:k]
        steps[lo : lo + k] = out_n[:k]

    if threads > 1 and n_chunks > 1:
        # all pools at once (the first wave may compile concurrently, once per process)
        with ThreadPoolExecutor(max_workers=min(threads, n_chunks)) as pool:
            list(pool.map(run, range(n_chunks)))
    else:
        for c in range(n_chunks):
            run(c)
    ys[status != 0] = np.nan
    return ys, status, steps


def solve_fused(
    model: Model,
    y0: Float[np.ndarray, "N S"],
    schedule: Schedule,
    doses: Float[np.ndarray, "N k"],
    *,
    rtol: float,
    atol: float,
    dtype: str = "float64",
    max_steps: int = MAX_STEPS,
    chunk_size: int | None = None,
    lanes: int | None = None,
    refill_every: int = 8,
    unroll: int = 1,
    n_threads: int | None = None,
) -> Result:
    """Solve a batch with the fused adaptive Tsit5 engine.

    Arguments ``model`` … ``max_steps`` and the result: the backend contract,
    :meth:`tumorimmune.solvers.AbstractBackend.__call__`.

    Args:
        chunk_size: patients per compiled call (a pool); memory is bounded by it, not by the
            cohort (apart from the returned arrays). Default: :func:`default_sizes`.
        lanes: patients stepped together in the fused loop (``<= chunk_size``); finished lanes
            take the pool's next patient every ``refill_every`` iterations.
        unroll: steps per iteration of the while loop (fewer loop-condition round trips on GPU).
        n_threads: pools solved concurrently on CPU (default: number of cores).
    """
    return solve_fused_groups(
        [(model, y0, schedule, doses)], rtol=rtol, atol=atol, dtype=dtype, max_steps=max_steps,
        chunk_size=chunk_size, lanes=lanes, refill_every=refill_every, unroll=unroll,
        n_threads=n_threads,
    )[0]  # fmt: skip


def solve_fused_groups(
    groups: Sequence[
        tuple[Model, Float[np.ndarray, "_N_g S"], Schedule, Float[np.ndarray, "_N_g _k_g"]]
    ],
    *,
    rtol: float,
    atol: float,
    dtype: str = "float64",
    max_steps: int = MAX_STEPS,
    chunk_size: int | None = None,
    lanes: int | None = None,
    refill_every: int = 8,
    unroll: int = 1,
    n_threads: int | None = None,
) -> list[Result]:
    """Solve several batches with different dose schedules (e.g. the arms of a trial) as one
    cohort: one compiled program, its pools and lanes shared by every group.

    Each lane follows its own patient's stop table (the schedule of its group), so a patient's
    numbers are bit-for-bit those of :func:`solve_fused` on its group alone, as long as the
    parameter split is the same: a parameter that is exactly 0 for a whole group becomes a
    constant of the program (a model fast path, e.g. constant clearance when ``CL_emax = 0``)
    only when it is 0 in every group. Group batches whose zeros differ accordingly give the
    same values to rounding, not bitwise; solve them separately where bits matter (the sweep
    engine does).

    Args:
        groups: ``(model, y0, schedule, doses)`` per group, each as for :func:`solve_fused`:
            models of one class with the same static fields, schedules with the same output
            times ``ts`` and one dosing state (or ``-1``: no doses in that group).
        rtol, atol, dtype, max_steps, chunk_size, lanes, refill_every, unroll, n_threads: as
            for :func:`solve_fused`; ``chunk_size`` counts the patients of all groups.

    Returns:
        ``(ys, status, num_steps)`` per group, in the order given, as :func:`solve_fused`.
    """
    _check_options(dtype, max_steps, refill_every, unroll)
    if len(groups) == 0:
        raise ValueError("groups is empty; give at least one (model, y0, schedule, doses)")
    models = [g[0] for g in groups]
    schedules = [g[2] for g in groups]
    y0s = [np.asarray(g[1], dtype=float) for g in groups]
    doses = [
        _check_batch(m, y, s, g[3])
        for m, y, s, g in zip(models, y0s, schedules, groups, strict=True)
    ]
    sizes = [y.shape[0] for y in y0s]
    n_t = len(schedules[0].ts)
    keep = [g for g, n in enumerate(sizes) if n > 0]
    out: list[Result] = [
        (np.zeros((0, n_t, y.shape[1])), np.zeros(0, np.int32), np.zeros(0, np.int32)) for y in y0s
    ]
    if not keep:
        return out
    host, dosing_state = _prepare(
        [models[g] for g in keep], [y0s[g] for g in keep], [schedules[g] for g in keep],
        [doses[g] for g in keep], rtol=rtol, atol=atol, dtype=dtype,
    )  # fmt: skip
    ys, status, steps = _run_host(
        host, models[keep[0]], n_t, dosing_state, max_steps=max_steps, chunk_size=chunk_size,
        lanes=lanes, refill_every=refill_every, unroll=unroll, n_threads=n_threads,
    )  # fmt: skip
    lo = 0
    for g in keep:
        hi = lo + sizes[g]
        out[g] = (ys[lo:hi], status[lo:hi], steps[lo:hi])
        lo = hi
    return out

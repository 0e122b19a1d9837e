"""Fast ensemble backend: per-patient adaptive Tsit5 fused into one ``lax.while_loop``.

Every iteration of the loop advances *every* lane (patient) by one Runge–Kutta step (or one
rejected trial), each with its own time ``t`` and step size ``dt``; lanes that have finished are
masked or refilled. States are kept in structure-of-arrays layout ``(n_states, lanes)`` so that
each stage is a handful of long vectorised loops. Compared with ``jax.vmap(diffrax.diffeqsolve)``
there are no nested loops, no per-segment restarts and no dense-output bookkeeping.

Numerics (same accuracy contract as :func:`~tumorimmune.solvers.solve_diffrax`):

- Tsitouras' 5(4) pair (Tsit5, FSAL), coefficients from ``diffrax.Tsit5`` (Tsitouras 2011).
- Step-size control identical to ``diffrax.PIDController`` with its defaults (an integral
  controller): error norm ``RMS(err / (atol + rtol·max(|y0|, |y1|)))``, error order 6,
  ``safety = 0.9``, factor in ``[0.2, 10]`` (at most ``0.9`` after a rejection); initial step by
  Hairer's algorithm as in diffrax.
- Steps land *exactly* on every output time and every dose time (the step is clipped there;
  after such a clipped step the next step is not smaller than the unclipped proposal).
  The output is the state at the step end (pre-dose at a dose time); then the bolus is added
  to ``schedule.dosing_state`` and the FSAL derivative is re-evaluated (one extra iteration).
- Extinction (the rule of every backend, :mod:`._extinction`): the vector field treats a tumor
  below :data:`EXTINCTION_CELLS` as 0 and freezes it; at the end of an accepted step such a tumor
  is also set to exactly 0 (and the FSAL derivative re-evaluated).
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
so that model fast paths apply (e.g. constant antibody clearance when ``CL_emax = 0``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..model._base import Model
from ._diffrax import _tumor_index
from ._extinction import EXTINCTION_CELLS, absorbing_field
from ._schedule import Schedule

# ----------------------------------------------------------------------------- Tsit5 tableau
# Tsitouras (2011), as in diffrax/_solver/tsit5.py (rows of the lower triangle, c, b, b_error).
_A = (
    (0.161,),
    (-0.008480655492356988544426874250230774675121177393430391537369234245294192976164141156943,
     0.3354806554923569885444268742502307746751211773934303915373692342452941929761641411569),
    (2.897153057105493432130432594192938764924887287701866490314866693455023795137503079289,
     -6.359448489975074843148159912383825625952700647415626703305928850207288721235210244366,
     4.362295432869581411017727318190886861027813359713760212991062156752264926097707165077),
    (5.325864828439256604428877920840511317836476253097040101202360397727981648835607691791,
     -11.74888356406282787774717033978577296188744178259862899288666928009020615663593781589,
     7.495539342889836208304604784564358155658679161518186721010132816213648793440552049753,
     -0.09249506636175524925650207933207191611349983406029535244034750452930469056411389539635),
    (5.861455442946420028659251486982647890394337666164814434818157239052507339770711679748,
     -12.92096931784710929170611868178335939541780751955743459166312250439928519268343184452,
     8.159367898576158643180400794539253485181918321135053305748355423955009222648673734986,
     -0.07158497328140099722453054252582973869127213147363544882721139659546372402303777878835,
     -0.02826905039406838290900305721271224146717633626879770007617876201276764571291579142206),
)  # fmt: skip
_B = (
    0.09646076681806522951816731316512876333711995238157997181903319145764851595234062815396,
    0.01,
    0.4798896504144995747752495322905965199130404621990332488332634944254542060153074523509,
    1.379008574103741893192274821856872770756462643091360525934940067397245698027561293331,
    -3.290069515436080679901047585711363850115683290894936158531296799594813811049925401677,
    2.324710524099773982415355918398765796109060233222962411944060046314465391054716027841,
)
_B_HAT = (
    0.09468075576583945807478876255758922856117527357724631226139574065785592789071067303271,
    0.009183565540343253096776363936645313759813746240984095238905939532922955247253608687270,
    0.4877705284247615707855642599631228241516691959761363774365216240304071651579571959813,
    1.234297566930478985655109673884237654035539930748192848315425833500484878378061439761,
    -2.707712349983525454881109975059321670689605166938197378763992255714444407154902012702,
    1.866628418170587035753719399566211498666255505244122593996591602841258328965767580089,
    1 / 66,
)
#: b - b_hat (the 7th stage is the FSAL derivative f(t + h, y1)).
_E = tuple(b - bh for b, bh in zip((*_B, 0.0), _B_HAT, strict=True))
_C = (0.161, 0.327, 0.9, 0.9800255409045096857298102862870245954942137979563024768854764293, 1.0)

# ------------------------------------------------------- PIDController defaults (diffrax 0.7)
_SAFETY, _FACTOR_MIN, _FACTOR_MAX = 0.9, 0.2, 10.0
_ERROR_ORDER = 6.0  # diffrax: Tsit5.order + 1

#: Status codes (values of ``diffrax.RESULTS``).
STATUS_OK, STATUS_MAX_STEPS, STATUS_DT_MIN = 0, 1, 10

_CPU_LANES = 512
_CPU_POOL = 1 << 16
_GPU_CHUNK = 1 << 21


def _batched_field(model: Model, tumor_index: int) -> Callable[[Array, Array], Array]:
    """``f(t (N,), y (S, N)) -> (S, N)``; model fields of shape (N,) vary, others are shared.
    Extinction is absorbing (:func:`~._extinction.absorbing_field`)."""
    axes = jax.tree_util.tree_map(lambda x: 0 if jnp.ndim(x) == 1 else None, model)
    one = absorbing_field(
        lambda t, y, m: m.vector_field(t, y, None), tumor_index, len(model.state_names)
    )
    vf = jax.vmap(lambda m, t, y: one(t, y, m), in_axes=(axes, 0, 1), out_axes=1)
    return lambda t, y: vf(model, t, y)


def _rms(x: Array) -> Array:
    """Root mean square over the state (first) axis, summed in a fixed order.

    An explicit left fold instead of ``jnp.mean``: XLA's CPU reduction emitter associates the
    sum differently depending on the array shape, which made a patient's step sizes (and so its
    results) depend on the pool and lane sizes.
    """
    acc = x[0] * x[0]
    for i in range(1, x.shape[0]):
        acc = acc + x[i] * x[i]
    return jnp.sqrt(acc / x.shape[0])


def _initial_step(f, t0, y0, f0, rtol, atol):
    """Hairer's initial step size, exactly as ``diffrax``'s ``_select_initial_step``."""
    scale = atol + jnp.abs(y0) * rtol
    d0 = _rms(y0 / scale)
    d1 = _rms(f0 / scale)
    small = (d0 < 1e-5) | (d1 < 1e-5)
    h0 = jnp.where(small, 1e-6, 0.01 * d0 / jnp.where(small, 1.0, d1))
    f1 = f(t0 + h0, y0 + h0 * f0)
    d2 = _rms((f1 - f0) / scale) / h0
    max_d = jnp.maximum(d1, d2)
    h1 = jnp.where(
        max_d <= 1e-15,
        jnp.maximum(1e-6, h0 * 1e-3),
        (0.01 / jnp.where(max_d <= 1e-15, 1.0, max_d)) ** (1.0 / _ERROR_ORDER),
    )
    return jnp.minimum(100.0 * h0, h1)


def _extinct(y: Array, tumor_index: int) -> tuple[Array, Array]:
    """Zero tumors below one cell; also return which patients were just made extinct."""
    if tumor_index < 0:
        return y, jnp.zeros(y.shape[1], bool)
    T = y[tumor_index]
    hit = (T < EXTINCTION_CELLS) & (T != 0)
    return y.at[tumor_index].set(jnp.where(hit, 0.0, T)), hit


def _take(x: Array, idx: Array) -> Array:
    """Gather along the patient (last) axis."""
    return jnp.take(x, idx, axis=-1, mode="clip")


@eqx.filter_jit
def _solve_pool(
    model: Model,
    y0: Float[Array, "S P"],
    dose0: Float[Array, " P"],
    stop_t: Float[Array, " n_stop"],
    stop_out: Int[Array, " n_stop"],
    stop_dose: Float[Array, "P n_stop"],
    t0: Float[Array, ""],
    rtol: Float[Array, ""],
    atol: Float[Array, ""],
    n_valid: Int[Array, ""],
    *,
    lanes: int,
    refill_every: int,
    unroll: int,
    n_t: int,
    dosing_state: int,
    tumor_index: int,
    max_steps: int,
) -> tuple[Float[Array, "P n_t S"], Int[Array, " P"], Int[Array, " P"]]:
    """Fused adaptive Tsit5 for a pool of P patients stepped on ``lanes`` lanes.

    Layout (states, patients). Each loop iteration does one step on every lane; every
    ``refill_every`` iterations, lanes whose patient has finished take the next patient of the
    pool, so that lanes do not idle while the slowest patient of a batch finishes.

    ``stop_t``: every time a step must land on (outputs after t0 and doses in (t0, t1)),
    increasing, last = t1. ``stop_out[k]``: output index of stop k or -1. ``stop_dose[:, k]``:
    bolus given at stop k (0: none). ``dose0``: bolus at t0.
    """
    n_states, n_pool = y0.shape
    n_stop = stop_t.shape[0]
    dtype = y0.dtype
    leaves, treedef = jax.tree_util.tree_flatten(model)
    vary = [i for i, x in enumerate(leaves) if jnp.ndim(x) == 1]  # per-patient parameters

    def lane_params(idx: Array) -> tuple[Array, ...]:
        return tuple(_take(leaves[i], idx) for i in vary)

    def lane_model(params: tuple[Array, ...]) -> Model:
        new = list(leaves)
        for i, p in zip(vary, params, strict=True):
            new[i] = p
        return jax.tree_util.tree_unflatten(treedef, new)

    # Start of every patient of the pool (vectorised over the pool): dose at t0, extinction,
    # FSAL derivative and initial step.
    f_pool = _batched_field(model, tumor_index)
    y_start = y0
    if dosing_state >= 0:
        y_start = y_start.at[dosing_state].add(dose0)
    y_start, _ = _extinct(y_start, tumor_index)
    t_pool = jnp.full((n_pool,), t0, dtype)
    k_start = f_pool(t_pool, y_start)
    dt_start = _initial_step(f_pool, t_pool, y_start, k_start, rtol, atol)

    pid0 = jnp.arange(lanes)
    stop_dose_t = stop_dose.T
    zeros_i = jnp.zeros((lanes,), jnp.int32)
    state = dict(
        params=lane_params(pid0),
        dose_row=_take(stop_dose_t, pid0),  # (n_stop, lanes) boluses of the lane's patient
        pid=jnp.where(pid0 < n_valid, pid0, n_pool),  # n_pool: free lane
        # next patient of the pool to start (patients >= n_valid are padding)
        next=jnp.minimum(jnp.int32(lanes), n_valid),
        it=jnp.asarray(0, jnp.int32),
        t=jnp.full((lanes,), t0, dtype),
        dt=_take(dt_start, pid0),
        y=_take(y_start, pid0),
        k1=_take(k_start, pid0),
        js=zeros_i,  # index of the next stop
        seg=zeros_i,  # steps tried in the current segment (between doses)
        steps=zeros_i,  # steps tried in total (accepted + rejected)
        refresh=jnp.zeros((lanes,), bool),  # re-evaluate the FSAL derivative
        ys=jnp.zeros((n_states, n_t * n_pool), dtype).at[:, :n_pool].set(y0),
        status=jnp.zeros((n_pool,), jnp.int32),
        nsteps=jnp.zeros((n_pool,), jnp.int32),
    )

    def cond(s):
        return jnp.any(s["pid"] < n_pool) | (s["next"] < n_valid)

    def step(s):
        t, dt, y, k1, js, pid = s["t"], s["dt"], s["y"], s["k1"], s["js"], s["pid"]
        f = _batched_field(lane_model(s["params"]), tumor_index)
        active = pid < n_pool
        refresh = s["refresh"]
        jc = jnp.minimum(js, n_stop - 1)
        stop = stop_t[jc]
        land = (t + dt >= stop) & ~refresh
        # A refresh iteration has h = 0: every stage is then f(t, y), the new FSAL derivative.
        h = jnp.where(refresh, 0.0, jnp.where(land, stop - t, dt))

        ks = [k1]
        for i, row in enumerate(_A):
            yi = y + h * sum(a * k for a, k in zip(row, ks, strict=False))
            ks.append(f(t + _C[i] * h, yi))
        y1 = y + h * sum(b * k for b, k in zip(_B, ks, strict=True))
        t1 = jnp.where(land, stop, t + h)
        k7 = f(t1, y1)
        ks.append(k7)
        err = h * sum(e * k for e, k in zip(_E, ks, strict=True))
        ref = jnp.maximum(jnp.abs(y), jnp.abs(jnp.where(jnp.isnan(y1), y, y1)))
        en = _rms(err / (atol + rtol * ref))
        finite = jnp.isfinite(en)
        accept = finite & (en < 1.0) & ~refresh
        factor = _SAFETY * jnp.where(en > 0, en, 1e-30) ** (-1.0 / _ERROR_ORDER)
        factor = jnp.clip(
            factor,
            jnp.where(accept, 1.0, _FACTOR_MIN),
            jnp.where(accept, _FACTOR_MAX, _SAFETY),
        )
        factor = jnp.where(finite, factor, _FACTOR_MIN)
        dt_new = h * factor
        # After an accepted step clipped to a stop, do not shrink below the unclipped proposal.
        dt_new = jnp.where(land & accept, jnp.maximum(dt_new, dt), dt_new)
        dt_new = jnp.where(refresh, dt, dt_new)

        upd = active & accept
        y_acc, gone = _extinct(y1, tumor_index)
        hit = upd & land
        out_idx = stop_out[jc]
        write = hit & (out_idx >= 0)
        flat = jnp.where(write, out_idx * n_pool + pid, n_t * n_pool)  # out of bounds: dropped
        ys = s["ys"].at[:, flat].set(y_acc, mode="drop")
        dose = jnp.take_along_axis(s["dose_row"], jc[None, :], axis=0)[0]
        dosed = hit & (dose != 0)
        if dosing_state >= 0:
            y_acc = y_acc.at[dosing_state].add(jnp.where(dosed, dose, 0.0))
        gone = gone & upd
        finished = hit & (js + 1 >= n_stop)

        tried = (active & ~refresh).astype(jnp.int32)
        seg = jnp.where(dosed, 0, s["seg"] + tried)
        steps = s["steps"] + tried
        too_many = active & ~finished & (seg >= max_steps)
        tiny = ~(t1 + dt_new > t1)  # no progress possible (or dt not finite)
        underflow = active & ~finished & ~too_many & tiny
        code = jnp.where(too_many, STATUS_MAX_STEPS, STATUS_DT_MIN)
        leave = finished | too_many | underflow
        where_pid = jnp.where(leave, pid, n_pool)
        status = s["status"].at[where_pid].set(jnp.where(finished, 0, code), mode="drop")
        nsteps = s["nsteps"].at[where_pid].set(steps, mode="drop")
        return dict(
            s,
            pid=jnp.where(leave, n_pool, pid),
            it=s["it"] + 1,
            t=jnp.where(upd, t1, t),
            dt=jnp.where(active, dt_new, dt),
            y=jnp.where(upd, y_acc, y),
            k1=jnp.where((upd & ~gone & ~dosed) | (active & refresh), k7, k1),
            js=jnp.where(hit, js + 1, js),
            seg=seg,
            steps=steps,
            refresh=active & (gone | dosed),
            ys=ys,
            status=status,
            nsteps=nsteps,
        )

    def refill(s):
        free = s["pid"] >= n_pool
        new = s["next"] + jnp.cumsum(free, dtype=jnp.int32) - 1
        take = free & (new < n_valid)
        idx = jnp.minimum(new, n_pool - 1)
        sel = lambda new_v, old_v: jnp.where(take, new_v, old_v)  # noqa: E731
        return dict(
            s,
            dose_row=sel(_take(stop_dose_t, idx), s["dose_row"]),
            params=tuple(
                sel(new_p, old) for new_p, old in zip(lane_params(idx), s["params"], strict=True)
            ),
            pid=jnp.where(take, new, s["pid"]),
            next=jnp.minimum(s["next"] + jnp.sum(free, dtype=jnp.int32), n_valid),
            t=jnp.where(take, t0, s["t"]),
            dt=sel(_take(dt_start, idx), s["dt"]),
            y=sel(_take(y_start, idx), s["y"]),
            k1=sel(_take(k_start, idx), s["k1"]),
            js=jnp.where(take, 0, s["js"]),
            seg=jnp.where(take, 0, s["seg"]),
            steps=jnp.where(take, 0, s["steps"]),
            refresh=s["refresh"] & ~take,
        )

    big = ("ys", "status", "nsteps")  # pool-sized outputs: kept out of the refill branch

    every = max(-(-refill_every // unroll), 1)  # in loop iterations

    def body(s):
        for _ in range(unroll):
            s = step(s)
        if lanes >= n_pool:
            return s
        free = s["pid"] >= n_pool
        due = (s["next"] < n_valid) & jnp.any(free)
        due = due & ((s["it"] // unroll % every == 0) | jnp.all(free))
        lane = {k: v for k, v in s.items() if k not in big}
        lane = jax.lax.cond(due, refill, lambda x: x, lane)
        return {**lane, **{k: s[k] for k in big}}

    out = jax.lax.while_loop(cond, body, state)
    # (P, n_t, S): transposed on the device, so that the host only copies contiguous rows
    ys_out = jnp.transpose(out["ys"].reshape(n_states, n_t, n_pool), (2, 1, 0))
    return ys_out, out["status"], out["nsteps"]


def _stops(
    schedule: Schedule, doses: np.ndarray, np_dtype: type
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge output and dose times into one stop table (in the working precision)."""
    ts = np.asarray(schedule.ts, dtype=np_dtype)
    t0, t1 = ts[0], ts[-1]
    dts = np.asarray(schedule.dose_times, dtype=np_dtype)
    doses = np.asarray(doses, dtype=np_dtype).reshape(doses.shape[0], len(dts))
    inner = (dts > t0) & (dts < t1)
    stop_t = np.unique(np.concatenate([ts[1:], dts[inner]]))
    stop_out = np.full(len(stop_t), -1, np.int32)
    stop_out[np.searchsorted(stop_t, ts[1:])] = np.arange(1, len(ts), dtype=np.int32)
    stop_dose = np.zeros((doses.shape[0], len(stop_t)), np_dtype)
    for j in np.flatnonzero(inner):
        stop_dose[:, np.searchsorted(stop_t, dts[j])] += doses[:, j]
    dose0 = doses[:, dts == t0].sum(axis=1) if np.any(dts == t0) else np.zeros(len(doses))
    return stop_t, stop_out, stop_dose, dose0.astype(np_dtype)


def _stops_batch(
    schedule: Schedule, doses: np.ndarray, np_dtype: type
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_stops` for a batch; computed once (broadcast views) when every patient gets the
    same doses, which avoids per-patient column loops over large cohorts."""
    n = doses.shape[0]
    if n > 1 and bool(np.all(doses == doses[:1])):
        stop_t, stop_out, stop_dose, dose0 = _stops(schedule, doses[:1], np_dtype)
        return (stop_t, stop_out, np.broadcast_to(stop_dose, (n, stop_dose.shape[1])),
                np.broadcast_to(dose0, (n,)))  # fmt: skip
    return _stops(schedule, doses, np_dtype)


def _split_parameters(model: Model, n: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """``(shared, varying)``: parameters equal for the whole cohort (as floats) and the others,
    shape ``(n,)``. A sample is checked first, so that varying parameters are rejected fast.

    Fields are read directly (not through ``model.parameters()``, whose ``jnp.asarray`` rounds
    float64 values to float32 unless x64 is enabled, and copies them to the device and back).
    """
    shared: dict[str, float] = {}
    varying: dict[str, np.ndarray] = {}
    for k in model.parameter_names():
        v = np.broadcast_to(np.asarray(getattr(model, k), float), (n,))
        if bool(np.all(v[:4096] == v[0])) and bool(np.all(v == v[0])):
            shared[k] = float(v[0])
        else:
            varying[k] = v
    return shared, varying


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


def solve_fused(
    model: Model,
    y0: Float[np.ndarray, "N S"],
    schedule: Schedule,
    doses: Float[np.ndarray, "N k"],
    *,
    rtol: float,
    atol: float,
    dtype: str = "float64",
    max_steps: int = 100_000,
    chunk_size: int | None = None,
    lanes: int | None = None,
    refill_every: int = 8,
    unroll: int = 1,
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve a batch with the fused adaptive Tsit5 engine (same contract as ``solve_diffrax``).

    Args:
        model: batched model (every parameter an array of length N).
        y0: initial states, shape ``(N, n_states)`` (cells, mg).
        schedule: output and dose times (days) shared by the batch.
        doses: bolus amounts (mg) per patient and dose time, shape
            ``(N, len(schedule.dose_times))``.
        rtol: relative tolerance of the step-size controller.
        atol: absolute tolerance of the step-size controller (state units).
        dtype: ``"float64"`` or ``"float32"``.
        max_steps: step limit per segment between doses (accepted + rejected).
        chunk_size: patients per compiled call (a pool); memory is bounded by it, not by the
            cohort (apart from the returned arrays). Default: :func:`default_sizes`.
        lanes: patients stepped together in the fused loop (``<= chunk_size``); finished lanes
            take the pool's next patient every ``refill_every`` iterations.
        unroll: steps per iteration of the while loop (fewer loop-condition round trips on GPU).
        n_threads: pools solved concurrently on CPU (default: number of cores).

    Returns:
        ``(ys, status, num_steps)``: states at ``schedule.ts``, shape ``(N, n_t, n_states)``
        (NaN rows for failed patients), status per patient (0 = success, 1 = max_steps reached,
        10 = step size underflow; the ``diffrax.RESULTS`` codes) and accepted+rejected steps.
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    y0 = np.asarray(y0, dtype=float)
    if y0.ndim != 2 or y0.shape[1] != len(model.state_names):
        raise ValueError(
            f"y0 must have shape (N, {len(model.state_names)}) for {type(model).__name__}; "
            f"got {y0.shape}"
        )
    n, n_states = y0.shape
    if n == 0:
        return (np.zeros((0, len(schedule.ts), n_states)), np.zeros(0, np.int32),
                np.zeros(0, np.int32))  # fmt: skip
    for name, v in (("max_steps", max_steps), ("refill_every", refill_every), ("unroll", unroll)):
        if int(v) < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")
    on_cpu = jax.default_backend() == "cpu"
    threads = (n_threads or os.cpu_count() or 1) if on_cpu else 1
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
    # flat output index (n_t * pool) must fit int32, and the output buffer about 2^28 values
    n_t = len(schedule.ts)
    chunk = max(1, min(chunk, (2**31 - 1) // n_t, max(2**28 // (n_t * n_states), 1024)))
    n_lanes = min(n_lanes, chunk)
    doses = np.asarray(doses, dtype=float).reshape(n, len(schedule.dose_times))
    np_dtype = np.float64 if dtype == "float64" else np.float32
    stop_t, stop_out, stop_dose, dose0 = _stops_batch(schedule, doses, np_dtype)
    # Parameters shared by the whole cohort are passed once (0-d), exact zeros as static Python
    # floats so that the model's fast paths apply (e.g. constant clearance when CL_emax = 0).
    shared, params = _split_parameters(model, n)
    tumor_index = _tumor_index(model)
    n_chunks = math.ceil(n / chunk)
    ys = np.empty((n, n_t, n_states), np_dtype)
    status = np.empty(n, np.int32)
    steps = np.empty(n, np.int32)
    x64 = dtype == "float64"

    def run(c: int) -> None:
        lo = c * chunk
        k = min(chunk, n - lo)
        idx = np.minimum(np.arange(lo, lo + chunk), n - 1)  # pad: never stepped
        with jax.enable_x64(x64):  # thread-local: enter in every worker
            jdt = jnp.float64 if x64 else jnp.float32
            fields: dict[str, float | Array] = {
                name: jnp.asarray(v[idx], jdt) for name, v in params.items()
            }
            fields.update(
                {name: 0.0 if v == 0 else jnp.asarray(v, jdt) for name, v in shared.items()}
            )
            out = _solve_pool(
                model.replace(**fields),
                jnp.asarray(y0[idx].T, jdt),
                jnp.asarray(dose0[idx], jdt),
                jnp.asarray(stop_t, jdt),
                jnp.asarray(stop_out),
                jnp.asarray(stop_dose[idx], jdt),
                jnp.asarray(schedule.ts[0], jdt),
                jnp.asarray(rtol, jdt),
                jnp.asarray(atol, jdt),
                jnp.asarray(k, jnp.int32),
                lanes=n_lanes,
                refill_every=int(refill_every),
                unroll=int(unroll),
                n_t=n_t,
                dosing_state=schedule.dosing_state,
                tumor_index=tumor_index,
                max_steps=int(max_steps),
            )
            out_y, out_s, out_n = jax.device_get(out)
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

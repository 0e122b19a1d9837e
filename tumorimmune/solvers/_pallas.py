"""One-thread-per-patient Pallas kernels of the fused Tsit5 engine (GPU).

Each program of the grid integrates a block of ``block`` patients entirely in registers, with
the numerics of :mod:`._fused` (tableau, PI controller, steps landing on stops, pre-dose
outputs, ``max_steps`` per segment between doses, the extinction rule and the definition of
failure). Two loop structures (``sync``):

- ``"stop"``: a loop over the stops (output and dose times, shared by the batch) and, inside, an
  adaptive loop that runs until every patient of the block has reached the stop. The FSAL
  derivative is re-evaluated once at every stop for the whole block (not only after a dose), and
  after an extinction it is not refreshed (it only affects a tumor that is already 0).
- ``"thread"``: one adaptive loop in which every patient advances its own stop index (outputs
  kept in registers and stored at the end, doses and stop times looked up from kernel
  constants); the block waits for its slowest patient only once, at the end. Step for step the
  algorithm of :func:`~tumorimmune.solvers.solve_fused` (refresh iteration after a dose or an
  extinction).

The model's ``vector_field`` (written for one patient, state vector of shape ``(S,)``) is traced
once to a jaxpr and re-evaluated here on lists of per-state blocks, so that the kernel contains
only elementwise operations. Parameters shared by the cohort, the stop table, tolerances and
doses equal for every patient are compile-time constants; the compiled kernel is cached per
configuration (``eqx.filter_jit``), so repeated calls do not recompile. Correctness is tested
on CPU in Pallas interpret mode; speed is measured on the GPU by ``benchmarks/gpu_probe.py``.
Registered as the backend ``"pallas"``; ``"auto"`` picks it on a GPU (``get_backend``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import equinox as eqx
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plt
from jaxtyping import Array

from ..model._base import Model
from ._diffrax import _tumor_index
from ._extinction import EXTINCTION_CELLS, absorbing_field
from ._fused import (
    _A,
    _B,
    _C,
    _E,
    _ERROR_ORDER,
    _FACTOR_MAX,
    _FACTOR_MIN,
    _SAFETY,
    STATUS_DT_MIN,
    STATUS_MAX_STEPS,
    _split_parameters,
    _stops,
)
from ._schedule import Schedule

_STRUCTURAL = {"slice", "squeeze", "broadcast_in_dim", "concatenate", "reshape", "stack"}
_CALLS = {"jit", "pjit", "closed_call", "core_call"}
#: Elementwise primitives the kernel evaluates on per-patient scalars (anything else in a
#: model's vector field is refused before compiling; see :func:`check_supported`).
_ELEMENTWISE = {
    "abs", "acos", "acosh", "add", "and", "asin", "asinh", "atan", "atan2", "atanh", "cbrt",
    "ceil", "clamp", "convert_element_type", "copy", "copy_p", "cos", "cosh", "div", "eq",
    "erf", "erf_inv", "erfc", "exp", "exp2", "expm1", "floor", "ge", "gt", "integer_pow",
    "is_finite", "le", "log", "log1p", "logistic", "lt", "max", "min", "mul", "ne", "neg",
    "nextafter", "not", "or", "pow", "rem", "round", "rsqrt", "select_n", "sign", "sin",
    "sinh", "sqrt", "square", "stop_gradient", "sub", "tan", "tanh", "xor",
}  # fmt: skip


def check_supported(jaxpr: Any, model_name: str = "the model") -> None:
    """Raise ``NotImplementedError`` naming the first operation the kernel cannot evaluate.

    The kernel evaluates a vector field as per-state scalars: slicing/stacking of the state
    vector and elementwise operations on scalars. Reductions, matrix products, gathers,
    scatters, loops and elementwise operations on whole vectors are refused (they would
    otherwise fail obscurely or, worse, compute something else).
    """
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name in _CALLS:
            inner = eqn.params.get("jaxpr") or eqn.params.get("call_jaxpr")
            check_supported(inner.jaxpr, model_name)
            continue
        shapes = [tuple(getattr(v.aval, "shape", ())) for v in (*eqn.invars, *eqn.outvars)]
        vector_ok = name in _STRUCTURAL and all(len(sh) <= 1 for sh in shapes)
        scalar_ok = name in _ELEMENTWISE and all(len(sh) == 0 for sh in shapes)
        if name == "broadcast_in_dim" and any(
            len(getattr(v.aval, "shape", ())) for v in eqn.invars
        ):
            vector_ok = False
        if not (vector_ok or scalar_ok):
            where = f" on shapes {shapes}" if name in _ELEMENTWISE else ""
            raise NotImplementedError(
                f"the pallas backend cannot run {model_name}: its vector_field uses the "
                f"operation {name!r}{where}, which the kernel does not support (it evaluates "
                "elementwise jax.numpy operations on the states y[0], y[1], ... and "
                "jnp.stack); use backend='fused' or 'diffrax'"
            )


def _eval_jaxpr(jaxpr: Any, consts: list[Any], args: list[Any], bshape: tuple[int, ...]) -> list:
    """Evaluate a single-patient jaxpr on per-state blocks.

    Values of shape ``()`` are blocks of shape ``bshape``; values of shape ``(S,)`` are Python
    lists of blocks. Only slicing/stacking of the state vector and elementwise primitives occur
    in a model's vector field.
    """
    env: dict[Any, Any] = {}

    def read(v: Any) -> Any:
        if isinstance(v, jax.extend.core.Literal):
            return v.val
        return env[v]

    def as_block(x: Any, dtype: Any) -> Any:
        return jnp.broadcast_to(jnp.asarray(x, dtype), bshape)

    for v, c in zip(jaxpr.constvars, consts, strict=True):
        env[v] = c
    for v, a in zip(jaxpr.invars, args, strict=True):
        env[v] = a
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        ins = [read(v) for v in eqn.invars]
        p = eqn.params
        if name in _CALLS:
            inner = p.get("jaxpr") or p.get("call_jaxpr")
            outs = _eval_jaxpr(inner.jaxpr, list(inner.consts), ins, bshape)
        elif name == "slice":
            (x,) = ins
            start, limit = p["start_indices"][0], p["limit_indices"][0]
            step = (p["strides"] or (1,))[0]
            outs = [list(x[start:limit:step])]
        elif name == "squeeze":
            (x,) = ins
            outs = [x[0] if isinstance(x, list) else x]
        elif name == "broadcast_in_dim":
            (x,) = ins
            shape = p["shape"]
            outs = [[x] * shape[0] if len(shape) == 1 else x]
        elif name == "reshape":
            (x,) = ins
            shape = p["new_sizes"]
            if len(shape) == 1:  # a scalar reshaped to (1,) becomes a one-block list
                outs = [x if isinstance(x, list) else [x]]
            else:
                outs = [x[0] if isinstance(x, list) else x]
        elif name == "concatenate":
            outs = [[b for x in ins for b in x]]
        elif name == "stack":
            outs = [list(ins)]
        else:
            dtypes = [v.aval.dtype for v in eqn.invars]
            blocks = [as_block(x, d) for x, d in zip(ins, dtypes, strict=True)]
            res = eqn.primitive.bind(*blocks, **p)
            outs = list(res) if eqn.primitive.multiple_results else [res]
        for v, o in zip(eqn.outvars, outs, strict=True):
            env[v] = o
    return [read(v) for v in jaxpr.outvars]


def _field_on_blocks(model: Model, n_states: int, dtype: Any, tumor_index: int = -1):
    """``f(t, y_list, params_list) -> list`` for one block; params: the varying leaves.
    Extinction is absorbing (:func:`~._extinction.absorbing_field`)."""
    leaves, treedef = jax.tree_util.tree_flatten(model)
    traced = [i for i, x in enumerate(leaves) if not isinstance(x, float)]

    def one(t, y, *vals):
        new = list(leaves)
        for i, v in zip(traced, vals, strict=True):
            new[i] = v
        m = jax.tree_util.tree_unflatten(treedef, new)
        field = absorbing_field(lambda t, y, m: m.vector_field(t, y, None), tumor_index, n_states)
        return field(t, y, m)

    scal = jax.ShapeDtypeStruct((), dtype)
    closed = jax.make_jaxpr(one)(
        scal, jax.ShapeDtypeStruct((n_states,), dtype), *[scal for _ in traced]
    )
    check_supported(closed.jaxpr, type(model).__name__)

    def f(t, y, vals):
        bshape = t.shape
        (out,) = _eval_jaxpr(closed.jaxpr, list(closed.consts), [t, list(y), *vals], bshape)
        return [jnp.broadcast_to(o, bshape).astype(dtype) for o in out]

    return f, traced


def _rms(xs: list) -> Any:
    return jnp.sqrt(sum(x * x for x in xs) / len(xs))


@dataclasses.dataclass(frozen=True)
class _Config:
    """Everything baked into a compiled kernel (hashable: the key of the compile cache)."""

    n_states: int
    n_t: int
    x64: bool
    rtol: float
    atol: float
    max_steps: int
    block: int
    num_warps: int
    interpret: bool
    sync: str
    t0: float
    stop_t: tuple[float, ...]
    stop_out: tuple[int, ...]
    #: bolus per stop shared by every patient (``None``: per-patient table passed as input)
    dose_const: tuple[float, ...] | None
    tumor_index: int
    dosing_state: int


def _step_size_init(f, t, y, k1, prm, rtol_c, atol_c, jdt):
    """Hairer's initial step (diffrax's algorithm) on per-state blocks."""
    scale = [atol_c + jnp.abs(v) * rtol_c for v in y]
    d0 = _rms([v / sc for v, sc in zip(y, scale, strict=True)])
    d1 = _rms([v / sc for v, sc in zip(k1, scale, strict=True)])
    small = (d0 < 1e-5) | (d1 < 1e-5)
    h0 = jnp.where(small, 1e-6, 0.01 * d0 / jnp.where(small, 1.0, d1))
    fh = f(t + h0, [v + h0 * k for v, k in zip(y, k1, strict=True)], prm)
    d2 = _rms([(a - b) / sc for a, b, sc in zip(fh, k1, scale, strict=True)]) / h0
    md = jnp.maximum(d1, d2)
    h1 = jnp.where(
        md <= 1e-15,
        jnp.maximum(1e-6, h0 * 1e-3),
        jnp.exp(jnp.log(0.01 / jnp.where(md <= 1e-15, 1.0, md)) / _ERROR_ORDER),
    )
    return jnp.minimum(100.0 * h0, h1).astype(jdt)


def _tsit5_trial(f, t, y, k1, h, t1, prm, rtol_c, atol_c):
    """One Tsit5 trial step of size ``h`` ending at ``t1``: ``(y1, k7, error norm)``."""
    n_states = len(y)
    ks = [k1]
    for i, row in enumerate(_A):
        yi = [
            y[s] + h * sum(a * kk[s] for a, kk in zip(row, ks, strict=False))
            for s in range(n_states)
        ]
        ks.append(f(t + _C[i] * h, yi, prm))
    y1 = [y[s] + h * sum(b * kk[s] for b, kk in zip(_B, ks, strict=True)) for s in range(n_states)]
    k7 = f(t1, y1, prm)
    ks.append(k7)
    err = [h * sum(e * kk[s] for e, kk in zip(_E, ks, strict=True)) for s in range(n_states)]
    return y1, k7, err


def _factor(en, accept, finite):
    fac = _SAFETY * jnp.exp(jnp.log(jnp.where(en > 0, en, 1e-30)) * (-1.0 / _ERROR_ORDER))
    lo = jnp.where(accept, 1.0, _FACTOR_MIN)
    hi = jnp.where(accept, _FACTOR_MAX, _SAFETY)
    return jnp.where(finite, jnp.minimum(jnp.maximum(fac, lo), hi), _FACTOR_MIN)


def _kernel_stop(cfg: _Config, f, n_v: int):
    """Block-synchronous kernel: a loop over the stops, inside it an adaptive loop per block."""
    n_states, jdt = cfg.n_states, jnp.float64 if cfg.x64 else jnp.float32
    rtol_c, atol_c, max_steps = cfg.rtol, cfg.atol, cfg.max_steps
    n_stop, tumor_index, dosing_state = len(cfg.stop_t), cfg.tumor_index, cfg.dosing_state

    def kernel(*refs):
        prm = [r[...] for r in refs[:n_v]]
        y = [r[...] for r in refs[n_v : n_v + n_states]]
        i = n_v + n_states
        dose0_ref = refs[i]
        i += 1
        dose_ref = None
        if cfg.dose_const is None:
            dose_ref = refs[i]
            i += 1
        st_ref, sd_ref, so_ref = refs[i : i + 3]
        outs = refs[i + 3 : i + 3 + n_states]
        status_ref, steps_ref = refs[-2:]
        bshape = y[0].shape
        t = jnp.full(bshape, cfg.t0, jdt)
        if dosing_state >= 0:
            y[dosing_state] = y[dosing_state] + dose0_ref[...]
        if tumor_index >= 0:
            T = y[tumor_index]
            y[tumor_index] = jnp.where(T < EXTINCTION_CELLS, 0.0, T)
        for s in range(n_states):
            outs[s][0, :] = refs[n_v + s][...]
        k1 = f(t, y, prm)
        dt = _step_size_init(f, t, y, k1, prm, rtol_c, atol_c, jdt)
        status = jnp.zeros(bshape, jnp.int32)
        steps = jnp.zeros(bshape, jnp.int32)

        def segment(k, carry):
            t, dt, y, k1, status, steps, seg = carry
            stop = st_ref[k]

            def running(c):
                t, _, _, _, status, _, _ = c
                return (t < stop) & (status == 0)

            def cond(c):  # a max-reduction: lowers everywhere (no boolean reductions)
                return jnp.max(running(c).astype(jnp.int32)) > 0

            def body(c):
                t, dt, y, k1, status, steps, seg = c
                run = running(c)
                land = t + dt >= stop
                h = jnp.where(land, stop - t, dt)
                t1 = jnp.where(land, stop, t + h)
                y1, k7, err = _tsit5_trial(f, t, y, k1, h, t1, prm, rtol_c, atol_c)
                ratio = [
                    e / (atol_c + rtol_c * jnp.maximum(jnp.abs(a), jnp.abs(b)))
                    for e, a, b in zip(err, y, y1, strict=True)
                ]
                en = _rms(ratio)
                finite = (en == en) & (en < jnp.inf)  # isfinite, from basic comparisons
                accept = finite & (en < 1.0)
                dt_new = h * _factor(en, accept, finite)
                dt_new = jnp.where(land & accept, jnp.maximum(dt_new, dt), dt_new)
                upd = run & accept
                if tumor_index >= 0:
                    T = y1[tumor_index]
                    y1[tumor_index] = jnp.where(T < EXTINCTION_CELLS, 0.0, T)
                y = [jnp.where(upd, a, b) for a, b in zip(y1, y, strict=True)]
                k1 = [jnp.where(upd, a, b) for a, b in zip(k7, k1, strict=True)]
                t = jnp.where(upd, t1, t)
                dt = jnp.where(run, dt_new, dt).astype(jdt)
                seg = seg + run.astype(jnp.int32)
                steps = steps + run.astype(jnp.int32)
                # as solve_fused: only the end of follow-up counts as finished
                finished = (t >= stop) & (k == n_stop - 1)
                status = jnp.where(run & ~finished & (seg >= max_steps), STATUS_MAX_STEPS, status)
                tiny = ~(t + dt > t)  # no progress possible (as solve_fused)
                status = jnp.where(run & ~finished & tiny & (status == 0), STATUS_DT_MIN, status)
                return t, dt, y, k1, status, steps, seg

            # max_steps counts per segment between doses (not per stop), as in solve_fused
            t, dt, y, k1, status, steps, seg = jax.lax.while_loop(
                cond, body, (t, dt, y, k1, status, steps, seg)
            )
            row = so_ref[k]
            for s in range(n_states):

                @pl.when(row >= 0)
                def _store(s=s):
                    outs[s][row, :] = y[s]

            if dosing_state >= 0:
                y = list(y)
                dose = sd_ref[k] if dose_ref is None else dose_ref[k, :]
                y[dosing_state] = y[dosing_state] + dose
                seg = jnp.where(dose != 0, 0, seg)
            k1 = f(t, y, prm)  # FSAL derivative after the stop (dose or not)
            return t, dt, y, k1, status, steps, seg

        seg0 = jnp.zeros(bshape, jnp.int32)
        t, dt, y, k1, status, steps, _ = jax.lax.fori_loop(
            0, n_stop, segment, (t, dt, y, k1, status, steps, seg0)
        )
        status_ref[...] = status
        steps_ref[...] = steps

    return kernel


def _kernel_thread(cfg: _Config, f, n_v: int):
    """Per-thread kernel: each patient advances its own stop index in one adaptive loop.

    The numerics of :mod:`._fused` step for step: a step clipped to the next stop writes the
    output (registers, stored at the end), adds the bolus, and a dose or an extinction makes
    the next iteration a refresh (``h = 0``: the FSAL derivative is re-evaluated). The block
    synchronises only in the loop condition (until all its patients are done).
    """
    n_states, n_t, jdt = cfg.n_states, cfg.n_t, jnp.float64 if cfg.x64 else jnp.float32
    rtol_c, atol_c, max_steps = cfg.rtol, cfg.atol, cfg.max_steps
    stop_t, stop_out = cfg.stop_t, cfg.stop_out
    n_stop, tumor_index, dosing_state = len(stop_t), cfg.tumor_index, cfg.dosing_state
    out_stop = {r: k for k, r in enumerate(stop_out) if r >= 0}  # output row -> stop index
    if cfg.dose_const is None:
        dose_stops = list(range(n_stop))
    else:
        dose_stops = [k for k, d in enumerate(cfg.dose_const) if d != 0]

    def lookup(jc, table, default):
        v = default
        for k, val in table:
            v = jnp.where(jc == k, val, v)
        return v

    def kernel(*refs):
        prm = [r[...] for r in refs[:n_v]]
        y = [r[...] for r in refs[n_v : n_v + n_states]]
        i = n_v + n_states
        dose0_ref = refs[i]
        i += 1
        bshape = y[0].shape
        if cfg.dose_const is None:
            dose_ref = refs[i]
            i += 1
            drow = [(k, dose_ref[k, :]) for k in dose_stops]
        else:
            drow = [(k, cfg.dose_const[k]) for k in dose_stops]
        outs = refs[i : i + n_states]
        status_ref, steps_ref = refs[-2:]
        for s in range(n_states):
            outs[s][0, :] = y[s]
        t = jnp.full(bshape, cfg.t0, jdt)
        if dosing_state >= 0:
            y[dosing_state] = y[dosing_state] + dose0_ref[...]
        if tumor_index >= 0:
            T = y[tumor_index]
            y[tumor_index] = jnp.where(T < EXTINCTION_CELLS, 0.0, T)
        k1 = f(t, y, prm)
        dt = _step_size_init(f, t, y, k1, prm, rtol_c, atol_c, jdt)
        zi = jnp.zeros(bshape, jnp.int32)
        obuf = [[jnp.zeros(bshape, jdt) for _ in range(n_states)] for _ in range(1, n_t)]
        stop_tab = [(k, stop_t[k]) for k in range(n_stop - 1)]

        def active_of(js, status):
            return (js < n_stop) & (status == 0)

        def cond(c):
            js, status = c[4], c[7]
            return jnp.max(active_of(js, status).astype(jnp.int32)) > 0

        def body(c):
            t, dt, y, k1, js, seg, steps, status, refresh_i, obuf = c
            refresh = refresh_i > 0
            active = active_of(js, status)
            jc = jnp.minimum(js, n_stop - 1)
            stop = lookup(jc, stop_tab, stop_t[-1])
            land = (t + dt >= stop) & ~refresh
            h = jnp.where(refresh, 0.0, jnp.where(land, stop - t, dt)).astype(jdt)
            t1 = jnp.where(land, stop, t + h).astype(jdt)
            y1, k7, err = _tsit5_trial(f, t, y, k1, h, t1, prm, rtol_c, atol_c)
            ratio = [
                e / (atol_c + rtol_c * jnp.maximum(jnp.abs(a), jnp.abs(jnp.where(b != b, a, b))))
                for e, a, b in zip(err, y, y1, strict=True)
            ]
            en = _rms(ratio)
            finite = (en == en) & (en < jnp.inf)
            accept = finite & (en < 1.0) & ~refresh
            dt_new = h * _factor(en, accept, finite)
            dt_new = jnp.where(land & accept, jnp.maximum(dt_new, dt), dt_new)
            dt_new = jnp.where(refresh, dt, dt_new)
            upd = active & accept
            y_acc = list(y1)
            gone = jnp.zeros(bshape, jnp.bool_)
            if tumor_index >= 0:
                T = y1[tumor_index]
                gone = (T < EXTINCTION_CELLS) & (T != 0)
                y_acc[tumor_index] = jnp.where(gone, 0.0, T)
            hit = upd & land
            obuf = [
                [
                    jnp.where(hit & (jc == out_stop[r]), y_acc[s], obuf[r - 1][s])
                    for s in range(n_states)
                ]
                for r in range(1, n_t)
            ]
            dose = lookup(jc, drow, jnp.zeros(bshape, jdt))
            dosed = hit & (dose != 0)
            if dosing_state >= 0:
                y_acc[dosing_state] = y_acc[dosing_state] + jnp.where(dosed, dose, 0.0)
            gone = gone & upd
            finished = hit & (js + 1 >= n_stop)
            tried = (active & ~refresh).astype(jnp.int32)
            seg = jnp.where(dosed, 0, seg + tried)
            steps = steps + tried
            too_many = active & ~finished & (seg >= max_steps)
            tiny = ~(t1 + dt_new > t1)  # no progress possible (as solve_fused)
            underflow = active & ~finished & ~too_many & tiny
            status = jnp.where(
                too_many, STATUS_MAX_STEPS, jnp.where(underflow, STATUS_DT_MIN, status)
            )
            keep_k7 = (upd & ~gone & ~dosed) | (active & refresh)
            return (
                jnp.where(upd, t1, t).astype(jdt),
                jnp.where(active, dt_new, dt).astype(jdt),
                [jnp.where(upd, a, b) for a, b in zip(y_acc, y, strict=True)],
                [jnp.where(keep_k7, a, b) for a, b in zip(k7, k1, strict=True)],
                jnp.where(hit, js + 1, js),
                seg,
                steps,
                status.astype(jnp.int32),
                (active & (gone | dosed)).astype(jnp.int32),
                obuf,
            )

        carry = (t, dt, y, k1, zi, zi, zi, zi, zi, obuf)
        carry = jax.lax.while_loop(cond, body, carry)
        status, steps, obuf = carry[7], carry[6], carry[9]
        for r in range(1, n_t):
            for s in range(n_states):
                outs[s][r, :] = obuf[r - 1][s]
        status_ref[...] = status
        steps_ref[...] = steps

    return kernel


@eqx.filter_jit
def _run(
    template: Model,
    prm: tuple[Array, ...],
    y0: tuple[Array, ...],
    dose0: Array,
    dose_tab: Array | None,
    *,
    cfg: _Config,
) -> tuple[Array, Array, Array]:
    """The kernel over the whole (padded) cohort; compiled once per ``cfg`` and shapes.

    ``template``: the model with shared parameters as Python floats (kernel constants) and the
    varying ones as 0-d arrays (their per-patient values are ``prm``, shape ``(n_pad,)``).
    Returns ``ys (n_pad, n_t, S)``, ``status (n_pad,)``, ``steps (n_pad,)`` on the device.
    """
    jdt = jnp.float64 if cfg.x64 else jnp.float32
    f, traced = _field_on_blocks(template, cfg.n_states, jdt, cfg.tumor_index)
    n_v = len(traced)
    n_pad = y0[0].shape[0]
    block = cfg.block
    n_stop = len(cfg.stop_t)
    ns_pad = pl.next_power_of_2(n_stop)
    nt_pad = pl.next_power_of_2(cfg.n_t)
    vec = pl.BlockSpec((block,), lambda i: (i,))
    in_specs = [vec] * (n_v + cfg.n_states + 1)
    args = [*prm, *y0, dose0]
    if dose_tab is not None:
        in_specs.append(pl.BlockSpec((ns_pad, block), lambda i: (0, i)))
        args.append(dose_tab)
    if cfg.sync == "stop":
        kernel = _kernel_stop(cfg, f, n_v)
        full_s = pl.BlockSpec((ns_pad,), lambda i: (0,))
        st = np.full(ns_pad, cfg.stop_t[-1], np.float64 if cfg.x64 else np.float32)
        st[:n_stop] = cfg.stop_t
        so = np.full(ns_pad, -1, np.int32)
        so[:n_stop] = cfg.stop_out
        sd = np.zeros(ns_pad, st.dtype)
        if cfg.dose_const is not None:
            sd[:n_stop] = cfg.dose_const
        in_specs += [full_s] * 3
        args += [jnp.asarray(st), jnp.asarray(sd), jnp.asarray(so)]
    else:
        kernel = _kernel_thread(cfg, f, n_v)
    out_spec = pl.BlockSpec((nt_pad, block), lambda i: (0, i))
    res = pl.pallas_call(
        kernel,
        grid=(n_pad // block,),
        in_specs=in_specs,
        out_specs=[out_spec] * cfg.n_states + [vec, vec],
        out_shape=[jax.ShapeDtypeStruct((nt_pad, n_pad), jdt)] * cfg.n_states
        + [jax.ShapeDtypeStruct((n_pad,), jnp.int32)] * 2,
        interpret=cfg.interpret,
        # the Triton backend (one thread per patient); GPU default would be Mosaic GPU
        compiler_params=None if cfg.interpret else plt.CompilerParams(num_warps=cfg.num_warps),
    )(*args)
    ys = jnp.stack([r[: cfg.n_t] for r in res[: cfg.n_states]], axis=-1)  # (n_t, n_pad, S)
    return jnp.transpose(ys, (1, 0, 2)), res[-2], res[-1]


def pallas_solver(
    model: Model,
    y0: np.ndarray,
    schedule: Schedule,
    doses: np.ndarray,
    *,
    rtol: float,
    atol: float,
    dtype: str = "float32",
    max_steps: int = 100_000,
    block: int = 128,
    num_warps: int = 4,
    sync: str = "stop",
    interpret: bool | None = None,
) -> tuple[Any, tuple[Any, ...], int]:
    """Prepare the kernel call: ``(fn, args, n)``; ``fn(*args)`` runs on the device.

    ``fn(*args)`` returns device arrays ``ys (n_pad, n_t, S)``, ``status (n_pad,)``,
    ``steps (n_pad,)`` (rows ``>= n`` are padding). ``args`` are already on the device, so
    timing ``jax.block_until_ready(fn(*args))`` measures the kernel alone (benchmarks).
    Call (and time) it inside ``jax.enable_x64(True)`` for ``dtype="float64"``.
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    if block < 1 or block & (block - 1):
        raise ValueError(f"block must be a power of two; got {block!r}")
    if sync not in ("stop", "thread"):
        raise ValueError(f"sync must be 'stop' or 'thread'; got {sync!r}")
    y0 = np.asarray(y0)
    n, n_states = y0.shape
    np_dtype = np.float64 if dtype == "float64" else np.float32
    doses = np.asarray(doses).reshape(n, len(schedule.dose_times))
    uniform = n > 0 and bool(np.all(doses == doses[:1]))
    stop_t, stop_out, stop_dose, dose0 = _stops(schedule, doses[:1] if uniform else doses, np_dtype)
    n_pad = math.ceil(n / block) * block
    idx = np.minimum(np.arange(n_pad), n - 1) if n_pad != n else slice(None)
    shared, varying = _split_parameters(model, n)
    interpret = jax.default_backend() == "cpu" if interpret is None else bool(interpret)
    x64 = dtype == "float64"
    cfg = _Config(
        n_states=n_states,
        n_t=len(schedule.ts),
        x64=x64,
        rtol=float(rtol),
        atol=float(atol),
        max_steps=int(max_steps),
        block=int(block),
        num_warps=int(num_warps),
        interpret=interpret,
        sync=sync,
        t0=float(np_dtype(schedule.ts[0])),
        stop_t=tuple(float(x) for x in stop_t),
        stop_out=tuple(int(x) for x in stop_out),
        dose_const=tuple(float(x) for x in stop_dose[0]) if uniform else None,
        tumor_index=_tumor_index(model),
        dosing_state=schedule.dosing_state,
    )
    with jax.enable_x64(x64):
        jdt = jnp.float64 if x64 else jnp.float32
        # shared parameters become constants of the kernel; varying ones are traced leaves
        template = model.replace(
            **{k: float(v) for k, v in shared.items()},
            **{k: jnp.zeros((), jdt) for k in varying},
        )
        names = [k for k in model.parameter_names() if k in varying]
        prm = tuple(jnp.asarray(np.asarray(varying[k], np_dtype)[idx]) for k in names)
        y0_d = tuple(jnp.asarray(np.asarray(y0[:, s], np_dtype)[idx]) for s in range(n_states))
        dose0_d = jnp.asarray(np.broadcast_to(dose0.astype(np_dtype), (n,))[idx])
        dose_tab = None
        if not uniform:
            ns_pad = pl.next_power_of_2(len(stop_t))
            tab = np.zeros((ns_pad, n_pad), np_dtype)
            tab[: len(stop_t)] = stop_dose[idx].T
            dose_tab = jnp.asarray(tab)

    def fn(*a):
        return _run(*a, cfg=cfg)

    return fn, (template, prm, y0_d, dose0_d, dose_tab), n


def solve_pallas(
    model: Model,
    y0: np.ndarray,
    schedule: Schedule,
    doses: np.ndarray,
    *,
    rtol: float,
    atol: float,
    dtype: str = "float32",
    max_steps: int = 100_000,
    block: int = 128,
    num_warps: int = 4,
    sync: str = "stop",
    interpret: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fused adaptive Tsit5 as a Pallas kernel, one thread per patient (backend contract).

    ``block``: patients per program (a power of two); ``num_warps``: Triton warps per program.
    ``sync``: ``"stop"`` — the block integrates stop by stop (waits for its slowest patient at
    every output/dose time, FSAL refreshed at every stop); ``"thread"`` — each patient advances
    its own stop index (the numerics of :func:`solve_fused`; the block waits only at the end).
    ``interpret``: Pallas interpret mode (default: on CPU). Compiled kernels are cached per
    configuration (shared parameter values, stops, uniform doses, tolerances, shapes).

    Returns:
        ``(ys (N, n_t, S), status (N,), num_steps (N,))`` as :func:`solve_fused`.
    """
    fn, args, n = pallas_solver(
        model, y0, schedule, doses, rtol=rtol, atol=atol, dtype=dtype, max_steps=max_steps,
        block=block, num_warps=num_warps, sync=sync, interpret=interpret,
    )  # fmt: skip
    with jax.enable_x64(dtype == "float64"):
        ys, status, steps = jax.device_get(fn(*args))
    ys, status, steps = np.asarray(ys)[:n], np.asarray(status)[:n], np.asarray(steps)[:n]
    if np.any(status != 0):
        ys = ys.copy()
        ys[status != 0] = np.nan
    return ys, status, steps

"""Experimental one-thread-per-patient Pallas kernel of the fused Tsit5 engine (GPU).

Each program of the grid integrates a block of ``block`` patients entirely in registers: a loop
over the stops (output and dose times, shared by the batch) and, inside, an adaptive Tsit5 loop
that runs until every patient of the block has reached the stop. Same numerics as
:mod:`._fused` (tableau, PI controller, steps landing on stops, pre-dose outputs, per-segment
``max_steps``), with two simplifications: the FSAL derivative is re-evaluated once at every stop
for the whole block (not only after a dose), and after an extinction (tumor set to 0 below one
cell) the FSAL derivative is not refreshed (it only affects a tumor that is already 0).

The model's ``vector_field`` (written for one patient, state vector of shape ``(S,)``) is traced
once to a jaxpr and re-evaluated here on lists of per-state blocks, so that the kernel contains
only elementwise operations. Correctness is tested on CPU in Pallas interpret mode; speed is
measured on the GPU by ``benchmarks/gpu_bench.py``. Not registered as a backend.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plt

from ..model._base import Model
from ._diffrax import _tumor_index
from ._fused import (
    _A,
    _B,
    _C,
    _E,
    _ERROR_ORDER,
    _FACTOR_MAX,
    _FACTOR_MIN,
    _SAFETY,
    EXTINCTION_CELLS,
    STATUS_DT_MIN,
    STATUS_MAX_STEPS,
    _stops,
)
from ._schedule import Schedule

_STRUCTURAL = {"slice", "squeeze", "broadcast_in_dim", "concatenate", "reshape", "stack"}


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
        if name in ("jit", "pjit", "closed_call", "core_call"):
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
            outs = [x if len(shape) == 1 else (x[0] if isinstance(x, list) else x)]
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


def _field_on_blocks(model: Model, n_states: int, dtype: Any):
    """``f(t, y_list, params_list) -> list`` for one block; params: the varying leaves."""
    leaves, treedef = jax.tree_util.tree_flatten(model)
    traced = [i for i, x in enumerate(leaves) if not isinstance(x, float)]

    def one(t, y, *vals):
        new = list(leaves)
        for i, v in zip(traced, vals, strict=True):
            new[i] = v
        m = jax.tree_util.tree_unflatten(treedef, new)
        return m.vector_field(t, y, None)

    scal = jax.ShapeDtypeStruct((), dtype)
    closed = jax.make_jaxpr(one)(
        scal, jax.ShapeDtypeStruct((n_states,), dtype), *[scal for _ in traced]
    )

    def f(t, y, vals):
        bshape = t.shape
        (out,) = _eval_jaxpr(closed.jaxpr, list(closed.consts), [t, list(y), *vals], bshape)
        return [jnp.broadcast_to(o, bshape).astype(dtype) for o in out]

    return f, traced


def _rms(xs: list) -> Any:
    return jnp.sqrt(sum(x * x for x in xs) / len(xs))


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
    interpret: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fused adaptive Tsit5 as a Pallas kernel, one thread per patient (backend contract).

    ``block``: patients per program (a power of two); ``num_warps``: Triton warps per program.
    ``interpret``: Pallas interpret mode (default: on CPU).

    Returns:
        ``(ys (N, n_t, S), status (N,), num_steps (N,))`` as :func:`solve_fused`.
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    if block < 1 or block & (block - 1):
        raise ValueError(f"block must be a power of two; got {block!r}")
    y0 = np.asarray(y0, float)
    n, n_states = y0.shape
    n_t = len(schedule.ts)
    np_dtype = np.float64 if dtype == "float64" else np.float32
    doses = np.asarray(doses, float).reshape(n, len(schedule.dose_times))
    stop_t, stop_out, stop_dose, dose0 = _stops(schedule, doses, np_dtype)
    n_stop = len(stop_t)
    n_pad = math.ceil(n / block) * block
    ns_pad = pl.next_power_of_2(n_stop)
    nt_pad = pl.next_power_of_2(n_t)
    idx = np.minimum(np.arange(n_pad), n - 1)
    params = {k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in model.parameters().items()}
    shared = {k: float(v[0]) for k, v in params.items() if np.all(v == v[0])}
    varying = {k: v for k, v in params.items() if k not in shared}
    interpret = jax.default_backend() == "cpu" if interpret is None else interpret
    tumor_index = _tumor_index(model)
    dosing_state = schedule.dosing_state
    t0 = float(np_dtype(schedule.ts[0]))

    with jax.enable_x64(dtype == "float64"):
        jdt = jnp.float64 if dtype == "float64" else jnp.float32
        # shared parameters become constants of the kernel; varying ones are traced leaves
        m = model.replace(
            **{k: float(v) for k, v in shared.items()},
            **{k: jnp.zeros((), jdt) for k in varying},
        )
        f, traced = _field_on_blocks(m, n_states, jdt)
        leaves_names = [k for k in model.parameter_names() if k in varying]
        assert len(traced) == len(leaves_names)
        eps = float(jnp.finfo(jdt).eps)
        rtol_c, atol_c = float(rtol), float(atol)

        def kernel(*refs):
            n_v = len(leaves_names)
            prm = [r[...] for r in refs[:n_v]]
            y = [r[...] for r in refs[n_v : n_v + n_states]]
            dose0_ref, dose_ref, st_ref, so_ref = refs[n_v + n_states : n_v + n_states + 4]
            outs = refs[n_v + n_states + 4 : n_v + 2 * n_states + 4]
            status_ref, steps_ref = refs[-2:]
            bshape = y[0].shape
            t = jnp.full(bshape, t0, jdt)
            if dosing_state >= 0:
                y[dosing_state] = y[dosing_state] + dose0_ref[...]
            if tumor_index >= 0:
                T = y[tumor_index]
                y[tumor_index] = jnp.where(T < EXTINCTION_CELLS, 0.0, T)
            for s in range(n_states):
                outs[s][0, :] = refs[n_v + s][...]
            # initial step (diffrax's algorithm)
            k1 = f(t, y, prm)
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
            dt = jnp.minimum(100.0 * h0, h1).astype(jdt)
            status = jnp.zeros(bshape, jnp.int32)
            steps = jnp.zeros(bshape, jnp.int32)

            def segment(k, carry):
                t, dt, y, k1, status, steps = carry
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
                    ks = [k1]
                    for i, row in enumerate(_A):
                        yi = [
                            y[s] + h * sum(a * kk[s] for a, kk in zip(row, ks, strict=False))
                            for s in range(n_states)
                        ]
                        ks.append(f(t + _C[i] * h, yi, prm))
                    y1 = [
                        y[s] + h * sum(b * kk[s] for b, kk in zip(_B, ks, strict=True))
                        for s in range(n_states)
                    ]
                    t1 = jnp.where(land, stop, t + h)
                    k7 = f(t1, y1, prm)
                    ks.append(k7)
                    err = [
                        h * sum(e * kk[s] for e, kk in zip(_E, ks, strict=True))
                        for s in range(n_states)
                    ]
                    ratio = [
                        e / (atol_c + rtol_c * jnp.maximum(jnp.abs(a), jnp.abs(b)))
                        for e, a, b in zip(err, y, y1, strict=True)
                    ]
                    en = _rms(ratio)
                    finite = (en == en) & (en < jnp.inf)  # isfinite, from basic comparisons
                    accept = finite & (en < 1.0)
                    fac = _SAFETY * jnp.exp(
                        jnp.log(jnp.where(en > 0, en, 1e-30)) * (-1.0 / _ERROR_ORDER)
                    )
                    lo = jnp.where(accept, 1.0, _FACTOR_MIN)
                    hi = jnp.where(accept, _FACTOR_MAX, _SAFETY)
                    fac = jnp.where(finite, jnp.minimum(jnp.maximum(fac, lo), hi), _FACTOR_MIN)
                    dt_new = h * fac
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
                    reached = t >= stop
                    status = jnp.where(
                        run & ~reached & (seg >= max_steps), STATUS_MAX_STEPS, status
                    )
                    tiny = ~(dt >= 4.0 * eps * jnp.maximum(jnp.abs(t), 1.0))
                    status = jnp.where(run & ~reached & tiny & (status == 0), STATUS_DT_MIN, status)
                    return t, dt, y, k1, status, steps, seg

                seg0 = jnp.zeros(bshape, jnp.int32)
                t, dt, y, k1, status, steps, _ = jax.lax.while_loop(
                    cond, body, (t, dt, y, k1, status, steps, seg0)
                )
                row = so_ref[k]
                for s in range(n_states):

                    @pl.when(row >= 0)
                    def _store(s=s):
                        outs[s][row, :] = y[s]

                if dosing_state >= 0:
                    y = list(y)
                    y[dosing_state] = y[dosing_state] + dose_ref[k, :]
                k1 = f(t, y, prm)  # FSAL derivative after the stop (dose or not)
                return t, dt, y, k1, status, steps

            t, dt, y, k1, status, steps = jax.lax.fori_loop(
                0, n_stop, segment, (t, dt, y, k1, status, steps)
            )
            status_ref[...] = status
            steps_ref[...] = steps

        vec = pl.BlockSpec((block,), lambda i: (i,))
        full_s = pl.BlockSpec((ns_pad,), lambda i: (0,))
        dose_spec = pl.BlockSpec((ns_pad, block), lambda i: (0, i))
        out_spec = pl.BlockSpec((nt_pad, block), lambda i: (0, i))
        st = np.full(ns_pad, stop_t[-1], np_dtype)
        st[:n_stop] = stop_t
        so = np.full(ns_pad, -1, np.int32)
        so[:n_stop] = stop_out
        dose_tab = np.zeros((ns_pad, n_pad), np_dtype)
        dose_tab[:n_stop] = stop_dose[idx].T
        call = pl.pallas_call(
            kernel,
            grid=(n_pad // block,),
            in_specs=[vec] * (len(leaves_names) + n_states + 1) + [dose_spec, full_s, full_s],
            out_specs=[out_spec] * n_states + [vec, vec],
            out_shape=[jax.ShapeDtypeStruct((nt_pad, n_pad), jdt)] * n_states
            + [jax.ShapeDtypeStruct((n_pad,), jnp.int32)] * 2,
            interpret=interpret,
            # the Triton backend (one thread per patient); GPU default would be Mosaic GPU
            compiler_params=None if interpret else plt.CompilerParams(num_warps=num_warps),
        )
        args = [jnp.asarray(varying[k][idx], jdt) for k in leaves_names]
        args += [jnp.asarray(y0[idx, s], jdt) for s in range(n_states)]
        args += [jnp.asarray(dose0[idx], jdt), jnp.asarray(dose_tab), jnp.asarray(st)]
        args += [jnp.asarray(so)]
        res = jax.device_get(jax.jit(call)(*args))
    ys = np.stack([np.asarray(r)[:n_t, :n].T for r in res[:n_states]], axis=-1)
    status = np.asarray(res[-2])[:n]
    steps = np.asarray(res[-1])[:n]
    ys[status != 0] = np.nan
    return ys, status, steps

"""One-thread-per-patient Pallas kernels of the fused Tsit5 engine (the GPU default).

Registered as the backend ``"pallas"``; ``"auto"`` picks it on a GPU (``get_backend``). Each
program of the grid integrates a block of ``block`` patients entirely in registers. The
numerics are those of :mod:`._tsit5`, shared with :func:`~tumorimmune.solvers.solve_fused`
(tableau, controller, steps landing on stops, pre-dose outputs, ``max_steps`` per segment
between doses, the extinction rule and the definition of failure); the kernels here only drive
:func:`~._tsit5.advance`. Two loop structures (``sync``):

- ``"stop"``: a loop over the stops (output and dose times, shared by the batch) and, inside, an
  adaptive loop that runs until every patient of the block has reached the stop. The FSAL
  derivative is re-evaluated once at every stop for the whole block (not only after a dose),
  so the step sequence differs slightly from the fused engine's.
- ``"thread"``: one adaptive loop in which every patient advances its own stop index (outputs
  kept in registers and stored at the end, doses and stop times looked up from kernel
  constants); the block waits for its slowest patient only once, at the end. Step for step the
  algorithm of :func:`~tumorimmune.solvers.solve_fused`.

Several schedule groups (the arms of a trial) run in one kernel
(:func:`solve_pallas_groups`): each group is padded to whole blocks, and every block reads its
group's row of the stop tables (stop times, boluses, output rows, number of stops) as kernel
inputs instead of constants, with either loop structure.

The model's ``vector_field`` (written for one patient, state vector of shape ``(S,)``) is traced
once to a jaxpr and re-evaluated here on lists of per-state blocks, so that the kernel contains
only elementwise operations. Parameters shared by the cohort, the stop table, tolerances and
doses equal for every patient are compile-time constants; the compiled kernel is cached per
configuration (``eqx.filter_jit``), so repeated calls do not recompile. Kernel inputs and
outputs are typed pytrees (:class:`_KernelIn`, :class:`_KernelOut`). Correctness is tested
on CPU in Pallas interpret mode; speed is measured on the GPU by ``benchmarks/gpu_probe``
(``python -m benchmarks.gpu_probe.run``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plt
from jaxtyping import Array

from ..model import Model
from ._common import MAX_STEPS, Result, check_dtype, split_parameters, tumor_state_index
from ._extinction import absorbing_field
from ._schedule import Schedule
from ._tsit5 import STATUS_OK, Field, Lanes, advance, initial_lanes, running, start

_T = TypeVar("_T")
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
    #: several schedule groups (e.g. the arms of a trial) in one kernel: every block holds
    #: patients of one group and reads that group's stop table (a row of ``_Stops`` per block)
    grouped: bool = False
    #: grouped: boluses per patient (``dose_tab``) instead of one per group and stop
    lane_doses: bool = False


class _Stops(eqx.Module, Generic[_T]):
    """The stop table as kernel inputs (block-synchronous kernel), padded to a power of two.

    ``_T``: arrays (the call), refs (inside the kernel) or block specs."""

    t: _T
    dose: _T
    out: _T
    #: grouped kernels: stops of the block's group ``(n_blocks,)`` and the stop at which each
    #: output row is taken ``(n_blocks, nt_pad)``; ``None`` for one shared table
    n: _T | None = None
    row_stop: _T | None = None


class _KernelIn(eqx.Module, Generic[_T]):
    """Inputs of the kernel (arrays outside it, refs of one block inside it, or block specs)."""

    params: tuple[_T, ...]  # varying parameters, (n_pad,) each
    y0: tuple[_T, ...]  # initial state per state, (n_pad,) each
    dose0: _T  # bolus at t0, (n_pad,)
    dose_tab: _T | None  # per-patient boluses per stop (ns_pad, n_pad), or None: constants
    stops: _Stops[_T] | None  # the stop table ("stop" kernel; the "thread" one bakes it in)


class _KernelOut(eqx.Module, Generic[_T]):
    """Outputs of the kernel: ``ys[s]`` of shape (nt_pad, n_pad), status and steps (n_pad,)."""

    ys: tuple[_T, ...]
    status: _T
    steps: _T


def _block_start(cfg: _Config, f, inp: _KernelIn) -> tuple[Field, list, Lanes]:
    """The block's field ``f(t, y)``, initial state (pre-dose) and :class:`~._tsit5.Lanes`."""
    prm = [r[...] for r in inp.params]
    y0 = [r[...] for r in inp.y0]
    t = jnp.full(y0[0].shape, cfg.t0, jnp.float64 if cfg.x64 else jnp.float32)

    def field(t: Array, y: list) -> list:
        return f(t, y, prm)

    y, k1, dt = start(
        field, t, y0, inp.dose0[...], rtol=cfg.rtol, atol=cfg.atol,
        tumor_index=cfg.tumor_index, dosing_state=cfg.dosing_state,
    )  # fmt: skip
    return field, y0, initial_lanes(t, y, k1, dt)


def _advance_kw(cfg: _Config) -> dict[str, Any]:
    return dict(
        rtol=cfg.rtol, atol=cfg.atol, max_steps=cfg.max_steps, tumor_index=cfg.tumor_index,
        dosing_state=cfg.dosing_state,
    )  # fmt: skip


def _kernel_stop(cfg: _Config, f):
    """Block-synchronous kernel: a loop over the stops, inside it an adaptive loop per block
    until every patient of the block has reached the stop; then the output, the bolus and the
    FSAL derivative (re-evaluated at every stop for the whole block)."""

    def kernel(inp: _KernelIn, out: _KernelOut) -> None:
        field, y0, s = _block_start(cfg, f, inp)
        for i, v in enumerate(y0):
            out.ys[i][0, :] = v  # pre-dose value at t0
        tab = inp.stops
        assert tab is not None
        if cfg.grouped:  # this block's group: its row of the stop tables
            assert tab.n is not None
            n_stop: Any = tab.n[0]
            t_at = lambda k: tab.t[0, k]  # noqa: E731
            out_at = lambda k: tab.out[0, k]  # noqa: E731
            dose_at = lambda k: tab.dose[0, k]  # noqa: E731
        else:
            n_stop = len(cfg.stop_t)
            t_at = lambda k: tab.t[k]  # noqa: E731
            out_at = lambda k: tab.out[k]  # noqa: E731
            dose_at = lambda k: tab.dose[k]  # noqa: E731

        def segment(k: Array, s: Lanes) -> Lanes:
            def active(s: Lanes) -> Array:
                return (s.js == k) & (s.status == STATUS_OK)

            def cond(s: Lanes) -> Array:  # a max-reduction: lowers everywhere (no bool ones)
                return jnp.max(active(s).astype(jnp.int32)) > 0

            def body(s: Lanes) -> Lanes:
                new, _, _ = advance(
                    field, s, active=active(s), stop=t_at(k), dose=None,
                    last=k == n_stop - 1, **_advance_kw(cfg),
                )  # fmt: skip
                return new

            s = jax.lax.while_loop(cond, body, s)
            row = out_at(k)
            for i in range(cfg.n_states):

                @pl.when(row >= 0)
                def _store(i: int = i) -> None:
                    out.ys[i][row, :] = s.y[i]

            y, seg = list(s.y), s.seg
            if cfg.dosing_state >= 0:
                dose = dose_at(k) if inp.dose_tab is None else inp.dose_tab[k, :]
                y[cfg.dosing_state] = y[cfg.dosing_state] + dose
                seg = jnp.where(dose != 0, 0, seg)  # a new segment of max_steps
            return dataclasses.replace(s, y=y, k1=field(s.t, y), seg=seg)

        s = jax.lax.fori_loop(0, n_stop, segment, s)
        out.status[...] = s.status
        out.steps[...] = s.steps

    return kernel


def _kernel_thread(cfg: _Config, f):
    """Per-thread kernel: each patient advances its own stop index in one adaptive loop.

    The driver of :func:`~._tsit5.advance` that :func:`~._fused.solve_fused` also uses, so
    step for step the fused engine: stop times and doses are looked up from kernel constants
    (or the per-patient dose table), outputs kept in registers and stored at the end. The block
    synchronises only in the loop condition (until all its patients are done).
    """
    stop_t, stop_out, n_t = cfg.stop_t, cfg.stop_out, cfg.n_t
    n_stop_const = len(stop_t)
    out_stop = {r: k for k, r in enumerate(stop_out) if r >= 0}  # output row -> stop index
    if cfg.dose_const is None:
        dose_stops = list(range(n_stop_const))
    else:
        dose_stops = [k for k, d in enumerate(cfg.dose_const) if d != 0]

    def lookup(jc: Array, table: list, default: Any) -> Any:
        v = default
        for k, val in table:
            v = jnp.where(jc == k, val, v)
        return v

    def kernel(inp: _KernelIn, out: _KernelOut) -> None:
        field, y0, s = _block_start(cfg, f, inp)
        for i, v in enumerate(y0):
            out.ys[i][0, :] = v  # pre-dose value at t0
        zero = jnp.zeros_like(s.t)
        if cfg.grouped:  # this block's group's table: a row per block, padded to ns_pad
            tab = inp.stops
            assert tab is not None and tab.n is not None and tab.row_stop is not None
            ns_pad = tab.t.shape[1]
            n_stop: Any = tab.n[0]
            stop_tab = [(k, tab.t[0, k]) for k in range(ns_pad - 1)]
            last_t: Any = tab.t[0, ns_pad - 1]  # the table is padded with its last stop
            row_at = {r: tab.row_stop[0, r] for r in range(1, n_t)}
            if cfg.lane_doses:
                assert inp.dose_tab is not None
                drow = [(k, inp.dose_tab[k, :]) for k in range(ns_pad)]
            else:
                drow = [(k, tab.dose[0, k]) for k in range(ns_pad)]
        else:
            n_stop = n_stop_const
            stop_tab = [(k, stop_t[k]) for k in range(n_stop_const - 1)]
            last_t = stop_t[-1]
            row_at = {r: out_stop[r] for r in range(1, n_t)}
            if cfg.dose_const is None:
                assert inp.dose_tab is not None
                drow = [(k, inp.dose_tab[k, :]) for k in dose_stops]
            else:
                drow = [(k, cfg.dose_const[k]) for k in dose_stops]
        obuf = [[zero for _ in range(cfg.n_states)] for _ in range(1, n_t)]

        def cond(c: tuple[Lanes, list]) -> Array:
            return jnp.max(running(c[0], n_stop).astype(jnp.int32)) > 0

        def body(c: tuple[Lanes, list]) -> tuple[Lanes, list]:
            s, obuf = c
            jc = jnp.minimum(s.js, n_stop - 1)
            new, hit, y_stop = advance(
                field, s, active=running(s, n_stop), stop=lookup(jc, stop_tab, last_t),
                dose=lookup(jc, drow, zero), last=s.js + 1 >= n_stop, **_advance_kw(cfg),
            )  # fmt: skip
            obuf = [
                [
                    jnp.where(hit & (jc == row_at[r]), y_stop[i], obuf[r - 1][i])
                    for i in range(cfg.n_states)
                ]
                for r in range(1, n_t)
            ]
            return new, obuf

        s, obuf = jax.lax.while_loop(cond, body, (s, obuf))
        for r in range(1, n_t):
            for i in range(cfg.n_states):
                out.ys[i][r, :] = obuf[r - 1][i]
        out.status[...] = s.status
        out.steps[...] = s.steps

    return kernel


@eqx.filter_jit
def _run(template: Model, inp: _KernelIn, *, cfg: _Config) -> tuple[Array, Array, Array]:
    """The kernel over the whole (padded) cohort; compiled once per ``cfg`` and shapes.

    ``template``: the model with shared parameters as Python floats (kernel constants) and the
    varying ones as 0-d arrays (their per-patient values are ``inp.params``, shape
    ``(n_pad,)``). Returns ``ys (n_pad, n_t, S)``, ``status (n_pad,)``, ``steps (n_pad,)``.
    """
    jdt = jnp.float64 if cfg.x64 else jnp.float32
    f, _ = _field_on_blocks(template, cfg.n_states, jdt, cfg.tumor_index)
    n_pad, block = inp.y0[0].shape[0], cfg.block
    nt_pad = pl.next_power_of_2(cfg.n_t)
    vec = pl.BlockSpec((block,), lambda i: (i,))
    ns_pad = pl.next_power_of_2(len(cfg.stop_t))
    whole = pl.BlockSpec((ns_pad,), lambda i: (0,))
    if cfg.grouped:
        assert inp.stops is not None
        row = lambda i: (i, 0)  # noqa: E731
        ns_pad = inp.stops.t.shape[1]
        stops_spec: Any = _Stops(
            pl.BlockSpec((1, ns_pad), row), pl.BlockSpec((1, ns_pad), row),
            pl.BlockSpec((1, ns_pad), row), pl.BlockSpec((1,), lambda i: (i,)),
            pl.BlockSpec((1, nt_pad), row),
        )  # fmt: skip
        kernel = _kernel_stop(cfg, f) if cfg.sync == "stop" else _kernel_thread(cfg, f)
    elif cfg.sync == "stop":
        st = np.full(ns_pad, cfg.stop_t[-1], np.float64 if cfg.x64 else np.float32)
        st[: len(cfg.stop_t)] = cfg.stop_t
        so = np.full(ns_pad, -1, np.int32)
        so[: len(cfg.stop_t)] = cfg.stop_out
        sd = np.zeros(ns_pad, st.dtype)
        if cfg.dose_const is not None:
            sd[: len(cfg.dose_const)] = cfg.dose_const
        inp = dataclasses.replace(
            inp, stops=_Stops(jnp.asarray(st), jnp.asarray(sd), jnp.asarray(so))
        )
        kernel = _kernel_stop(cfg, f)
        stops_spec = _Stops(whole, whole, whole)
    else:
        kernel = _kernel_thread(cfg, f)
        stops_spec = None
    in_spec = _KernelIn(
        params=tuple(vec for _ in inp.params),
        y0=tuple(vec for _ in inp.y0),
        dose0=vec,
        dose_tab=None if inp.dose_tab is None else pl.BlockSpec((ns_pad, block), lambda i: (0, i)),
        stops=stops_spec,
    )
    col = pl.BlockSpec((nt_pad, block), lambda i: (0, i))
    n_s = cfg.n_states
    out_spec = _KernelOut(ys=(col,) * n_s, status=vec, steps=vec)
    out_shape = _KernelOut(
        ys=(jax.ShapeDtypeStruct((nt_pad, n_pad), jdt),) * n_s,
        status=jax.ShapeDtypeStruct((n_pad,), jnp.int32),
        steps=jax.ShapeDtypeStruct((n_pad,), jnp.int32),
    )
    res = pl.pallas_call(
        kernel,
        grid=(n_pad // block,),
        in_specs=(in_spec,),
        out_specs=out_spec,
        out_shape=out_shape,
        interpret=cfg.interpret,
        # the Triton backend (one thread per patient); GPU default would be Mosaic GPU
        compiler_params=None if cfg.interpret else plt.CompilerParams(num_warps=cfg.num_warps),
    )(inp)
    ys = jnp.stack([r[: cfg.n_t] for r in res.ys], axis=-1)  # (n_t, n_pad, S)
    return jnp.transpose(ys, (1, 0, 2)), res.status, res.steps


def _check_options(dtype: str, block: int, sync: str) -> None:
    check_dtype(dtype)
    if block < 1 or block & (block - 1):
        raise ValueError(f"block must be a power of two; got {block!r}")
    if sync not in ("stop", "thread"):
        raise ValueError(f"sync must be 'stop' or 'thread'; got {sync!r}")


def _kernel_inputs(
    model: Model,
    shared: dict[str, float],
    varying: dict[str, np.ndarray],
    y0: np.ndarray,
    idx: Any,
    np_dtype: Any,
) -> tuple[Model, tuple[Array, ...], tuple[Array, ...]]:
    """``(template, params, y0)`` of a kernel call (inside ``jax.enable_x64`` as needed):
    shared parameters become constants of the kernel, varying ones traced leaves whose
    per-patient values (rows ``idx``) are ``params``."""
    jdt = jnp.float64 if np_dtype == np.float64 else jnp.float32
    template = model.replace(
        **{k: float(v) for k, v in shared.items()},
        **{k: jnp.zeros((), jdt) for k in varying},
    )
    names = [k for k in model.parameter_names() if k in varying]
    prm = tuple(jnp.asarray(np.asarray(varying[k], np_dtype)[idx]) for k in names)
    y0_d = tuple(jnp.asarray(np.asarray(y0[:, s], np_dtype)[idx]) for s in range(y0.shape[1]))
    return template, prm, y0_d


def pallas_solver(
    model: Model,
    y0: np.ndarray,
    schedule: Schedule,
    doses: np.ndarray,
    *,
    rtol: float,
    atol: float,
    dtype: str = "float32",
    max_steps: int = MAX_STEPS,
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
    _check_options(dtype, block, sync)
    y0 = np.asarray(y0)
    n, n_states = y0.shape
    np_dtype = np.float64 if dtype == "float64" else np.float32
    doses = np.asarray(doses).reshape(n, len(schedule.dose_times))
    uniform = n > 0 and bool(np.all(doses == doses[:1]))
    stop_t, stop_out, stop_dose, dose0 = schedule.stops(doses[:1] if uniform else doses, np_dtype)
    n_pad = math.ceil(n / block) * block
    idx = np.minimum(np.arange(n_pad), n - 1) if n_pad != n else slice(None)
    shared, varying = split_parameters(model, n)
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
        tumor_index=tumor_state_index(model),
        dosing_state=schedule.dosing_state,
    )
    with jax.enable_x64(x64):
        template, prm, y0_d = _kernel_inputs(model, shared, varying, y0, idx, np_dtype)
        dose0_d = jnp.asarray(np.broadcast_to(dose0.astype(np_dtype), (n,))[idx])
        dose_tab = None
        if not uniform:
            ns_pad = pl.next_power_of_2(len(stop_t))
            tab = np.zeros((ns_pad, n_pad), np_dtype)
            tab[: len(stop_t)] = stop_dose[idx].T
            dose_tab = jnp.asarray(tab)

    def fn(*a):
        return _run(*a, cfg=cfg)

    inp = _KernelIn(params=prm, y0=y0_d, dose0=dose0_d, dose_tab=dose_tab, stops=None)
    return fn, (template, inp), n


def solve_pallas(
    model: Model,
    y0: np.ndarray,
    schedule: Schedule,
    doses: np.ndarray,
    *,
    rtol: float,
    atol: float,
    dtype: str = "float32",
    max_steps: int = MAX_STEPS,
    block: int = 128,
    num_warps: int = 4,
    sync: str = "stop",
    interpret: bool | None = None,
) -> Result:
    """Fused adaptive Tsit5 as a Pallas kernel, one thread per patient.

    Arguments ``model`` … ``max_steps`` and the result: the backend contract,
    :meth:`tumorimmune.solvers.AbstractBackend.__call__`.

    ``block``: patients per program (a power of two); ``num_warps``: Triton warps per program.
    ``sync``: ``"stop"`` — the block integrates stop by stop (waits for its slowest patient at
    every output/dose time, FSAL refreshed at every stop); ``"thread"`` — each patient advances
    its own stop index (the numerics of :func:`solve_fused`; the block waits only at the end).
    ``interpret``: Pallas interpret mode (default: on CPU). Compiled kernels are cached per
    configuration (shared parameter values, stops, uniform doses, tolerances, shapes).
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


def pallas_groups_solver(
    groups: Any,
    *,
    rtol: float,
    atol: float,
    dtype: str = "float32",
    max_steps: int = MAX_STEPS,
    block: int = 128,
    num_warps: int = 4,
    sync: str = "stop",
    interpret: bool | None = None,
) -> tuple[Any, tuple[Any, ...], list[tuple[int, int]]]:
    """Prepare one kernel call for several schedule groups: ``(fn, args, spans)``.

    Each group ``(model, y0, schedule, doses)`` is padded to whole blocks, so that every block
    holds patients of one group and reads its group's row of the stop tables (per-block
    inputs); ``spans[g] = (first padded row, n_g)``. Models must share class and static
    fields (one compiled kernel); the output times ``ts`` must be the same for every group.
    """
    from ._fused import _concat_models, _stops_batch

    _check_options(dtype, block, sync)
    np_dtype = np.float64 if dtype == "float64" else np.float32
    models = [g[0] for g in groups]
    y0s = [np.asarray(g[1]) for g in groups]
    schedules = [g[2] for g in groups]
    ts = np.asarray(schedules[0].ts, float)
    dosing = sorted({s.dosing_state for s in schedules if s.dosing_state >= 0})
    if len(dosing) > 1:
        raise ValueError(f"the groups' schedules dose different states ({dosing}); give one")
    tabs = []
    for g, (sch, y, grp) in enumerate(zip(schedules, y0s, groups, strict=True)):
        if not np.array_equal(np.asarray(sch.ts, float), ts):
            raise ValueError(f"group {g}'s output times differ from group 0's; give the same ts")
        d = np.asarray(grp[3]).reshape(y.shape[0], len(sch.dose_times))
        stop_t, stop_out, stop_dose, dose0 = _stops_batch(sch, d, np_dtype)
        if sch.dosing_state < 0:
            stop_dose = np.zeros((y.shape[0], len(stop_t)), np_dtype)
            dose0 = np.zeros(y.shape[0], np_dtype)
        tabs.append((stop_t, stop_out, np.asarray(stop_dose), np.asarray(dose0)))
    sizes = [y.shape[0] for y in y0s]
    n_t = len(ts)
    ns_pad = pl.next_power_of_2(max(len(t[0]) for t in tabs))
    nt_pad = pl.next_power_of_2(n_t)
    lane_doses = any(not bool(np.all(t[2] == t[2][:1])) for t in tabs if t[2].shape[0])
    # rows of the padded cohort: group g's patients, then copies of its last one to a block
    starts, index, block_group = [], [], []
    offset = 0
    for g, n in enumerate(sizes):
        n_pad = max(math.ceil(n / block), 1) * block
        starts.append((len(index), n))
        index.extend(offset + np.minimum(np.arange(n_pad), max(n - 1, 0)))
        block_group.extend([g] * (n_pad // block))
        offset += n
    idx = np.asarray(index, np.int64)
    bg = np.asarray(block_group, np.int64)
    n_blocks = bg.size
    t_rows = np.zeros((len(groups), ns_pad), np_dtype)
    out_rows = np.full((len(groups), ns_pad), -1, np.int32)
    dose_rows = np.zeros((len(groups), ns_pad), np_dtype)
    row_stop = np.full((len(groups), nt_pad), -1, np.int32)
    n_stops = np.zeros(len(groups), np.int32)
    for g, (stop_t, stop_out, stop_dose, _) in enumerate(tabs):
        k = len(stop_t)
        n_stops[g] = k
        t_rows[g] = np.pad(stop_t, (0, ns_pad - k), mode="edge")
        out_rows[g, :k] = stop_out
        if stop_dose.shape[0]:
            dose_rows[g, :k] = stop_dose[0]
        for j, r in enumerate(stop_out):
            if r >= 0:
                row_stop[g, r] = j
    model = models[0] if len(models) == 1 else _concat_models(models, sizes)
    n_all = sum(sizes)
    shared, varying = split_parameters(model, n_all)
    y0 = np.concatenate([np.asarray(y, float) for y in y0s])
    dose0 = np.concatenate([t[3] for t in tabs]).astype(np_dtype)
    x64 = dtype == "float64"
    cfg = _Config(
        n_states=y0.shape[1],
        n_t=n_t,
        x64=x64,
        rtol=float(rtol),
        atol=float(atol),
        max_steps=int(max_steps),
        block=int(block),
        num_warps=int(num_warps),
        interpret=jax.default_backend() == "cpu" if interpret is None else bool(interpret),
        sync=sync,
        t0=float(np_dtype(ts[0])),
        stop_t=(0.0,),  # per-block inputs instead (not baked into the kernel)
        stop_out=(-1,),
        dose_const=None,
        tumor_index=tumor_state_index(models[0]),
        dosing_state=dosing[0] if dosing else -1,
        grouped=True,
        lane_doses=lane_doses,
    )
    with jax.enable_x64(x64):
        template, prm, y0_d = _kernel_inputs(models[0], shared, varying, y0, idx, np_dtype)
        dose0_d = jnp.asarray(dose0[idx])
        dose_tab = None
        if lane_doses:
            lanes = np.zeros((idx.size, ns_pad), np_dtype)
            for (stop_t, _, stop_dose, _), (first, n) in zip(tabs, starts, strict=True):
                n_pad = max(math.ceil(n / block), 1) * block
                rows = stop_dose[np.minimum(np.arange(n_pad), max(n - 1, 0))]
                lanes[first : first + n_pad, : len(stop_t)] = rows
            dose_tab = jnp.asarray(lanes.T.copy())
        stops = _Stops(
            jnp.asarray(t_rows[bg]), jnp.asarray(dose_rows[bg]), jnp.asarray(out_rows[bg]),
            jnp.asarray(n_stops[bg]), jnp.asarray(row_stop[bg]),
        )  # fmt: skip
    del n_blocks

    def fn(*a):
        return _run(*a, cfg=cfg)

    inp = _KernelIn(params=prm, y0=y0_d, dose0=dose0_d, dose_tab=dose_tab, stops=stops)
    return fn, (template, inp), starts


def solve_pallas_groups(
    groups: Any,
    *,
    rtol: float,
    atol: float,
    dtype: str = "float32",
    max_steps: int = MAX_STEPS,
    block: int = 128,
    num_warps: int = 4,
    sync: str = "stop",
    interpret: bool | None = None,
) -> list[Result]:
    """Several batches with different dose schedules (e.g. the arms of a trial) in one Pallas
    kernel: ``groups`` holds ``(model, y0, schedule, doses)`` per batch, as for
    :func:`solve_pallas`; returns ``(ys, status, num_steps)`` per batch.

    Every block of the kernel holds one group's patients and follows that group's stop table
    (read per block), so a patient's block and its numerics are those of
    :func:`solve_pallas` on its group alone; parameters shared within a group but not across
    groups become per-patient inputs instead of kernel constants, which can change the last
    bits (tests: equal to the per-group kernels within float tolerance).
    """
    if len(groups) == 0:
        raise ValueError("groups is empty; give at least one (model, y0, schedule, doses)")
    n_t = len(groups[0][2].ts)
    out: list[Result] = [
        (np.zeros((0, n_t, np.shape(g[1])[1])), np.zeros(0, np.int32), np.zeros(0, np.int32))
        for g in groups
    ]
    keep = [g for g, grp in enumerate(groups) if np.shape(grp[1])[0] > 0]
    if not keep:
        return out
    fn, args, spans = pallas_groups_solver(
        [groups[g] for g in keep], rtol=rtol, atol=atol, dtype=dtype, max_steps=max_steps,
        block=block, num_warps=num_warps, sync=sync, interpret=interpret,
    )  # fmt: skip
    with jax.enable_x64(dtype == "float64"):
        ys, status, steps = jax.device_get(fn(*args))
    ys, status, steps = np.asarray(ys), np.asarray(status), np.asarray(steps)
    for g, (first, n) in zip(keep, spans, strict=True):
        y, st, sp = ys[first : first + n], status[first : first + n], steps[first : first + n]
        if np.any(st != 0):
            y = y.copy()
            y[st != 0] = np.nan
        out[g] = (y, st, sp)
    return out

"""A batch backend spread over several local JAX devices (patients split evenly).

Patients are independent, so a batch is split into one contiguous, equal slice per device
(``N`` padded to a multiple of the device count with copies of the last patient; the copies
are dropped) and nothing is communicated between devices. Two ways, by backend:

- ``solve_pallas``: its traceable kernel call (:func:`~._pallas.pallas_solver`) is wrapped in
  ``jax.shard_map`` over a 1-D mesh ``("patient",)`` of the devices: one SPMD program, one
  compilation, each device runs the kernel on its slice.
- any other backend of the contract (``solve_fused``, ``solve_diffrax``, user backends): the
  backend is called once per slice, each in its own thread under ``jax.default_device``.
  ``solve_fused`` is a host function (NumPy in and out, its own pools and threads), not a
  traceable one, so it cannot go inside ``shard_map``; on one GPU per device it runs its
  single pool in the calling thread, on that device. (On CPU, forced host devices share the
  same cores, which ``solve_fused`` already uses with its own threads; its worker threads run
  on the default device.)

Results are bit-for-bit those of one device: every backend sums its error norm in a fixed
order, so a patient's numbers do not depend on the batch it is solved in
(``tests/solvers/test_shard.py``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import numpy as np
from jaxtyping import Float

from ..model import Model
from ._common import Result
from ._options import Pallas
from ._pallas import _KernelIn, pallas_solver, solve_pallas
from ._schedule import Schedule

#: Name of the mesh axis the patients are split along.
AXIS = "patient"


def _take_rows(model: Model, y0: np.ndarray, doses: np.ndarray, idx: np.ndarray, n: int):
    """Model, ``y0`` and ``doses`` restricted to the patients ``idx`` (per-patient fields only)."""

    def take(x: Any) -> Any:
        a = np.asarray(x)
        return a[idx] if a.ndim == 1 and a.shape[0] == n else x

    return jax.tree_util.tree_map(take, model), y0[idx], doses[idx]


def shard_solve(
    solve: Any,
    model: Model,
    y0: Float[np.ndarray, "N S"],
    schedule: Schedule,
    doses: Float[np.ndarray, "N k"],
    *,
    devices: Sequence[Any] | None = None,
    **kwargs: Any,
) -> Result:
    """Call the batch backend ``solve`` with the patients split over ``devices``.

    Args:
        solve: a batch solve of the backend contract
            (:meth:`tumorimmune.solvers.AbstractBackend.__call__`): ``solve_fused``,
            ``solve_pallas``, ``solve_diffrax``, a backend object, ….
        model: batched model (every per-patient field of shape ``(N,)``).
        y0: initial states ``(N, S)``; ``doses`` ``(N, k)`` boluses (mg) at
            ``schedule.dose_times``.
        devices: local JAX devices (default: ``jax.local_devices()``); one device calls
            ``solve`` directly.
        **kwargs: the backend's keyword options (``rtol``, ``atol``, ``dtype``, ``max_steps``,
            backend-specific ones).

    Returns:
        ``(ys (N, n_t, S), status (N,), num_steps (N,))`` exactly as ``solve`` on one device.
    """
    if isinstance(solve, Pallas):  # an option object: its options become keywords
        kwargs = {**solve.options(), **kwargs, "dtype": solve._dtype(kwargs.get("dtype"))}
        solve = solve_pallas
    devs = list(devices) if devices is not None else jax.local_devices()
    y0 = np.asarray(y0)
    n = y0.shape[0]
    doses = np.asarray(doses).reshape(n, len(schedule.dose_times))
    k = len(devs)
    if k <= 1 or n == 0:
        return solve(model, y0, schedule, doses, **kwargs)
    quantum = k * int(kwargs.get("block", 128)) if solve is solve_pallas else k
    n_pad = math.ceil(n / quantum) * quantum
    if n_pad != n:  # pad with copies of the last patient (dropped below)
        model, y0, doses = _take_rows(model, y0, doses, np.minimum(np.arange(n_pad), n - 1), n)
    if solve is solve_pallas:
        ys, status, steps = _pallas_shard_map(model, y0, schedule, doses, devs, kwargs)
    else:
        ys, status, steps = _per_device(solve, model, y0, schedule, doses, devs, kwargs)
    return ys[:n], status[:n], steps[:n]


def _per_device(
    solve: Any,
    model: Model,
    y0: np.ndarray,
    schedule: Schedule,
    doses: np.ndarray,
    devs: list[Any],
    kwargs: dict[str, Any],
) -> Result:
    n = y0.shape[0]
    m = n // len(devs)

    def one(i: int) -> Result:
        idx = np.arange(i * m, (i + 1) * m)
        sub = _take_rows(model, y0, doses, idx, n)
        with jax.default_device(devs[i]):
            out = solve(sub[0], sub[1], schedule, sub[2], **kwargs)
        return tuple(np.asarray(x) for x in out)  # type: ignore[return-value]

    with ThreadPoolExecutor(max_workers=len(devs)) as pool:
        parts = list(pool.map(one, range(len(devs))))
    ys, status, steps = (np.concatenate([p[j] for p in parts]) for j in range(3))
    return ys, status, steps


def _pallas_shard_map(
    model: Model,
    y0: np.ndarray,
    schedule: Schedule,
    doses: np.ndarray,
    devs: list[Any],
    kwargs: dict[str, Any],
) -> Result:
    fn, args, _ = pallas_solver(model, y0, schedule, doses, **kwargs)
    template, inp = args
    prm, y0_d, dose0_d, dose_tab = inp.params, inp.y0, inp.dose0, inp.dose_tab
    mapped = _mapped_kernel(fn, template, tuple(devs), dose_tab is not None)
    with jax.enable_x64(kwargs.get("dtype", "float32") == "float64"):
        ys, status, steps = jax.device_get(mapped(prm, y0_d, dose0_d, dose_tab))
    ys, status, steps = np.asarray(ys), np.asarray(status), np.asarray(steps)
    if np.any(status != 0):
        ys = ys.copy()
        ys[status != 0] = np.nan
    return ys, status, steps


#: Compiled ``shard_map`` programs by kernel configuration, template and devices.
_MAPPED: dict[Any, Any] = {}


def _mapped_kernel(fn: Any, template: Model, devs: tuple[Any, ...], has_tab: bool) -> Any:
    """``jax.jit(jax.shard_map(kernel))`` over a 1-D mesh of ``devs``, cached.

    The template (shared parameters as Python floats: constants of the kernel) is closed over,
    not passed, so that the kernel is the one-device kernel. The cache key is the kernel's
    configuration (``cfg`` of :func:`~._pallas.pallas_solver`'s call), the template's values
    and the devices; without a ``cfg`` the program is built (and compiled) on every call.
    """
    from jax.sharding import Mesh
    from jax.sharding import PartitionSpec as P

    cfg = _kernel_config(fn)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    key = None
    if cfg is not None:
        vals = tuple(
            (np.shape(x), str(np.asarray(x).dtype), np.asarray(x).tobytes())
            if isinstance(x, jax.Array | np.ndarray)
            else x
            for x in leaves
        )
        key = (cfg, treedef, vals, devs, has_tab)
        if key in _MAPPED:
            return _MAPPED[key]

    def body(prm, y0_d, dose0_d, dose_tab):
        inp = _KernelIn(params=prm, y0=y0_d, dose0=dose0_d, dose_tab=dose_tab, stops=None)
        return fn(template, inp)

    row = P(AXIS)
    mapped = jax.jit(
        jax.shard_map(
            body,
            mesh=Mesh(np.asarray(devs), (AXIS,)),
            in_specs=(row, row, row, P(None, AXIS) if has_tab else None),
            out_specs=(row, row, row),
            check_vma=False,
        )
    )
    if key is not None:
        if len(_MAPPED) > 32:
            _MAPPED.clear()
        _MAPPED[key] = mapped
    return mapped


def _kernel_config(fn: Any) -> Any:
    """The ``cfg`` a kernel call of :func:`~._pallas.pallas_solver` is bound to (a closure
    variable, an attribute or a ``functools.partial`` keyword), or ``None``."""
    cfg = getattr(fn, "cfg", None) or getattr(fn, "keywords", {}).get("cfg")
    if cfg is None and inspect.isfunction(fn):
        cfg = inspect.getclosurevars(fn).nonlocals.get("cfg")
    return cfg

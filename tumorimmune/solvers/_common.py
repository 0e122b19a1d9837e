"""Constants and helpers shared by the backends and their option objects.

A leaf of ``tumorimmune.solvers``: it imports no module of this package (only ``..model``, which
imports none of it), so that ``_options`` (the option objects) imports the backend implementations
(``_diffrax``, ``_fused``, ``_pallas``) and never the other way round.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np

from ..model import Model

Precision = Literal["float32", "float64"]

#: What a batch solve returns: ``(ys (N, n_t, S), status (N,) int32, num_steps (N,))``; see
#: the backend contract, :meth:`tumorimmune.solvers.AbstractBackend.__call__`.
Result: TypeAlias = tuple[np.ndarray, np.ndarray, np.ndarray]

#: Step limit per integration segment (between doses) when none is given, for every backend
#: and entry point. Measured: patients of the default virtual trial (float64) need up to about
#: 22 500 steps in the one-year untreated segment.
MAX_STEPS = 100_000

#: Default ``(rtol, atol)`` per precision (``atol`` in the states' units: cells, mg).
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-8, 1e-6),
    "float32": (1e-5, 1e-3),
}


def check_dtype(dtype: object, what: str = "dtype") -> Precision:
    """``dtype`` if it is ``"float32"`` or ``"float64"``, else a one-line ``ValueError``."""
    if dtype not in DEFAULT_TOLERANCES:
        raise ValueError(f"{what} must be 'float32' or 'float64'; got {dtype!r}")
    return dtype  # type: ignore[return-value]


def positive_int(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    """A one-line ``ValueError`` naming ``owner.name`` unless ``value`` is an integer >= 1
    (or ``None`` when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 1:
        raise ValueError(f"{owner}.{name} must be a positive integer; got {value!r}")


def tumor_state_index(model: Model) -> int:
    """Index of the tumor-cell state ``"T"`` (the one the extinction rule applies to), or -1."""
    return model.state_names.index("T") if "T" in model.state_names else -1


def split_parameters(model: Model, n: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
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

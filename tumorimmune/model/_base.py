"""Common machinery of all models: parameter validation and state metadata."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


class Model(eqx.Module):
    """Base class of tumorimmune models.

    A model is an :class:`equinox.Module` whose (non-static) fields are its parameters. A field
    may be a scalar (one patient) or a 1-D array (one value per patient); ``jax.vmap`` over the
    module is then the natural batch. Subclasses define:

    - ``state_names``: names of the ODE states, in the order of the state vector ``y``;
    - ``vector_field(t, y, args)``: the pure right-hand side ``dy/dt``, for one patient
      (scalar parameters), ``y`` of shape ``(n_states,)``;
    - optionally ``observables(t, y)``: derived outputs (e.g. drug concentration).
    """

    state_names: ClassVar[tuple[str, ...]] = ()
    #: Allowed closed interval per parameter; parameters not listed must be finite and >= 0.
    parameter_bounds: ClassVar[dict[str, tuple[float, float]]] = {}

    def vector_field(
        self, t: Float[ArrayLike, ""], y: Float[Array, " n_states"], args: object
    ) -> Float[Array, " n_states"]:
        raise NotImplementedError

    def observables(
        self, t: Float[Array, "..."], y: Float[Array, "... n_states"]
    ) -> dict[str, Float[Array, "..."]]:
        """Derived outputs (beyond the states) at times ``t``; states have last axis."""
        return {}

    # ------------------------------------------------------------------ metadata
    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """Names of the model's parameters (its non-static dataclass fields)."""
        return tuple(
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if not f.metadata.get("static", False)
        )

    def parameters(self) -> dict[str, ArrayLike]:
        """The parameter values as stored, ``{name: value}`` (no conversion).

        Values are returned as given (Python floats, NumPy or JAX arrays): converting with
        ``jnp.asarray`` would round float64 values to float32 whenever JAX's x64 mode is off.
        """
        return {name: getattr(self, name) for name in self.parameter_names()}

    def n_patients(self) -> int:
        """Common length of the array-valued parameters (1 if all are scalars)."""
        return _common_length({k: np.shape(v) for k, v in self.parameters().items()})

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first parameter that is non-finite or out of bounds."""
        for name in self.parameter_names():
            value = np.asarray(getattr(self, name), dtype=float)
            if value.ndim > 1:
                raise ValueError(
                    f"parameter {name!r} must be a scalar or a 1-D array (one value per "
                    f"patient); got shape {value.shape}"
                )
            lo, hi = self.parameter_bounds.get(name, (0.0, math.inf))
            bad = ~np.isfinite(value) | (value < lo) | (value > hi)
            if np.any(bad):
                idx = int(np.flatnonzero(np.atleast_1d(bad))[0])
                v = np.atleast_1d(value)[idx]
                where = f" (patient {idx})" if value.ndim == 1 else ""
                raise ValueError(
                    f"parameter {name!r} of {type(self).__name__} must be finite and in "
                    f"[{lo}, {hi}]; got {v!r}{where}"
                )
        self.n_patients()  # checks the lengths agree

    def replace(self, **changes: ArrayLike) -> Model:
        """A copy with some parameters replaced; unknown names raise ``ValueError``."""
        known = set(self.parameter_names())
        for name in changes:
            if name not in known:
                raise ValueError(
                    f"unknown parameter {name!r} for {type(self).__name__}; "
                    f"known parameters: {sorted(known)}"
                )
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _common_length(shapes: dict[str, tuple[int, ...]]) -> int:
    """Common batch length of 1-D shapes (scalars and length-1 broadcast)."""
    n = 1
    owner = None
    for name, shape in shapes.items():
        if len(shape) == 0 or shape == (1,):
            continue
        if len(shape) > 1:
            raise ValueError(f"{name!r} must be a scalar or a 1-D array; got shape {shape}")
        if n == 1:
            n, owner = shape[0], name
        elif shape[0] != n:
            raise ValueError(
                f"{name!r} has {shape[0]} values but {owner!r} has {n}: per-patient arrays "
                "must share one length N"
            )
    return n


def nonneg(x: Array) -> Array:
    """Clip negative round-off to 0 while keeping the derivative 1 at (and above) 0.

    ``jnp.maximum(x, 0)`` would halve the derivative at exactly 0 (the tumor-free equilibrium).
    """
    return jnp.where(x < 0, jnp.zeros_like(x), x)

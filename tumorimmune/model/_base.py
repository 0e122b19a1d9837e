"""Common machinery of all models: parameter validation and state metadata."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


class Model(eqx.Module):
    """Base class of tumorimmune models.

    A model is an :class:`equinox.Module` whose (non-static) fields are its parameters. A field
    may be a scalar (one patient) or a 1-D array (one value per patient); ``jax.vmap`` over the
    module is then the natural batch. Subclasses define (tutorial: ``docs/models.md``):

    - parameters: fields with a float default, best declared with :func:`parameter` (unit,
      bounds, description);
    - ``state_names``: names of the ODE states, in the order of the state vector ``y``, and
      ``state_units``;
    - ``vector_field(t, y, args)``: the pure right-hand side ``dy/dt``, for one patient
      (scalar parameters), ``y`` of shape ``(n_states,)``, written with ``jax.numpy``
      elementwise operations (every backend runs it; see ``docs/models.md`` for what the GPU
      kernel accepts);
    - optionally ``observables(t, y)``: derived outputs (e.g. drug concentration);
    - for the sweeps: ``tumor_state`` (the state that holds the tumor burden),
      :meth:`tumor_cells` / :meth:`tumor_size` when that state is not in cells,
      ``effector_state`` and :meth:`carrying_capacity`.

    A state named ``"T"`` is *tumor cells*: every backend sets it to 0 once it falls below one
    cell (extinction). Name states in other units differently.
    """

    state_names: ClassVar[tuple[str, ...]] = ()
    #: Unit of each state, e.g. ``{"T": "cells"}``.
    state_units: ClassVar[dict[str, str]] = {}
    #: Unit of each observable returned by :meth:`observables`.
    observable_units: ClassVar[dict[str, str]] = {}
    #: Allowed closed interval per parameter; parameters not listed must be finite and >= 0
    #: (bounds given with :func:`parameter` take precedence).
    parameter_bounds: ClassVar[dict[str, tuple[float, float]]] = {}
    #: Initial value of states that ``simulate``/sweeps may leave out of ``y0`` (model units).
    initial_state: ClassVar[dict[str, float]] = {}
    #: State holding the tumor burden (read by the sweeps; ``None``: the model has none).
    tumor_state: ClassVar[str | None] = "T"
    #: State holding the effector cells (stored as ``traj_E`` by the sweeps; ``None``: none).
    effector_state: ClassVar[str | None] = "E"

    def vector_field(
        self, t: Float[ArrayLike, ""], y: Float[Array, " n_states"], args: object
    ) -> Float[Array, " n_states"]:
        raise NotImplementedError

    def observables(
        self, t: Float[Array, "..."], y: Float[Array, "... n_states"]
    ) -> dict[str, Float[Array, "..."]]:
        """Derived outputs (beyond the states) at times ``t``; states have last axis."""
        return {}

    # ------------------------------------------------------------------ tumor readout
    def tumor_cells(self, x: Any) -> Any:
        """Tumor cells for values ``x`` of the ``tumor_state`` (identity: the state is cells).

        Works on NumPy and JAX arrays; override when the tumor state has another unit.
        """
        return x

    def tumor_size(self, cells: Any) -> Any:
        """Inverse of :meth:`tumor_cells`: the tumor-state value holding ``cells`` cells."""
        return cells

    def carrying_capacity(self) -> Any:
        """Maximal tumor size in cells (scalar or per patient); ``inf`` if unbounded.

        The sweeps call a tumor *escaped* at half of it (``outcome``).
        """
        return math.inf

    # ------------------------------------------------------------------ metadata
    @classmethod
    def parameter_units(cls) -> dict[str, str]:
        """Unit of each parameter declared with :func:`parameter` (``""`` when not given)."""
        return {
            f.name: f.metadata.get("unit", "")
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if not f.metadata.get("static", False)
        }

    @classmethod
    def bounds(cls, name: str) -> tuple[float, float]:
        """Allowed closed interval of parameter ``name`` (default ``[0, inf)``)."""
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name == name and "bounds" in f.metadata:
                return f.metadata["bounds"]
        return cls.parameter_bounds.get(name, (0.0, math.inf))

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
            lo, hi = self.bounds(name)
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


def parameter(
    default: float,
    *,
    unit: str = "",
    bounds: tuple[float, float] | None = None,
    description: str = "",
) -> Any:
    """Declare a model parameter: a field with a default, its unit, bounds and meaning.

    Example::

        class Logistic(Model):
            r: Float[ArrayLike, "*N"] = parameter(0.1, unit="1/day", description="growth rate")

    ``bounds`` (closed interval; default ``[0, inf)``) is what :meth:`Model.validate` and the
    sweep specs check.
    """
    meta: dict[str, Any] = {"unit": unit, "description": description}
    if bounds is not None:
        lo, hi = float(bounds[0]), float(bounds[1])
        if not lo <= hi:
            raise ValueError(f"bounds must be (low, high) with low <= high; got {bounds!r}")
        meta["bounds"] = (lo, hi)
    return dataclasses.field(default=default, metadata=meta)


class DrugModel(Model):
    """A model with a drug compartment that receives the boluses of a dosing regimen.

    Declare ``dosing_compartment`` (the name of the state that receives a dose, in mg) and a
    ``weight`` parameter (kg, for mg/kg dosing). :meth:`with_drug` builds the model for a drug
    preset (:func:`tumorimmune.model.get_drug`): PK parameters of the preset that are fields
    of the model are used, the others ignored. ``TumorImmunePD1`` is a (registered)
    ``DrugModel``.
    """

    #: Name of the state that receives the boluses (mg).
    dosing_compartment: ClassVar[str] = ""
    #: Index of that state (set from ``dosing_compartment`` when the class is created).
    dosing_state: ClassVar[int] = -1

    weight: Float[ArrayLike, "*N"] = parameter(
        70.0, unit="kg", bounds=(1e-3, math.inf), description="body weight (mg/kg dosing)"
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.dosing_compartment:
            if cls.dosing_compartment not in cls.state_names:
                raise TypeError(
                    f"{cls.__name__}.dosing_compartment = {cls.dosing_compartment!r} is not a "
                    f"state; states: {list(cls.state_names)}"
                )
            cls.dosing_state = cls.state_names.index(cls.dosing_compartment)
            # no drug on board unless y0 says otherwise
            cls.initial_state = {cls.dosing_compartment: 0.0, **cls.initial_state}

    @classmethod
    def with_drug(cls, drug: Any = "pembrolizumab", **params: ArrayLike) -> Model:
        """Model for a drug preset (name or :class:`~tumorimmune.model.Drug`)."""
        from ._pk import get_drug

        d = get_drug(drug) if isinstance(drug, str) else drug
        names = set(cls.parameter_names())
        pk = {**d.pk_parameters(), **{k: v for k, v in params.items() if k in d.pk_parameters()}}
        fields = {k: v for k, v in pk.items() if k in names}
        fields.update({k: v for k, v in params.items() if k not in pk})
        return cls(**fields)


def is_drug_model(model: Model | type[Model]) -> bool:
    """Whether a model (class or instance) accepts dosing regimens (see :class:`DrugModel`)."""
    cls = model if isinstance(model, type) else type(model)
    state = getattr(cls, "dosing_state", None)
    return isinstance(state, int) and state >= 0 and hasattr(cls, "with_drug")


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

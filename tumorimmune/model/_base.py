"""Common machinery of all models: the abstract model classes (equinox's abstract/final
pattern), parameter declarations and state metadata.

This module does not use ``from __future__ import annotations``: equinox reads
``AbstractClassVar`` annotations at class creation and refuses stringified ones.
"""

import abc
import dataclasses
import inspect
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, get_origin

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from ._pk import Drug, get_drug, individual_pk

if TYPE_CHECKING:  # equinox's advice: type checkers read AbstractClassVar as ClassVar
    from typing import ClassVar as AbstractClassVar
else:
    from equinox import AbstractClassVar


def _declared(cls: type, name: str, default: Any) -> Any:
    """Class attribute ``name`` as declared in ``cls`` or a base (``default``: nowhere)."""
    for k in cls.__mro__:
        if name in k.__dict__:
            return k.__dict__[name]
    return default


def _is_abstract_annotation(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("AbstractVar[", "AbstractClassVar["))
    return get_origin(annotation) in (eqx.AbstractVar, eqx.AbstractClassVar)


def _unimplemented(cls: type) -> list[str]:
    """Abstract methods and abstract (class) attributes that ``cls`` leaves undefined."""
    attrs: set[str] = set()
    for k in reversed(cls.__mro__):
        for name, annotation in inspect.get_annotations(k).items():
            if _is_abstract_annotation(annotation):
                attrs.add(name)
            elif name not in k.__dict__ and not _is_classvar(annotation):
                attrs.discard(name)  # a dataclass field without default implements it
        attrs -= set(k.__dict__)
    methods: set[str] = set()
    seen: set[str] = set()
    for k in cls.__mro__:  # the first definition of each name is the one in effect
        for name, value in k.__dict__.items():
            if name not in seen and inspect.isfunction(value):
                if value.__dict__.get("__isabstractmethod__", False):
                    methods.add(name)
            seen.add(name)
    return sorted(attrs | methods)


def _is_classvar(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar[", "typing.ClassVar["))
    return get_origin(annotation) is ClassVar


def _check_abstract_final(cls: "type[AbstractModel]") -> None:
    """Enforce the abstract/final pattern when a model class is created (one-line errors)."""
    for base in cls.__bases__:
        if issubclass(base, AbstractModel) and not base.__name__.startswith("Abstract"):
            raise TypeError(
                f"cannot subclass {base.__name__}: concrete models are final. Share code "
                f"through an abstract base (a class named Abstract..., e.g. AbstractKuznetsov) "
                f"or subclass tumorimmune.model.Model"
            )
    if cls.__name__.startswith("Abstract"):
        return
    missing = _unimplemented(cls)
    if missing:
        what = {
            "vector_field": "vector_field(self, t, y, args) (dy/dt for one patient)",
            "state_names": "state_names (ClassVar[tuple[str, ...]]: the states in order)",
            "dosing_compartment": "dosing_compartment (ClassVar[str]: the state dosed, mg)",
        }
        raise TypeError(
            f"model {cls.__name__} must define {', '.join(what.get(m, m) for m in missing)}; "
            "only abstract bases (named Abstract...) may leave them undefined"
        )


class AbstractModel(eqx.Module):
    """Abstract base class of tumorimmune models (alias :data:`Model`).

    A model is an :class:`equinox.Module` whose (non-static) fields are its parameters. A field
    may be a scalar (one patient) or a 1-D array (one value per patient); ``jax.vmap`` over the
    module is then the natural batch. Models follow equinox's abstract/final pattern: a class
    whose name starts with ``Abstract`` is abstract (it may be subclassed, never instantiated);
    every other model class is **final** (it may be instantiated, never subclassed). Share code
    between models through an abstract base (e.g. ``AbstractKuznetsov``), not by subclassing a
    concrete model. A concrete model must define (tutorial: ``docs/models.md``):

    - ``state_names`` (abstract class attribute): names of the ODE states, in the order of the
      state vector ``y``;
    - ``vector_field(t, y, args)`` (abstract method): the pure right-hand side ``dy/dt``, for
      one patient (scalar parameters), ``y`` of shape ``(n_states,)``, written with
      ``jax.numpy`` elementwise operations (every backend runs it; see ``docs/models.md`` for
      what the GPU kernel accepts).

    Optional (defaults below): parameters (fields with a float default, best declared with
    :func:`parameter`: unit, bounds, description), ``state_units``, ``observables(t, y)`` and
    ``observable_units``, ``initial_state``, and for the sweeps ``tumor_state`` (the state
    that holds the tumor burden), :meth:`tumor_cells` / :meth:`tumor_size` when that state is
    not in cells, ``effector_state`` and :meth:`carrying_capacity`. Models that receive
    dosing regimens derive from :class:`AbstractDrugModel`.

    A state named ``"T"`` is *tumor cells*: every backend sets it to 0 once it falls below one
    cell (extinction). Name states in other units differently.
    """

    #: Names of the ODE states, in the order of the state vector (declared by every model).
    state_names: AbstractClassVar[tuple[str, ...]]
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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_abstract_final(cls)

    @abc.abstractmethod
    def vector_field(
        self, t: Real[ArrayLike, ""], y: Float[Array, " n_states"], args: object
    ) -> Float[Array, " n_states"]:
        """Right-hand side ``dy/dt`` for one patient at time ``t`` (days)."""

    def observables(
        self, t: Real[ArrayLike, "*#T"], y: Float[Array, "*#T n_states"]
    ) -> dict[str, Float[Array, "*#T"]]:
        """Derived outputs (beyond the states) at times ``t``; states have last axis."""
        return {}

    # ------------------------------------------------------------------ tumor readout
    def tumor_cells(self, x: Any) -> Any:
        """Tumor cells for values ``x`` of the ``tumor_state`` (identity: the state is cells).

        Works on NumPy and JAX arrays; override when the tumor state has another unit.
        """
        return x

    def baseline_state(self, y0: dict[str, Any]) -> dict[str, Any]:
        """Initial states by name from the ones given (``simulate``, sweeps): identity here.

        Models whose baseline lesion is split over several states (e.g. a pre-existing
        escape-variant fraction) override it; values may be NumPy or JAX arrays.
        """
        return y0

    def burden(self, y: Any) -> Any:
        """Imaged tumor burden (cells) from states ``y`` (last axis: the states, any leading
        axes; NumPy or JAX): what RECIST reads. Default: :meth:`tumor_cells` of the
        ``tumor_state``; models whose lesions hold more than one state (e.g. escape variants,
        infiltrate) override it."""
        if self.tumor_state is None:
            raise ValueError(f"{type(self).__name__} has no tumor_state")
        return self.tumor_cells(y[..., self.state_names.index(self.tumor_state)])

    def tumor_size(self, cells: Any) -> Any:
        """Inverse of :meth:`tumor_cells`: the tumor-state value holding ``cells`` cells."""
        return cells

    def effector_size(self, cells: Any) -> Any:
        """The ``effector_state`` value holding ``cells`` effector cells (identity: the state
        is cells); ``simulate --E0`` and a spec's ``initial.E0`` are cells. Override when the
        effector state has another unit."""
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

    def replace(self: "_M", **changes: ArrayLike) -> "_M":
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
            r: Real[ArrayLike, "*#N"] = parameter(0.1, unit="1/day", description="growth rate")

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


class AbstractDrugModel(AbstractModel):
    """Abstract base of models with a drug compartment that receives the boluses of a dosing
    regimen (alias :data:`DrugModel`). ``isinstance(model, AbstractDrugModel)`` is the one
    test of whether a model accepts regimens.

    A concrete drug model declares ``dosing_compartment``: the name of the state that receives
    a dose (mg); ``dosing_state`` (its index) is set from it when the class is created, and
    that state starts at 0 unless ``initial_state`` says otherwise. Fields of every drug model:
    ``weight`` (kg, for mg/kg doses) and ``drug`` (static: the name of the drug preset whose PK
    the model holds; ``None``: none named). :meth:`with_drug` builds the model for a drug
    preset (:func:`tumorimmune.model.get_drug`).
    """

    #: Name of the state that receives the boluses (mg).
    dosing_compartment: AbstractClassVar[str]
    #: Index of that state (set from ``dosing_compartment`` when the class is created).
    dosing_state: ClassVar[int] = -1

    weight: Real[ArrayLike, "*#N"] = parameter(
        70.0, unit="kg", bounds=(1e-3, math.inf), description="body weight (mg/kg dosing)"
    )
    drug: str | None = eqx.field(default=None, static=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        compartment = cls.__dict__.get("dosing_compartment")
        if compartment is not None:  # checked first: the error names the real mistake
            states = _declared(cls, "state_names", ())
            if compartment not in states:
                raise TypeError(
                    f"{cls.__name__}.dosing_compartment = {compartment!r} is not a state; "
                    f"states: {list(states)}"
                )
            cls.dosing_state = states.index(compartment)
            # no drug on board unless y0 says otherwise
            cls.initial_state = {compartment: 0.0, **_declared(cls, "initial_state", {})}
        super().__init_subclass__(**kwargs)

    @classmethod
    def with_drug(
        cls: "type[_D]",
        drug: str | Drug = "pembrolizumab",
        *,
        weight: Real[ArrayLike, "*#N"] | None = None,
        covariates: Mapping[str, ArrayLike] | None = None,
        iiv_z: Mapping[str, ArrayLike] | None = None,
        **params: ArrayLike,
    ) -> "_D":
        """Model for a drug preset (name or :class:`~tumorimmune.model.Drug`).

        The drug's individual PK (:func:`~tumorimmune.model.individual_pk` for ``weight``,
        ``covariates`` and random effects ``iiv_z``; ``weight=None``: the drug's reference
        weight for the PK, the model's default ``weight`` for doses) sets the PK fields
        (``CL``, ``V1``, ``Q``, ``V2``, …) that the model has; the others are ignored.
        ``params`` set any field and override the derived PK.
        """
        d = get_drug(drug) if isinstance(drug, str) else drug
        names = set(cls.parameter_names())
        pk = individual_pk(d, weight=weight, covariates=covariates, iiv_z=iiv_z)
        fields: dict[str, Any] = {k: v for k, v in pk.items() if k in names}
        if weight is not None:
            fields["weight"] = weight
        fields.update(params)
        return cls(drug=d.name, **fields)


_M = TypeVar("_M", bound=AbstractModel)
_D = TypeVar("_D", bound=AbstractDrugModel)

#: The name user models subclass (``class MyModel(Model)``); the same class as AbstractModel.
Model = AbstractModel
#: The name user drug models subclass; the same class as AbstractDrugModel.
DrugModel = AbstractDrugModel


def is_drug_model(model: AbstractModel | type[AbstractModel]) -> bool:
    """Whether a model (class or instance) accepts dosing regimens: it is an
    :class:`AbstractDrugModel`."""
    if isinstance(model, type):
        return issubclass(model, AbstractDrugModel)
    return isinstance(model, AbstractDrugModel)


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

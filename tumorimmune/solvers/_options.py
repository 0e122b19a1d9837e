"""Solver options as objects: backends with their tuning knobs, and one tolerance object.

As diffrax's ``solver=`` / ``stepsize_controller=``: a backend is a small frozen object,
``Fused(lanes=256)``, ``Pallas(block=64)``, ``Diffrax()`` or ``Auto()``, callable with the
backend contract (stated once: :meth:`AbstractBackend.__call__`). Backends follow equinox's
abstract/final pattern, as the models do: :class:`AbstractBackend` is abstract (its ``_run``
is the one abstract method), the concrete backends are final.

Every entry point (``simulate``, ``solve``, sweep specs, calibration) takes such an object or
its name (``"fused"`` is ``Fused()``); :func:`get_backend` converts and resolves ``Auto``.
:class:`Tolerances` holds ``rtol``, ``atol`` (defaults per precision) and the one ``max_steps``
default, :data:`MAX_STEPS`.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, final

import numpy as np

from ..model import Model
from . import _diffrax, _fused, _pallas
from ._common import (
    DEFAULT_TOLERANCES,
    MAX_STEPS,
    Precision,
    Result,
    check_dtype,
    positive_int,
)
from ._schedule import Schedule


@dataclasses.dataclass(frozen=True, kw_only=True)
class Tolerances:
    """Step-size controller tolerances and step limit (every backend: Tsit5 + PI control).

    Attributes:
        rtol: relative tolerance; ``None``: 1e-8 in float64, 1e-5 in float32.
        atol: absolute tolerance in the states' units (cells, mg); ``None``: 1e-6 in float64,
            1e-3 in float32.
        max_steps: step limit (accepted + rejected) per segment between doses; a patient that
            reaches it fails (status 1, NaN row), the batch goes on. Default :data:`MAX_STEPS`.
    """

    rtol: float | None = None
    atol: float | None = None
    max_steps: int = MAX_STEPS

    def __post_init__(self) -> None:
        for name in ("rtol", "atol"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"Tolerances.{name} must be a finite number > 0; got {v!r}")
        positive_int("Tolerances", "max_steps", self.max_steps)

    def resolve(self, dtype: str = "float64") -> tuple[float, float, int]:
        """``(rtol, atol, max_steps)`` with the defaults of precision ``dtype`` filled in."""
        rt, at = DEFAULT_TOLERANCES[check_dtype(dtype)]
        return (
            rt if self.rtol is None else float(self.rtol),
            at if self.atol is None else float(self.atol),
            int(self.max_steps),
        )


def as_tolerances(
    tolerances: Tolerances | None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int | None = None,
) -> Tolerances:
    """One :class:`Tolerances` from the object or its shorthands.

    Raises:
        ValueError: both given, or an invalid value (naming the field).
        TypeError: ``tolerances`` is not a ``Tolerances``.
    """
    given = {
        k: v for k, v in (("rtol", rtol), ("atol", atol), ("max_steps", max_steps)) if v is not None
    }
    if tolerances is None:
        return Tolerances(**given)  # type: ignore[arg-type]
    if not isinstance(tolerances, Tolerances):
        raise TypeError(
            f"tolerances must be a tumorimmune.solvers.Tolerances; got {type(tolerances).__name__}"
        )
    if given:
        raise ValueError(
            f"give {sorted(given)[0]} either directly or in tolerances=Tolerances(...), not both"
        )
    return tolerances


@dataclasses.dataclass(frozen=True, kw_only=True)
class AbstractBackend(abc.ABC):
    """A batch backend: options as fields, the solve as ``__call__`` (or :meth:`solve`).

    Equinox's abstract/final pattern, as for the models: a class named ``Abstract...`` is
    abstract (subclassed, never instantiated); every other backend is final (instantiated, never
    subclassed) and defines ``name`` and ``_run`` (``__call__`` with ``dtype`` resolved).

    Attributes:
        dtype: working precision, ``"float64"`` or ``"float32"``; ``None`` (default): the
            caller's (``simulate``, a spec's ``precision``: float64), or
            :attr:`default_dtype` when the backend is called without one.
    """

    #: The backend's name (``"fused"``, …), as :func:`get_backend` takes it.
    name: ClassVar[str]
    #: Precision of a direct call that names none (float64; float32 for :class:`Pallas`).
    default_dtype: ClassVar[Precision] = "float64"
    dtype: Precision | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__bases__:
            if issubclass(base, AbstractBackend) and not base.__name__.startswith("Abstract"):
                raise TypeError(
                    f"cannot subclass {base.__name__}: concrete backends are final. Share code "
                    "through an abstract base (a class named Abstract...)"
                )
        if not cls.__name__.startswith("Abstract") and not isinstance(
            getattr(cls, "name", None), str
        ):
            raise TypeError(f"backend {cls.__name__} must define name (ClassVar[str])")

    def __post_init__(self) -> None:
        if self.dtype is not None:
            check_dtype(self.dtype, f"{type(self).__name__}.dtype")

    def resolve(self, model: Model | None = None) -> AbstractBackend:
        """The concrete backend that runs ``model`` (itself, except for :class:`Auto`)."""
        del model
        return self

    def options(self) -> dict[str, Any]:
        """Tuning options (every field but ``dtype``) by name."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "dtype"
        }

    def _dtype(self, dtype: str | None) -> Precision:
        """The precision of a call: ``dtype``, else this backend's, else its default."""
        return check_dtype(dtype) if dtype is not None else (self.dtype or self.default_dtype)

    def __call__(
        self,
        model: Model,
        y0: np.ndarray,
        schedule: Schedule,
        doses: np.ndarray,
        *,
        rtol: float,
        atol: float,
        dtype: str | None = None,
        max_steps: int = MAX_STEPS,
    ) -> Result:
        """Solve a batch: the backend contract, the same for every backend (and for the
        ``solve_diffrax``/``solve_fused``/``solve_pallas`` functions, which take these
        arguments plus their tuning keywords).

        Args:
            model: batched model (every parameter an array of shape ``(N,)``,
                :func:`~tumorimmune.solvers.prepare_batch`).
            y0: initial states ``(N, S)`` (cells, mg).
            schedule: output and dose times (days) shared by the batch.
            doses: bolus amounts (mg), ``(N, len(schedule.dose_times))``.
            rtol: relative tolerance (see :class:`Tolerances`).
            atol: absolute tolerance, in the states' units.
            dtype: ``"float64"`` or ``"float32"``; ``None``: this backend's ``dtype``, else its
                :attr:`default_dtype`.
            max_steps: step limit (accepted + rejected) per segment between doses.

        Returns:
            ``(ys (N, n_t, S), status (N,) int32, num_steps (N,))``: the states at
            ``schedule.ts`` (extinct tumors are 0 after the initial time), the status per
            patient (0 = success, 1 = ``max_steps`` reached, 10 = step size underflow: the
            ``diffrax.RESULTS`` codes) and the accepted + rejected steps. Failed patients
            have NaN rows and a non-zero status, never an exception.
        """
        return self._run(
            model, y0, schedule, doses, rtol=rtol, atol=atol, dtype=self._dtype(dtype),
            max_steps=int(max_steps),
        )  # fmt: skip

    solve = __call__

    @abc.abstractmethod
    def _run(self, *args: Any, **kwargs: Any) -> Result:
        """What each backend implements: :meth:`__call__`, its arguments as given there
        (``dtype`` resolved to ``"float32"``/``"float64"``, ``max_steps`` an ``int``)."""


@final
@dataclasses.dataclass(frozen=True, kw_only=True)
class Diffrax(AbstractBackend):
    """The reference backend: ``jax.vmap`` over ``diffrax.diffeqsolve`` (Tsit5, PID control);
    differentiable (:func:`tumorimmune.solvers.solve_diffrax`). No tuning options."""

    name: ClassVar[str] = "diffrax"

    def _run(self, *args, **kwargs):
        return _diffrax.solve_diffrax(*args, **kwargs)


@final
@dataclasses.dataclass(frozen=True, kw_only=True)
class Fused(AbstractBackend):
    """Fused ensemble engine: one ``lax.while_loop`` steps every patient (CPU default).

    Attributes:
        lanes: patients stepped together (default: 512 on CPU, one per patient elsewhere).
        chunk_size: patients per compiled call (a pool); memory is bounded by it.
        refill_every: loop iterations between refills of finished lanes.
        unroll: steps per loop iteration.
        n_threads: pools solved concurrently on CPU (default: the number of cores).

    See :func:`tumorimmune.solvers.solve_fused`; results do not depend on these options.
    """

    name: ClassVar[str] = "fused"
    lanes: int | None = None
    chunk_size: int | None = None
    refill_every: int = 8
    unroll: int = 1
    n_threads: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for k in ("lanes", "chunk_size", "n_threads"):
            positive_int("Fused", k, getattr(self, k), optional=True)
        for k in ("refill_every", "unroll"):
            positive_int("Fused", k, getattr(self, k))

    def _run(self, *args, **kwargs):
        return _fused.solve_fused(*args, **kwargs, **self.options())

    def solve_groups(
        self,
        groups: Sequence[tuple[Model, np.ndarray, Schedule, np.ndarray]],
        *,
        rtol: float,
        atol: float,
        dtype: str | None = None,
        max_steps: int = MAX_STEPS,
    ) -> list[Result]:
        """Solve several batches with different dose schedules as one cohort, in one compiled
        program (:func:`tumorimmune.solvers.solve_fused_groups`): ``groups`` holds
        ``(model, y0, schedule, doses)`` per batch; returns ``(ys, status, num_steps)`` per
        batch, as :meth:`__call__` would for each."""
        return _fused.solve_fused_groups(
            groups, rtol=rtol, atol=atol, dtype=self._dtype(dtype), max_steps=int(max_steps),
            **self.options(),
        )  # fmt: skip


@final
@dataclasses.dataclass(frozen=True, kw_only=True)
class Pallas(AbstractBackend):
    """Pallas kernel, one GPU thread per patient (interpret mode on CPU: correct, slow).

    Attributes:
        block: patients per program, a power of two.
        num_warps: Triton warps per program.
        sync: ``"stop"`` (a block advances output/dose time by output/dose time) or
            ``"thread"`` (each patient its own stop index).
        interpret: Pallas interpret mode (``None``: on CPU only).

    See :func:`tumorimmune.solvers.solve_pallas`.
    """

    name: ClassVar[str] = "pallas"
    default_dtype: ClassVar[Precision] = "float32"  # the kernel's fast path
    block: int = 128
    num_warps: int = 4
    sync: Literal["stop", "thread"] = "stop"
    interpret: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int("Pallas", "block", self.block)
        if self.block & (self.block - 1):
            raise ValueError(f"Pallas.block must be a power of two; got {self.block!r}")
        positive_int("Pallas", "num_warps", self.num_warps)
        if self.sync not in ("stop", "thread"):
            raise ValueError(f"Pallas.sync must be 'stop' or 'thread'; got {self.sync!r}")
        if self.interpret is not None and not isinstance(self.interpret, bool):
            raise ValueError(
                f"Pallas.interpret must be true, false or None; got {self.interpret!r}"
            )

    def _run(self, *args, **kwargs):
        return _pallas.solve_pallas(*args, **kwargs, **self.options())

    def solve_groups(
        self,
        groups: Sequence[tuple[Model, np.ndarray, Schedule, np.ndarray]],
        *,
        rtol: float,
        atol: float,
        dtype: str | None = None,
        max_steps: int = MAX_STEPS,
    ) -> list[Result]:
        """Solve several batches with different dose schedules (the arms of a trial) in one
        kernel (:func:`tumorimmune.solvers.solve_pallas_groups`): every block holds one
        batch's patients and follows its stop table; returns ``(ys, status, num_steps)`` per
        batch, as :meth:`__call__` would for each."""
        return _pallas.solve_pallas_groups(
            groups, rtol=rtol, atol=atol, dtype=self._dtype(dtype), max_steps=int(max_steps),
            **self.options(),
        )  # fmt: skip


@final
@dataclasses.dataclass(frozen=True, kw_only=True)
class Auto(AbstractBackend):
    """The fastest backend for the model and platform (with this ``dtype``).

    :class:`Pallas` on a GPU, :class:`Fused` elsewhere (every model has an explicit
    ``vector_field``: it is abstract on :class:`~tumorimmune.model.AbstractModel`). Measured
    figures, each with its machine, are in ``benchmarks/RESULTS.md`` (one H100: the Pallas kernel
    58–84× diffrax vmap in device time for the PD-1 model; CPU: see the fused rows there).
    """

    name: ClassVar[str] = "auto"

    def resolve(self, model: Model | None = None) -> AbstractBackend:
        del model  # every model has an explicit vector field (abstract on AbstractModel)
        import jax

        if jax.default_backend() == "gpu":
            return Pallas(dtype=self.dtype)
        return Fused(dtype=self.dtype)

    def _run(self, *args, **kwargs):
        return self.resolve(args[0])._run(*args, **kwargs)


#: Backends by name (``"auto"`` first).
BACKENDS: dict[str, type[AbstractBackend]] = {
    "auto": Auto,
    "diffrax": Diffrax,
    "fused": Fused,
    "pallas": Pallas,
}


def backend_names() -> list[str]:
    """Names a backend may be given by: ``["auto", "diffrax", "fused", "pallas"]``."""
    return list(BACKENDS)


def as_backend(backend: str | AbstractBackend, **options: object) -> AbstractBackend:
    """A backend object from a name (``"fused"`` → ``Fused()``) or an object (returned as is).

    ``options`` (tuning fields, ``dtype``) are passed to the class of a name.

    Raises:
        ValueError: unknown name, or an option the backend does not have (naming the allowed).
        TypeError: neither a name nor a backend object.
    """
    if isinstance(backend, AbstractBackend):
        if options:
            return dataclasses.replace(backend, **options)  # type: ignore[arg-type]
        return backend
    if not isinstance(backend, str):
        raise TypeError(
            "backend must be a name or a backend object (tumorimmune.solvers.Fused(), …); "
            f"got {type(backend).__name__}"
        )
    cls = BACKENDS.get(backend.lower())
    if cls is None:
        raise ValueError(f"backend: unknown backend {backend!r}; allowed: {backend_names()}")
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise ValueError(
            f"backend {cls.name!r} has no option {unknown[0]!r}; its options: {allowed}"
        )
    return cls(**options)  # type: ignore[arg-type]


def get_backend(
    backend: str | AbstractBackend = "auto", model: Model | None = None
) -> AbstractBackend:
    """The concrete backend object for a name or object, ``Auto`` resolved for ``model``.

    ``get_backend("fused")`` is ``Fused()``; ``get_backend("auto", model)`` is ``Pallas`` on
    a GPU and ``Fused`` elsewhere. The result is callable with the backend
    contract and has ``.name``.

    Raises:
        ValueError: unknown name, naming the allowed ones.
    """
    return as_backend(backend).resolve(model)

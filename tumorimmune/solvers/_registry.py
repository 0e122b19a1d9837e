"""Backend registry: batch solvers by name (``"diffrax"``, ``"fused"``, ``"auto"``)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..model._base import Model
from ._diffrax import solve_diffrax
from ._fused import solve_fused
from ._pallas import solve_pallas
from ._schedule import Schedule


@runtime_checkable
class Backend(Protocol):
    """A batch backend (see CONTRIBUTING.md): ``(ys, status, num_steps)`` for a batched model."""

    def __call__(
        self,
        model: Model,
        y0: np.ndarray,
        schedule: Schedule,
        doses: np.ndarray,
        *,
        rtol: float,
        atol: float,
        dtype: str = ...,
        max_steps: int = ...,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


#: Named backends. ``"diffrax"`` is the reference (and the one to differentiate through);
#: ``"fused"`` is the fast ensemble engine for explicit ODE models (one vmapped XLA loop);
#: ``"pallas"`` the same algorithm as a one-thread-per-patient GPU kernel (interpret mode on CPU:
#: correct but slow there).
BACKENDS: dict[str, Backend] = {
    "diffrax": solve_diffrax,
    "fused": solve_fused,
    "pallas": solve_pallas,
}


def get_backend(name: str, model: Model | None = None) -> Backend:
    """Batch solver by name: ``"diffrax"``, ``"fused"``, ``"pallas"`` or ``"auto"``.

    ``"auto"`` picks, for models with an explicit ``vector_field`` (every model of this
    package), the Pallas kernel on a GPU and the fused XLA engine elsewhere; diffrax otherwise.
    Measured on one H100 (benchmarks/RESULTS.md): the Pallas kernel is 60–85× diffrax vmap in
    device time for the PD-1 model, the fused loop 4×; on CPU the fused loop is 10–24×.

    Raises:
        ValueError: unknown name.
    """
    key = str(name).lower()
    if key == "auto":
        explicit = model is None or type(model).vector_field is not Model.vector_field
        if not explicit:
            return solve_diffrax
        import jax

        return solve_pallas if jax.default_backend() == "gpu" else solve_fused
    try:
        return BACKENDS[key]
    except KeyError:
        raise ValueError(
            f"unknown backend {name!r}; known backends: 'auto', {', '.join(map(repr, BACKENDS))}"
        ) from None

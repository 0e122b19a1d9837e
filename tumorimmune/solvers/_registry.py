"""Backend registry: batch solvers by name (``"diffrax"``, ``"fused"``, ``"auto"``)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..model._base import Model
from ._diffrax import solve_diffrax
from ._fused import solve_fused
from ._schedule import Schedule


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
#: ``"fused"`` is the fast ensemble engine for explicit ODE models.
BACKENDS: dict[str, Backend] = {"diffrax": solve_diffrax, "fused": solve_fused}


def get_backend(name: str, model: Model | None = None) -> Backend:
    """Batch solver by name: ``"diffrax"``, ``"fused"`` or ``"auto"``.

    ``"auto"`` picks the fused engine for models with an explicit ``vector_field`` (every model
    of this package), else diffrax.

    Raises:
        ValueError: unknown name.
    """
    key = str(name).lower()
    if key == "auto":
        explicit = model is None or type(model).vector_field is not Model.vector_field
        return solve_fused if explicit else solve_diffrax
    try:
        return BACKENDS[key]
    except KeyError:
        raise ValueError(
            f"unknown backend {name!r}; known backends: 'auto', {', '.join(map(repr, BACKENDS))}"
        ) from None

"""Batch ODE backends by name, from the solvers' registry (contract: CONTRIBUTING.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def backend_names() -> list[str]:
    """Names a spec may give as ``backend``: ``"auto"`` and the registered backends."""
    from .. import solvers

    registry = getattr(solvers, "BACKENDS", {"diffrax": solvers.solve_diffrax})
    return ["auto", *registry]


def get_backend(name: str = "auto") -> tuple[str, Callable[..., Any]]:
    """``(resolved name, solve function)`` for a backend name.

    ``"auto"`` picks ``"fused"`` (``tumorimmune.solvers.solve_fused``) when it is available,
    else the reference ``"diffrax"`` backend.

    Raises:
        ValueError: unknown name, naming the allowed ones.
    """
    from .. import solvers

    registry: dict[str, Callable[..., Any]] = dict(
        getattr(solvers, "BACKENDS", {"diffrax": solvers.solve_diffrax})
    )
    key = str(name).lower()
    if key == "auto":
        key = "fused" if "fused" in registry else "diffrax"
    if key not in registry:
        raise ValueError(f"backend: unknown backend {name!r}; allowed: {backend_names()}")
    return key, registry[key]

"""Backend names for sweep specs, resolved through ``tumorimmune.solvers``' registry."""

from __future__ import annotations

from ..solvers import BACKENDS, Backend
from ..solvers import get_backend as _solver_backend


def backend_names() -> list[str]:
    """Names a spec may give as ``backend``: ``"auto"`` and the registered backends."""
    return ["auto", *BACKENDS]


def get_backend(name: str = "auto") -> tuple[str, Backend]:
    """``(resolved name, solve function)`` for a backend name (``"auto"`` → the fused engine).

    Raises:
        ValueError: unknown name, naming the allowed ones.
    """
    try:
        fn = _solver_backend(name)
    except ValueError:
        raise ValueError(f"backend: unknown backend {name!r}; allowed: {backend_names()}") from None
    return next(k for k, v in BACKENDS.items() if v is fn), fn

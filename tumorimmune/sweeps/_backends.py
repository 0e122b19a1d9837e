"""Backend names for sweep specs: thin wrappers of :func:`tumorimmune.solvers.get_backend`."""

from __future__ import annotations

from ..solvers import AbstractBackend
from ..solvers import backend_names as backend_names
from ..solvers import get_backend as _get_backend


def get_backend(name: str | AbstractBackend = "auto") -> tuple[str, AbstractBackend]:
    """``(resolved name, backend object)`` for a backend name or object (``"auto"``: the fused
    engine on CPU, the Pallas kernel on a GPU). Kept for compatibility; new code calls
    :func:`tumorimmune.solvers.get_backend`, which returns the object (``.name``).

    Raises:
        ValueError: unknown name, naming the allowed ones.
    """
    backend = _get_backend(name)
    return backend.name, backend

"""tumorimmune: tumor–immune dynamics under PD-1 checkpoint blockade, in JAX.

Public API::

    import tumorimmune as ti
    ds = ti.simulate(ti.model.Kuznetsov1994(), {"E": 3.2e5, "T": 5e6}, t)

Subpackages and functions are imported on first use (``ti.calibrate``, ``ti.simulate``, …), so
``import tumorimmune`` and the command line's ``--help`` start without JAX, xarray or plotly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

if TYPE_CHECKING:
    from . import analysis as analysis
    from . import calibrate as calibrate
    from . import model as model
    from . import optimize as optimize
    from . import reports as reports
    from . import response as response
    from . import sensitivity as sensitivity
    from . import solvers as solvers
    from . import sweeps as sweeps
    from ._cache import enable_compilation_cache as enable_compilation_cache
    from ._simulate import simulate as simulate
    from ._solve import Dosing as Dosing
    from ._solve import Solution as Solution
    from ._solve import solve as solve
    from .model import Kuznetsov1994 as Kuznetsov1994
    from .model import Regimen as Regimen
    from .model import TumorImmunePD1 as TumorImmunePD1

#: Lazily imported attributes: name -> (module, attribute or None for the module itself).
_LAZY: dict[str, tuple[str, str | None]] = {
    "analysis": (".analysis", None),
    "calibrate": (".calibrate", None),
    "model": (".model", None),
    "optimize": (".optimize", None),
    "reports": (".reports", None),
    "response": (".response", None),
    "sensitivity": (".sensitivity", None),
    "solvers": (".solvers", None),
    "sweeps": (".sweeps", None),
    "simulate": ("._simulate", "simulate"),
    "enable_compilation_cache": ("._cache", "enable_compilation_cache"),
    "solve": ("._solve", "solve"),
    "Dosing": ("._solve", "Dosing"),
    "Solution": ("._solve", "Solution"),
    "Kuznetsov1994": (".model", "Kuznetsov1994"),
    "Regimen": (".model", "Regimen"),
    "TumorImmunePD1": (".model", "TumorImmunePD1"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'tumorimmune' has no attribute {name!r}") from None
    mod = importlib.import_module(module, __name__)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Dosing",
    "Kuznetsov1994",
    "Regimen",
    "Solution",
    "TumorImmunePD1",
    "__version__",
    "analysis",
    "calibrate",
    "enable_compilation_cache",
    "model",
    "optimize",
    "reports",
    "response",
    "sensitivity",
    "simulate",
    "solve",
    "solvers",
    "sweeps",
]

"""tumorimmune: tumor–immune dynamics under PD-1 checkpoint blockade, in JAX.

Public API::

    import tumorimmune as ti
    ds = ti.simulate(ti.model.Kuznetsov1994(), {"E": 3.2e5, "T": 5e6}, t)
"""

from . import calibrate as calibrate
from . import model as model
from . import optimize as optimize
from . import solvers as solvers
from ._simulate import simulate as simulate
from ._solve import Dosing as Dosing
from ._solve import Solution as Solution
from ._solve import solve as solve
from ._version import __version__ as __version__
from .model import Kuznetsov1994 as Kuznetsov1994
from .model import Regimen as Regimen
from .model import TumorImmunePD1 as TumorImmunePD1

__all__ = [
    "Dosing",
    "Kuznetsov1994",
    "Regimen",
    "Solution",
    "TumorImmunePD1",
    "__version__",
    "calibrate",
    "model",
    "optimize",
    "simulate",
    "solve",
    "solvers",
]

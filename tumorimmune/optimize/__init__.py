"""Differentiable virtual trials: relaxed RECIST endpoints and regimen optimisation.

The relaxed read-out itself (:func:`~tumorimmune.response.soft_readout`,
:func:`~tumorimmune.response.soft_endpoints`, ...) lives in :mod:`tumorimmune.response`, one
implementation shared with :mod:`tumorimmune.calibrate`; its endpoint views are re-exported
here.
"""

from ..response import SoftReadout as SoftReadout
from ..response import evaluable as evaluable
from ..response import soft_diameter_mm as soft_diameter_mm
from ..response import soft_endpoints as soft_endpoints
from ..response import soft_readout as soft_readout
from ._regimen import RegimenOptimum as RegimenOptimum
from ._regimen import maximize_regimen as maximize_regimen
from ._regimen import optimize_regimen as optimize_regimen
from ._regimen import population_model as population_model
from ._regimen import regimen_endpoint as regimen_endpoint
from ._regimen import regimen_from_params as regimen_from_params

__all__ = [
    "RegimenOptimum",
    "SoftReadout",
    "evaluable",
    "maximize_regimen",
    "optimize_regimen",
    "population_model",
    "regimen_endpoint",
    "regimen_from_params",
    "soft_diameter_mm",
    "soft_endpoints",
    "soft_readout",
]

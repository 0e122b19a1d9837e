"""Models of tumor–immune dynamics and anti-PD-1 pharmacology (see ``docs/science.md``)."""

from ._base import Model as Model
from ._equilibria import Equilibrium as Equilibrium
from ._equilibria import kuznetsov_equilibria as kuznetsov_equilibria
from ._kuznetsov import Kuznetsov1994 as Kuznetsov1994
from ._pd1 import TumorImmunePD1 as TumorImmunePD1
from ._pk import COVARIATES as COVARIATES
from ._pk import DRUGS as DRUGS
from ._pk import IIV_PARAMETERS as IIV_PARAMETERS
from ._pk import NIVOLUMAB as NIVOLUMAB
from ._pk import PEMBROLIZUMAB as PEMBROLIZUMAB
from ._pk import CovariateEffect as CovariateEffect
from ._pk import Drug as Drug
from ._pk import clearance as clearance
from ._pk import get_drug as get_drug
from ._pk import individual_pk as individual_pk
from ._pk import two_compartment_bolus as two_compartment_bolus
from ._regimen import NIVOLUMAB_3MGKG_Q2W as NIVOLUMAB_3MGKG_Q2W
from ._regimen import NIVOLUMAB_240MG_Q2W as NIVOLUMAB_240MG_Q2W
from ._regimen import NIVOLUMAB_480MG_Q4W as NIVOLUMAB_480MG_Q4W
from ._regimen import PEMBROLIZUMAB_2MGKG_Q3W as PEMBROLIZUMAB_2MGKG_Q3W
from ._regimen import PEMBROLIZUMAB_200MG_Q3W as PEMBROLIZUMAB_200MG_Q3W
from ._regimen import PEMBROLIZUMAB_400MG_Q6W as PEMBROLIZUMAB_400MG_Q6W
from ._regimen import REGIMENS as REGIMENS
from ._regimen import Regimen as Regimen
from ._regimen import get_regimen as get_regimen

MODELS: dict[str, type[Model]] = {
    "kuznetsov1994": Kuznetsov1994,
    "tumorimmunepd1": TumorImmunePD1,
}


def get_model(name: str) -> type[Model]:
    """Model class by (case-insensitive) name: ``"Kuznetsov1994"`` or ``"TumorImmunePD1"``."""
    key = name.lower().replace("_", "").replace("-", "")
    try:
        return MODELS[key]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; known models: Kuznetsov1994, TumorImmunePD1"
        ) from None


__all__ = [
    "COVARIATES",
    "DRUGS",
    "IIV_PARAMETERS",
    "MODELS",
    "NIVOLUMAB",
    "NIVOLUMAB_3MGKG_Q2W",
    "NIVOLUMAB_240MG_Q2W",
    "NIVOLUMAB_480MG_Q4W",
    "PEMBROLIZUMAB",
    "PEMBROLIZUMAB_2MGKG_Q3W",
    "PEMBROLIZUMAB_200MG_Q3W",
    "PEMBROLIZUMAB_400MG_Q6W",
    "REGIMENS",
    "CovariateEffect",
    "Drug",
    "Equilibrium",
    "Kuznetsov1994",
    "Model",
    "Regimen",
    "TumorImmunePD1",
    "clearance",
    "get_drug",
    "get_model",
    "get_regimen",
    "individual_pk",
    "kuznetsov_equilibria",
    "two_compartment_bolus",
]

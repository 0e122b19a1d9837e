"""Models of tumor–immune dynamics and anti-PD-1 pharmacology (see ``docs/science.md``)."""

from ._base import AbstractDrugModel as AbstractDrugModel
from ._base import AbstractModel as AbstractModel
from ._base import DrugModel as DrugModel
from ._base import Model as Model
from ._base import _common_length as common_length
from ._base import is_drug_model as is_drug_model
from ._base import parameter as parameter
from ._chemo import CHEMO_FIELDS as CHEMO_FIELDS
from ._chemo import CHEMO_SCHEDULE_FIELDS as CHEMO_SCHEDULE_FIELDS
from ._chemo import CHEMOTHERAPIES as CHEMOTHERAPIES
from ._chemo import PLATINUM_DOUBLET as PLATINUM_DOUBLET
from ._chemo import Chemotherapy as Chemotherapy
from ._chemo import get_chemo as get_chemo
from ._chemo import supports_chemo as supports_chemo
from ._depillis import DePillis2005 as DePillis2005
from ._equilibria import Equilibrium as Equilibrium
from ._equilibria import kuznetsov_equilibria as kuznetsov_equilibria
from ._kuznetsov import AbstractKuznetsov as AbstractKuznetsov
from ._kuznetsov import Kuznetsov1994 as Kuznetsov1994
from ._nikolopoulou import Nikolopoulou2018 as Nikolopoulou2018
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
from ._registry import get_model as get_model
from ._registry import model_names as model_names
from ._sbml import AbstractSBMLModel as AbstractSBMLModel
from ._sbml import from_sbml as from_sbml
from ._tgi import ClaretTGI as ClaretTGI

MODELS: dict[str, type[Model]] = {
    "kuznetsov1994": Kuznetsov1994,
    "tumorimmunepd1": TumorImmunePD1,
    "depillis2005": DePillis2005,
    "nikolopoulou2018": Nikolopoulou2018,
    "clarettgi": ClaretTGI,
}


__all__ = [
    "CHEMOTHERAPIES",
    "CHEMO_FIELDS",
    "CHEMO_SCHEDULE_FIELDS",
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
    "PLATINUM_DOUBLET",
    "REGIMENS",
    "AbstractDrugModel",
    "AbstractKuznetsov",
    "AbstractModel",
    "AbstractSBMLModel",
    "Chemotherapy",
    "ClaretTGI",
    "CovariateEffect",
    "DePillis2005",
    "Drug",
    "DrugModel",
    "Equilibrium",
    "Kuznetsov1994",
    "Model",
    "Nikolopoulou2018",
    "Regimen",
    "TumorImmunePD1",
    "clearance",
    "common_length",
    "from_sbml",
    "get_chemo",
    "get_drug",
    "get_model",
    "get_regimen",
    "individual_pk",
    "is_drug_model",
    "kuznetsov_equilibria",
    "model_names",
    "parameter",
    "supports_chemo",
    "two_compartment_bolus",
]

"""Models of tumor–immune dynamics and anti-PD-1 pharmacology (see ``docs/science.md``)."""

from ._assay import KEYNOTE006_PDL1 as KEYNOTE006_PDL1
from ._assay import KEYNOTE010_SCREENED as KEYNOTE010_SCREENED
from ._assay import KEYNOTE024_SCREENING as KEYNOTE024_SCREENING
from ._assay import KEYNOTE042_ENROLLED as KEYNOTE042_ENROLLED
from ._assay import LINEAR_TPS_MAP as LINEAR_TPS_MAP
from ._assay import MELANOMA_PDL1_POSITIVE_TPS as MELANOMA_PDL1_POSITIVE_TPS
from ._assay import NSCLC_TPS_CUTOFFS as NSCLC_TPS_CUTOFFS
from ._assay import TPS_CATEGORIES as TPS_CATEGORIES
from ._assay import L_from_tps as L_from_tps
from ._assay import TPSDistribution as TPSDistribution
from ._assay import TPSMap as TPSMap
from ._assay import category_labels as category_labels
from ._assay import pdl1_positive as pdl1_positive
from ._assay import sample_tps as sample_tps
from ._assay import tps_category as tps_category
from ._assay import tps_from_L as tps_from_L
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
from ._chemo import DOCETAXEL as DOCETAXEL
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
    "DOCETAXEL",
    "DRUGS",
    "IIV_PARAMETERS",
    "KEYNOTE006_PDL1",
    "KEYNOTE010_SCREENED",
    "KEYNOTE024_SCREENING",
    "KEYNOTE042_ENROLLED",
    "LINEAR_TPS_MAP",
    "MELANOMA_PDL1_POSITIVE_TPS",
    "MODELS",
    "NIVOLUMAB",
    "NIVOLUMAB_3MGKG_Q2W",
    "NIVOLUMAB_240MG_Q2W",
    "NIVOLUMAB_480MG_Q4W",
    "NSCLC_TPS_CUTOFFS",
    "PEMBROLIZUMAB",
    "PEMBROLIZUMAB_2MGKG_Q3W",
    "PEMBROLIZUMAB_200MG_Q3W",
    "PEMBROLIZUMAB_400MG_Q6W",
    "PLATINUM_DOUBLET",
    "REGIMENS",
    "TPS_CATEGORIES",
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
    "L_from_tps",
    "Model",
    "Nikolopoulou2018",
    "Regimen",
    "TPSDistribution",
    "TPSMap",
    "TumorImmunePD1",
    "category_labels",
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
    "pdl1_positive",
    "sample_tps",
    "supports_chemo",
    "tps_category",
    "tps_from_L",
    "two_compartment_bolus",
]

"""Calibration: fit patients to tumor-size data, calibrate virtual populations (optax)."""

from ._allen import calibrate_allen as calibrate_allen
from ._allen import plausible_patients as plausible_patients
from ._allen import prevalence_select as prevalence_select
from ._data import UNITS as UNITS
from ._data import TumorData as TumorData
from ._data import load_measurements as load_measurements
from ._data import to_cells as to_cells
from ._figure import fit_figure as fit_figure
from ._figure import write_fit_report as write_fit_report
from ._fit import FitResult as FitResult
from ._fit import fit_patients as fit_patients
from ._optimize import OptimizeResult as OptimizeResult
from ._optimize import minimize as minimize
from ._population import KEYNOTE006_Q2W as KEYNOTE006_Q2W
from ._population import KEYNOTE006_Q3W as KEYNOTE006_Q3W
from ._population import KEYNOTE024 as KEYNOTE024
from ._population import ClinicalTarget as ClinicalTarget
from ._population import Dist as Dist
from ._population import TrialArm as TrialArm
from ._population import hard_orr as hard_orr
from ._population import rescale_tumor as rescale_tumor
from ._population import simulate_arm as simulate_arm
from ._population import soft_response as soft_response
from ._vpsoft import VPCalibration as VPCalibration
from ._vpsoft import calibrate_soft as calibrate_soft

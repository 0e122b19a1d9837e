"""Calibration: fit patients to tumor-size data, calibrate virtual populations (optax)."""

from ..response import SoftReadout as SoftReadout  # the relaxed read-out, re-exported
from ..response import soft_complete_response as soft_complete_response
from ..response import soft_progression_free as soft_progression_free
from ..response import soft_readout as soft_readout
from ..response import soft_response as soft_response
from ._allen import calibrate_allen as calibrate_allen
from ._allen import plausible_patients as plausible_patients
from ._allen import prevalence_select as prevalence_select
from ._data import UNITS as UNITS
from ._data import TumorData as TumorData
from ._data import cells_to_unit as cells_to_unit
from ._data import load_measurements as load_measurements
from ._data import to_cells as to_cells
from ._figure import fit_figure as fit_figure
from ._figure import write_fit_report as write_fit_report
from ._fit import DEFAULT_E0 as DEFAULT_E0
from ._fit import FitResult as FitResult
from ._fit import Noise as Noise
from ._fit import fit_patients as fit_patients
from ._optimize import LBFGS as LBFGS
from ._optimize import Minimizer as Minimizer
from ._optimize import OptimizeResult as OptimizeResult
from ._optimize import minimize as minimize
from ._optimize import optimizer_for as optimizer_for
from ._os import KEYNOTE006_OS_TARGETS as KEYNOTE006_OS_TARGETS
from ._os import OSTarget as OSTarget
from ._os import expected_survival as expected_survival
from ._os import fit_survival_link as fit_survival_link
from ._os import os_predictions as os_predictions
from ._population import KEYNOTE006_Q2W as KEYNOTE006_Q2W
from ._population import KEYNOTE006_Q3W as KEYNOTE006_Q3W
from ._population import KEYNOTE024 as KEYNOTE024
from ._population import ClinicalTarget as ClinicalTarget
from ._population import Dist as Dist
from ._population import TrialArm as TrialArm
from ._population import hard_orr as hard_orr
from ._population import rescale_tumor as rescale_tumor
from ._population import simulate_arm as simulate_arm
from ._trial import CLINICAL_FIXED as CLINICAL_FIXED
from ._trial import CLINICAL_RANGES as CLINICAL_RANGES
from ._trial import FOLLOW_UP_DAYS as FOLLOW_UP_DAYS
from ._trial import KEYNOTE006_CUTOFF_DAY as KEYNOTE006_CUTOFF_DAY
from ._trial import KEYNOTE006_DURABILITY as KEYNOTE006_DURABILITY
from ._trial import KEYNOTE006_Q2W_ENDPOINTS as KEYNOTE006_Q2W_ENDPOINTS
from ._trial import KEYNOTE006_Q2W_REGIMEN as KEYNOTE006_Q2W_REGIMEN
from ._trial import KEYNOTE006_Q3W_ENDPOINTS as KEYNOTE006_Q3W_ENDPOINTS
from ._trial import KEYNOTE006_Q3W_REGIMEN as KEYNOTE006_Q3W_REGIMEN
from ._trial import KEYNOTE006_Q3W_TARGETS as KEYNOTE006_Q3W_TARGETS
from ._trial import KEYNOTE006_SCAN_DAYS as KEYNOTE006_SCAN_DAYS
from ._trial import KEYNOTE006_TRIAL as KEYNOTE006_TRIAL
from ._trial import KEYNOTE024_CHEMO_ARM as KEYNOTE024_CHEMO_ARM
from ._trial import KEYNOTE024_CHEMO_ENDPOINTS as KEYNOTE024_CHEMO_ENDPOINTS
from ._trial import KEYNOTE024_CUTOFF_DAY as KEYNOTE024_CUTOFF_DAY
from ._trial import KEYNOTE024_OS_TARGETS as KEYNOTE024_OS_TARGETS
from ._trial import KEYNOTE024_PEMBRO_ENDPOINTS as KEYNOTE024_PEMBRO_ENDPOINTS
from ._trial import KEYNOTE024_REGIMEN as KEYNOTE024_REGIMEN
from ._trial import KEYNOTE024_TRIAL as KEYNOTE024_TRIAL
from ._trial import TREATMENT_END_DAY as TREATMENT_END_DAY
from ._trial import TRIALS as TRIALS
from ._trial import ZERO_SHARE as ZERO_SHARE
from ._trial import ChemoArm as ChemoArm
from ._trial import PendingArm as PendingArm
from ._trial import TrialDefinition as TrialDefinition
from ._trial import VirtualPopulation as VirtualPopulation
from ._trial import calibrate_population as calibrate_population
from ._trial import get_trial as get_trial
from ._trial import keynote006_scan_days as keynote006_scan_days
from ._trial import keynote024_scan_days as keynote024_scan_days
from ._trial import load_population as load_population
from ._trial import plausible_candidates as plausible_candidates
from ._trial import target_class_probabilities as target_class_probabilities
from ._trial import tps_quantile as tps_quantile
from ._uncertainty import calibration_arm as calibration_arm
from ._uncertainty import reselection_cutoff as reselection_cutoff
from ._uncertainty import reselection_intervals as reselection_intervals
from ._vpsoft import VPCalibration as VPCalibration
from ._vpsoft import calibrate_soft as calibrate_soft

__all__ = [
    "CLINICAL_FIXED",
    "CLINICAL_RANGES",
    "DEFAULT_E0",
    "FOLLOW_UP_DAYS",
    "KEYNOTE006_CUTOFF_DAY",
    "KEYNOTE006_DURABILITY",
    "KEYNOTE006_OS_TARGETS",
    "KEYNOTE006_Q2W",
    "KEYNOTE006_Q2W_ENDPOINTS",
    "KEYNOTE006_Q2W_REGIMEN",
    "KEYNOTE006_Q3W",
    "KEYNOTE006_Q3W_ENDPOINTS",
    "KEYNOTE006_Q3W_REGIMEN",
    "KEYNOTE006_Q3W_TARGETS",
    "KEYNOTE006_SCAN_DAYS",
    "KEYNOTE006_TRIAL",
    "KEYNOTE024",
    "KEYNOTE024_CHEMO_ARM",
    "KEYNOTE024_CHEMO_ENDPOINTS",
    "KEYNOTE024_CUTOFF_DAY",
    "KEYNOTE024_OS_TARGETS",
    "KEYNOTE024_PEMBRO_ENDPOINTS",
    "KEYNOTE024_REGIMEN",
    "KEYNOTE024_TRIAL",
    "LBFGS",
    "TREATMENT_END_DAY",
    "TRIALS",
    "UNITS",
    "ZERO_SHARE",
    "ChemoArm",
    "ClinicalTarget",
    "Dist",
    "FitResult",
    "Minimizer",
    "Noise",
    "OSTarget",
    "OptimizeResult",
    "PendingArm",
    "SoftReadout",
    "TrialArm",
    "TrialDefinition",
    "TumorData",
    "VPCalibration",
    "VirtualPopulation",
    "calibrate_allen",
    "calibrate_population",
    "calibrate_soft",
    "calibration_arm",
    "cells_to_unit",
    "expected_survival",
    "fit_figure",
    "fit_patients",
    "fit_survival_link",
    "get_trial",
    "hard_orr",
    "keynote006_scan_days",
    "keynote024_scan_days",
    "load_measurements",
    "load_population",
    "minimize",
    "optimizer_for",
    "os_predictions",
    "plausible_candidates",
    "plausible_patients",
    "prevalence_select",
    "rescale_tumor",
    "reselection_cutoff",
    "reselection_intervals",
    "simulate_arm",
    "soft_complete_response",
    "soft_progression_free",
    "soft_readout",
    "soft_response",
    "target_class_probabilities",
    "to_cells",
    "tps_quantile",
    "write_fit_report",
]

"""What decides response: response against patient variability in a virtual trial's own
patients, with no extra solves.

- :func:`covariate_map`: response (or PFS at a landmark) over two covariates, binned, with
  each cell's count and interval;
- :func:`response_ranking`: which patient parameters decide response and best % change
  (given-data RBD-FAST indices with bootstrap intervals), :func:`parameter_correlation`;
- :func:`treatment_effect` / :func:`effect_summary`: the same virtual patient with and
  without treatment;
- :func:`biomarker_thresholds`: ORR and PFS above each threshold of a biomarker.

Every function takes a results ``xarray.Dataset`` (``sweeps.load``) and returns xarray::

    from tumorimmune import analysis, sweeps
    ds = sweeps.load("out/results.zarr")
    rank = analysis.response_ranking(ds)                 # (arm, output, param)
    m = analysis.covariate_map(ds, "L", "baseline_sld_mm", bins=4)
"""

from ._cohort import NOT_COVARIATES as NOT_COVARIATES
from ._cohort import SIX_MONTHS_DAYS as SIX_MONTHS_DAYS
from ._cohort import control_arm as control_arm
from ._cohort import covariate_label as covariate_label
from ._cohort import covariates as covariates
from ._cohort import pfs_landmark as pfs_landmark
from ._cohort import responders as responders
from ._effect import effect_summary as effect_summary
from ._effect import treatment_effect as treatment_effect
from ._map import bin_edges as bin_edges
from ._map import bin_index as bin_index
from ._map import covariate_map as covariate_map
from ._ranking import RANKING_OUTPUTS as RANKING_OUTPUTS
from ._ranking import parameter_correlation as parameter_correlation
from ._ranking import rbd_fast as rbd_fast
from ._ranking import response_ranking as response_ranking
from ._thresholds import biomarker_thresholds as biomarker_thresholds

__all__ = [
    "NOT_COVARIATES",
    "RANKING_OUTPUTS",
    "SIX_MONTHS_DAYS",
    "bin_edges",
    "bin_index",
    "biomarker_thresholds",
    "control_arm",
    "covariate_label",
    "covariate_map",
    "covariates",
    "effect_summary",
    "parameter_correlation",
    "pfs_landmark",
    "rbd_fast",
    "responders",
    "response_ranking",
    "treatment_effect",
]

"""Global sensitivity analysis of virtual cohorts: Sobol' (Saltelli/Jansen), Morris, PRCC.

Designs and Sobol'/Morris estimators come from SALib; the model evaluations run through the
sweep engine and its resumable store. Typical use::

    from tumorimmune import sensitivity
    idx = sensitivity.sensitivity("examples/pd1_sensitivity.toml", output="out/results.zarr")
    idx["ST"].sel(output="response")          # total-order indices, (arm, param)

or, for any function, ``X = sample("sobol", d, n)``, ``analyze("sobol", X, f(X))``.
"""

from ..sweeps import design_rows as design_rows
from ..sweeps import sensitivity_design as spec_design
from ..sweeps import sensitivity_sample as sample
from ._analyze import INDEX_VARIABLES as INDEX_VARIABLES
from ._analyze import analyze as analyze
from ._analyze import convergence as convergence
from ._analyze import convergence_sizes as convergence_sizes
from ._run import compute_indices as compute_indices
from ._run import indices as indices
from ._run import indices_from_outputs as indices_from_outputs
from ._run import outputs as outputs
from ._run import run_sensitivity as run_sensitivity
from ._run import sensitivity as sensitivity
from ._summary import describe as describe
from ._summary import output_label as output_label
from ._summary import ranking as ranking
from ._summary import summary_sentences as summary_sentences

__all__ = [
    "INDEX_VARIABLES",
    "analyze",
    "compute_indices",
    "convergence",
    "convergence_sizes",
    "describe",
    "design_rows",
    "indices",
    "indices_from_outputs",
    "output_label",
    "outputs",
    "ranking",
    "run_sensitivity",
    "sample",
    "sensitivity",
    "spec_design",
    "summary_sentences",
]

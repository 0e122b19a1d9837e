"""The ``[sensitivity]`` section of a sweep spec: global sensitivity analysis of the cohort.

Example::

    [sensitivity]
    method = "sobol"             # sobol (Saltelli/Jansen), morris (elementary effects), prcc
    parameters = ["a", "L", "T0", "weight", "eta_CL", "eta_V"]   # default: every varying column
    n = 16384                    # base sample size (sobol: a power of 2)
    second_order = false         # sobol only
    seed = 7
    outputs = ["best_pct_change", "response", "pfs_landmark", "final_tumor"]
    landmark_days = 180          # PFS landmark of "pfs_landmark" (default min(180, follow-up))
    confidence = 0.95            # bootstrap confidence level
    n_bootstrap = 200

The parameters keep the cohort's distributions (``[variability]``; ``eta_CL``/``eta_V`` are the
standard normals of ``[pk] variability = true``); a varying column left out of ``parameters`` is
held at its median. The model is evaluated on the method's design instead of the cohort: the
sweep's "patients" are the design points (``n_patients`` = :meth:`SensitivitySpec.n_evaluations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Outputs a sensitivity analysis can explain (per arm), see :class:`SensitivitySpec`.
Output = Literal["best_pct_change", "response", "pfs_landmark", "final_tumor"]
SENSITIVITY_OUTPUTS: tuple[Output, ...] = (
    "best_pct_change",
    "response",
    "pfs_landmark",
    "final_tumor",
)


class SensitivitySpec(BaseModel):
    """Global sensitivity analysis settings.

    Outputs (per arm and design point): ``best_pct_change`` (% , RECIST best change),
    ``response`` (1 for CR/PR, else 0), ``pfs_landmark`` (1 when progression-free at
    ``landmark_days``, else 0), ``final_tumor`` (log10(1 + tumor cells) at the last scan).

    Model evaluations per arm: sobol ``n (D + 2)`` (``n (2D + 2)`` with ``second_order``),
    morris ``n (D + 1)`` (``n`` trajectories), prcc ``n``; ``D`` = number of parameters.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["sobol", "morris", "prcc"] = "sobol"
    parameters: list[str] | None = Field(
        None, description="varied parameters (default: every varying column of the cohort)"
    )
    n: int = Field(1024, ge=4, description="base sample size")
    second_order: bool = False
    seed: int = Field(0, ge=0)
    outputs: list[Output] = Field(default_factory=lambda: list(SENSITIVITY_OUTPUTS), min_length=1)
    landmark_days: float | None = Field(
        None, gt=0, description="PFS landmark, days (default: 180 or the follow-up if shorter)"
    )
    confidence: float = Field(0.95, gt=0, lt=1)
    n_bootstrap: int = Field(200, ge=10)
    num_levels: int = Field(4, ge=2, description="morris grid levels (even)")

    @model_validator(mode="after")
    def _check(self) -> SensitivitySpec:
        if self.method == "sobol" and self.n & (self.n - 1):
            raise ValueError(
                f"'n' must be a power of 2 for method 'sobol' (Saltelli design); got {self.n}"
            )
        if self.second_order and self.method != "sobol":
            raise ValueError(f"'second_order' applies to method 'sobol' only; got {self.method!r}")
        if self.method == "morris" and self.num_levels % 2:
            raise ValueError(f"'num_levels' must be even for morris; got {self.num_levels}")
        if self.parameters is not None:
            if len(self.parameters) == 0:
                raise ValueError("'parameters' is empty; give at least one parameter")
            if len(set(self.parameters)) != len(self.parameters):
                raise ValueError(f"'parameters' has duplicates: {self.parameters}")
        if len(set(self.outputs)) != len(self.outputs):
            raise ValueError(f"'outputs' has duplicates: {self.outputs}")
        return self

    def names(self, columns: Sequence[str]) -> list[str]:
        """The varied parameters, in order (default: every per-patient ``columns``)."""
        return list(self.parameters) if self.parameters is not None else list(columns)

    def landmark(self, follow_up_days: float) -> float:
        """PFS landmark of the ``pfs_landmark`` output, days."""
        return self.landmark_days or min(180.0, follow_up_days)

    def n_evaluations(self, columns: Sequence[str]) -> int:
        """Model evaluations per arm (design points) for the per-patient ``columns``."""
        d = len(self.names(columns))
        if self.method == "sobol":
            return self.n * (2 * d + 2 if self.second_order else d + 2)
        if self.method == "morris":
            return self.n * (d + 1)
        return self.n

"""``Readout``: how simulated tumor cells are read as RECIST target lesions, in one object.

A leaf module: the hard read-out (:func:`~tumorimmune.response.sum_of_diameters_mm`,
:func:`~tumorimmune.response.jax_readout`), the relaxed one
(:func:`~tumorimmune.response.soft_readout`), the calibration data conversions and the sweeps'
``[response]`` section all take one :class:`Readout` instead of the loose keywords.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: Equal target lesions that share a patient's tumor cells (RECIST 1.1: at most 5).
DEFAULT_N_LESIONS = 3
#: Per-lesion imaging detection limit (mm): a smaller lesion has disappeared.
DEFAULT_DETECTION_LIMIT_MM = 5.0
#: Tumor cells per cm³ of lesion volume (1 cm³ ≈ 1e9 cells, a rule of thumb).
DEFAULT_CELLS_PER_CM3 = 1e9
#: Temperature of the relaxed read-out (percentage points of the baseline sum of diameters).
DEFAULT_TEMPERATURE = 2.0


@dataclasses.dataclass(frozen=True)
class Readout:
    """The RECIST read-out of tumor cells: lesion geometry, detection, rule thresholds and the
    temperature of the relaxed (differentiable) read-out.

    The hard read-out uses ``cells_per_cm3``, ``n_lesions`` and ``detection_limit_mm``
    (:func:`~tumorimmune.response.sum_of_diameters_mm`: ``n_lesions`` equal spheres share the
    cells, a lesion under the detection limit counts 0 mm); the relaxed read-out
    (:func:`~tumorimmune.response.soft_readout`) uses every field. The values are checked by
    the functions that read them (as before), not here, so a traced ``temperature`` (or a
    per-patient ``n_lesions`` array) may be stored.

    Attributes:
        cells_per_cm3: tumor cell density, cells per cm³ (**assumption**, 1e9), > 0.
        n_lesions: equal target lesions sharing the cells (**assumption**, 3), integers >= 1;
            a scalar, or an array broadcast against the cells (e.g. ``(N, 1)`` per patient
            for the hard read-out, ``(N,)`` for the relaxed one).
        detection_limit_mm: per-lesion detection limit (mm), >= 0; 0 keeps every lesion.
        temperature: relaxed read-out only: ``τ`` in percentage points (of the baseline sum of
            diameters; of the nadir for the +20 % rule), >= 0; 0 is the hard read-out exactly.
            May be traced (then > 0).
        pr_decrease_pct: decrease from baseline needed for PR (%), in (0, 100] (relaxed
            read-out; the hard rule takes it in
            :func:`~tumorimmune.response.best_overall_response`).
        pd_increase_pct: relative increase over the nadir needed for PD (%), >= 0.
        min_increase_mm: absolute increase over the nadir needed for PD (mm), >= 0.
    """

    cells_per_cm3: float = DEFAULT_CELLS_PER_CM3
    n_lesions: int | ArrayLike = DEFAULT_N_LESIONS
    detection_limit_mm: float = DEFAULT_DETECTION_LIMIT_MM
    temperature: float | ArrayLike = DEFAULT_TEMPERATURE
    pr_decrease_pct: float = 30.0
    pd_increase_pct: float = 20.0
    min_increase_mm: float = 5.0

    def replace(self, **changes: Any) -> Readout:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

"""Dosing regimens: bolus doses at fixed intervals (docs/science.md §3)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from jaxtyping import ArrayLike, Float, Real


@dataclasses.dataclass(frozen=True)
class Regimen:
    """A repeated intravenous bolus regimen.

    Doses are given at ``start_day + k·interval`` (days) for ``k = 0, 1, …`` until ``n_doses``
    doses have been given or the dose day exceeds ``end_day`` (whichever comes first; with
    neither, until the end of the simulation). Infusions (30–60 min) are treated as boluses:
    an **assumption**, negligible against dosing intervals of weeks.

    Attributes:
        dose: amount per administration, in ``unit``.
        unit: ``"mg"`` (flat dose) or ``"mg/kg"`` (scaled by the patient's ``weight`` field).
        interval: days between doses (> 0).
        n_doses: maximal number of doses (``None``: unlimited).
        start_day: day of the first dose (>= 0).
        end_day: last day on which a dose may be given (``None``: no limit).
        drug: name of the drug (``"pembrolizumab"``, ``"nivolumab"``); ``simulate`` checks it
            against the model's drug, so that a regimen is never given with another drug's PK.
        name: label used in results and reports.
    """

    dose: float
    interval: float
    unit: str = "mg"
    n_doses: int | None = None
    start_day: float = 0.0
    end_day: float | None = None
    drug: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.dose) and self.dose > 0):
            raise ValueError(f"Regimen.dose must be a positive number; got {self.dose!r}")
        if not (math.isfinite(self.interval) and self.interval > 0):
            raise ValueError(f"Regimen.interval must be positive (days); got {self.interval!r}")
        if self.unit not in ("mg", "mg/kg"):
            raise ValueError(f"Regimen.unit must be 'mg' or 'mg/kg'; got {self.unit!r}")
        if self.n_doses is not None and (int(self.n_doses) != self.n_doses or self.n_doses < 1):
            raise ValueError(f"Regimen.n_doses must be a positive integer; got {self.n_doses!r}")
        if not (math.isfinite(self.start_day) and self.start_day >= 0):
            raise ValueError(f"Regimen.start_day must be >= 0; got {self.start_day!r}")
        if self.end_day is not None and not (self.end_day >= self.start_day):
            raise ValueError(
                f"Regimen.end_day must be >= start_day ({self.start_day}); got {self.end_day!r}"
            )

    @property
    def label(self) -> str:
        """Human-readable label, e.g. ``"pembrolizumab 200 mg q3w"``."""
        if self.name:
            return self.name
        iv = self.interval
        q = f"q{int(iv // 7)}w" if iv % 7 == 0 else f"q{iv:g}d"
        drug = f"{self.drug} " if self.drug else ""
        return f"{drug}{self.dose:g} {self.unit} {q}"

    def dose_times(self, t0: float | int, t1: float | int) -> np.ndarray:
        """Dose days within ``[t0, t1)`` (float64, sorted)."""
        last = t1 if self.end_day is None else min(t1, self.end_day + 1e-9)
        n_max = math.floor((last - self.start_day) / self.interval) + 1
        if self.n_doses is not None:
            n_max = min(n_max, int(self.n_doses))
        times = self.start_day + self.interval * np.arange(max(n_max, 0), dtype=float)
        return times[(times >= t0) & (times < t1) & (times <= last)]

    def dose_amount_mg(self, weight_kg: Real[ArrayLike, "*#N"]) -> Float[np.ndarray, "*#N"]:
        """Dose in mg (float64, the shape of ``weight_kg``) for body weights in kg."""
        w = np.asarray(weight_kg, dtype=float)
        return np.asarray(self.dose * w) if self.unit == "mg/kg" else np.full_like(w, self.dose)


def _preset(drug: str, dose: float, unit: str, weeks: int) -> Regimen:
    return Regimen(dose=dose, unit=unit, interval=7.0 * weeks, drug=drug)


#: Clinical regimens (docs/science.md §3).
PEMBROLIZUMAB_200MG_Q3W = _preset("pembrolizumab", 200.0, "mg", 3)
PEMBROLIZUMAB_400MG_Q6W = _preset("pembrolizumab", 400.0, "mg", 6)
PEMBROLIZUMAB_2MGKG_Q3W = _preset("pembrolizumab", 2.0, "mg/kg", 3)
NIVOLUMAB_240MG_Q2W = _preset("nivolumab", 240.0, "mg", 2)
NIVOLUMAB_480MG_Q4W = _preset("nivolumab", 480.0, "mg", 4)
NIVOLUMAB_3MGKG_Q2W = _preset("nivolumab", 3.0, "mg/kg", 2)

REGIMENS: dict[str, Regimen] = {
    "pembrolizumab_200mg_q3w": PEMBROLIZUMAB_200MG_Q3W,
    "pembrolizumab_400mg_q6w": PEMBROLIZUMAB_400MG_Q6W,
    "pembrolizumab_2mgkg_q3w": PEMBROLIZUMAB_2MGKG_Q3W,
    "nivolumab_240mg_q2w": NIVOLUMAB_240MG_Q2W,
    "nivolumab_480mg_q4w": NIVOLUMAB_480MG_Q4W,
    "nivolumab_3mgkg_q2w": NIVOLUMAB_3MGKG_Q2W,
}


def get_regimen(name: str) -> Regimen:
    """Look up a clinical regimen preset by name (see ``REGIMENS``)."""
    try:
        return REGIMENS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown regimen {name!r}; known regimens: {sorted(REGIMENS)}") from None

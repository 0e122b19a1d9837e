"""Chemotherapy comparator: a Claret-form exposure-driven kill with resistance (science.md §3c).

On chemotherapy (``chemo_start <= t < chemo_end``, days) every tumor cell — sensitive or
immune-escape variant — is killed at the per-cell rate::

    k(t) = k_chemo · exp(−lam_chemo · (t − chemo_start))

and at no rate off it: the tumor growth inhibition form of Claret et al. (2009, *J Clin
Oncol* 27:4103; :class:`~tumorimmune.model.ClaretTGI`), with the exposure constant while on
treatment (cycles given back to back: ``chemo_end = chemo_start + cycles · cycle_days``) and
the kill decaying at the resistance rate λ from the first cycle on. Immune effects of
chemotherapy (lymphodepletion, immunogenic cell death, PD-L1 induction) are **not modelled**.

A model supports chemotherapy when it has the fields :data:`CHEMO_FIELDS`
(:class:`~tumorimmune.model.TumorImmunePD1`; :func:`supports_chemo`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

#: Model fields of the chemotherapy term: the patient's sensitivity (``k_chemo``, 1/day, and
#: ``lam_chemo``, 1/day) and the arm's schedule (``chemo_start``, ``chemo_end``, days).
CHEMO_FIELDS: tuple[str, ...] = ("k_chemo", "lam_chemo", "chemo_start", "chemo_end")
#: The schedule fields: set from the arm (its start day and cycles), never a patient trait.
CHEMO_SCHEDULE_FIELDS: tuple[str, ...] = ("chemo_start", "chemo_end")


@dataclasses.dataclass(frozen=True)
class Chemotherapy:
    """A chemotherapy regimen: ``cycles`` cycles of ``cycle_days`` days from ``start_day``,
    and the Claret kill parameters of a typical patient.

    Attributes:
        name: preset name (e.g. ``"platinum_doublet"``), also the label in results.
        k_chemo: per-cell kill rate at the first cycle (Claret's ``K_D·E``), 1/day; the
            default of patients without their own value (an **assumption** to be calibrated).
        lam_chemo: resistance rate λ of the kill, 1/day (an **assumption** to be calibrated).
        cycles: number of cycles given.
        cycle_days: days per cycle (21: q3w).
        min_cycles, max_cycles: the allowed range of ``cycles`` (4–6 for a platinum doublet).
        start_day: day of the first cycle (>= 0).
        description: what the preset stands for, with its source.
    """

    name: str
    k_chemo: float
    lam_chemo: float
    cycles: int = 4
    cycle_days: float = 21.0
    min_cycles: int = 1
    max_cycles: int = 12
    start_day: float = 0.0
    description: str = ""

    def __post_init__(self) -> None:
        for key in ("k_chemo", "lam_chemo"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"Chemotherapy.{key} must be finite and >= 0 (1/day); got {v!r}")
        if not (math.isfinite(self.cycle_days) and self.cycle_days > 0):
            raise ValueError(f"Chemotherapy.cycle_days must be > 0 (days); got {self.cycle_days!r}")
        if not (math.isfinite(self.start_day) and self.start_day >= 0):
            raise ValueError(f"Chemotherapy.start_day must be >= 0 (days); got {self.start_day!r}")
        if not 1 <= self.min_cycles <= self.max_cycles:
            raise ValueError(
                f"Chemotherapy needs 1 <= min_cycles <= max_cycles; got "
                f"{self.min_cycles}, {self.max_cycles}"
            )
        if (
            isinstance(self.cycles, bool)
            or int(self.cycles) != self.cycles
            or not self.min_cycles <= self.cycles <= self.max_cycles
        ):
            raise ValueError(
                f"{self.name}: cycles must be an integer in {self.min_cycles}..{self.max_cycles}; "
                f"got {self.cycles!r}"
            )

    @property
    def end_day(self) -> float:
        """Day the last cycle ends, ``start_day + cycles · cycle_days``: the kill stops."""
        return self.start_day + self.cycles * self.cycle_days

    @property
    def label(self) -> str:
        """Human-readable label, e.g. ``"platinum_doublet × 4 q3w"``."""
        cd = self.cycle_days
        q = f"q{int(cd // 7)}w" if cd % 7 == 0 else f"q{cd:g}d"
        return f"{self.name} × {self.cycles} {q}"

    def with_schedule(
        self, *, cycles: int | None = None, start_day: float | None = None
    ) -> Chemotherapy:
        """A copy with another number of cycles and/or first day (checked against the range)."""
        changes: dict[str, Any] = {}
        if cycles is not None:
            changes["cycles"] = cycles
        if start_day is not None:
            changes["start_day"] = float(start_day)
        return dataclasses.replace(self, **changes)

    def parameters(self) -> dict[str, float]:
        """The model fields :data:`CHEMO_FIELDS` of this regimen (typical patient)."""
        return {
            "k_chemo": self.k_chemo,
            "lam_chemo": self.lam_chemo,
            "chemo_start": self.start_day,
            "chemo_end": self.end_day,
        }

    def schedule(self) -> dict[str, float]:
        """The schedule fields only (:data:`CHEMO_SCHEDULE_FIELDS`), days."""
        p = self.parameters()
        return {k: p[k] for k in CHEMO_SCHEDULE_FIELDS}


#: Platinum-doublet chemotherapy of first-line NSCLC (KEYNOTE-024's comparator arm:
#: carboplatin or cisplatin with pemetrexed, gemcitabine or paclitaxel, 4–6 cycles q3w;
#: Reck et al. 2016, N Engl J Med 375:1823; as quoted in issue #28). The kill parameters are
#: **assumptions** to be calibrated (e.g. to that arm's ORR of 27.8 % and median PFS of 6.0
#: months, issue #28), not published estimates: ``k_chemo = 0.03``/day (tumor half-life of about
#: 23 days at the first cycle) and ``lam_chemo = 0.02``/day (kill halved about every 35 days).
PLATINUM_DOUBLET = Chemotherapy(
    name="platinum_doublet",
    k_chemo=0.03,
    lam_chemo=0.02,
    cycles=4,
    cycle_days=21.0,
    min_cycles=4,
    max_cycles=6,
    description=(
        "platinum doublet, 4-6 cycles q3w (KEYNOTE-024 comparator, Reck et al. 2016); kill "
        "form Claret et al. 2009; k_chemo and lam_chemo are assumptions to be calibrated"
    ),
)

#: Docetaxel 75 mg/m² q3w, second-line NSCLC (KEYNOTE-010's comparator arm; Herbst et al. 2016,
#: Lancet 387:1540: given every 3 weeks until progression or unacceptable toxicity, for the
#: maximum number of cycles local guidelines allowed). The model gives a fixed number of
#: cycles (default 6, an **assumption**: the cycles actually given are not verified; 1–35
#: allowed, 35 being KEYNOTE-010's two years) and cannot stop at progression. No published
#: Claret-form estimates of docetaxel in NSCLC were found: ``k_chemo = 0.03``/day and
#: ``lam_chemo = 0.02``/day are the platinum preset's typical values, **assumptions**; a
#: population's own per-patient ``k_chemo``/``lam_chemo`` replace them (docs/science.md §3c, §8b).
DOCETAXEL = Chemotherapy(
    name="docetaxel",
    k_chemo=0.03,
    lam_chemo=0.02,
    cycles=6,
    cycle_days=21.0,
    min_cycles=1,
    max_cycles=35,
    description=(
        "docetaxel 75 mg/m2 q3w (KEYNOTE-010 comparator, Herbst et al. 2016), 6 cycles by "
        "default (assumption); kill form Claret et al. 2009; k_chemo and lam_chemo are "
        "assumptions (no published NSCLC docetaxel estimates used)"
    ),
)

#: Chemotherapy presets by name (the sweeps' ``[[arms]] chemo = NAME``).
CHEMOTHERAPIES: dict[str, Chemotherapy] = {
    "platinum_doublet": PLATINUM_DOUBLET,
    "docetaxel": DOCETAXEL,
}


def get_chemo(name: str) -> Chemotherapy:
    """Look up a chemotherapy preset by name (see :data:`CHEMOTHERAPIES`)."""
    try:
        return CHEMOTHERAPIES[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown chemotherapy {name!r}; known: {sorted(CHEMOTHERAPIES)}"
        ) from None


def supports_chemo(model: Any) -> bool:
    """Whether a model (class or instance) has the chemotherapy fields :data:`CHEMO_FIELDS`."""
    names = set(model.parameter_names())
    return all(k in names for k in CHEMO_FIELDS)

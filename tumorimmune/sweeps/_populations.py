"""The population library: the virtual populations shipped with the package.

Each entry of :data:`POPULATIONS` is a calibrated virtual population (an ``.npz`` written by
:meth:`tumorimmune.calibrate.VirtualPopulation.save`, in ``tumorimmune/data``) with the trial
and indication it was calibrated to, its calibration targets and fit (read from the file's
metadata), an example spec and the publication. A sweep spec names one with
``[population] file = "NAME"``; ``tumorimmune populations`` lists them.

Adding a population: write the ``.npz`` (``tumorimmune calibrate-population`` or
:func:`tumorimmune.calibrate.calibrate_population`), add a :class:`PopulationEntry` here and
an example spec under ``examples/``, and document it in docs/science.md.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ..model import KEYNOTE006_PDL1, KEYNOTE024_SCREENING, TPSDistribution

#: Where the packaged population files are.
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclasses.dataclass(frozen=True)
class PopulationEntry:
    """One packaged virtual population.

    Attributes:
        name: the name a spec uses (``[population] file = NAME``), lower case.
        file: the ``.npz`` file name in ``tumorimmune/data``.
        indication: the disease, e.g. ``"advanced melanoma"``.
        trial: the trial arm and report it was calibrated to.
        citation: the publication of the calibration targets.
        example: an example spec that uses it (path from the repository root).
        pdl1: the trial's published PD-L1 status distribution (TPS categories), if any.
    """

    name: str
    file: str
    indication: str
    trial: str
    citation: str
    example: str
    pdl1: TPSDistribution | None = None

    def path(self) -> Path:
        """The population's ``.npz`` file."""
        return DATA_DIR / self.file

    def metadata(self) -> dict[str, Any]:
        """The file's ``meta`` entry: ``fixed``, ``endpoints`` and ``info`` (JSON)."""
        return _metadata(str(self.path()))

    def targets(self) -> list[dict[str, Any]]:
        """The calibration targets and their values on the population: one dict per
        endpoint with ``name``, ``kind``, ``target``, ``simulated``, ``within`` (inside the
        target's interval), ``unit`` and ``source``."""
        keys = ("name", "kind", "target", "simulated", "within", "unit", "source")
        return [{k: e.get(k) for k in keys} for e in self.metadata().get("endpoints", [])]

    def fit(self) -> dict[str, Any]:
        """The fit summary: selection method, candidates, patients selected, the χ²
        goodness of fit of the read-out classes and its p-value, the regimen."""
        info = self.metadata().get("info", {})
        keys = ("method", "seed", "n_candidates", "n_selected", "chi2", "chi2_p", "regimen")
        return {k: info.get(k) for k in keys if k in info}

    def n_patients(self) -> int:
        """Patients (rows) in the population table."""
        return _n_rows(str(self.path()))

    def caveat(self) -> str:
        """The report caveat of a run on this population (its indication and trial)."""
        return (
            f"Population {self.name!r}: virtual patients with {self.indication}, calibrated to "
            f"{self.trial} ({self.citation}); results speak for that indication and trial "
            "population only."
        )

    def summary(self) -> dict[str, Any]:
        """Everything above as a JSON-able dict (``tumorimmune populations --json``)."""
        return {
            "name": self.name,
            "file": self.file,
            "indication": self.indication,
            "trial": self.trial,
            "citation": self.citation,
            "example": self.example,
            "n_patients": self.n_patients(),
            "targets": self.targets(),
            "fit": self.fit(),
            "pdl1": None if self.pdl1 is None else dataclasses.asdict(self.pdl1),
        }


@functools.cache
def _metadata(path: str) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["meta"])) if "meta" in z.files else {}


@functools.cache
def _n_rows(path: str) -> int:
    with np.load(path, allow_pickle=False) as z:
        name = next(k for k in z.files if k != "meta")
        return len(z[name])


KEYNOTE006 = PopulationEntry(
    name="keynote006",
    file="keynote006_vpop.npz",
    indication="advanced melanoma",
    trial="KEYNOTE-006, pembrolizumab 10 mg/kg q3w arm, first report (7.9-month cut-off)",
    citation="Robert et al. 2015, N Engl J Med 372:2521",
    example="examples/pd1_virtual_trial.toml",
    pdl1=KEYNOTE006_PDL1,
)

KEYNOTE024 = PopulationEntry(
    name="keynote024",
    file="keynote024_vpop.npz",
    indication="advanced NSCLC, PD-L1 TPS ≥ 50 %, first line",
    trial="KEYNOTE-024, pembrolizumab 200 mg q3w and platinum-doublet arms, first report "
    "(11.2-month follow-up)",
    citation="Reck et al. 2016, N Engl J Med 375:1823",
    example="examples/nsclc_keynote024.toml",
    pdl1=KEYNOTE024_SCREENING,  # the screening distribution; enrolled: TPS >= 50 % only
)

#: The packaged virtual populations by name (read-only).
POPULATIONS: Mapping[str, PopulationEntry] = MappingProxyType(
    {e.name: e for e in (KEYNOTE006, KEYNOTE024)}
)


def population_entry(file: str) -> PopulationEntry | None:
    """The registry entry a spec's ``[population] file`` names (case-insensitive), or
    ``None`` for a path."""
    return POPULATIONS.get(file.lower())


def get_population(name: str) -> PopulationEntry:
    """The registry entry ``name``; a ``ValueError`` listing the registry otherwise."""
    entry = population_entry(name)
    if entry is None:
        raise ValueError(f"no packaged population {name!r}; {registry_listing()}")
    return entry


def registry_listing() -> str:
    """One line naming the packaged populations, their indications and trials."""
    items = "; ".join(f"{e.name!r} ({e.indication}, {e.trial})" for e in POPULATIONS.values())
    return f"packaged populations: {items} (tumorimmune populations lists them)"

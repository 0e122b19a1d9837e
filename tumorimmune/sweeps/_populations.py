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

from ..model import (
    KEYNOTE006_PDL1,
    KEYNOTE010_SCREENED,
    KEYNOTE024_SCREENING,
    KEYNOTE042_ENROLLED,
    L_from_tps,
    TPSDistribution,
    sample_tps,
)

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
        derived_from: for a population derived from another entry without a calibration of
            its own (e.g. ``keynote042``: ``keynote024`` with PD-L1 redrawn), that entry's
            name; its targets and fit are then the source population's calibration.
    """

    name: str
    file: str
    indication: str
    trial: str
    citation: str
    example: str
    pdl1: TPSDistribution | None = None
    derived_from: str | None = None

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
            "derived_from": self.derived_from,
            "derivation": self.metadata().get("info", {}).get("derived"),
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

KEYNOTE042 = PopulationEntry(
    name="keynote042",
    file="keynote042_vpop.npz",
    indication="advanced NSCLC, PD-L1 TPS ≥ 1 %, first line",
    trial="no trial of its own: the KEYNOTE-024 population (pembrolizumab 200 mg q3w and "
    "platinum-doublet arms, first report) with PD-L1 redrawn to KEYNOTE-042's enrolled TPS mix "
    "(derived, not calibrated to KEYNOTE-042)",
    citation="Reck et al. 2016, N Engl J Med 375:1823; TPS mix: Mok et al. 2019, Lancet 393:1819",
    example="examples/nsclc_keynote042.toml",
    pdl1=KEYNOTE042_ENROLLED,
    derived_from="keynote024",
)

KEYNOTE010 = PopulationEntry(
    name="keynote010",
    file="keynote010_vpop.npz",
    indication="advanced NSCLC, PD-L1 TPS ≥ 1 %, previously treated (assumed: first-line kinetics)",
    trial="no trial of its own: the KEYNOTE-024 population (first line) with PD-L1 redrawn to "
    "KEYNOTE-010's TPS >= 1 % mix (derived, not calibrated to KEYNOTE-010)",
    citation="Reck et al. 2016, N Engl J Med 375:1823; TPS mix: Herbst et al. 2016, Lancet "
    "387:1540",
    example="examples/nsclc_keynote010.toml",
    pdl1=KEYNOTE010_SCREENED,
    derived_from="keynote024",
)

#: The packaged virtual populations by name (read-only).
POPULATIONS: Mapping[str, PopulationEntry] = MappingProxyType(
    {e.name: e for e in (KEYNOTE006, KEYNOTE024, KEYNOTE042, KEYNOTE010)}
)

#: Seed of the KEYNOTE-042 derivation (:func:`derive_keynote042`): the trial's first
#: randomization year and number (2014, NCT02220894), fixed so the file is reproducible.
KEYNOTE042_SEED = 20140042


def redraw_pdl1(
    table: Mapping[str, np.ndarray], distribution: TPSDistribution, *, seed: int
) -> dict[str, np.ndarray]:
    """The patients of ``table`` with their PD-L1 ``L`` redrawn from ``distribution``.

    Each patient gets a TPS from :func:`tumorimmune.model.sample_tps` (a category by its
    share, uniform within it) with ``np.random.default_rng(seed)``, mapped to ``L`` by
    :func:`tumorimmune.model.L_from_tps` (``TPS = 100·L``); every other column is the
    source's, unchanged and in the same order. **Assumption** (docs/science.md §8): PD-L1 is
    the only difference between the source population and the derived one.
    """
    if "L" not in table:
        raise ValueError("redraw_pdl1 needs a population table with an 'L' column")
    n = len(table["L"])
    tps = sample_tps(distribution, n, rng=np.random.default_rng(seed))
    out = {k: np.array(v, dtype=float, copy=True) for k, v in table.items()}
    out["L"] = L_from_tps(tps)
    return out


#: Seed of the KEYNOTE-010 derivation (:func:`derive_keynote010`).
KEYNOTE010_SEED = 20130010


def derive_pdl1_population(
    source: PopulationEntry, distribution: TPSDistribution, *, seed: int, note: str = ""
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``source``'s patients with ``L`` redrawn from ``distribution`` (:func:`redraw_pdl1`),
    and the source file's metadata (its calibration targets and fit) with ``info["derived"]``
    describing the derivation. No new calibration; the same ``seed`` gives the same arrays."""
    with np.load(source.path(), allow_pickle=False) as z:
        table = {k: np.asarray(z[k], dtype=float) for k in z.files if k != "meta"}
    meta = json.loads(json.dumps(source.metadata()))  # a deep copy
    out = redraw_pdl1(table, distribution, seed=seed)
    info = meta.setdefault("info", {})
    info["derived"] = {
        "from": source.name,
        "from_file": source.file,
        "seed": int(seed),
        "redrawn": ["L"],
        "tps_distribution": dataclasses.asdict(distribution),
        "assumption": "PD-L1 is the only difference between the TPS strata: every other "
        f"per-patient parameter is the {source.name} calibration's" + (f"; {note}" if note else ""),
        "method": f"{source.name} patients, L = TPS/100 with TPS drawn per patient from "
        f"{distribution.name} (a category by its share, uniform within it)",
    }
    return out, meta


def derive_keynote042(
    seed: int = KEYNOTE042_SEED,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The ``keynote042`` population and its metadata, derived from ``keynote024``: the
    KEYNOTE-024-calibrated patients (every tumor TPS ≥ 50 %) with ``L`` redrawn from
    KEYNOTE-042's enrolled TPS mix (:data:`tumorimmune.model.KEYNOTE042_ENROLLED`: 456 TPS
    1–19 %, 219 TPS 20–49 %, 599 TPS ≥ 50 % of 1,274), :func:`derive_pdl1_population`."""
    return derive_pdl1_population(KEYNOTE024, KEYNOTE042_ENROLLED, seed=seed)


def derive_keynote010(
    seed: int = KEYNOTE010_SEED,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The ``keynote010`` population, derived from ``keynote024``: the same patients with
    ``L`` redrawn from KEYNOTE-010's TPS ≥ 1 % mix
    (:data:`tumorimmune.model.KEYNOTE010_SCREENED`), :func:`derive_pdl1_population`.
    **Assumptions**: previously treated tumors have the first-line patients' kinetics, and a
    patient's docetaxel kill is its platinum-doublet kill (``k_chemo``, ``lam_chemo``)."""
    note = (
        "previously treated tumors are assumed to have the first-line patients' kinetics, and "
        "each patient's docetaxel kill is its platinum-doublet kill (k_chemo, lam_chemo)"
    )
    return derive_pdl1_population(KEYNOTE024, KEYNOTE010_SCREENED, seed=seed, note=note)


#: The derived packaged populations: name → derivation (a function of the seed).
DERIVATIONS = {"keynote042": derive_keynote042, "keynote010": derive_keynote010}


def write_derived(name: str, path: str | Path | None = None) -> Path:
    """Write the derived population ``name`` (:data:`DERIVATIONS`, default seed) to ``path``
    (default: the packaged file)."""
    table, meta = DERIVATIONS[name]()
    target = get_population(name).path() if path is None else Path(path)
    np.savez_compressed(target, meta=np.asarray(json.dumps(meta)), **table)  # pyright: ignore[reportArgumentType]
    return target


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

"""Sweep specification schema: the TOML file's sections as pydantic models, and its text.

This module is the schema only (and the canonical TOML text, written by ``tomli-w``). Checks
that need the model or the machine are in ``_checks`` and ``_sizing``, validation with
one-line errors in ``_validate`` (:func:`validate_spec`, :func:`load_spec`), and what a run
derives from a validated spec in ``_plan`` (:class:`SweepPlan`).

Example (see ``examples/``)::

    name = "pd1_virtual_trial"
    model = "TumorImmunePD1"
    follow_up_days = 365
    precision = "float32"

    [parameters]            # base values (model units); the rest keep the model's defaults
    eps_n = 1.5

    [initial]               # initial state, cells
    E0 = 3.2e5
    T0 = 5e9

    [axes.a]                # one grid axis per table: values, linspace or logspace
    linspace = [0.1, 0.3, 50]

    [variability.L]         # per-patient variability: lognormal, normal, uniform, loguniform
    dist = "uniform"
    low = 0.0
    high = 1.0

    [sampling]
    method = "lhs"          # random, lhs, sobol
    cohort_size = 100       # patients per grid cell
    seed = 1

    [[arms]]
    name = "untreated"

    [[arms]]
    name = "pembrolizumab 200 mg q3w"
    regimen = "pembrolizumab_200mg_q3w"

    [[arms]]                # chemotherapy only (no antibody): 4-6 cycles q3w
    name = "platinum doublet"
    chemo = "platinum_doublet"
    chemo_cycles = 4
"""

from __future__ import annotations

import itertools
import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tomli_w
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from ..model import L_from_tps, tps_from_L
from ..response import (
    DEFAULT_DETECTION_LIMIT_MM,
    DEFAULT_N_LESIONS,
    Readout,
    SurvivalLink,
    parse_subgroup,
)
from ..solvers import MAX_STEPS, as_backend
from ._populations import POPULATIONS, PopulationEntry, population_entry, registry_listing
from ._sensitivity_spec import SensitivitySpec

#: Names under which the initial state can be swept or varied (cells).
INITIAL_NAMES: tuple[str, ...] = ("E0", "T0")
#: Read-out settings that can be swept or varied per patient (``[response]``, not the model).
READOUT_NAMES: tuple[str, ...] = ("n_lesions",)
#: Per-patient survival column of a population table: each virtual patient's own quantile of
#: the death-time distribution (a latent frailty), used by ``[survival]`` instead of a hashed
#: uniform, so that a calibrated patient dies in the trial as it did in its calibration.
SURVIVAL_NAMES: tuple[str, ...] = ("u_death",)
#: Largest number of target lesions (RECIST 1.1: at most 5).
MAX_LESIONS = 5
#: Model fields that come from the arm's drug (``tumorimmune.model.get_drug``) and regimen
#: (``t_dose0``: its start day), never the spec.
PK_FIELDS: tuple[str, ...] = ("CL", "V1", "Q", "V2", "CL_emax", "CL_T50", "CL_gamma", "t_dose0")
#: Extra per-patient columns of a spec with ``[pk] variability = true``: independent standard
#: normals ``z``, one per ``tumorimmune.model.IIV_PARAMETERS``; each arm's drug maps them to its
#: random effects ``η = L z`` (``tumorimmune.model.individual_pk``).
PK_ETAS: tuple[str, ...] = ("eta_CL", "eta_V1", "eta_Q", "eta_V2", "eta_CL_emax")


#: Most scan days of a patient (``follow_up_days / scan_interval_days``).
MAX_SCANS = 10_000
#: Most output times of a stored trajectory (``follow_up_days / trajectory_step_days``).
MAX_TRAJECTORY_TIMES = 100_000
#: Most values of one grid axis.
MAX_AXIS_VALUES = 100_000
#: Largest relative / absolute solver tolerance (states in cells and mg).
MAX_RTOL = 0.1
MAX_ATOL = 1.0
#: Fewest solver steps per patient (fewer fail every patient).
MIN_MAX_STEPS = 100
#: Store chunk size (patients) of a spec without ``chunk_size`` and at most 524,288 patients.
DEFAULT_CHUNK_SIZE = 4096
#: Store chunks an automatic ``chunk_size`` aims at for large cohorts (:func:`auto_chunk_size`).
TARGET_CHUNKS = 128
#: Largest automatic ``chunk_size`` (patients).
MAX_AUTO_CHUNK = 1 << 18
#: More store chunks than this get a warning (:func:`spec_warnings`).
MANY_CHUNKS = 1024
#: Fixed store cost of one chunk of the three-arm trial (benchmarks/host_pipeline, 2-core
#: CPU; benchmarks/RESULTS.md, "Host pipeline").
SECONDS_PER_CHUNK = 0.1


class _Strict(BaseModel):
    # strict: no string -> number or bool -> number coercion ("32", true); no inf/nan
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _as_tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


_Range = Annotated[tuple[float, float, int], BeforeValidator(_as_tuple)]


class AxisSpec(_Strict):
    """One grid axis: exactly one of ``values``, ``linspace = [start, stop, num]`` or
    ``logspace = [start, stop, num]`` (start and stop are values, not exponents)."""

    values: list[float] | None = None
    linspace: _Range | None = None
    logspace: _Range | None = None

    @model_validator(mode="after")
    def _one(self) -> AxisSpec:
        given = [k for k in ("values", "linspace", "logspace") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of 'values', 'linspace', 'logspace'; got {given or 'none'}"
            )
        if self.values is not None:
            if len(self.values) == 0:
                raise ValueError("'values' is empty; give at least one value")
            if len(set(self.values)) != len(self.values):
                raise ValueError(f"'values' has duplicates: {self.values}")
        for key in ("linspace", "logspace"):
            v = getattr(self, key)
            if v is not None:
                if v[2] < 1:
                    raise ValueError(f"'{key}' num must be >= 1; got {v[2]}")
                if v[2] > MAX_AXIS_VALUES:
                    raise ValueError(f"'{key}' num must be <= {MAX_AXIS_VALUES}; got {v[2]}")
                if v[2] > 1 and v[0] == v[1]:
                    raise ValueError(
                        f"'{key}' has start = stop = {v[0]!r} with num = {v[2]}: a zero-width "
                        "axis of identical values; give num = 1 or different start and stop"
                    )
                if key == "logspace" and not (v[0] > 0 and v[1] > 0):
                    raise ValueError(f"'logspace' start and stop must be > 0; got {list(v)}")
        return self

    @property
    def size(self) -> int:
        """Number of values (without computing them)."""
        if self.values is not None:
            return len(self.values)
        v = self.linspace if self.linspace is not None else self.logspace
        assert v is not None
        return int(v[2])

    def grid(self) -> np.ndarray:
        """The axis values, float64."""
        if self.values is not None:
            return np.asarray(self.values, dtype=float)
        if self.linspace is not None:
            a, b, n = self.linspace
            return np.linspace(a, b, n)
        assert self.logspace is not None
        a, b, n = self.logspace
        return np.geomspace(a, b, n)


class DistSpec(_Strict):
    """Per-patient variability of one parameter.

    - ``lognormal``: ``median`` (default: the base or grid value) and ``cv`` (> 0);
    - ``normal``: ``mean`` (default: the base or grid value) and ``sd`` (> 0);
    - ``uniform`` / ``loguniform``: ``low`` and ``high``;
    - ``discrete``: ``values`` with probabilities ``weights`` (default equal; normalised), e.g.
      the number of target lesions ``n_lesions``.

    ``low``/``high`` also truncate ``lognormal`` and ``normal`` (inverse-CDF sampling).
    """

    dist: Literal["lognormal", "normal", "uniform", "loguniform", "discrete"]
    median: float | None = None
    cv: float | None = None
    mean: float | None = None
    sd: float | None = None
    low: float | None = None
    high: float | None = None
    values: list[float] | None = None
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _check(self) -> DistSpec:
        allowed = {
            "lognormal": {"median", "cv", "low", "high"},
            "normal": {"mean", "sd", "low", "high"},
            "uniform": {"low", "high"},
            "loguniform": {"low", "high"},
            "discrete": {"values", "weights"},
        }[self.dist]
        for key in ("median", "cv", "mean", "sd", "low", "high", "values", "weights"):
            if getattr(self, key) is not None and key not in allowed:
                raise ValueError(
                    f"key {key!r} does not apply to dist={self.dist!r}; allowed: {sorted(allowed)}"
                )
        if self.dist == "lognormal":
            if self.cv is None or not self.cv > 0:
                raise ValueError(f"lognormal needs cv > 0; got cv={self.cv!r}")
            if self.median is not None and not self.median > 0:
                raise ValueError(f"lognormal needs median > 0; got median={self.median!r}")
        if self.dist == "discrete":
            _check_discrete(self.values, self.weights)
        if self.dist == "normal" and (self.sd is None or not self.sd > 0):
            raise ValueError(f"normal needs sd > 0; got sd={self.sd!r}")
        if self.dist in ("uniform", "loguniform"):
            if self.low is None or self.high is None:
                raise ValueError(f"{self.dist} needs both 'low' and 'high'")
            if self.dist == "loguniform" and not self.low > 0:
                raise ValueError(f"loguniform needs low > 0; got low={self.low!r}")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"need low < high; got low={self.low!r}, high={self.high!r}")
        for key in ("median", "cv", "mean", "sd", "low", "high"):
            v = getattr(self, key)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{key!r} must be finite; got {v!r}")
        return self

    def support(self, center: float) -> tuple[float, float]:
        """Smallest and largest value the distribution can produce around ``center``."""
        if self.dist == "discrete":
            assert self.values is not None
            return min(self.values), max(self.values)
        lo = {"lognormal": 0.0, "normal": -math.inf}.get(self.dist, self.low)
        hi = {"lognormal": math.inf, "normal": math.inf}.get(self.dist, self.high)
        lo = lo if self.low is None else max(lo, self.low)  # type: ignore[arg-type]
        hi = hi if self.high is None else min(hi, self.high)  # type: ignore[arg-type]
        assert lo is not None and hi is not None
        return lo, hi


def _check_discrete(values: list[float] | None, weights: list[float] | None) -> None:
    if not values:
        raise ValueError("discrete needs a non-empty 'values' list")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"'values' must be finite; got {values}")
    if len(set(values)) != len(values):
        raise ValueError(f"'values' has duplicates: {values}")
    if weights is not None:
        if len(weights) != len(values):
            raise ValueError(
                f"'weights' needs one weight per value ({len(values)}); got {len(weights)}"
            )
        if not all(math.isfinite(w) and w >= 0 for w in weights) or not sum(weights) > 0:
            raise ValueError(f"'weights' must be finite, >= 0 and not all 0; got {weights}")


class InitialSpec(_Strict):
    """Initial state in cells: effectors ``E0`` and tumor ``T0`` (antibody starts at 0)."""

    E0: float = Field(3.2e5, ge=0)
    T0: float = Field(5e6, gt=0)


class SamplingSpec(_Strict):
    """How per-patient variability is sampled within each grid cell."""

    method: Literal["random", "lhs", "sobol"] = "lhs"
    cohort_size: int = Field(1, ge=1, description="patients per grid cell")
    seed: int = Field(0, ge=0)


class ArmSpec(_Strict):
    """A treatment arm: a control (no ``regimen``/``dose``/``chemo``), a preset ``regimen``
    name, or an explicit regimen (``drug``, ``dose``, ``unit``, ``interval``, ``n_doses``,
    ``start_day``); and/or a chemotherapy: ``chemo`` (a preset of
    ``tumorimmune.model.CHEMOTHERAPIES``, e.g. ``"platinum_doublet"``) with ``chemo_cycles``
    cycles (default: the preset's; 4–6 for a platinum doublet) from ``start_day`` (default
    0). An arm with ``chemo`` and no regimen is a chemotherapy-only arm (no antibody).
    ``hazard_ratio`` (needs ``[survival]``): the arm's tumor-driven hazard of death is that
    many times the link's (:meth:`tumorimmune.response.SurvivalLink.with_hazard_ratio`), e.g.
    the KEYNOTE-024 chemotherapy arm's fitted ratio (docs/science.md §7c)."""

    name: str = Field(min_length=1)
    regimen: str | None = None
    drug: str | None = None
    dose: float | None = Field(None, gt=0)
    unit: Literal["mg", "mg/kg"] | None = None
    interval: float | None = Field(None, gt=0, description="days between doses")
    n_doses: int | None = Field(None, ge=1)
    start_day: float | None = Field(None, ge=0)
    end_day: float | None = Field(
        None, ge=0, description="last day a dose may be given (e.g. 730: two years)"
    )
    chemo: str | None = Field(
        None, description="chemotherapy preset (tumorimmune.model.CHEMOTHERAPIES) or 'none'"
    )
    chemo_cycles: int | None = Field(None, ge=1, description="chemotherapy cycles given")
    hazard_ratio: float | None = Field(
        None,
        gt=0,
        description="[survival]: this arm's tumor-driven hazard of death is hazard_ratio times "
        "the link's at every time and sum of diameters (background unchanged; default 1)",
    )

    @model_validator(mode="after")
    def _check(self) -> ArmSpec:
        if (
            self.end_day is not None
            and self.start_day is not None
            and self.end_day < self.start_day
        ):
            raise ValueError(f"end_day ({self.end_day}) must be >= start_day ({self.start_day})")
        has_chemo = self._check_chemo()
        explicit = [
            k
            for k in ("dose", "unit", "interval", "n_doses", "start_day", "end_day")
            if getattr(self, k) is not None
        ]
        if has_chemo and (self.regimen is None or self.regimen.lower() == "none"):
            # a chemotherapy-only arm: start_day is the first cycle's day
            explicit = [k for k in explicit if k != "start_day"]
            if explicit and self.dose is None and self.interval is None:
                raise ValueError(
                    f"{explicit} set an antibody regimen, which this arm does not have; a "
                    "chemotherapy-only arm's length is chemo_cycles (and its first day "
                    "start_day)"
                )
        if self.regimen is not None and self.regimen.lower() != "none":
            from ..model import REGIMENS

            if self.regimen.lower() not in REGIMENS:
                raise ValueError(
                    f"unknown regimen {self.regimen!r}; allowed: {sorted(REGIMENS)} or 'none'"
                )
            bad = [k for k in explicit if k not in ("n_doses", "start_day", "end_day")]
            if bad:
                raise ValueError(f"give either 'regimen' or explicit {bad}, not both")
            from ..model import get_regimen

            preset = get_regimen(self.regimen).drug
            if self.drug is not None and preset is not None and self.drug.lower() != preset:
                raise ValueError(
                    f"drug {self.drug!r} does not match regimen {self.regimen!r} (a {preset} "
                    f"regimen); drop 'drug' or choose a {self.drug.lower()} regimen"
                )
        elif explicit:
            if self.dose is None or self.interval is None:
                raise ValueError(
                    "an explicit regimen needs 'dose' and 'interval' (days > 0); "
                    f"got dose={self.dose!r}, interval={self.interval!r}"
                )
        if self.drug is not None:
            from ..model import DRUGS

            if self.drug.lower() not in DRUGS:
                raise ValueError(f"unknown drug {self.drug!r}; allowed: {sorted(DRUGS)}")
        return self

    def _check_chemo(self) -> bool:
        """Check ``chemo`` and ``chemo_cycles``; whether the arm gives chemotherapy."""
        from ..model import CHEMOTHERAPIES

        if self.chemo is None or self.chemo.lower() == "none":
            if self.chemo_cycles is not None:
                raise ValueError(
                    "chemo_cycles needs a chemotherapy: add chemo = "
                    f"{sorted(CHEMOTHERAPIES)[0]!r} (presets: {sorted(CHEMOTHERAPIES)})"
                )
            return False
        preset = CHEMOTHERAPIES.get(self.chemo.lower())
        if preset is None:
            raise ValueError(
                f"unknown chemo {self.chemo!r}; allowed: {sorted(CHEMOTHERAPIES)} or 'none'"
            )
        n = self.chemo_cycles
        if n is not None and not preset.min_cycles <= n <= preset.max_cycles:
            raise ValueError(
                f"chemo_cycles: {n} is outside {preset.min_cycles}..{preset.max_cycles}, the "
                f"cycles of {preset.name!r}"
            )
        return True

    def chemo_obj(self) -> Any:
        """The arm's :class:`~tumorimmune.model.Chemotherapy` (its cycles, first day
        ``start_day``), or ``None`` for an arm without chemotherapy."""
        from ..model import get_chemo

        if self.chemo is None or self.chemo.lower() == "none":
            return None
        return get_chemo(self.chemo).with_schedule(
            cycles=self.chemo_cycles, start_day=self.start_day
        )

    @property
    def is_control(self) -> bool:
        """An untreated arm: no antibody regimen and no chemotherapy."""
        return self.regimen_obj() is None and self.chemo_obj() is None

    def regimen_obj(self) -> Any:
        """The :class:`~tumorimmune.model.Regimen` of the arm (``None`` for a control)."""
        import dataclasses

        from ..model import Regimen, get_regimen

        extra = {
            k: getattr(self, k)
            for k in ("n_doses", "start_day", "end_day")
            if getattr(self, k) is not None
        }
        if self.regimen is not None and self.regimen.lower() != "none":
            reg = get_regimen(self.regimen)
            return dataclasses.replace(reg, name=self.name, **extra)
        if self.dose is None:
            return None
        assert self.interval is not None
        drug = (self.drug or "pembrolizumab").lower()
        return Regimen(
            dose=self.dose,
            interval=self.interval,
            unit=self.unit or "mg",
            drug=drug,
            name=self.name,
            **extra,
        )

    def drug_name(self) -> str:
        reg = self.regimen_obj()
        if reg is not None and reg.drug is not None:
            return reg.drug
        return (self.drug or "pembrolizumab").lower()


class PKSpec(_Strict):
    """Per-patient PK of the arm's drug (``tumorimmune.model.get_drug``).

    ``variability``: inter-individual variability with the drug's published covariance Ω
    (``Drug.omega2``, ``Drug.omega_cov``: log-normal on CL, V1, Q, V2, additive on
    nivolumab's CL_emax); the same standard-normal draws serve every arm.
    ``weight_scaling``: allometric scaling ``(weight/weight_ref)^exponent`` with the drug's
    published per-parameter exponents (matters when ``weight`` varies).
    """

    variability: bool = False
    weight_scaling: bool = True


class ResponseSpec(_Strict):
    """RECIST read-out settings (``tumorimmune.sweeps.sum_of_diameters_mm``); all **assumptions**.

    ``cells_per_cm3``: tumor cell density, 1e9 cells per cm³. ``n_lesions``: the tumor cells
    are shared by this many equal spherical target lesions (1–5, RECIST 1.1 allows at most
    5; default 3) and RECIST reads their sum of longest diameters; it can also vary per
    patient (``[variability.n_lesions]`` with ``dist = "discrete"``) or be a grid axis
    (``[axes.n_lesions]``, integer values). ``detection_limit_mm``: imaging detection limit
    per lesion, 5 mm by default (RECIST 1.1 records a lesion too small to measure as 5 mm, a
    disappeared one as 0): a lesion below it has disappeared, and CR is the disappearance of
    every target lesion; 0 means CR only for an extinct tumor.

    ``confirm``: count only confirmed responses (RECIST 1.1: a later scan at least
    ``confirm_days`` days after the response still shows CR/PR, before PD) for the time to
    response and the duration of response (``ttr_days``, ``dor_days``, ``dor_event``); the
    stored ``confirmed_response`` always uses confirmation with ``confirm_days``, and
    ``best_response`` never does (:func:`tumorimmune.response.timecourse_readout`).
    """

    cells_per_cm3: float = Field(1e9, gt=0)
    n_lesions: int = Field(DEFAULT_N_LESIONS, ge=1, le=MAX_LESIONS)
    detection_limit_mm: float = Field(DEFAULT_DETECTION_LIMIT_MM, ge=0, allow_inf_nan=False)
    confirm: bool = False
    confirm_days: float = Field(28.0, ge=0, allow_inf_nan=False, description="days")

    def readout(self) -> Readout:
        """The section's read-out as one :class:`~tumorimmune.response.Readout`."""
        return Readout(
            cells_per_cm3=self.cells_per_cm3,
            n_lesions=self.n_lesions,
            detection_limit_mm=self.detection_limit_mm,
        )


class SurvivalSpec(_Strict):
    """``[survival]``: deaths from a tumor-size-driven hazard, and overall survival (OS).

    The hazard of death is ``h(t) = h0(t)·(max(SLD(t), sld_floor_mm)/sld_ref_mm)^beta +
    background`` with the Weibull baseline ``h0(t) = (k/λ)(t/λ)^(k−1)`` (λ = ``scale_days``,
    k = ``shape``) and ``SLD(t)`` the model's sum of diameters (``[response]`` read-out) held
    constant over each step of ``grid_days`` (:class:`tumorimmune.response.SurvivalLink`,
    Claret 2009 / Bruno 2020). Each patient's death day is drawn exactly by inverse transform
    from one uniform per patient, hashed from ``seed`` (default: the sampling seed) and the
    patient id: the same in every arm (common random numbers) and in any chunking. Deaths end
    follow-up: no response or progression is read after death, and PFS (and a responder's
    duration of response) counts a death before progression as an event. Without the section
    nobody dies (results as before).
    """

    scale_days: float = Field(gt=0, description="Weibull scale λ of the baseline hazard, days")
    shape: float = Field(gt=0, description="Weibull shape k")
    beta: float = Field(description="exponent of (SLD/sld_ref_mm) in the hazard")
    sld_ref_mm: float = Field(100.0, gt=0, description="reference SLD, mm")
    sld_floor_mm: float = Field(5.0, gt=0, description="SLDs below count as this, mm")
    background_per_year: float = Field(0.0, ge=0, description="tumor-independent hazard, 1/year")
    seed: int | None = Field(None, ge=0, description="seed of the deaths (default: sampling.seed)")
    grid_days: float = Field(14.0, gt=0, description="step of the hazard's time grid, days")

    def link(self) -> SurvivalLink:
        """The hazard's :class:`~tumorimmune.response.SurvivalLink`."""
        return SurvivalLink(
            scale_days=self.scale_days,
            shape=self.shape,
            beta=self.beta,
            sld_ref_mm=self.sld_ref_mm,
            sld_floor_mm=self.sld_floor_mm,
            background_per_year=self.background_per_year,
        )


class ReportSpec(_Strict):
    """``[report]``: choices of the report's "What decides response" section (cohort runs).

    ``map``: the two covariates of the covariate response map (per-patient parameters such
    as ``"L"`` or ``"T0"``, or ``"baseline_sld_mm"``, the baseline sum of diameters); default
    ``["L", "baseline_sld_mm"]`` when both vary, else the two top-ranked parameters.
    ``map_bins``: quantile bins per covariate of the map. ``biomarker``: the covariate of the
    biomarker-threshold curves (default ``"L"``, PD-L1 expression, when it varies).
    ``thresholds``: its cut-offs (default: its 0, 5, ..., 95 % quantiles).
    ``tps_cutoffs``: the PD-L1 TPS category boundaries (%) of the "Response by PD-L1 TPS"
    table (default ``[1, 50]``: < 1 %, 1–49 %, ≥ 50 %; e.g. ``[1, 20, 50]`` for KEYNOTE-042's
    strata). These choices only read the stored results: changing them never changes
    results, and a store resumes under any ``[report]``.
    """

    map: list[str] | None = Field(None, min_length=2, max_length=2)
    map_bins: int = Field(4, ge=1, le=20)
    biomarker: str | None = None
    thresholds: list[float] | None = Field(None, min_length=1)
    tps_cutoffs: list[float] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _check(self) -> ReportSpec:
        if self.map is not None and self.map[0] == self.map[1]:
            raise ValueError(f"map needs two different covariates; got {self.map[0]!r} twice")
        c = self.tps_cutoffs
        if c is not None and (
            any(not 0 < x < 100 for x in c) or any(b <= a for a, b in itertools.pairwise(c))
        ):
            raise ValueError(f"tps_cutoffs must increase strictly inside (0, 100) %; got {c}")
        return self

    def covariate_names(self) -> list[str]:
        """The covariates named (map, then biomarker)."""
        return [*(self.map or ()), *([self.biomarker] if self.biomarker else [])]


#: Virtual populations shipped with the package (``[population] file = NAME``): name → file
#: in ``tumorimmune/data``; the registry with their trials, targets and fits is
#: :data:`tumorimmune.sweeps.POPULATIONS`.
PACKAGED_POPULATIONS: dict[str, str] = {k: e.file for k, e in POPULATIONS.items()}


class PopulationSpec(_Strict):
    """Per-patient columns drawn from a calibrated virtual population (a table of patients).

    ``file``: a packaged population (``"keynote006"``: calibrated to the pembrolizumab q3w arm
    of KEYNOTE-006 by ``tumorimmune calibrate-population``; docs/science.md §7) or the path of
    an ``.npz`` written by :meth:`tumorimmune.calibrate.VirtualPopulation.save`. Each grid cell
    draws ``cohort_size`` patients from the table with the sampling seed — without replacement
    when the table is large enough, else with replacement (a bootstrap of the population).
    ``columns``: which columns to use (default: all of them).
    """

    file: str = Field(min_length=1)
    columns: list[str] | None = None

    def path(self) -> Path:
        entry = self.entry()
        if entry is not None:
            return entry.path()
        return Path(self.file).expanduser()

    def entry(self) -> PopulationEntry | None:
        """The registry entry (:data:`tumorimmune.sweeps.POPULATIONS`) that ``file`` names,
        or ``None`` for a path."""
        return population_entry(self.file)

    def table(self, *, assay: bool = False) -> dict[str, np.ndarray]:
        """The selected columns ``{name: (n_vp,)}`` (loaded once per process).

        ``assay``: add the per-patient PD-L1 tumor proportion score ``tps`` (%, 22C3),
        :func:`tumorimmune.model.tps_from_L` of the population's ``L`` (all columns, not only
        the selected ones, are searched for ``L``); ``tps`` is a read-out of ``L``, not a
        model parameter, so the sweep itself never samples it.
        """
        tab = _load_population(str(self.path()))
        if assay:
            stored = _ASSAY.get(str(self.path()))
            extra = {"tps": stored} if stored is not None else {}
            if stored is None and "L" in tab:
                extra = {"tps": tps_from_L(tab["L"])}
            base = tab if self.columns is None else self._select(tab)
            return {**base, **extra}
        if self.columns is None:
            return tab
        return self._select(tab)

    def _select(self, tab: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.columns is not None
        missing = [c for c in self.columns if c not in tab]
        if missing:
            raise ValueError(
                f"population.columns: {missing} not in {self.file!r}; available: {sorted(tab)}"
            )
        return {c: tab[c] for c in self.columns}


_POPULATIONS: dict[str, dict[str, np.ndarray]] = {}
#: Stored assay columns (``tps``) of the population files, by path: read-outs of ``L``, kept
#: out of the model columns.
_ASSAY: dict[str, np.ndarray] = {}
#: Per-patient columns of a population file that are assay read-outs, not model parameters:
#: a stored ``tps`` (%) gives the table its ``L`` (:func:`tumorimmune.model.L_from_tps`)
#: when the file has none.
ASSAY_COLUMNS: tuple[str, ...] = ("tps",)


def _load_population(path: str) -> dict[str, np.ndarray]:
    if path not in _POPULATIONS:
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"population.file: no such file {path!r}; {registry_listing()}")
        try:
            with np.load(p, allow_pickle=False) as z:
                tab = {k: np.asarray(z[k], dtype=float) for k in z.files if k != "meta"}
        except Exception as err:
            raise ValueError(f"population.file: cannot read {path!r} as .npz: {err}") from None
        n = {len(v) for v in tab.values()}
        if len(n) != 1 or not tab or n == {0}:
            raise ValueError(f"population.file: {path!r} needs columns of one common length > 0")
        bad = [k for k, v in tab.items() if not np.all(np.isfinite(v))]
        if bad:
            raise ValueError(f"population.file: column(s) {bad} of {path!r} have non-finite values")
        if "tps" in tab:
            tps = tab.pop("tps")
            if np.any((tps < 0) | (tps > 100)):
                raise ValueError(f"population.file: column 'tps' of {path!r} must be in [0, 100] %")
            _ASSAY[path] = tps
            if "L" not in tab:
                tab["L"] = L_from_tps(tps)
        _POPULATIONS[path] = tab
    return _POPULATIONS[path]


class TargetSpec(_Strict):
    """A published endpoint to show beside the simulated value (report: "Calibration and
    validation"). ``fitted``: true for a calibration target, false for a held-out validation.

    ``kind``: ``orr``, ``cr``, ``dcr`` (fractions), ``pfs_at`` (Kaplan–Meier progression-free
    fraction at ``day``), ``responders_pf_at`` (the same among CR/PR patients),
    ``median_pfs`` (days), ``os_at`` (Kaplan–Meier overall survival fraction at ``day``),
    ``median_os`` (days), ``median_ttr`` (median time to response among responders, days),
    ``pseudo_progression`` (fraction with early or delayed pseudo-progression); the OS kinds
    need a ``[survival]`` section. ``n``: patients behind the published value (Wilson
    interval); ``lo``/``hi``: the published 95 % interval where one is given.
    """

    arm: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: Literal[
        "orr",
        "cr",
        "dcr",
        "pfs_at",
        "responders_pf_at",
        "median_pfs",
        "os_at",
        "median_os",
        "median_ttr",
        "pseudo_progression",
    ]
    value: float
    n: int | None = Field(None, ge=1)
    day: float | None = Field(None, gt=0)
    lo: float | None = None
    hi: float | None = None
    source: str = ""
    fitted: bool = True
    subgroup: str | None = Field(
        None,
        description="patients to evaluate, e.g. 'T0 < median', 'L >= 0.5' or "
        "'os_days > 84 and best_response == 3' (per-patient columns and the arm's read-outs)",
    )
    cutoff_day: float | None = Field(
        None,
        gt=0,
        description="data cut-off of the report the value comes from (days): responses, "
        "progression and deaths are read up to it",
    )

    @model_validator(mode="after")
    def _check(self) -> TargetSpec:
        if self.subgroup is not None:
            parse_subgroup(self.subgroup)
        if self.kind in ("pfs_at", "responders_pf_at", "os_at") and self.day is None:
            raise ValueError(f"kind = {self.kind!r} needs 'day' (days after the first dose)")
        if self.kind == "median_os" and not self.value > 0:
            raise ValueError(f"kind = 'median_os' is a time in days > 0; got {self.value}")
        if self.kind not in ("median_pfs", "median_os", "median_ttr") and not (
            0.0 <= self.value <= 1.0
        ):
            raise ValueError(f"kind = {self.kind!r} is a fraction in [0, 1]; got {self.value}")
        return self


#: Top-level keys that may also be given in ``[solver]``.
_SOLVER_SHARED = ("backend", "rtol", "atol", "max_steps")


class SolverSpec(_Strict):
    """``[solver]``: the backend, its tuning options and the tolerances.

    ``backend``: ``"auto"``, ``"fused"``, ``"pallas"`` or ``"diffrax"``
    (:mod:`tumorimmune.solvers`); the options of the named backend (``Fused``: ``lanes``,
    ``chunk_size`` — patients per compiled pool, not the sweep's chunk —, ``refill_every``,
    ``unroll``, ``n_threads``; ``Pallas``: ``block``, ``num_warps``, ``sync``,
    ``interpret``); ``rtol``, ``atol``, ``max_steps`` as the top-level keys of the same names
    (give each once). Results do not depend on the tuning options.
    """

    backend: str = "auto"
    rtol: float | None = Field(None, gt=0, le=MAX_RTOL)
    atol: float | None = Field(None, gt=0, le=MAX_ATOL, description="cells / mg")
    max_steps: int | None = Field(None, ge=MIN_MAX_STEPS)
    lanes: int | None = Field(None, ge=1)
    chunk_size: int | None = Field(None, ge=1)
    refill_every: int | None = Field(None, ge=1)
    unroll: int | None = Field(None, ge=1)
    n_threads: int | None = Field(None, ge=1)
    block: int | None = Field(None, ge=1)
    num_warps: int | None = Field(None, ge=1)
    sync: Literal["stop", "thread"] | None = None
    interpret: bool | None = None

    def options(self) -> dict[str, Any]:
        """The tuning options given (every field but the backend and the tolerances)."""
        return {
            k: v
            for k in type(self).model_fields
            if k not in _SOLVER_SHARED and (v := getattr(self, k)) is not None
        }

    @model_validator(mode="after")
    def _check(self) -> SolverSpec:

        as_backend(self.backend, **self.options())  # one-line error naming the option
        return self


class StoreSpec(_Strict):
    """``[store]``: what the results store keeps (``tumorimmune.sweeps._tiers``).

    ``keep``: ``"summary"`` (per-arm and per-grid-cell summaries), ``"readout"`` (plus every
    per-patient read-out and parameter), ``"scans"`` (plus the per-scan ``tumor_cells``,
    ``diameter_mm``, ``pct_change``) or ``"trajectories"`` (plus the dense trajectories:
    everything); omitted: by cohort size (``_tiers.default_keep``). The store's path stays
    the top-level ``output``.
    """

    keep: Literal["summary", "readout", "scans", "trajectories"] | None = None


class SweepSpec(_Strict):
    """A validated sweep: model, base parameters, grid, variability, arms and run settings.

    ``backend``, ``rtol``, ``atol`` and ``max_steps`` may be given at the top level or in
    ``[solver]`` (with the backend's tuning options); a value given in ``[solver]`` is
    copied to the top-level key.
    """

    name: str = "sweep"
    description: str = ""
    model: str = "TumorImmunePD1"
    parameters: dict[str, float] = Field(default_factory=dict)
    initial: InitialSpec = Field(default_factory=InitialSpec)  # type: ignore[arg-type]
    axes: dict[str, AxisSpec] = Field(default_factory=dict)
    variability: dict[str, DistSpec] = Field(default_factory=dict)
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)  # type: ignore[arg-type]
    pk: PKSpec = Field(default_factory=PKSpec)  # type: ignore[arg-type]
    response: ResponseSpec = Field(default_factory=ResponseSpec)  # type: ignore[arg-type]
    population: PopulationSpec | None = None
    sensitivity: SensitivitySpec | None = None
    survival: SurvivalSpec | None = None
    report: ReportSpec | None = None
    store: StoreSpec | None = None  # None: not in the TOML text, so not in the spec_key
    arms: list[ArmSpec] = Field(min_length=1)
    targets: list[TargetSpec] = Field(default_factory=list)
    caveats: list[str] = Field(default_factory=list)
    follow_up_days: float = Field(365.0, gt=0)
    scan_interval_days: float = Field(42.0, gt=0)
    scan_days: list[float] | None = Field(
        None, description="explicit on-study scan days (overrides scan_interval_days)"
    )
    precision: Literal["float32", "float64"] = "float64"
    chunk_size: int = Field(
        DEFAULT_CHUNK_SIZE,
        ge=1,
        description="patients per store chunk (the unit of resuming and of progress); "
        "omitted: automatic (auto_chunk_size)",
    )
    output: str = "results.zarr"
    backend: str = "auto"
    n_trajectories: int = Field(16, ge=0, description="patients with stored dense trajectories")
    trajectory_step_days: float = Field(1.0, gt=0)
    rtol: float | None = Field(None, gt=0, le=MAX_RTOL)
    atol: float | None = Field(None, gt=0, le=MAX_ATOL, description="cells / mg")
    max_steps: int = Field(MAX_STEPS, ge=MIN_MAX_STEPS)
    solver: SolverSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _solver_keys(cls, data: Any) -> Any:
        """Copy ``[solver]``'s backend and tolerances to the top-level keys (given once)."""
        if not isinstance(data, dict) or not isinstance(data.get("solver"), dict):
            return data
        data = dict(data)
        for key in _SOLVER_SHARED:
            if key not in data["solver"]:
                continue
            value = data["solver"][key]
            if key in data and data[key] != value:
                raise ValueError(
                    f"solver.{key}: {value!r} conflicts with the top-level {key} = "
                    f"{data[key]!r}; give it once"
                )
            data[key] = value
        return data

    def to_toml(self) -> str:
        """Canonical TOML text of the spec (defaults filled in; ``tomli-w``)."""
        return tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))


def spec_key(spec: SweepSpec) -> str:
    """Canonical text a store is matched on for resuming (the spec without ``output`` and
    ``[report]``, which only choose where results go and how they are shown)."""
    return spec.model_copy(update={"output": "", "report": None}).to_toml()


def same_spec_key(stored: object, spec: SweepSpec) -> bool:
    """Whether a store's ``spec_key`` attribute is the key of ``spec``: the same TOML data
    (compared parsed, so that a store written with another TOML writer still resumes)."""
    if not isinstance(stored, str):
        return False
    if stored == (key := spec_key(spec)):
        return True
    try:
        return tomllib.loads(stored) == tomllib.loads(key)
    except tomllib.TOMLDecodeError:
        return False


def format_number(x: Any) -> str:
    """A number as the user wrote it: no NumPy reprs (``np.float64(-1.0)`` -> ``-1.0``)."""
    return f"{float(x):.12g}" if isinstance(x, float | np.floating) else str(x)

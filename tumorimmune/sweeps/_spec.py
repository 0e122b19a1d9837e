"""Sweep specification: a TOML file validated with pydantic before any work starts.

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
"""

from __future__ import annotations

import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from ..response import (
    DEFAULT_DETECTION_LIMIT_MM,
    DEFAULT_N_LESIONS,
    OUTCOME_COLUMNS,
    Readout,
    SurvivalLink,
    parse_subgroup,
    parse_subgroups,
)
from ..solvers import DEFAULT_TOLERANCES, MAX_STEPS, AbstractBackend, Tolerances, as_backend
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
#: Fixed store cost of one chunk of the three-arm trial (benchmarks/host_pipeline.py, 2-core
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
    """A treatment arm: a control (no ``regimen``/``dose``), a preset ``regimen`` name, or an
    explicit regimen (``drug``, ``dose``, ``unit``, ``interval``, ``n_doses``, ``start_day``)."""

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

    @model_validator(mode="after")
    def _check(self) -> ArmSpec:
        if (
            self.end_day is not None
            and self.start_day is not None
            and self.end_day < self.start_day
        ):
            raise ValueError(f"end_day ({self.end_day}) must be >= start_day ({self.start_day})")
        explicit = [
            k
            for k in ("dose", "unit", "interval", "n_doses", "start_day", "end_day")
            if getattr(self, k) is not None
        ]
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

    @property
    def is_control(self) -> bool:
        return self.regimen_obj() is None

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


#: Virtual populations shipped with the package (``[population] file = NAME``).
PACKAGED_POPULATIONS: dict[str, str] = {"keynote006": "keynote006_vpop.npz"}


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
        name = PACKAGED_POPULATIONS.get(self.file.lower())
        if name is not None:
            return Path(__file__).resolve().parent.parent / "data" / name
        return Path(self.file).expanduser()

    def table(self) -> dict[str, np.ndarray]:
        """The selected columns ``{name: (n_vp,)}`` (loaded once per process)."""
        tab = _load_population(str(self.path()))
        if self.columns is None:
            return tab
        missing = [c for c in self.columns if c not in tab]
        if missing:
            raise ValueError(
                f"population.columns: {missing} not in {self.file!r}; available: {sorted(tab)}"
            )
        return {c: tab[c] for c in self.columns}


_POPULATIONS: dict[str, dict[str, np.ndarray]] = {}


def _load_population(path: str) -> dict[str, np.ndarray]:
    if path not in _POPULATIONS:
        p = Path(path)
        if not p.is_file():
            raise ValueError(
                f"population.file: no such file {path!r}; packaged populations: "
                f"{sorted(PACKAGED_POPULATIONS)}"
            )
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
        from ..solvers import as_backend

        as_backend(self.backend, **self.options())  # one-line error naming the option
        return self


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

    # ------------------------------------------------------------------ derived
    def model_class(self) -> Any:
        from ..model import get_model

        return get_model(self.model)

    def axis_values(self) -> dict[str, np.ndarray]:
        """Grid axes in spec order: ``{parameter: values}``."""
        return {k: v.grid() for k, v in self.axes.items()}

    def grid_shape(self) -> tuple[int, ...]:
        return tuple(v.size for v in self.axes.values())

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.grid_shape(), dtype=np.int64))

    @property
    def n_patients(self) -> int:
        if self.sensitivity is not None:  # the design points of the sensitivity analysis
            return self.sensitivity.n_evaluations(self)
        return self.n_cells * self.sampling.cohort_size

    def scan_schedule(self) -> np.ndarray:
        """Scan days: 0 (baseline), then ``scan_days`` up to ``follow_up_days`` if given, else
        every ``scan_interval_days`` up to ``follow_up_days``."""
        if self.scan_days is not None:
            s = np.asarray(self.scan_days, dtype=float)
            return np.concatenate([[0.0], s[(s > 0) & (s <= self.follow_up_days + 1e-9)]])
        n = math.floor(self.follow_up_days / self.scan_interval_days + 1e-9)
        return self.scan_interval_days * np.arange(n + 1, dtype=float)

    def survival_grid(self) -> np.ndarray:
        """Days of the hazard's time grid (``[survival]``): 0, ``grid_days``, ... before
        ``follow_up_days``; empty without ``[survival]``."""
        if self.survival is None:
            return np.zeros(0)
        step = self.survival.grid_days
        n = math.ceil(self.follow_up_days / step - 1e-9)
        return step * np.arange(max(n, 1), dtype=float)

    def survival_seed(self) -> int:
        """Seed of the deaths: ``survival.seed``, else the sampling seed."""
        given = self.survival.seed if self.survival is not None else None
        return int(self.sampling.seed if given is None else given)

    def population_columns(self) -> list[str]:
        """Per-patient columns that come from ``[population]`` (empty without one)."""
        return [] if self.population is None else list(self.population.table())

    def varying(self) -> list[str]:
        """Per-patient columns, in table order: axes, variability, population, PK etas."""
        names = list(self.axes)
        names += [k for k in self.variability if k not in self.axes]
        names += [k for k in self.population_columns() if k not in names]
        if self.pk.variability:
            names += list(PK_ETAS)
        return names

    def tolerances(self) -> tuple[float, float]:
        """``(rtol, atol)`` with the defaults of ``precision`` filled in."""
        rt, at, _ = self.solver_tolerances().resolve(self.precision)
        return rt, at

    def solver_tolerances(self) -> Tolerances:
        """The spec's :class:`~tumorimmune.solvers.Tolerances`."""
        return Tolerances(rtol=self.rtol, atol=self.atol, max_steps=self.max_steps)

    def solver_backend(self) -> AbstractBackend:
        """The backend object of ``backend`` and the ``[solver]`` options, in ``precision``
        (``Auto`` not yet resolved)."""
        opts = self.solver.options() if self.solver is not None else {}
        return as_backend(self.backend, dtype=self.precision, **opts)

    def to_toml(self) -> str:
        """Canonical TOML text of the spec (defaults filled in)."""
        return _dump_toml(self.model_dump(mode="json", exclude_none=True))


def _num(x: Any) -> str:
    """A number as the user wrote it: no NumPy reprs (``np.float64(-1.0)`` -> ``-1.0``)."""
    return f"{float(x):.12g}" if isinstance(x, float | np.floating) else str(x)


def _cross_check(spec: SweepSpec) -> list[str]:
    """Checks that need the model (parameter names, bounds, drugs, backend) and the sizes.

    Returns every problem found, one line each (empty when the spec is fine).
    """
    from ..model import get_model, is_drug_model

    errors: list[str] = []
    try:
        cls = get_model(spec.model)
    except ValueError as err:
        return [f"model: {err}"]
    if cls.tumor_state is None:
        return [f"model: {cls.__name__} declares no tumor_state; a sweep needs one"]
    names = [p for p in cls.parameter_names() if p not in PK_FIELDS]
    allowed = sorted(names)
    known: dict[str, set[str]] = {}
    for section in ("parameters", "axes", "variability"):
        known[section] = set()
        for key in getattr(spec, section):
            if key in (*INITIAL_NAMES, *READOUT_NAMES) and section != "parameters":
                known[section].add(key)
                continue
            if key in PK_FIELDS and key in cls.parameter_names():
                errors.append(
                    f"{section}.{key}: PK parameters come from the arm's drug "
                    f"(tumorimmune.model.get_drug); use [pk] variability = true instead"
                )
            elif key in READOUT_NAMES:
                errors.append(
                    f"{section}.{key}: {key!r} is a read-out setting, not a model parameter; "
                    "set it under [response] (or vary it in [axes] / [variability])"
                )
            elif key not in names:
                extra = [*INITIAL_NAMES, *READOUT_NAMES] if section != "parameters" else []
                errors.append(
                    f"{section}.{key}: unknown parameter {key!r} of {cls.__name__}; "
                    f"allowed: {allowed + extra}"
                )
            else:
                known[section].add(key)
    good = {k: v for k, v in spec.parameters.items() if k in known["parameters"]}
    bounds = {p: cls.bounds(p) for p in cls.parameter_names()}  # parameter() or the ClassVar
    for key, value in good.items():  # one line per bad value (not only the first)
        lo, hi = bounds.get(key, (0.0, math.inf))
        if not lo <= value <= hi:
            errors.append(
                f"parameters.{key}: {_num(value)} is outside the bounds [{_num(lo)}, {_num(hi)}]"
            )
    if not any(e.startswith("parameters.") for e in errors):
        try:
            cls().replace(**good).validate()
        except ValueError as err:
            errors.append(f"parameters: {err}")
    bounds.update({"E0": (0.0, math.inf), "T0": (0.0, math.inf)})
    bounds["n_lesions"] = (1.0, float(MAX_LESIONS))
    try:
        _check_lesion_counts(spec)
    except ValueError as err:
        errors.append(str(err))
    for key, axis in spec.axes.items():
        if key not in known["axes"]:
            continue
        vals = axis.grid()
        lo, hi = bounds.get(key, (0.0, math.inf))
        bad = vals[~np.isfinite(vals) | (vals < lo) | (vals > hi)]
        if bad.size:
            errors.append(
                f"axes.{key}: value {_num(bad[0])} outside the bounds [{_num(lo)}, {_num(hi)}]"
            )
    for key, dist in spec.variability.items():
        if key not in known["variability"]:
            continue
        lo, hi = bounds.get(key, (0.0, math.inf))
        slo, shi = dist.support(0.0)
        if slo < lo or shi > hi:
            errors.append(
                f"variability.{key}: {dist.dist} can give values in [{_num(slo)}, {_num(shi)}], "
                f"outside the bounds [{_num(lo)}, {_num(hi)}] of {key!r}; set 'low'/'high' "
                "inside the bounds"
            )
        if key in spec.axes and (
            dist.dist in ("uniform", "loguniform")
            or dist.median is not None
            or dist.mean is not None
        ):
            center = "low/high" if dist.median is None and dist.mean is None else "its center"
            errors.append(
                f"variability.{key}: {key!r} is also a grid axis (axes.{key}) but the "
                f"distribution's {center} does not depend on the axis value, so the axis would "
                "be ignored; drop one of them, or use a lognormal/normal without median/mean "
                "(centered on each grid value)"
            )
    seen: set[str] = set()
    for i, arm in enumerate(spec.arms):
        if arm.name in seen:
            errors.append(f"arms[{i}].name: duplicate arm name {arm.name!r}")
        seen.add(arm.name)
        if not arm.is_control and not is_drug_model(cls):
            errors.append(
                f"arms[{i}] ({arm.name!r}): {cls.__name__} has no drug; only control arms "
                "(no 'regimen'/'dose') are allowed; use model = 'TumorImmunePD1'"
            )
        reg = arm.regimen_obj()
        if reg is not None and reg.start_day >= spec.follow_up_days:
            errors.append(
                f"arms[{i}].start_day: the first dose (day {_num(reg.start_day)}) is not before "
                f"the end of follow-up (follow_up_days = {_num(spec.follow_up_days)}); the arm "
                "would equal an untreated one"
            )
    if spec.population is not None:
        try:
            pop = spec.population.table()
        except ValueError as err:
            errors.append(str(err))
            pop = {}
        for key in pop:
            where = [sec for sec in ("axes", "variability") if key in getattr(spec, sec)]
            if where:
                errors.append(
                    f"population: column {key!r} is also given in [{where[0]}]; a parameter "
                    "comes from one source only"
                )
            if key not in names and key not in (*INITIAL_NAMES, *SURVIVAL_NAMES):
                errors.append(
                    f"population: column {key!r} is not a parameter of {cls.__name__}; "
                    f"use population.columns to choose from {sorted(pop)}"
                )
    if spec.scan_days is not None:
        s = np.asarray(spec.scan_days, dtype=float)
        if s.size == 0 or np.any(~np.isfinite(s)) or np.any(s <= 0) or np.any(np.diff(s) <= 0):
            errors.append(
                f"scan_days: must be finite days > 0 in strictly increasing order; got {list(s)}"
            )
        elif s[0] > spec.follow_up_days:
            errors.append(
                f"scan_days: first scan {s[0]:g} is after follow_up_days {spec.follow_up_days:g}"
            )
    arm_names = {a.name for a in spec.arms}
    try:
        columns = spec.varying()
    except ValueError:  # an unreadable population, reported above
        columns = []
    for i, t in enumerate(spec.targets):
        if t.arm not in arm_names:
            errors.append(f"targets[{i}].arm: no arm named {t.arm!r}; arms: {sorted(arm_names)}")
        if t.kind in ("os_at", "median_os") and spec.survival is None:
            errors.append(
                f"targets[{i}].kind: {t.kind!r} needs overall survival; add a [survival] "
                "section (scale_days, shape, beta)"
            )
        if t.subgroup is not None:
            for col, _, _ in parse_subgroups(t.subgroup):
                if col in OUTCOME_COLUMNS:
                    if col == "os_days" and spec.survival is None:
                        errors.append(
                            f"targets[{i}].subgroup: 'os_days' needs a [survival] section"
                        )
                elif col not in columns:
                    errors.append(
                        f"targets[{i}].subgroup: {col!r} is not a per-patient column or "
                        f"read-out; columns: {columns}, read-outs: {list(OUTCOME_COLUMNS)}"
                    )
    if spec.scan_days is None and spec.scan_interval_days > spec.follow_up_days:
        errors.append(
            f"scan_interval_days: {_num(spec.scan_interval_days)} exceeds follow_up_days "
            f"{_num(spec.follow_up_days)}; no on-study scan"
        )
    try:
        spec.solver_backend()
    except ValueError as err:
        msg = str(err)
        errors.append(msg if msg.startswith("backend") else f"backend: {msg}")
    if spec.sensitivity is not None and not errors:
        try:
            spec.sensitivity.check(spec)
        except ValueError as err:
            errors.append(str(err))
    if not errors:
        errors += _size_errors(spec, memory_limit_bytes())
    return errors


def _check_lesion_counts(spec: SweepSpec) -> None:
    """``n_lesions`` as an axis or per-patient variability: integers in 1..MAX_LESIONS."""
    if "n_lesions" in spec.axes:
        vals = spec.axes["n_lesions"].grid()
        bad = vals[(vals != np.round(vals)) | (vals < 1) | (vals > MAX_LESIONS)]
        if bad.size:
            raise ValueError(
                f"axes.n_lesions: value {float(bad[0])!r} is not an integer in 1..{MAX_LESIONS}"
            )
    dist = spec.variability.get("n_lesions")
    if dist is not None:
        if dist.dist != "discrete":
            raise ValueError(
                f"variability.n_lesions: dist {dist.dist!r} is not allowed; use dist = "
                f'"discrete" with integer values in 1..{MAX_LESIONS}'
            )
        bad = [v for v in dist.values or [] if v != round(v) or not 1 <= v <= MAX_LESIONS]
        if bad:
            raise ValueError(
                f"variability.n_lesions: value {bad[0]!r} is not an integer in 1..{MAX_LESIONS}"
            )


def memory_limit_bytes() -> int:
    """Memory a sweep may plan to use: 3/4 of this machine's physical memory (bytes)."""
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        total = 16 * 2**30
    return int(0.75 * total)


def _gib(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 2**10:.1f} KiB"


def memory_estimate(spec: SweepSpec) -> dict[str, int]:
    """Rough peak host memory (bytes) of the stages of a sweep, for refusing absurd sizes.

    Keys: ``chunk`` (one chunk solved in every arm: solver output, read-outs),
    ``cohort`` (one grid cell's sampled patient table), ``trajectories`` (the dense
    trajectories of ``n_trajectories`` patients) and ``summary`` (per-patient arrays of every
    arm read back at the end).
    """
    n_arms = len(spec.arms)
    n_states = 4 if "pd1" in spec.model.lower() else 2
    n_t = len(spec.scan_schedule()) + 1 + len(spec.survival_grid())
    n_cols = len(spec.varying()) + 1
    # ys float64 (solver output, host copy, tumor copy) + 3 read-outs per scan + scalars
    per_patient = n_arms * (3 * n_t * n_states * 8 + 3 * n_t * 8 + 64) + n_cols * 8
    n_traj_t = math.floor(spec.follow_up_days / spec.trajectory_step_days) + 2
    n_traj = max(min(spec.n_trajectories, spec.n_patients), 16)
    return {
        "chunk": max(spec.chunk_size, 16) * per_patient,
        "cohort": 4 * spec.sampling.cohort_size * n_cols * 8,
        "trajectories": 3 * n_arms * n_traj * n_traj_t * (n_states + 2) * 8
        if spec.n_trajectories
        else 0,
        "summary": spec.n_patients * (n_arms * 26 + 16),
    }


def _size_errors(spec: SweepSpec, limit: int) -> list[str]:
    """Sizes that cannot run on this machine, one line each naming the key and the limit."""
    errors: list[str] = []
    n_scans = (
        spec.follow_up_days / spec.scan_interval_days
        if spec.scan_days is None
        else len(spec.scan_days)
    )
    n_traj = spec.follow_up_days / spec.trajectory_step_days
    if spec.survival is not None:
        n_grid = spec.follow_up_days / spec.survival.grid_days
        if n_grid > MAX_SCANS:
            return [
                f"survival.grid_days: {_num(spec.survival.grid_days)} gives {n_grid:.3g} "
                f"hazard grid days over follow_up_days = {_num(spec.follow_up_days)}; at most "
                f"{MAX_SCANS}"
            ]
    too_long = spec.n_trajectories and n_traj > MAX_TRAJECTORY_TIMES
    if n_scans > MAX_SCANS and too_long:
        return [
            f"follow_up_days: {_num(spec.follow_up_days)} days give {n_scans:.3g} scans and "
            f"{n_traj:.3g} trajectory times; at most {MAX_SCANS} scans "
            f"(scan_interval_days) and {MAX_TRAJECTORY_TIMES} times (trajectory_step_days)"
        ]
    if n_scans > MAX_SCANS:
        errors.append(
            f"scan_interval_days: {_num(spec.scan_interval_days)} gives {n_scans:.3g} scans over "
            f"follow_up_days = {_num(spec.follow_up_days)}; at most {MAX_SCANS} scans"
        )
    if too_long:
        errors.append(
            f"trajectory_step_days: {_num(spec.trajectory_step_days)} gives {n_traj:.3g} "
            f"trajectory times over follow_up_days = {_num(spec.follow_up_days)}; at most "
            f"{MAX_TRAJECTORY_TIMES} (or n_trajectories = 0)"
        )
    if errors:
        return errors
    need = memory_estimate(spec)
    lim = _gib(limit)
    per = need["chunk"] / max(spec.chunk_size, 16)
    if need["chunk"] > limit:
        errors.append(
            f"chunk_size: a chunk of {spec.chunk_size} patients needs about "
            f"{_gib(need['chunk'])} of memory, more than the {lim} this machine allows; "
            f"use chunk_size <= {max(int(limit // per), 1)}"
        )
    if need["cohort"] > limit:
        errors.append(
            f"sampling.cohort_size: {spec.sampling.cohort_size} patients per grid cell need "
            f"about {_gib(need['cohort'])} of memory, more than the {lim} this machine allows"
        )
    if need["trajectories"] > limit:
        errors.append(
            f"n_trajectories: {spec.n_trajectories} trajectories of {n_traj:.0f} days need about "
            f"{_gib(need['trajectories'])} of memory, more than the {lim} this machine allows; "
            "store fewer or raise trajectory_step_days"
        )
    if need["summary"] > limit and need["cohort"] <= limit:
        per_n = need["summary"] / spec.n_patients
        key = "axes" if spec.n_cells > spec.sampling.cohort_size else "sampling.cohort_size"
        errors.append(
            f"{key}: {spec.n_patients} patients ({spec.n_cells} grid cells × "
            f"cohort {spec.sampling.cohort_size}) need about {_gib(need['summary'])} of memory "
            f"for the summaries, more than the {lim} this machine allows; at most "
            f"{int(limit // per_n)} patients"
        )
    return errors


def spec_warnings(spec: SweepSpec) -> list[str]:
    """Settings that are allowed but probably not meant, one line each naming the key.

    ``tumorimmune validate`` and ``run`` print them; a run stores them in the results'
    ``warnings`` attribute (JSON list).
    """
    out: list[str] = []
    rt0, at0 = DEFAULT_TOLERANCES[spec.precision]
    eps = float(np.finfo(spec.precision).eps)
    if spec.rtol is not None and spec.rtol > 1e-3:
        out.append(
            f"rtol: {_num(spec.rtol)} is loose (default {_num(rt0)} for {spec.precision}); "
            "responses near the RECIST thresholds may be misclassified"
        )
    if spec.rtol is not None and spec.rtol < 10 * eps:
        out.append(
            f"rtol: {_num(spec.rtol)} is below what {spec.precision} resolves ({_num(10 * eps)}); "
            f"expect failed solves (max_steps) — use precision = 'float64' or rtol >= {_num(rt0)}"
        )
    if spec.atol is not None and spec.atol > 1e-2:
        out.append(
            f"atol: {_num(spec.atol)} is loose (default {_num(at0)}); small antibody amounts and "
            "tumors near extinction are not resolved"
        )
    if spec.max_steps < 1000:
        out.append(
            f"max_steps: {spec.max_steps} may be too few for {_num(spec.follow_up_days)} days; "
            "patients that need more are marked failed"
        )
    n = spec.n_patients
    n_chunks = -(-n // spec.chunk_size)
    if n_chunks > MANY_CHUNKS:
        out.append(
            f"chunk_size: {spec.chunk_size} cuts the {n} patients into {n_chunks} store "
            f"chunks, each with a fixed cost (a file per array written, read back and "
            f"checksummed; about {SECONDS_PER_CHUNK} s on a 2-core CPU, so about "
            f"{n_chunks * SECONDS_PER_CHUNK / 60:.0f} min); omit chunk_size (automatic: "
            f"{auto_chunk_size(spec)}) or use chunk_size >= {-(-n // MANY_CHUNKS)}"
        )
    if spec.n_trajectories > n:
        out.append(
            f"n_trajectories: {spec.n_trajectories} exceeds the {n} patients; all are stored"
        )
    last_scan = float(spec.scan_schedule()[-1])
    for i, arm in enumerate(spec.arms):
        reg = arm.regimen_obj()
        if reg is not None and last_scan <= reg.start_day < spec.follow_up_days:
            out.append(
                f"arms[{i}].start_day: day {_num(reg.start_day)} is after the last scan (day "
                f"{_num(last_scan)}); the arm's responses equal an untreated arm's"
            )
    return out


def _unwrap(tp: Any) -> Any:
    """Strip Optional / list / dict / tuple wrappers down to a pydantic model (or None)."""
    while True:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else None
        elif origin in (list, tuple):
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return tp


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that holds the key at ``loc`` (for 'allowed keys' messages)."""
    cls: Any = SweepSpec
    i = 0
    while i < len(loc) - 1:
        key = loc[i]
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return None
        field = cls.model_fields.get(str(key))
        if field is None:
            return None
        ann = field.annotation
        origin = typing.get_origin(_strip_optional(ann))
        if origin in (list, dict):
            i += 1  # skip the index / dict key
        cls = _unwrap(ann)
        i += 1
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<spec>"


def _explain_one(e: Any) -> str:
    """One clear line for one error, naming the key, its value and what is allowed."""
    loc = tuple(x for x in e["loc"] if x not in ("function-after",))
    where = _format_loc(loc)
    if e["type"] == "extra_forbidden":
        owner = _model_at(loc)
        allowed = sorted(owner.model_fields) if owner else []
        return f"{where}: unknown key {loc[-1]!r}; allowed keys: {allowed}"
    if e["type"] == "missing":
        return f"{where}: required key is missing"
    msg = e["msg"].removeprefix("Value error, ")
    got = e.get("input")
    if isinstance(got, dict):
        return f"{where}: {msg}"
    return f"{where}: {msg} (got {got!r})"


def _join(lines: list[str]) -> str:
    """Every problem of the spec at once, one line each."""
    lines = list(dict.fromkeys(lines))
    if len(lines) == 1:
        return lines[0]
    return f"{len(lines)} problems in the spec:\n" + "\n".join(f"  {x}" for x in lines)


def _drop(data: Any, loc: tuple[Any, ...]) -> None:
    """Remove the value at ``loc``: an invalid arm becomes a placeholder control arm, any
    other invalid value is deleted (a list value as a whole) so that its default applies."""
    if len(loc) >= 2 and loc[0] == "arms" and isinstance(loc[1], int):
        arms = data.get("arms")
        if isinstance(arms, list) and 0 <= loc[1] < len(arms):
            arms[loc[1]] = {"name": f"\x00invalid arm {loc[1]}"}
        return
    node = data
    for i, key in enumerate(loc):
        if not isinstance(node, dict) or key not in node:
            return
        if i == len(loc) - 1 or not isinstance(node[key], dict):
            del node[key]
            return
        node = node[key]


def _salvage(data: dict[str, Any], err: ValidationError) -> SweepSpec | None:
    """The spec without its structurally invalid values (for checking the rest)."""
    import copy

    data = copy.deepcopy(data)
    for _ in range(5):
        for e in err.errors():
            loc = tuple(x for x in e["loc"] if x not in ("function-after",))
            # a model-level error (e.g. an arm's cross-field check) drops the whole entry
            _drop(data, loc if e["type"] != "missing" else loc[:-1])
        if not data.get("arms"):
            data["arms"] = [{"name": "\x00placeholder"}]
        try:
            return SweepSpec.model_validate(data)
        except ValidationError as again:
            err = again
    return None


def validate_spec(data: dict[str, Any] | SweepSpec) -> SweepSpec:
    """Validate a spec given as a mapping (parsed TOML) or re-check a :class:`SweepSpec`.

    Every problem is reported at once: structural ones (types, unknown keys) and those that
    need the model (parameter bounds, drugs, sizes against this machine's memory).

    Raises:
        ValueError: one line per problem, naming the offending key, its value and the
            allowed values.
    """
    if isinstance(data, SweepSpec):
        data = data.model_dump(mode="json", exclude_none=True)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        lines = [_explain_one(e) for e in err.errors()]
        rest = _salvage(data, err) if isinstance(data, dict) else None
        if rest is not None:
            lines += [x for x in _cross_check(rest) if "\x00" not in x]
        raise ValueError(_join(lines)) from None
    errors = _cross_check(spec)
    if errors:
        raise ValueError(_join(errors))
    if "chunk_size" not in spec.model_fields_set:  # automatic (kept when re-validated)
        spec = spec.model_copy(update={"chunk_size": auto_chunk_size(spec)})
    return spec


def auto_chunk_size(spec: SweepSpec) -> int:
    """The store chunk size of a spec that does not set ``chunk_size``.

    ``DEFAULT_CHUNK_SIZE`` (4,096) patients, or for larger cohorts about
    ``n_patients / TARGET_CHUNKS`` rounded up to a multiple of 4,096, so that a run has about
    128 store chunks (progress in steps of about 1 %, a resume loses at most one chunk's
    work), at most ``MAX_AUTO_CHUNK`` patients and within a sixteenth of the memory a sweep
    may use. Every store chunk costs a fixed amount besides its data: one file per
    per-patient array written, read back and checksummed (about 0.1 s per chunk of the
    three-arm trial on a 2-core CPU, benchmarks/RESULTS.md, "Host pipeline"); 10^7
    patients in chunks of 4,096 would spend minutes on it.
    """
    n = spec.n_patients
    size = DEFAULT_CHUNK_SIZE * max(1, -(-n // (TARGET_CHUNKS * DEFAULT_CHUNK_SIZE)))
    per = memory_estimate(spec)["chunk"] / max(spec.chunk_size, 16)
    fit = int(memory_limit_bytes() // 16 // max(per, 1))
    return min(size, MAX_AUTO_CHUNK, max(fit, DEFAULT_CHUNK_SIZE))


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML sweep specification.

    Raises:
        ValueError: invalid TOML or spec (message names the key), a directory or an
            unreadable file.
        FileNotFoundError: no file at ``path``.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory; give the path of a TOML spec file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text (UTF-8) file; give a TOML spec") from None
    except PermissionError as err:
        raise ValueError(f"{path}: cannot read ({err.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: invalid TOML: {err}") from None
    return validate_spec(data)


# ---------------------------------------------------------------------- tiny TOML writer
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    ok = k.replace("_", "").replace("-", "").isalnum() and k.isascii()
    return k if ok else _toml_value(k)


def _dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    scalars = {
        k: v
        for k, v in data.items()
        if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))
    }
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items()]
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in data.items():
        name = f"{prefix}{_toml_key(k)}"
        if isinstance(v, dict):
            out += f"\n[{name}]\n" + _dump_toml(v, prefix=name + ".")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                out += f"\n[[{name}]]\n" + _dump_toml(item, prefix=name + ".")
    return out

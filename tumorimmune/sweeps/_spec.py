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
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: Names under which the initial state can be swept or varied (cells).
INITIAL_NAMES: tuple[str, ...] = ("E0", "T0")
#: Model fields that come from the arm's drug (``tumorimmune.model.get_drug``), never the spec.
PK_FIELDS: tuple[str, ...] = ("CL", "V1", "Q", "V2", "CL_emax", "CL_T50", "CL_gamma")
#: Extra per-patient columns of a spec with ``[pk] variability = true`` (standard normals).
PK_ETAS: tuple[str, ...] = ("eta_CL", "eta_V")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AxisSpec(_Strict):
    """One grid axis: exactly one of ``values``, ``linspace = [start, stop, num]`` or
    ``logspace = [start, stop, num]`` (start and stop are values, not exponents)."""

    values: list[float] | None = None
    linspace: tuple[float, float, int] | None = None
    logspace: tuple[float, float, int] | None = None

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
                if key == "logspace" and not (v[0] > 0 and v[1] > 0):
                    raise ValueError(f"'logspace' start and stop must be > 0; got {list(v)}")
        return self

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
    - ``uniform`` / ``loguniform``: ``low`` and ``high``.

    ``low``/``high`` also truncate ``lognormal`` and ``normal`` (inverse-CDF sampling).
    """

    dist: Literal["lognormal", "normal", "uniform", "loguniform"]
    median: float | None = None
    cv: float | None = None
    mean: float | None = None
    sd: float | None = None
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _check(self) -> DistSpec:
        allowed = {
            "lognormal": {"median", "cv", "low", "high"},
            "normal": {"mean", "sd", "low", "high"},
            "uniform": {"low", "high"},
            "loguniform": {"low", "high"},
        }[self.dist]
        for key in ("median", "cv", "mean", "sd", "low", "high"):
            if getattr(self, key) is not None and key not in allowed:
                raise ValueError(
                    f"key {key!r} does not apply to dist={self.dist!r}; allowed: {sorted(allowed)}"
                )
        if self.dist == "lognormal":
            if self.cv is None or not self.cv > 0:
                raise ValueError(f"lognormal needs cv > 0; got cv={self.cv!r}")
            if self.median is not None and not self.median > 0:
                raise ValueError(f"lognormal needs median > 0; got median={self.median!r}")
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
        lo = {"lognormal": 0.0, "normal": -math.inf}.get(self.dist, self.low)
        hi = {"lognormal": math.inf, "normal": math.inf}.get(self.dist, self.high)
        lo = lo if self.low is None else max(lo, self.low)  # type: ignore[arg-type]
        hi = hi if self.high is None else min(hi, self.high)  # type: ignore[arg-type]
        assert lo is not None and hi is not None
        return lo, hi


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

    @model_validator(mode="after")
    def _check(self) -> ArmSpec:
        explicit = [
            k
            for k in ("dose", "unit", "interval", "n_doses", "start_day")
            if getattr(self, k) is not None
        ]
        if self.regimen is not None and self.regimen.lower() != "none":
            from ..model import REGIMENS

            if self.regimen.lower() not in REGIMENS:
                raise ValueError(
                    f"unknown regimen {self.regimen!r}; allowed: {sorted(REGIMENS)} or 'none'"
                )
            bad = [k for k in explicit if k not in ("n_doses", "start_day")]
            if bad:
                raise ValueError(f"give either 'regimen' or explicit {bad}, not both")
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
            k: getattr(self, k) for k in ("n_doses", "start_day") if getattr(self, k) is not None
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

    ``variability``: lognormal inter-individual variability with the drug's published ω² on
    (CL, Q) and on (V1, V2); the same standard-normal draws serve every arm.
    ``weight_scaling``: allometric scaling ``(weight/weight_ref)^exponent`` with the drug's
    published exponents (matters when ``weight`` varies).
    """

    variability: bool = False
    weight_scaling: bool = True


class ResponseSpec(_Strict):
    """RECIST read-out settings. ``cells_per_cm3`` (**assumption**, science.md §4): 1e9."""

    cells_per_cm3: float = Field(1e9, gt=0)


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
    ``median_pfs`` (days). ``n``: patients behind the published value (Wilson interval);
    ``lo``/``hi``: the published 95 % interval where one is given.
    """

    arm: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: Literal["orr", "cr", "dcr", "pfs_at", "responders_pf_at", "median_pfs"]
    value: float
    n: int | None = Field(None, ge=1)
    day: float | None = Field(None, gt=0)
    lo: float | None = None
    hi: float | None = None
    source: str = ""
    fitted: bool = True

    @model_validator(mode="after")
    def _check(self) -> TargetSpec:
        if self.kind in ("pfs_at", "responders_pf_at") and self.day is None:
            raise ValueError(f"kind = {self.kind!r} needs 'day' (days after the first dose)")
        if self.kind != "median_pfs" and not 0.0 <= self.value <= 1.0:
            raise ValueError(f"kind = {self.kind!r} is a fraction in [0, 1]; got {self.value}")
        return self


class SweepSpec(_Strict):
    """A validated sweep: model, base parameters, grid, variability, arms and run settings."""

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
    arms: list[ArmSpec] = Field(min_length=1)
    targets: list[TargetSpec] = Field(default_factory=list)
    caveats: list[str] = Field(default_factory=list)
    follow_up_days: float = Field(365.0, gt=0)
    scan_interval_days: float = Field(42.0, gt=0)
    scan_days: list[float] | None = Field(
        None, description="explicit on-study scan days (overrides scan_interval_days)"
    )
    precision: Literal["float32", "float64"] = "float64"
    chunk_size: int = Field(4096, ge=1)
    output: str = "results.zarr"
    backend: str = "auto"
    n_trajectories: int = Field(16, ge=0, description="patients with stored dense trajectories")
    trajectory_step_days: float = Field(1.0, gt=0)
    rtol: float | None = Field(None, gt=0)
    atol: float | None = Field(None, gt=0)
    max_steps: int = Field(100_000, ge=1)

    # ------------------------------------------------------------------ derived
    def model_class(self) -> Any:
        from ..model import get_model

        return get_model(self.model)

    def axis_values(self) -> dict[str, np.ndarray]:
        """Grid axes in spec order: ``{parameter: values}``."""
        return {k: v.grid() for k, v in self.axes.items()}

    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.axis_values().values())

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.grid_shape(), dtype=np.int64))

    @property
    def n_patients(self) -> int:
        return self.n_cells * self.sampling.cohort_size

    def scan_schedule(self) -> np.ndarray:
        """Scan days: 0 (baseline), then ``scan_days`` up to ``follow_up_days`` if given, else
        every ``scan_interval_days`` up to ``follow_up_days``."""
        if self.scan_days is not None:
            s = np.asarray(self.scan_days, dtype=float)
            return np.concatenate([[0.0], s[(s > 0) & (s <= self.follow_up_days + 1e-9)]])
        n = math.floor(self.follow_up_days / self.scan_interval_days + 1e-9)
        return self.scan_interval_days * np.arange(n + 1, dtype=float)

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
        from .._simulate import DEFAULT_TOLERANCES

        rt, at = DEFAULT_TOLERANCES[self.precision]
        return (self.rtol or rt, self.atol or at)

    def to_toml(self) -> str:
        """Canonical TOML text of the spec (defaults filled in)."""
        return _dump_toml(self.model_dump(mode="json", exclude_none=True))


def _cross_check(spec: SweepSpec) -> None:
    """Checks that need the model: parameter names, bounds, drugs, backend."""
    from ..model import get_model, is_drug_model

    try:
        cls = get_model(spec.model)
    except ValueError as err:
        raise ValueError(f"model: {err}") from err
    if cls.tumor_state is None:
        raise ValueError(f"model: {cls.__name__} declares no tumor_state; a sweep needs one")
    names = [p for p in cls.parameter_names() if p not in PK_FIELDS]
    allowed = sorted(names)
    for section in ("parameters", "axes", "variability"):
        for key in getattr(spec, section):
            if key in INITIAL_NAMES and section != "parameters":
                continue
            if key in PK_FIELDS and key in cls.parameter_names():
                raise ValueError(
                    f"{section}.{key}: PK parameters come from the arm's drug "
                    f"(tumorimmune.model.get_drug); use [pk] variability = true instead"
                )
            if key not in names:
                extra = list(INITIAL_NAMES) if section != "parameters" else []
                raise ValueError(
                    f"{section}.{key}: unknown parameter {key!r} of {cls.__name__}; "
                    f"allowed: {allowed + extra}"
                )
    base = cls()
    try:
        base = base.replace(**spec.parameters)
        base.validate()
    except ValueError as err:
        raise ValueError(f"parameters: {err}") from None
    bounds = dict(getattr(cls, "parameter_bounds", {}))
    bounds.update({"E0": (0.0, math.inf), "T0": (0.0, math.inf)})
    for key, axis in spec.axes.items():
        vals = axis.grid()
        lo, hi = bounds.get(key, (0.0, math.inf))
        bad = vals[~np.isfinite(vals) | (vals < lo) | (vals > hi)]
        if bad.size:
            raise ValueError(f"axes.{key}: value {bad[0]!r} outside the bounds [{lo}, {hi}]")
    for key, dist in spec.variability.items():
        lo, hi = bounds.get(key, (0.0, math.inf))
        slo, shi = dist.support(0.0)
        if slo < lo or shi > hi:
            raise ValueError(
                f"variability.{key}: {dist.dist} can give values in [{slo}, {shi}], outside the "
                f"bounds [{lo}, {hi}] of {key!r}; set 'low'/'high' inside the bounds"
            )
    seen: set[str] = set()
    for i, arm in enumerate(spec.arms):
        if arm.name in seen:
            raise ValueError(f"arms[{i}].name: duplicate arm name {arm.name!r}")
        seen.add(arm.name)
        if not arm.is_control and not is_drug_model(cls):
            raise ValueError(
                f"arms[{i}] ({arm.name!r}): {cls.__name__} has no drug; only control arms "
                "(no 'regimen'/'dose') are allowed; use model = 'TumorImmunePD1'"
            )
    if spec.population is not None:
        pop = spec.population.table()
        for key in pop:
            where = [sec for sec in ("axes", "variability") if key in getattr(spec, sec)]
            if where:
                raise ValueError(
                    f"population: column {key!r} is also given in [{where[0]}]; a parameter "
                    "comes from one source only"
                )
            if key not in names and key not in INITIAL_NAMES:
                raise ValueError(
                    f"population: column {key!r} is not a parameter of {cls.__name__}; "
                    f"use population.columns to choose from {sorted(pop)}"
                )
    if spec.scan_days is not None:
        s = np.asarray(spec.scan_days, dtype=float)
        if s.size == 0 or np.any(~np.isfinite(s)) or np.any(s <= 0) or np.any(np.diff(s) <= 0):
            raise ValueError(
                f"scan_days: must be finite days > 0 in strictly increasing order; got {list(s)}"
            )
        if s[0] > spec.follow_up_days:
            raise ValueError(
                f"scan_days: first scan {s[0]:g} is after follow_up_days {spec.follow_up_days:g}"
            )
    arm_names = {a.name for a in spec.arms}
    for i, t in enumerate(spec.targets):
        if t.arm not in arm_names:
            raise ValueError(f"targets[{i}].arm: no arm named {t.arm!r}; arms: {sorted(arm_names)}")
    if spec.scan_days is None and spec.scan_interval_days > spec.follow_up_days:
        raise ValueError(
            f"scan_interval_days: {spec.scan_interval_days} exceeds follow_up_days "
            f"{spec.follow_up_days}; no on-study scan"
        )
    from ._backends import get_backend

    get_backend(spec.backend)  # raises, naming the allowed backends


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


def _explain(err: ValidationError) -> str:
    """Every structural problem of the spec at once, one line each."""
    lines = list(dict.fromkeys(_explain_one(e) for e in err.errors()))
    if len(lines) == 1:
        return lines[0]
    return f"{len(lines)} problems in the spec:\n" + "\n".join(f"  {x}" for x in lines)


def validate_spec(data: dict[str, Any] | SweepSpec) -> SweepSpec:
    """Validate a spec given as a mapping (parsed TOML) or re-check a :class:`SweepSpec`.

    Raises:
        ValueError: one message naming the offending key, its value and the allowed values.
    """
    if isinstance(data, SweepSpec):
        data = data.model_dump(mode="json", exclude_none=True)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        raise ValueError(_explain(err)) from None
    _cross_check(spec)
    return spec


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML sweep specification.

    Raises:
        ValueError: invalid TOML or spec (message names the key); FileNotFoundError.
    """
    path = Path(path)
    text = path.read_text()
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

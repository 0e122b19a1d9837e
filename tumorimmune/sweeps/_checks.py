"""Checks of a structurally valid spec that need the model, the arms or the other sections.

Each check is a small function ``check_<what>(spec, model) -> list[str]`` returning one line
per problem (naming the key, its value and what is allowed); :func:`cross_check` runs them
all, and ``_validate.validate_spec`` joins them with pydantic's structural errors. Sizes
against this machine are checked in ``_sizing``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..model import CHEMO_SCHEDULE_FIELDS, get_model, is_drug_model, supports_chemo
from ..response import DERIVED_COLUMNS, OUTCOME_COLUMNS, parse_subgroups
from ._sampling import patient_columns
from ._spec import (
    INITIAL_NAMES,
    MAX_LESIONS,
    PK_FIELDS,
    READOUT_NAMES,
    SURVIVAL_NAMES,
    SweepSpec,
)
from ._spec import format_number as _num
from ._tiers import sensitivity_keep, tier_rank

#: ``(lo, hi)`` of every parameter and per-patient column a spec may set.
Bounds = dict[str, tuple[float, float]]


def model_parameters(model: type) -> list[str]:
    """The model's parameters a spec may set (its PK fields come from the arm's drug, its
    chemotherapy schedule from the arm's ``chemo``)."""
    return [p for p in model.parameter_names() if p not in (*PK_FIELDS, *CHEMO_SCHEDULE_FIELDS)]


def _bounds(model: Any) -> Bounds:
    bounds = {p: model.bounds(p) for p in model.parameter_names()}  # parameter() or ClassVar
    bounds.update({"E0": (0.0, math.inf), "T0": (0.0, math.inf)})
    bounds["n_lesions"] = (1.0, float(MAX_LESIONS))
    return bounds


def unknown_keys(spec: SweepSpec, model: Any) -> tuple[list[str], dict[str, set[str]]]:
    """Keys of ``[parameters]``, ``[axes]`` and ``[variability]`` that name no parameter of
    the model (or a PK or read-out setting): ``(errors, known keys per section)``."""
    errors: list[str] = []
    names = model_parameters(model)
    allowed = sorted(names)
    known: dict[str, set[str]] = {}
    for section in ("parameters", "axes", "variability"):
        known[section] = set()
        for key in getattr(spec, section):
            if key in (*INITIAL_NAMES, *READOUT_NAMES) and section != "parameters":
                known[section].add(key)
                continue
            if key in PK_FIELDS and key in model.parameter_names():
                errors.append(
                    f"{section}.{key}: PK parameters come from the arm's drug "
                    f"(tumorimmune.model.get_drug); use [pk] variability = true instead"
                )
            elif key in CHEMO_SCHEDULE_FIELDS and key in model.parameter_names():
                errors.append(
                    f"{section}.{key}: the chemotherapy schedule comes from the arm "
                    "([[arms]] chemo, chemo_cycles, start_day), not the parameters"
                )
            elif key in READOUT_NAMES:
                errors.append(
                    f"{section}.{key}: {key!r} is a read-out setting, not a model parameter; "
                    "set it under [response] (or vary it in [axes] / [variability])"
                )
            elif key not in names:
                extra = [*INITIAL_NAMES, *READOUT_NAMES] if section != "parameters" else []
                errors.append(
                    f"{section}.{key}: unknown parameter {key!r} of {model.__name__}; "
                    f"allowed: {allowed + extra}"
                )
            else:
                known[section].add(key)
    return errors, known


def check_parameter_values(
    spec: SweepSpec, model: Any, known: set[str], *, validate: bool = True
) -> list[str]:
    """``[parameters]`` values inside the model's bounds (one line per bad value), then (when
    they are and ``validate``) the model's own validation of the whole set."""
    errors: list[str] = []
    good = {k: v for k, v in spec.parameters.items() if k in known}
    bounds = _bounds(model)
    for key, value in good.items():
        lo, hi = bounds.get(key, (0.0, math.inf))
        if not lo <= value <= hi:
            errors.append(
                f"parameters.{key}: {_num(value)} is outside the bounds [{_num(lo)}, {_num(hi)}]"
            )
    if validate and not errors:
        try:
            model().replace(**good).validate()
        except ValueError as err:
            errors.append(f"parameters: {err}")
    return errors


def check_lesion_counts(spec: SweepSpec) -> list[str]:
    """``n_lesions`` as an axis or per-patient variability: integers in 1..MAX_LESIONS."""
    if "n_lesions" in spec.axes:
        vals = spec.axes["n_lesions"].grid()
        bad = vals[(vals != np.round(vals)) | (vals < 1) | (vals > MAX_LESIONS)]
        if bad.size:
            return [
                f"axes.n_lesions: value {float(bad[0])!r} is not an integer in 1..{MAX_LESIONS}"
            ]
    dist = spec.variability.get("n_lesions")
    if dist is not None:
        if dist.dist != "discrete":
            return [
                f"variability.n_lesions: dist {dist.dist!r} is not allowed; use dist = "
                f'"discrete" with integer values in 1..{MAX_LESIONS}'
            ]
        bad_values = [v for v in dist.values or [] if v != round(v) or not 1 <= v <= MAX_LESIONS]
        if bad_values:
            return [
                f"variability.n_lesions: value {bad_values[0]!r} is not an integer in "
                f"1..{MAX_LESIONS}"
            ]
    return []


def check_axes(spec: SweepSpec, model: Any, known: set[str]) -> list[str]:
    """Grid axis values inside the bounds of their parameter."""
    errors: list[str] = []
    bounds = _bounds(model)
    for key, axis in spec.axes.items():
        if key not in known:
            continue
        vals = axis.grid()
        lo, hi = bounds.get(key, (0.0, math.inf))
        bad = vals[~np.isfinite(vals) | (vals < lo) | (vals > hi)]
        if bad.size:
            errors.append(
                f"axes.{key}: value {_num(bad[0])} outside the bounds [{_num(lo)}, {_num(hi)}]"
            )
    return errors


def check_variability(spec: SweepSpec, model: Any, known: set[str]) -> list[str]:
    """Distributions whose support fits the parameter's bounds, and that do not silently
    ignore a grid axis of the same parameter."""
    errors: list[str] = []
    bounds = _bounds(model)
    for key, dist in spec.variability.items():
        if key not in known:
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
    return errors


def check_arms(spec: SweepSpec, model: Any) -> list[str]:
    """Unique arm names, drugs only for drug models, chemotherapy only for models with its
    fields, a first dose (and first cycle) before the end."""
    errors: list[str] = []
    seen: set[str] = set()
    for i, arm in enumerate(spec.arms):
        if arm.name in seen:
            errors.append(f"arms[{i}].name: duplicate arm name {arm.name!r}")
        seen.add(arm.name)
        if arm.regimen_obj() is not None and not is_drug_model(model):
            errors.append(
                f"arms[{i}] ({arm.name!r}): {model.__name__} has no drug; only control arms "
                "(no 'regimen'/'dose') are allowed; use model = 'TumorImmunePD1'"
            )
        chemo = arm.chemo_obj()
        if chemo is not None and not supports_chemo(model):
            errors.append(
                f"arms[{i}].chemo: {model.__name__} has no chemotherapy term (fields k_chemo, "
                "lam_chemo, chemo_start, chemo_end); use model = 'TumorImmunePD1' or drop "
                "'chemo'"
            )
        elif chemo is not None and chemo.start_day >= spec.follow_up_days:
            errors.append(
                f"arms[{i}].start_day: the first chemotherapy cycle (day "
                f"{_num(chemo.start_day)}) is not before the end of follow-up "
                f"(follow_up_days = {_num(spec.follow_up_days)})"
            )
        if arm.hazard_ratio is not None and spec.survival is None:
            errors.append(
                f"arms[{i}].hazard_ratio: scales the hazard of death; add a [survival] section "
                "(scale_days, shape, beta) or drop it"
            )
        reg = arm.regimen_obj()
        if reg is not None and reg.start_day >= spec.follow_up_days:
            errors.append(
                f"arms[{i}].start_day: the first dose (day {_num(reg.start_day)}) is not before "
                f"the end of follow-up (follow_up_days = {_num(spec.follow_up_days)}); the arm "
                "would equal an untreated one"
            )
    return errors


def check_population(spec: SweepSpec, model: Any) -> list[str]:
    """A readable population table whose columns are parameters given nowhere else."""
    if spec.population is None:
        return []
    try:
        pop = spec.population.table()
    except ValueError as err:
        return [str(err)]
    errors: list[str] = []
    names = model_parameters(model)
    for key in pop:
        where = [sec for sec in ("axes", "variability") if key in getattr(spec, sec)]
        if where:
            errors.append(
                f"population: column {key!r} is also given in [{where[0]}]; a parameter "
                "comes from one source only"
            )
        if key not in names and key not in (*INITIAL_NAMES, *SURVIVAL_NAMES):
            errors.append(
                f"population: column {key!r} is not a parameter of {model.__name__}; "
                f"use population.columns to choose from {sorted(pop)}"
            )
    return errors


def check_scans(spec: SweepSpec) -> list[str]:
    """Scan days in order within the follow-up, or an interval shorter than it."""
    errors: list[str] = []
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
    if spec.scan_days is None and spec.scan_interval_days > spec.follow_up_days:
        errors.append(
            f"scan_interval_days: {_num(spec.scan_interval_days)} exceeds follow_up_days "
            f"{_num(spec.follow_up_days)}; no on-study scan"
        )
    return errors


def check_targets(spec: SweepSpec) -> list[str]:
    """Targets that name an arm of the spec, have the read-outs they need (``[survival]``)
    and subgroups on per-patient columns or read-outs."""
    errors: list[str] = []
    arm_names = {a.name for a in spec.arms}
    try:
        columns = patient_columns(spec)
    except ValueError:  # an unreadable population, reported by check_population
        columns = []
    for i, t in enumerate(spec.targets):
        if t.arm not in arm_names:
            errors.append(f"targets[{i}].arm: no arm named {t.arm!r}; arms: {sorted(arm_names)}")
        if t.kind in ("os_at", "median_os") and spec.survival is None:
            errors.append(
                f"targets[{i}].kind: {t.kind!r} needs overall survival; add a [survival] "
                "section (scale_days, shape, beta)"
            )
        if t.subgroup is None:
            continue
        for col, _, _ in parse_subgroups(t.subgroup):
            if col in OUTCOME_COLUMNS:
                if col == "os_days" and spec.survival is None:
                    errors.append(f"targets[{i}].subgroup: 'os_days' needs a [survival] section")
            elif col not in columns and not (
                col in DERIVED_COLUMNS and DERIVED_COLUMNS[col][0] in columns
            ):
                errors.append(
                    f"targets[{i}].subgroup: {col!r} is not a per-patient column or "
                    f"read-out; columns: {columns}, read-outs: {list(OUTCOME_COLUMNS)}"
                )
    return errors


def check_backend(spec: SweepSpec) -> list[str]:
    """A known backend with valid options."""
    from ..solvers import as_backend

    opts = spec.solver.options() if spec.solver is not None else {}
    try:
        as_backend(spec.backend, dtype=spec.precision, **opts)
    except ValueError as err:
        msg = str(err)
        return [msg if msg.startswith("backend") else f"backend: {msg}"]
    return []


def check_sensitivity(spec: SweepSpec) -> list[str]:
    """``[sensitivity]``: no grid axes, parameters that vary in the cohort, enough of them for
    the method, a landmark within the follow-up."""
    sens = spec.sensitivity
    if sens is None:
        return []
    if spec.population is not None:
        return [
            "sensitivity: cannot be combined with [population]: a design is drawn from "
            "distributions ([variability], [pk] variability = true), not from a table of "
            "patients; use a parametric cohort (e.g. examples/pd1_sensitivity.toml)"
        ]
    if spec.axes:
        return [
            f"sensitivity: grid axes {sorted(spec.axes)} cannot be combined with "
            "[sensitivity]; give those parameters a [variability] distribution instead"
        ]
    allowed = patient_columns(spec)
    if not allowed:
        return [
            "sensitivity: no parameter varies; add [variability] distributions (or "
            "[pk] variability = true) for the parameters to analyse"
        ]
    names = sens.names(allowed)
    for p in names:
        if p not in allowed:
            return [
                f"sensitivity.parameters: {p!r} has no distribution in the cohort; "
                f"allowed: {allowed}"
            ]
    if sens.method == "sobol" and len(names) < 2:
        return ["sensitivity.parameters: method 'sobol' needs at least 2 parameters"]
    ld = sens.landmark_days
    if "pfs_landmark" in sens.outputs and ld is not None and ld > spec.follow_up_days:
        return [
            f"sensitivity.landmark_days: {sens.landmark_days} exceeds follow_up_days "
            f"{spec.follow_up_days}"
        ]
    return []


#: Covariates of the report that are not per-patient columns of the spec (read-outs).
REPORT_COVARIATES: tuple[str, ...] = ("baseline_sld_mm",)


def check_report(spec: SweepSpec) -> list[str]:
    """``[report]``: every covariate named is a per-patient column of the spec (an axis, a
    ``[variability]`` or ``[population]`` column, a PK eta) or ``baseline_sld_mm``."""
    if spec.report is None:
        return []
    try:
        columns = patient_columns(spec)
    except (ValueError, OSError, KeyError):
        return []  # the population's own check names the problem
    allowed = [*columns, *REPORT_COVARIATES]
    errors = []
    for key, names in (("map", spec.report.map or []), ("biomarker", [spec.report.biomarker])):
        for name in names:
            if name is not None and name not in allowed:
                errors.append(
                    f"report.{key}: {name!r} is not a covariate of this sweep (a parameter that "
                    f"varies between patients); choose from {allowed}"
                )
    return errors


def check_store(spec: SweepSpec) -> list[str]:
    """``[store] keep``: a ``[sensitivity]`` spec keeps the outputs it analyses (its indices
    are computed from them once the evaluations are stored; ``_tiers.sensitivity_keep``)."""
    keep = spec.store.keep if spec.store is not None else None
    if spec.sensitivity is None or keep is None:
        return []
    need = sensitivity_keep(spec.sensitivity.outputs)
    if tier_rank(keep) < tier_rank(need):
        return [
            f'store.keep: "{keep}" drops the per-patient outputs that [sensitivity] '
            f'analyses ({", ".join(spec.sensitivity.outputs)}); use keep = "{need}" (or more)'
        ]
    return []


def cross_check(spec: SweepSpec) -> list[str]:
    """Every check that needs the model, the arms or other sections, one line per problem
    (empty when the spec is fine). Sizes are checked separately (``_sizing.size_errors``)."""
    try:
        model = get_model(spec.model)
    except ValueError as err:
        return [f"model: {err}"]
    if model.tumor_state is None:
        return [f"model: {model.__name__} declares no tumor_state; a sweep needs one"]
    errors, known = unknown_keys(spec, model)
    bad_keys = any(e.startswith("parameters.") for e in errors)
    errors += check_parameter_values(spec, model, known["parameters"], validate=not bad_keys)
    errors += check_lesion_counts(spec)
    errors += check_axes(spec, model, known["axes"])
    errors += check_variability(spec, model, known["variability"])
    checks: tuple[Callable[[SweepSpec], list[str]], ...] = (
        lambda s: check_arms(s, model),
        lambda s: check_population(s, model),
        check_scans,
        check_targets,
        check_backend,
        check_report,
        check_store,
    )
    for check in checks:
        errors += check(spec)
    if not errors:
        errors += check_sensitivity(spec)
    return errors

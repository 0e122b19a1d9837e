"""Calibration uncertainty of a virtual trial's predictions: re-selected virtual populations.

The virtual population was selected (Allen et al. 2016; ``docs/science.md`` §7) so that its
read-out classes in the calibration arm have the target probabilities implied by a few
published endpoints. Those endpoints are themselves estimates from a trial of ``n`` patients, so
the selection is uncertain. A trial run holds every patient in every arm, so the uncertainty
can be propagated without solving again (:func:`reselection_intervals`):

1. each patient's class in the calibration arm is read from the run (at the calibration's
   data cut-off, deaths included, as the calibration read it);
2. for each of ``n_draws`` draws, class probabilities are drawn from their posterior given the
   published trial (Dirichlet with the published counts ``n·p`` plus one half), the patients
   are re-weighted by the ratio of drawn to simulated class frequency (a re-selection), and a
   virtual trial of the published size is drawn from the re-weighted patients;
3. every target is recomputed on that trial; the ``level`` interval of the draws is the
   prediction interval: calibration uncertainty plus the sampling of a trial of that size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..response import (
    OUTCOME_COLUMNS,
    Endpoint,
    arm_subgroup_mask,
    cutoff_readout,
    evaluate_targets,
)
from ._trial import (
    KEYNOTE006_CUTOFF_DAY,
    KEYNOTE006_DURABILITY,
    classify,
    median_scan,
    target_class_probabilities,
)

_CLASS_KINDS = ("orr", "cr", "pfs_at", "median_pfs", "responders_pf_at")
_FRACTION_KINDS = ("orr", "cr", "dcr", "pfs_at", "os_at", "pseudo_progression")


def calibration_arm(targets: Sequence[Any]) -> str | None:
    """The arm of the fitted class targets (ORR, CR, PFS landmark and median), or ``None``.

    Where several arms have fitted class targets (e.g. KEYNOTE-024's pembrolizumab arm and its
    platinum-doublet arm, fitted on ORR and 6-month PFS only), the one arm whose fitted targets
    include all four kinds; ``None`` when no arm or more than one has them all.
    """
    kinds: dict[str, set[str]] = {}
    for t in targets:
        if t.fitted and t.kind in _CLASS_KINDS and getattr(t, "subgroup", None) is None:
            kinds.setdefault(str(t.arm), set()).add(str(t.kind))
    if len(kinds) == 1:
        return next(iter(kinds))
    full = [a for a, k in kinds.items() if {"orr", "cr", "pfs_at", "median_pfs"} <= k]
    return full[0] if len(full) == 1 else None


#: Most patients a resampled trial may have, in multiples of the published trial size behind
#: its target (a subgroup or responder set under 1/MAX_RESAMPLE_FACTOR of the virtual patients
#: gets no interval) and of the virtual population.
MAX_RESAMPLE_FACTOR = 100


def _sample_size(t: Any, rates: Mapping[str, float], default: int) -> int:
    """Patients of a virtual trial of the published size behind target ``t``."""
    n = t.n
    if n is None or t.kind not in (*_FRACTION_KINDS, "responders_pf_at"):
        return default
    share = rates.get("responders", 1.0) if t.kind == "responders_pf_at" else 1.0
    if getattr(t, "subgroup", None) is not None:
        share = rates.get(f"subgroup:{t.subgroup}", 1.0)
    if share * MAX_RESAMPLE_FACTOR < 1.0:  # too rare here for a trial of the published size
        return 0
    return max(math.ceil(n / share), 10)


def reselection_intervals(
    targets: Sequence[Any],
    arms: Sequence[str],
    read: Mapping[str, np.ndarray],
    params: Mapping[str, np.ndarray] | None,
    *,
    diameters: np.ndarray | None,
    scan_days: np.ndarray,
    n_draws: int = 200,
    level: float = 0.95,
    seed: int = 0,
    at_cutoff: Mapping[float, Mapping[str, np.ndarray]] | None = None,
) -> list[tuple[float, float]] | None:
    """Prediction intervals of each target under calibration uncertainty (module docstring).

    Args:
        targets: the sweep's ``[[targets]]`` (``TargetSpec``).
        arms: arm names, the order of the arrays' first axis.
        read: ``(arm, patient)`` read-outs: ``best_response``, ``pfs_days``, ``pfs_event`` and
            where present ``os_days``, ``os_event``, ``ttr_days``, ``pseudo_progression``.
        params: per-patient columns ``{name: (patient,)}`` (subgroups).
        diameters: ``(arm, patient, scan)`` the model's sums of diameters (mm); ``None``
            when ``at_cutoff`` holds every cut-off day needed (:func:`reselection_cutoff` and
            the targets' ``cutoff_day``).
        scan_days: ``(scan,)``.
        at_cutoff: the read-outs at cut-off days computed already, ``{cutoff_day: {name:
            (arm, patient)}}`` (:func:`~tumorimmune.response.evaluate_targets`): used instead
            of ``diameters`` for those days, with the same values.

    Returns:
        One ``(lo, hi)`` per target, or ``None`` when the targets name no calibration arm.
    """
    setup = _setup(targets)
    if setup is None:
        return None
    arm, endpoints, cutoff = setup
    i = list(arms).index(arm)
    if at_cutoff is not None and cutoff in at_cutoff:
        r = {k: np.asarray(v)[i] for k, v in at_cutoff[cutoff].items()}
    elif diameters is None:
        raise ValueError(f"no diameters and no read-out at the calibration's cut-off {cutoff}")
    else:
        r = cutoff_readout(
            diameters[i],
            scan_days,
            cutoff,
            os_days=read["os_days"][i] if "os_days" in read else None,
            os_event=read["os_event"][i] if "os_event" in read else None,
        )
    by = {e.kind: e for e in endpoints}
    landmark = float(by["pfs_at"].day or 182.6)
    durability = by.get("responders_pf_at", KEYNOTE006_DURABILITY)
    classes = classify(
        r,
        landmark=landmark,
        median_day=median_scan([float(x) for x in scan_days], by["median_pfs"].value),
        durability_day=float(durability.day or 240.4),
    )
    target_p = target_class_probabilities(endpoints)
    k = len(target_p)
    ok = classes >= 0
    n_cal = int(by["orr"].n or 277)
    rng = np.random.default_rng([seed, 2016])
    br = read["best_response"]
    rates: dict[str, float] = {"responders": float(np.mean(br[i][br[i] >= 0] <= 1))}
    for t in targets:
        sub = getattr(t, "subgroup", None)
        if sub is not None:
            j = list(arms).index(str(t.arm))
            outcomes = {k2: np.asarray(read[k2])[j] for k2 in OUTCOME_COLUMNS if k2 in read}
            mask = arm_subgroup_mask(sub, params, outcomes)
            rates[f"subgroup:{sub}"] = float(np.mean(mask))
    # a subgroup (or responder set) so rare in the virtual population that a trial of the
    # published size would need over MAX_RESAMPLE_FACTOR times its patients (or over
    # MAX_RESAMPLE_FACTOR times the virtual population) gets no interval (NaN), not a resample
    # of n/share patients (at 10^7 virtual patients, hundreds of millions: out of memory)
    cap = MAX_RESAMPLE_FACTOR * int(np.asarray(br).shape[1])
    sizes = [_sample_size(t, rates, n_cal) for t in targets]
    sizes = [s if s <= cap else 0 for s in sizes]
    values = np.full((n_draws, len(targets)), np.nan)
    extra = {k2: read.get(k2) for k2 in ("os_days", "os_event", "ttr_days", "pseudo_progression")}
    # the re-selection weight of a patient is its class's Dirichlet probability over the
    # class's share of the population: a draw picks the class with that probability (the
    # classes present), then a patient uniformly within it (O(size) per draw, not O(N))
    counts = np.bincount(classes[ok], minlength=k)
    members = np.argsort(np.where(ok, classes, k), kind="stable")  # patients by class
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for d in range(n_draws):
        p = rng.dirichlet(target_p * n_cal + 0.5)
        cdf = np.cumsum(np.where(counts > 0, p, 0.0))
        for size in sorted(set(sizes) - {0}):
            idx = _resample(rng, cdf, counts, members, start, size)
            rows = evaluate_targets(
                [t for t, s in zip(targets, sizes, strict=True) if s == size],
                arms,
                read["best_response"][:, idx],
                read["pfs_days"][:, idx],
                read["pfs_event"][:, idx],
                None
                if params is None
                else {c: np.asarray(params[c])[idx] for c in _names(targets, params)},
                **{k2: (None if v is None else np.asarray(v)[:, idx]) for k2, v in extra.items()},
                diameters=None if diameters is None else np.asarray(diameters)[:, idx],
                scan_days=scan_days,
                at_cutoff=None if at_cutoff is None else _take(at_cutoff, idx),
            )
            cols = [j for j, s in enumerate(sizes) if s == size]
            for j, row in zip(cols, rows, strict=True):
                values[d, j] = float(row["simulated"])  # type: ignore[arg-type]
    a = (1.0 - level) / 2.0
    out: list[tuple[float, float]] = []
    for j in range(len(targets)):
        v = values[:, j][np.isfinite(values[:, j])]
        out.append(
            (float(np.quantile(v, a)), float(np.quantile(v, 1 - a)))
            if v.size
            else (math.nan, math.nan)
        )
    return out


def _setup(targets: Sequence[Any]) -> tuple[str, list[Endpoint], float] | None:
    """The calibration arm, its fitted class endpoints and the cut-off day its classes are
    read at; ``None`` when :func:`reselection_intervals` gives no intervals."""
    arm = calibration_arm(targets)
    if arm is None:
        return None
    fitted = [t for t in targets if t.fitted and str(t.arm) == arm and t.kind in _CLASS_KINDS]
    endpoints = [
        Endpoint(str(t.name), t.kind, float(t.value), n=t.n, day=t.day, source=str(t.source))
        for t in fitted
        if getattr(t, "subgroup", None) is None
    ]
    kinds = {e.kind for e in endpoints}
    if not {"orr", "cr", "pfs_at", "median_pfs"} <= kinds:
        return None
    cutoff = next((t.cutoff_day for t in fitted if getattr(t, "cutoff_day", None)), None)
    return arm, endpoints, float(cutoff or KEYNOTE006_CUTOFF_DAY)


def reselection_cutoff(targets: Sequence[Any]) -> tuple[str, float] | None:
    """The calibration arm and the cut-off day (days) at which :func:`reselection_intervals`
    reads its classes (the fitted class targets' ``cutoff_day``, else KEYNOTE-006's first
    report); ``None`` when the targets give no intervals."""
    setup = _setup(targets)
    return None if setup is None else (setup[0], setup[2])


def _resample(
    rng: np.random.Generator,
    cdf: np.ndarray,
    counts: np.ndarray,
    members: np.ndarray,
    start: np.ndarray,
    size: int,
) -> np.ndarray:
    """``size`` patients drawn with replacement: a class by the cumulative class weights
    ``cdf`` (k,), then a patient uniformly among the class's ``counts`` members
    (``members[start[c] : start[c] + counts[c]]``). The same distribution as drawing patient
    ``i`` with weight ``p[c_i] / counts[c_i]``."""
    k = counts.size
    cls = np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), k - 1)
    within = np.minimum((rng.random(size) * counts[cls]).astype(np.int64), counts[cls] - 1)
    return members[start[cls] + within]


def _take(
    at_cutoff: Mapping[float, Mapping[str, np.ndarray]], idx: np.ndarray
) -> dict[float, dict[str, np.ndarray]]:
    """The read-outs at the cut-off days of the resampled patients ``idx`` (every arm)."""
    return {c: {k: np.asarray(v)[:, idx] for k, v in r.items()} for c, r in at_cutoff.items()}


def _names(targets: Sequence[Any], params: Mapping[str, np.ndarray]) -> list[str]:
    """The per-patient columns the targets' subgroups name."""
    from ..response import parse_subgroups

    cols: list[str] = []
    for t in targets:
        sub = getattr(t, "subgroup", None)
        if sub is None:
            continue
        for name, _, _ in parse_subgroups(sub):
            if name in params and name not in cols:
                cols.append(name)
    return cols

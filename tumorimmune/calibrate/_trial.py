"""Multi-endpoint virtual-population calibration to a published trial arm (Allen et al. 2016).

Reference: R. J. Allen, T. R. Rieger, C. J. Musante, "Efficient generation and selection of
virtual populations in quantitative systems pharmacology models", CPT Pharmacometrics Syst.
Pharmacol. 5:140–146 (2016). What each step of the paper becomes here (``docs/science.md`` §7):

1. **Plausible patients.** Allen et al. draw parameter sets in bounds and move each one into
   the plausible region by optimization (simulated annealing on a plausibility penalty). Here
   the plausible fraction of the space-filling draws is large (≈ 30–60 %), so the optimization
   step is **replaced by rejection**: scrambled-Sobol' candidates (explicit seed), kept when
   (i) both arms solve, (ii) the untreated tumor grows at baseline with a volume-doubling time
   between ``doubling_days`` bounds and (iii) it does not shrink by itself over follow-up
   (untreated best response SD or PD and larger at the end than at baseline) — plausibility
   constraints of this project (**assumption**).
2. **Prevalence selection.** Each plausible patient is accepted with probability
   ``α·p_target(y)/p_plausible(y)`` of its output ``y``. The outputs here are the joint
   RECIST read-out classes of the treated arm (CR; PR; no response and progression-free at the
   PFS landmark; progression at the first scan; progression later), whose target
   probabilities follow from the published ORR, CR rate, landmark PFS and median PFS (see
   :func:`target_class_probabilities`); for discrete outputs the density ratio is exact (no
   kernel density estimate as in the paper), and ``α = 1/max ratio`` maximizes the number of
   selected patients while keeping the expected class frequencies on target.
3. **Goodness of fit.** Allen et al. pick α by a composite Kolmogorov–Smirnov statistic on
   continuous outputs; here the fit of the selected population is judged by a χ² test of its
   class counts against the target probabilities and by every published endpoint recomputed
   on the selection with its 95 % interval (:func:`evaluate_endpoints`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time as _time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import jax.numpy as jnp
import numpy as np
import scipy.stats
import scipy.stats.qmc
from jaxtyping import Float, Int

from ..model import (
    KEYNOTE024_SCREENING,
    PLATINUM_DOUBLET,
    Chemotherapy,
    L_from_tps,
    Regimen,
    TPSDistribution,
    TumorImmunePD1,
)
from ..response import (
    Endpoint,
    Readout,
    SurvivalLink,
    best_overall_response,
    cells_from_sum_of_diameters,
    cutoff_readout,
    evaluate_endpoints,
    km_at,
    patient_uniforms,
    pfs,
    sample_death_days,
    sum_of_diameters_mm,
)
from ..solvers import AbstractBackend, Tolerances
from ._os import KEYNOTE006_OS_TARGETS, OSTarget, fit_survival_link, os_predictions


def keynote006_scan_days(follow_up: float = 1095.0) -> tuple[float, ...]:
    """KEYNOTE-006 imaging: baseline, week 12, every 6 weeks to week 48, then every 12 weeks
    (Robert et al., J Clin Oncol 35 suppl. 9504, 2017), up to ``follow_up`` days."""
    days = [0.0, *(84.0 + 42.0 * k for k in range(7))]
    nxt = 336.0 + 84.0
    while nxt <= follow_up + 1e-9:
        days.append(nxt)
        nxt += 84.0
    return tuple(d for d in days if d <= follow_up + 1e-9)


#: Follow-up of the default trial: three years (days).
FOLLOW_UP_DAYS = 1095.0
#: Pembrolizumab was given for up to 24 months in KEYNOTE-006 (Robert et al. 2019, Lancet Oncol
#: 20:1239): the last dose falls on or before day 730.
TREATMENT_END_DAY = 730.0
#: Data cut-off of KEYNOTE-006's first report (Robert et al. 2015): its endpoints (ORR, CR,
#: PFS, durability) are read on the scans up to the median follow-up of 7.9 months.
KEYNOTE006_CUTOFF_DAY = 7.9 * 365.25 / 12
#: The KEYNOTE-006 scan days over the default follow-up (:func:`keynote006_scan_days`).
KEYNOTE006_SCAN_DAYS: tuple[float, ...] = keynote006_scan_days(FOLLOW_UP_DAYS)

_READOUT = Readout()
_KN006 = "Robert et al. 2015, N Engl J Med 372:2521 (KEYNOTE-006)"
_MONTH = 365.25 / 12

#: KEYNOTE-006, pembrolizumab 10 mg/kg q3w (n = 277): ORR 32.9 % (91/277), CR 6.1 % (17/277),
#: 6-month PFS 46.4 %, median PFS 4.1 months — the calibration targets.
KEYNOTE006_Q3W_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("ORR", "orr", 91 / 277, n=277, source=_KN006),
    Endpoint("CR rate", "cr", 17 / 277, n=277, source=_KN006),
    Endpoint("6-month PFS", "pfs_at", 0.464, n=277, day=182.6, source=_KN006),
    Endpoint("median PFS (days)", "median_pfs", 4.1 * _MONTH, n=277, source=_KN006),
)
#: KEYNOTE-006, pembrolizumab 10 mg/kg q2w (n = 279): ORR 33.7 %, 6-month PFS 47.3 %, median
#: PFS 5.5 months; and the q3w arm's responses ongoing in 96.7 % of responders at a median
#: follow-up of 7.9 months — not fitted: used for validation only.
KEYNOTE006_Q2W_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("ORR", "orr", 0.337, n=279, source=_KN006),
    Endpoint("6-month PFS", "pfs_at", 0.473, n=279, day=182.6, source=_KN006),
    Endpoint("median PFS (days)", "median_pfs", 5.5 * _MONTH, n=279, source=_KN006),
)
#: Responses ongoing in 96.7 % of the q3w arm's responders at a median follow-up of 7.9 months —
#: fitted (the prevalence selection's durability class).
KEYNOTE006_DURABILITY = Endpoint(
    "responders progression-free at 7.9 months",
    "responders_pf_at",
    0.967,
    n=91,
    day=7.9 * _MONTH,
    source=_KN006,
)
#: The calibration targets: the four endpoints and the responses' durability.
KEYNOTE006_Q3W_TARGETS: tuple[Endpoint, ...] = (*KEYNOTE006_Q3W_ENDPOINTS, KEYNOTE006_DURABILITY)

#: Regimens of KEYNOTE-006 (weight-based).
KEYNOTE006_Q3W_REGIMEN = Regimen(
    dose=10.0,
    unit="mg/kg",
    interval=21.0,
    drug="pembrolizumab",
    end_day=TREATMENT_END_DAY,
    name="pembrolizumab 10 mg/kg q3w (KEYNOTE-006)",
)
KEYNOTE006_Q2W_REGIMEN = Regimen(
    dose=10.0,
    unit="mg/kg",
    interval=14.0,
    drug="pembrolizumab",
    end_day=TREATMENT_END_DAY,
    name="pembrolizumab 10 mg/kg q2w (KEYNOTE-006)",
)

#: Population-level parameters of the clinical melanoma parameterization (docs/science.md §6).
CLINICAL_FIXED: dict[str, float] = {
    "b": 2e-13,  # carrying capacity 5e12 cells (≈ 5 kg, a lethal burden; assumption)
    "p": 0.1245,  # Kuznetsov et al. 1994
    "g": 1e9,  # half-maximal recruitment at 1 cm³ (assumption; ×50 the mouse value)
    "d": 0.01,  # effector/memory persistence, half-life 69 days (assumption)
    "n": 1.101e-7,  # Kuznetsov et al. 1994
    "eps_n": 3.0,  # assumption, then selected by calibration
    "eps_m": 0.95,  # assumption
    "f_indep": 0.3,  # assumption: PD-L1-negative tumors keep 30 % of the effect
    "Imax": 0.961,  # Elassaiss-Schaap et al. 2017
    "EC50": 0.535,  # µg/mL, Elassaiss-Schaap et al. 2017
    "b_E": 1e-10,  # effector ceiling 1e10 cells, ≤ 2.5 % of the body's ~4e11 T cells (assumption)
    "k_R": 0.0,  # escape variants are not killed (antigen/B2M loss; assumption)
}

#: Bounds of the patient-specific parameters for plausible-patient sampling (log-uniform
#: unless "linear"); T0 comes from the baseline sum of diameters, L and weight from their
#: population distributions (see :func:`plausible_candidates`).
CLINICAL_RANGES: dict[str, tuple[float, float, str]] = {
    "a": (0.004, 0.05, "log"),  # 1/day, maximal growth rate (volume doubling 14–170 days)
    "m": (5e-13, 5e-11, "log"),  # 1/(cell·day), effector exhaustion per encounter
    "s": (100.0, 3000.0, "log"),  # cells/day, effector influx
    "h_kill": (1.0, 50.0, "log"),  # days; maximal kill 0.02–1 per day
    "f_R": (1e-6, 1.0, "log"),  # escape-variant fraction of the baseline tumor, if any
    "kappa": (0.05, 10.0, "log"),  # infiltrate/debris cell equivalents per killed cell
    "k_clear": (0.005, 0.2, "log"),  # 1/day, residual-mass clearance (half-life 3.5–140 days)
}
#: Share of candidates whose tumor carries no escape variants (``f_R = 0``; the others draw
#: ``f_R`` from :data:`CLINICAL_RANGES`): an **assumption** (docs/science.md §6), chosen so that
#: responses are as durable as in the long-term pembrolizumab reports.
ZERO_SHARE: dict[str, float] = {"f_R": 0.6}
#: Baseline sum of target-lesion diameters (mm) of the candidates: lognormal, median 102 mm
#: (KEYNOTE-001 melanoma), truncated to this range (assumption; with 3 equal lesions 300 mm is
#: 1.6e12 cells, a third of the carrying capacity).
BASELINE_SLD_RANGE_MM: tuple[float, float] = (10.0, 300.0)


def plausible_candidates(
    n: int,
    *,
    seed: int,
    ranges: Mapping[str, tuple[float, float, str]] = CLINICAL_RANGES,
    baseline_sld_median_mm: float = 102.0,
    baseline_sld_cv: float = 0.8,
    baseline_sld_range_mm: tuple[float, float] = BASELINE_SLD_RANGE_MM,
    zero_share: Mapping[str, float] = ZERO_SHARE,
    readout: Readout = _READOUT,
    weight_mean_kg: float = 76.8,
    weight_sd_kg: float = 15.0,
    tps_distribution: TPSDistribution | None = None,
    tps_min: float = 0.0,
) -> dict[str, np.ndarray]:
    """Space-filling candidate patients (scrambled Sobol', ``seed``): parameters and T0.

    Patient-specific parameters within ``ranges`` (a share ``zero_share[name]`` of the
    candidates gets exactly 0 instead, e.g. tumors without escape variants); baseline sum of
    diameters lognormal (median 102 mm: KEYNOTE-001 melanoma, 583 patients, range 10–895 mm,
    Joseph et al. 2018, Clin Cancer Res 24:4960; CV 0.8 an **assumption** for that range)
    truncated to
    ``baseline_sld_range_mm``, PD-L1 ``L`` uniform on [0, 1] (assumption), weight normal
    76.8 ± 15 kg truncated to [40, 150]. ``readout`` converts the sum of diameters to T0
    (:func:`~tumorimmune.response.cells_from_sum_of_diameters`).

    With ``tps_distribution`` the PD-L1 column is instead a tumor proportion score (TPS, %)
    drawn from that published distribution restricted to ``TPS ≥ tps_min`` (%, e.g. 50 for a
    trial that enrolled only TPS ≥ 50 %; uniform within a category, as
    :func:`~tumorimmune.model.sample_tps`), on the same Sobol' coordinate, and mapped to ``L``
    by :func:`~tumorimmune.model.L_from_tps`.
    """
    names = list(ranges)
    d = len(names) + 3
    u = np.asarray(scipy.stats.qmc.Sobol(d=d, scramble=True, seed=seed).random(int(n)))  # pyright: ignore[reportCallIssue]
    u = np.clip(u, 1e-12, 1 - 1e-12)
    out: dict[str, np.ndarray] = {}
    for j, k in enumerate(names):
        lo, hi, scale = ranges[k]
        z0 = float(zero_share.get(k, 0.0))
        if not 0.0 <= z0 < 1.0:
            raise ValueError(f"zero_share[{k!r}] must be in [0, 1); got {z0!r}")
        v = np.clip((u[:, j] - z0) / (1.0 - z0), 0.0, 1.0)
        val = (
            np.exp(np.log(lo) + v * (np.log(hi) - np.log(lo)))
            if scale == "log"
            else lo + v * (hi - lo)
        )
        out[k] = np.where(u[:, j] < z0, 0.0, val)
    sig = math.sqrt(math.log1p(baseline_sld_cv**2))
    lo_s, hi_s = (
        scipy.stats.norm.cdf(math.log(v / baseline_sld_median_mm) / sig)
        for v in baseline_sld_range_mm
    )
    z = scipy.stats.norm.ppf(lo_s + u[:, -3] * (hi_s - lo_s))
    sld0 = baseline_sld_median_mm * np.exp(sig * z)
    out["T0"] = cells_from_sum_of_diameters(sld0, readout=readout)
    out["L"] = (
        u[:, -2]
        if tps_distribution is None
        else L_from_tps(tps_quantile(tps_distribution, u[:, -2], tps_min=tps_min))
    )
    lo_z, hi_z = (40 - weight_mean_kg) / weight_sd_kg, (150 - weight_mean_kg) / weight_sd_kg
    out["weight"] = scipy.stats.truncnorm.ppf(u[:, -1], lo_z, hi_z, weight_mean_kg, weight_sd_kg)
    return out


def tps_quantile(
    distribution: TPSDistribution, u: Float[np.ndarray, " n"], *, tps_min: float = 0.0
) -> Float[np.ndarray, " n"]:
    """TPS (%) at probabilities ``u`` in [0, 1] of ``distribution`` restricted to
    ``TPS ≥ tps_min`` (%): the inverse of its piecewise-linear distribution function (each
    category's share spread uniformly over it, as :func:`~tumorimmune.model.sample_tps`)."""
    edges = np.array([0.0, *distribution.cutoffs, 100.0])
    cdf = np.concatenate([[0.0], np.cumsum(distribution.shares)])
    lo = float(np.interp(tps_min, edges, cdf))
    if not lo < cdf[-1] - 1e-12:
        raise ValueError(f"no probability mass at TPS >= {tps_min} % in {distribution.name}")
    q = lo + np.asarray(u, float) * (cdf[-1] - lo)
    return np.asarray(np.interp(q, cdf, edges), dtype=float)


def _model(values: Mapping[str, np.ndarray], fixed: Mapping[str, float]) -> TumorImmunePD1:
    params = {k: v for k, v in values.items() if k not in ("T0", "E0", "u_death")}
    return TumorImmunePD1.with_drug("pembrolizumab", **{**fixed, **params})


def simulate_scans(
    values: Mapping[str, np.ndarray],
    regimen: Regimen | None,
    *,
    fixed: Mapping[str, float] = CLINICAL_FIXED,
    scan_days: Sequence[float] = KEYNOTE006_SCAN_DAYS,
    dtype: Literal["float32", "float64"] = "float64",
    backend: str | AbstractBackend = "auto",
    tolerances: Tolerances | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Tumor cells ``(N, n_scan)`` at the scan days, and solver status ``(N,)``.

    ``values`` holds per-patient parameters plus ``T0`` and optionally ``E0`` (default: the
    untreated quasi-steady effector level of each patient). ``backend``, ``tolerances``: as
    :func:`tumorimmune.simulate`.
    """
    from .._simulate import simulate

    model = _model(values, fixed)
    T0 = np.asarray(values["T0"], float)
    E0 = np.asarray(values["E0"], float) if "E0" in values else initial_effectors(model, T0)
    ds = simulate(
        model,
        {"E": E0, "T": T0},
        np.asarray(scan_days, float),
        regimen=regimen,
        dtype=dtype,
        backend=backend,
        tolerances=tolerances,
    )
    burden = ds["burden"] if "burden" in ds else ds["T"]  # imaged lesion: T + R + D
    cells = np.asarray(burden.values, float).reshape(len(T0), -1)
    return cells, np.asarray(ds["status"].values).reshape(-1)


def initial_effectors(model: TumorImmunePD1, T0: np.ndarray) -> np.ndarray:
    """Pre-treatment effectors: the untreated quasi-steady level at ``T0`` (NaN if none)."""
    import jax

    with jax.enable_x64(True):
        E = np.asarray(model.quasi_steady_effectors(np.asarray(T0, float)), float)
    return np.where(np.isfinite(E), E, np.nan)


def read_scans(
    cells: np.ndarray,
    scan_days: Sequence[float],
    *,
    follow_up: float,
    readout: Readout = _READOUT,
) -> dict[str, np.ndarray]:
    """RECIST read-out of scan series: best response, PFS days and event, SLD (mm)."""
    sld = sum_of_diameters_mm(cells, readout=readout)
    bor = best_overall_response(sld)
    days, event = pfs(sld, np.asarray(scan_days, float), follow_up=follow_up)
    return {"bor": bor, "pfs_days": days, "pfs_event": event, "sld": sld}


#: Read-out classes used for prevalence selection (NR: no objective response; PD: progression
#: or death; "median scan": the first scan on or after the published median PFS; "durability
#: landmark": the day at which the responses' durability was published).
CLASSES: tuple[str, ...] = (
    "CR",
    "PR, progression-free at the durability landmark",
    "PR, PD by the durability landmark",
    "NR, progression-free at the landmark",
    "NR, PD before the median scan",
    "NR, PD at the median scan",
    "NR, PD after the median scan, by the landmark",
)
#: The read-out classes when the published median PFS falls after the PFS landmark (e.g.
#: KEYNOTE-024: median 10.3 months, landmark 6 months): the non-responders are split by
#: progression by the landmark, between the landmark and the median scan, at the median scan,
#: and progression-free at the median scan.
CLASSES_LATE_MEDIAN: tuple[str, ...] = (
    "CR",
    "PR, progression-free at the durability landmark",
    "PR, PD by the durability landmark",
    "NR, PD by the landmark",
    "NR, PD after the landmark, before the median scan",
    "NR, PD at the median scan",
    "NR, progression-free at the median scan",
)


def class_names(*, landmark: float, median_day: float) -> tuple[str, ...]:
    """The read-out classes for a PFS ``landmark`` and median scan ``median_day`` (days):
    :data:`CLASSES` when the median scan is on or before the landmark, else
    :data:`CLASSES_LATE_MEDIAN`."""
    return CLASSES_LATE_MEDIAN if median_day > landmark else CLASSES


def median_scan(scan_days: Sequence[float], median: float) -> float:
    """The first on-study scan day on or after ``median`` (days)."""
    s = np.asarray(scan_days, float)[1:]
    later = s[s >= median - 1e-9]
    if later.size == 0:
        raise ValueError(f"no scan on or after the median PFS {median:.1f} d; scans: {s}")
    return float(later[0])


def classify(
    r: Mapping[str, np.ndarray],
    *,
    landmark: float,
    median_day: float,
    durability_day: float = KEYNOTE006_DURABILITY.day or 240.4,
) -> Int[np.ndarray, " n"]:
    """Class index of each patient's treated read-out; -1 not evaluable.

    ``r`` holds ``bor`` (best overall response codes), ``pfs_days`` and ``pfs_event``;
    ``landmark``, ``median_day`` (the median scan) and ``durability_day`` are days. The
    classes are :data:`CLASSES`, or :data:`CLASSES_LATE_MEDIAN` when ``median_day >
    landmark`` (:func:`class_names`).
    """
    bor, days, event = r["bor"], r["pfs_days"], r["pfs_event"]
    cls = np.full(bor.shape, -1, np.int64)
    nr = (bor == 2) | (bor == 3)
    by_land = event & (days <= landmark)
    cls[bor == 0] = 0
    cls[(bor == 1) & ~(event & (days <= durability_day))] = 1
    cls[(bor == 1) & event & (days <= durability_day)] = 2
    if median_day > landmark:
        by_median = event & (days <= median_day)
        cls[nr & by_land] = 3
        cls[nr & event & (days > landmark) & (days < median_day)] = 4
        cls[nr & event & (days == median_day)] = 5
        cls[nr & ~by_median] = 6
        return cls
    cls[nr & ~by_land] = 3
    cls[nr & event & (days < median_day)] = 4
    cls[nr & event & (days == median_day)] = 5
    cls[nr & by_land & (days > median_day)] = 6
    return cls


def target_class_probabilities(
    endpoints: Sequence[Endpoint],
    *,
    responder_pf: float | None = None,
    delta: float = 0.015,
    median_day: float | None = None,
) -> Float[np.ndarray, " 7"]:
    """Target probabilities of :data:`CLASSES` implied by the published endpoints.

    Needs ORR, CR rate, landmark PFS (``pfs_at``) and median PFS; the responders' durability
    (``responders_pf_at``; else ``responder_pf``, default 0.967 of KEYNOTE-006) splits the
    partial responses into those still progression-free at its day and those progressed by
    then (complete responses are taken as durable to that day). Progression-free at the
    landmark: ``PFS(landmark) = ORR·responder_pf + P(NR, progression-free)``. Progression is
    seen only at scans, so the Kaplan–Meier curve steps at scan days and the published median
    falls on the first scan on or after it ("median scan"): the curve is put at ``0.5 + delta``
    just before that scan and ``0.5 − delta`` after it (``delta`` = 1.5 points, an
    **assumption** of this read-out: the trial's scan-time jitter is not modelled), and
    reaches ``PFS(landmark)`` at the landmark. Normalized to sum 1.

    When the median scan ``median_day`` (days; default: the published median) falls after the
    landmark, the classes are :data:`CLASSES_LATE_MEDIAN`: the responders are progression-free
    at the landmark and the relapsing ones progress before the median scan, so
    ``P(NR, PD by the landmark) = 1 − PFS(landmark)``, the non-responders progressing between
    the landmark and the median scan bring the curve from ``PFS(landmark)`` to ``0.5 + delta``,
    and ``0.5 − delta − ORR·responder_pf`` of the patients are non-responders still
    progression-free after the median scan (these sum to 1 exactly).
    """
    by = {e.kind: e for e in endpoints}
    missing = [k for k in ("orr", "cr", "pfs_at", "median_pfs") if k not in by]
    if missing:
        raise ValueError(f"endpoints lack {missing}; need orr, cr, pfs_at and median_pfs")
    if responder_pf is None:
        responder_pf = by["responders_pf_at"].value if "responders_pf_at" in by else 0.967
    orr, cr = by["orr"].value, by["cr"].value
    pf_land = by["pfs_at"].value
    relapsed = orr * (1.0 - responder_pf)
    med = by["median_pfs"].value if median_day is None else median_day
    if med > (by["pfs_at"].day or 182.6):
        p = np.array(
            [
                cr,
                orr - cr - relapsed,
                relapsed,
                1.0 - pf_land,
                pf_land - 0.5 - delta - relapsed,
                2 * delta,
                0.5 - delta - orr * responder_pf,
            ]
        )
    else:
        p = np.array(
            [
                cr,
                orr - cr - relapsed,
                relapsed,
                pf_land - orr * responder_pf,
                0.5 - delta,
                2 * delta,
                0.5 - delta - pf_land,
            ]
        )
    if np.any(p < 0):
        raise ValueError(f"the endpoints imply a negative class probability: {p.round(4)}")
    return p / p.sum()


def prevalence_weights(
    classes: Int[np.ndarray, " n"],
    target: Float[np.ndarray, " k"],
    *,
    names: Sequence[str] = CLASSES,
) -> tuple[Float[np.ndarray, " n"], Float[np.ndarray, " k"]]:
    """Allen acceptance probabilities ``α·p_target(c)/p_plausible(c)`` with ``α = 1/max``.

    ``names``: the classes' labels (for the error naming empty classes).
    Returns ``(acceptance (N,), plausible class frequencies (K,))``.
    """
    k = len(target)
    counts = np.bincount(classes[classes >= 0], minlength=k).astype(float)
    freq = counts / counts.sum()
    if np.any((freq == 0) & (target > 0)):
        empty = [names[i] for i in range(k) if freq[i] == 0 and target[i] > 0]
        raise ValueError(
            f"no plausible patient falls in class(es) {empty}: widen the parameter ranges"
        )
    ratio = np.where(freq > 0, target / np.where(freq > 0, freq, 1.0), 0.0)
    ratio = ratio / ratio.max()
    accept = np.where(classes >= 0, ratio[np.clip(classes, 0, k - 1)], 0.0)
    return accept, freq


@dataclasses.dataclass
class VirtualPopulation:
    """A calibrated virtual population: the selected patients and how they were chosen.

    Attributes:
        table: per-patient columns ``{name: (N,)}`` — the varied parameters, ``T0`` and
            ``E0`` (cells), ready for a sweep spec's ``[population]`` section.
        fixed: population-level parameters (the same for every patient).
        endpoints: the calibration endpoints recomputed on the selection (see
            :func:`evaluate_endpoints`).
        info: counts, class frequencies, the χ² goodness of fit, seeds and timing.
    """

    table: dict[str, np.ndarray]
    fixed: dict[str, float]
    endpoints: list[dict[str, object]]
    info: dict[str, object]

    def tps(self) -> np.ndarray:
        """Per-patient PD-L1 tumor proportion score (%, 22C3) of the table's ``L``
        (:func:`tumorimmune.model.tps_from_L`; docs/science.md "PD-L1 as an assay"), or of
        ``fixed["L"]`` for every patient when ``L`` is not per patient.

        Raises:
            KeyError: neither the table nor ``fixed`` has ``L``.
        """
        from ..model import tps_from_L

        n = len(next(iter(self.table.values()))) if self.table else 0
        L = self.table["L"] if "L" in self.table else np.full(n, self.fixed["L"])
        return tps_from_L(np.asarray(L, dtype=float))

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` with the columns and a JSON ``meta`` entry (fixed, info)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps(
            {"fixed": self.fixed, "endpoints": self.endpoints, "info": self.info},
            default=_json_default,
        )
        np.savez_compressed(path, meta=np.array(meta), **self.table)  # pyright: ignore[reportArgumentType]
        return path


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def load_population(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """Columns and metadata of a saved :class:`VirtualPopulation` (``.npz``)."""
    with np.load(Path(path), allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        table = {k: np.asarray(z[k]) for k in z.files if k != "meta"}
    return table, meta


@dataclasses.dataclass(frozen=True)
class PendingArm:
    """A trial arm whose published endpoints are recorded but not fitted yet.

    Attributes:
        name: the arm, e.g. ``"platinum-doublet chemotherapy (KEYNOTE-024)"``.
        treatment: what the patients got (free text).
        endpoints: its published endpoints (days for medians, fractions otherwise).
        reason: why it is not fitted (shown beside the calibration table).
    """

    name: str
    treatment: str
    endpoints: tuple[Endpoint, ...]
    reason: str


#: Read-out classes of a chemotherapy arm read at one PFS landmark only (its median and
#: landmark fall on the same scan interval, so the median is a prediction, not a class split).
CHEMO_CLASSES: tuple[str, ...] = (
    "R, progression-free at the landmark",
    "R, PD by the landmark",
    "NR, progression-free at the landmark",
    "NR, PD by the landmark",
)


@dataclasses.dataclass(frozen=True)
class ChemoArm:
    """A chemotherapy arm fitted jointly with the trial's antibody arm.

    Every candidate is read out in both arms; the selection matches the antibody arm's classes
    and this arm's :data:`CHEMO_CLASSES` jointly (:func:`joint_class_targets`).

    Attributes:
        name: the arm, e.g. ``"platinum doublet (KEYNOTE-024)"``.
        chemo: the regimen (preset and cycles; its typical ``k_chemo``/``lam_chemo`` unused:
            every patient draws its own).
        endpoints: the fitted endpoints, ORR (``orr``) and a landmark PFS (``pfs_at``).
        predicted: published endpoints read on the selection but not fitted (median PFS, OS).
        responder_pf: share of the responders progression-free at the landmark (assumption).
        os_endpoints: whole-arm OS endpoints (``os_at``, ``median_os``) that fit the arm's
            hazard ratio of death (:func:`fit_hazard_ratio`): the tumor-driven hazard of the
            antibody arm's survival link times one constant ``hazard_ratio`` at every time and
            tumor size (none: the antibody arm's link as it is, ``hazard_ratio = 1``).
        k_chemo_median, k_chemo_sigma: per-patient ``k_chemo`` (1/day), lognormal median and
            log-SD, truncated at ±3 SD (assumption).
        lam_chemo_median, lam_chemo_sigma: per-patient ``lam_chemo`` (1/day), likewise.
    """

    name: str
    chemo: Chemotherapy
    endpoints: tuple[Endpoint, ...]
    predicted: tuple[Endpoint, ...] = ()
    responder_pf: float = 0.8
    k_chemo_median: float = 0.03
    k_chemo_sigma: float = 1.0
    lam_chemo_median: float = 0.02
    lam_chemo_sigma: float = 0.5
    os_endpoints: tuple[Endpoint, ...] = ()

    def __post_init__(self) -> None:
        if any(e.kind not in ("os_at", "median_os") for e in self.os_endpoints):
            raise ValueError(f"chemo arm {self.name!r}: os_endpoints must be os_at or median_os")
        kinds = {e.kind for e in self.endpoints}
        if not {"orr", "pfs_at"} <= kinds:
            raise ValueError(f"chemo arm {self.name!r}: fitted endpoints need orr and pfs_at")
        if not 0.0 < self.responder_pf <= 1.0:
            raise ValueError(f"chemo arm {self.name!r}: responder_pf must be in (0, 1]")

    def os_targets(self) -> tuple[OSTarget, ...]:
        """:attr:`os_endpoints` as whole-arm OS targets (:class:`OSTarget`; a median's weight
        from its 95 % interval ``lo``–``hi``)."""
        out = []
        for e in self.os_endpoints:
            if e.kind == "os_at":
                day = float(e.day or 0.0)
                out.append(OSTarget(e.name, "landmark", e.value, day=day, n=e.n, source=e.source))
            else:
                se = None
                if e.lo and e.hi:
                    se = (math.log(e.hi) - math.log(e.lo)) / (2 * 1.96)
                out.append(OSTarget(e.name, "median", e.value, n=e.n, se_log=se, source=e.source))
        return tuple(out)

    def landmark_day(self) -> float:
        """The PFS landmark (days) of the ``pfs_at`` endpoint."""
        return float(next(e.day for e in self.endpoints if e.kind == "pfs_at") or 182.6)

    def target_class_probabilities(self) -> Float[np.ndarray, " 4"]:
        """Target probabilities of :data:`CHEMO_CLASSES` from ORR, landmark PFS and
        ``responder_pf``."""
        by = {e.kind: e.value for e in self.endpoints}
        orr, pf, r = by["orr"], by["pfs_at"], self.responder_pf
        p = np.array([orr * r, orr * (1 - r), pf - orr * r, 1 - pf - orr * (1 - r)])
        if np.any(p < 0):
            raise ValueError(f"chemo arm {self.name!r}: negative class probability {p.round(4)}")
        return p

    def sample_sensitivity(self, n: int, *, seed: int) -> dict[str, np.ndarray]:
        """Per-patient ``k_chemo`` and ``lam_chemo`` (1/day): lognormal, truncated at ±3 SD,
        on their own scrambled-Sobol' stream (seed ``[seed, 2]``), so the other candidate
        columns are those of a calibration without the chemotherapy arm."""
        rng = np.random.default_rng([seed, 2])
        u = np.asarray(scipy.stats.qmc.Sobol(d=2, scramble=True, seed=rng).random(int(n)))  # pyright: ignore[reportCallIssue]
        lo, hi = scipy.stats.norm.cdf(-3.0), scipy.stats.norm.cdf(3.0)
        z = scipy.stats.norm.ppf(lo + u * (hi - lo))
        return {
            "k_chemo": self.k_chemo_median * np.exp(self.k_chemo_sigma * z[:, 0]),
            "lam_chemo": self.lam_chemo_median * np.exp(self.lam_chemo_sigma * z[:, 1]),
        }


def classify_chemo(r: Mapping[str, np.ndarray], *, landmark: float) -> Int[np.ndarray, " n"]:
    """Class index (:data:`CHEMO_CLASSES`) of each patient's chemotherapy read-out; -1 not
    evaluable. ``r`` as :func:`classify`."""
    bor, days, event = r["bor"], r["pfs_days"], r["pfs_event"]
    cls = np.full(bor.shape, -1, np.int64)
    by_land = event & (days <= landmark)
    resp = (bor == 0) | (bor == 1)
    nr = (bor == 2) | (bor == 3)
    cls[resp & ~by_land] = 0
    cls[resp & by_land] = 1
    cls[nr & ~by_land] = 2
    cls[nr & by_land] = 3
    return cls


def joint_class_targets(
    counts: Float[np.ndarray, "k m"],
    row_target: Float[np.ndarray, " k"],
    col_target: Float[np.ndarray, " m"],
    *,
    iterations: int = 2000,
    tol: float = 1e-12,
) -> Float[np.ndarray, "k m"]:
    """Joint target probabilities of two arms' classes: the plausible joint frequencies
    ``counts`` raked (iterative proportional fitting, Deming & Stephan 1940) to the target
    margins ``row_target`` and ``col_target`` — of all joint distributions with those margins
    the one closest to the plausible one in Kullback–Leibler divergence, so the association of
    a patient's classes in the two arms is the model's, not assumed independent."""
    q = np.asarray(counts, float) / np.sum(counts)
    for name, t, m in (("first", row_target, q.sum(1)), ("second", col_target, q.sum(0))):
        if np.any((m == 0) & (np.asarray(t) > 0)):
            raise ValueError(f"no plausible patient falls in a class of the {name} arm")
    for _ in range(iterations):
        rs = q.sum(1)
        q = q * np.where(rs > 0, row_target / np.where(rs > 0, rs, 1.0), 0.0)[:, None]
        cs = q.sum(0)
        q = q * np.where(cs > 0, col_target / np.where(cs > 0, cs, 1.0), 0.0)[None, :]
        if np.max(np.abs(q.sum(1) - row_target)) < tol:
            break
    return q


@dataclasses.dataclass(frozen=True)
class TrialDefinition:
    """A trial as data: what :func:`calibrate_population` fits a virtual population to.

    Attributes:
        name: registry name, lower case (``"keynote006"``); ``--trial`` of
            ``tumorimmune calibrate-population``.
        title: the trial and report, e.g. ``"KEYNOTE-006, first report"``.
        indication: the disease and line of therapy.
        regimen: the calibrated arm's dosing.
        endpoints: the fitted endpoints of that arm (ORR, CR rate, a landmark PFS, median PFS,
            optionally the responders' durability), each with ``n`` and source.
        scan_days: the trial's imaging days (day 0 = baseline) over ``follow_up``.
        cutoff_day: the data cut-off of the report that gave ``endpoints`` (days from
            randomization; the median follow-up).
        follow_up: simulated follow-up (days).
        os_targets: the published OS numbers the survival link is fitted to.
        survival_beta: hold the link's tumor-size exponent at this value (``None``: fit it).
        survival_fit: ``"expected"``: the link is fitted to each patient's expected survival
            (:func:`fit_survival_link`); ``"sampled"``: then refined so that the deaths drawn
            with the patients' own death quantiles ``u_death`` (those a sweep uses) meet the
            targets (:func:`fit_link_to_sampled_deaths`) — needed where many deaths precede
            progression, since the selection then favours patients with late death draws.
        responder_pf: share of responders progression-free at ``durability_day`` when the
            endpoints have no ``responders_pf_at`` (``None``: the endpoint's value).
        durability_day: day (days) splitting durable from relapsing partial responses when
            the endpoints have no ``responders_pf_at``.
        fixed: population-level model parameters.
        ranges: per-patient parameter bounds (see :func:`plausible_candidates`).
        zero_share: share of candidates with a parameter exactly 0.
        baseline_sld_median_mm, baseline_sld_cv, baseline_sld_range_mm: baseline sum of
            target-lesion diameters (mm): lognormal median, coefficient of variation, range.
        doubling_days: plausible untreated volume-doubling times at baseline (days).
        tps_distribution: published PD-L1 TPS distribution the ``L`` column is drawn from
            (``None``: ``L`` uniform on [0, 1]).
        tps_min: lowest enrolled TPS (%), e.g. 50.
        weight_mean_kg, weight_sd_kg: body weight (kg), normal truncated to [40, 150].
        seed: default seed of the candidates and the selection.
        pending: arms whose endpoints are recorded but not fitted (with the reason).
        sources: what each number above rests on (citation, URL, or "assumption").
        chemo_arm: a chemotherapy arm selected on jointly with ``regimen``'s arm
            (:class:`ChemoArm`; ``None``: one arm).
    """

    name: str
    title: str
    indication: str
    regimen: Regimen
    endpoints: tuple[Endpoint, ...]
    scan_days: tuple[float, ...]
    cutoff_day: float
    os_targets: tuple[OSTarget, ...]
    follow_up: float = FOLLOW_UP_DAYS
    survival_beta: float | None = None
    survival_fit: Literal["expected", "sampled"] = "expected"
    responder_pf: float | None = None
    durability_day: float | None = None
    fixed: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(CLINICAL_FIXED))
    ranges: Mapping[str, tuple[float, float, str]] = dataclasses.field(
        default_factory=lambda: dict(CLINICAL_RANGES)
    )
    zero_share: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(ZERO_SHARE))
    baseline_sld_median_mm: float = 102.0
    baseline_sld_cv: float = 0.8
    baseline_sld_range_mm: tuple[float, float] = BASELINE_SLD_RANGE_MM
    doubling_days: tuple[float, float] = (15.0, 300.0)
    tps_distribution: TPSDistribution | None = None
    tps_min: float = 0.0
    weight_mean_kg: float = 76.8
    weight_sd_kg: float = 15.0
    seed: int = 2015
    pending: tuple[PendingArm, ...] = ()
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    chemo_arm: ChemoArm | None = None

    def __post_init__(self) -> None:
        kinds = {e.kind for e in self.endpoints}
        missing = {"orr", "cr", "pfs_at", "median_pfs"} - kinds
        if missing:
            raise ValueError(f"trial {self.name!r}: endpoints lack {sorted(missing)}")
        if "responders_pf_at" not in kinds and (
            self.responder_pf is None or self.durability_day is None
        ):
            raise ValueError(
                f"trial {self.name!r}: without a responders_pf_at endpoint give responder_pf "
                "and durability_day"
            )
        s = np.asarray(self.scan_days, float)
        if s.size < 2 or s[0] != 0 or np.any(np.diff(s) <= 0):
            raise ValueError(f"trial {self.name!r}: scan_days must start at 0 and increase")

    def landmark_day(self) -> float:
        """The PFS landmark (days) of the ``pfs_at`` endpoint."""
        return float(next(e.day for e in self.endpoints if e.kind == "pfs_at") or 182.6)

    def median_scan_day(self) -> float:
        """The first scan (days) on or after the published median PFS."""
        med = next(e.value for e in self.endpoints if e.kind == "median_pfs")
        days = [d for d in self.scan_days if d <= self.follow_up]
        return median_scan(days, med)

    def durability(self) -> tuple[float, float | None]:
        """``(day, responder_pf)`` of the responders' durability (the endpoint's day and
        ``None``, so that its value is used, or the trial's stated assumption)."""
        e = next((e for e in self.endpoints if e.kind == "responders_pf_at"), None)
        if e is not None:
            return float(e.day or 240.4), None
        return float(self.durability_day or 240.4), self.responder_pf


#: KEYNOTE-006 (advanced melanoma), pembrolizumab 10 mg/kg q3w, first report: the default trial.
KEYNOTE006_TRIAL = TrialDefinition(
    name="keynote006",
    title="KEYNOTE-006, pembrolizumab 10 mg/kg q3w arm, first report (7.9-month cut-off)",
    indication="advanced melanoma",
    regimen=KEYNOTE006_Q3W_REGIMEN,
    endpoints=KEYNOTE006_Q3W_TARGETS,
    scan_days=KEYNOTE006_SCAN_DAYS,
    cutoff_day=KEYNOTE006_CUTOFF_DAY,
    os_targets=KEYNOTE006_OS_TARGETS,
    pending=(
        PendingArm(
            "pembrolizumab 10 mg/kg q2w (KEYNOTE-006)",
            "pembrolizumab 10 mg/kg every 2 weeks",
            KEYNOTE006_Q2W_ENDPOINTS,
            "held out: validation of the q3w-calibrated population",
        ),
    ),
    sources={"endpoints": _KN006, "population": "docs/science.md §7"},
)


def sampled_os(
    sld: Float[np.ndarray, "n grid"],
    grid_days: Float[np.ndarray, " grid"],
    u_death: Float[np.ndarray, " n"],
    link: SurvivalLink,
    targets: Sequence[OSTarget],
    *,
    follow_up: float,
) -> list[float]:
    """Each whole-arm OS target (``group="all"``, ``from_day`` 0) on the deaths drawn with the
    patients' death quantiles ``u_death``: the fraction alive at a landmark ``day``, or the
    median death day (days; ``inf`` if half the patients are alive at ``follow_up``)."""
    days, event = sample_death_days(sld, grid_days, u_death, link, follow_up=follow_up)
    ok = np.isfinite(days)
    days, event = days[ok], event[ok]
    out: list[float] = []
    for t in targets:
        if t.group != "all" or t.from_day:
            raise ValueError(f"sampled OS fit: only whole-arm targets from day 0; got {t.name!r}")
        if t.kind == "landmark":
            out.append(float(np.mean(~(event & (days <= t.day)))))
        elif t.kind == "median":
            dead = np.sort(days[event])
            k = (days.size + 1) // 2
            out.append(float(dead[k - 1]) if dead.size >= k else math.inf)
        else:
            raise ValueError(f"OSTarget.kind must be 'median' or 'landmark'; got {t.kind!r}")
    return out


def fit_link_to_sampled_deaths(
    sld: Float[np.ndarray, "n grid"],
    grid_days: Float[np.ndarray, " grid"],
    u_death: Float[np.ndarray, " n"],
    start: SurvivalLink,
    *,
    targets: Sequence[OSTarget],
    follow_up: float,
    expected: Mapping[str, object] | None = None,
) -> tuple[SurvivalLink, dict[str, object]]:
    """Refit ``scale_days`` (days) and ``shape`` of ``start`` so that the deaths drawn with the
    selected patients' own ``u_death`` meet ``targets`` (:func:`sampled_os`; Nelder–Mead on
    the same standardized residuals as :func:`fit_survival_link`); ``beta`` and the background
    stay. ``sld`` (mm) on ``grid_days`` as :func:`fit_survival_link`. Returns the link and its
    info (``expected``: the expected-survival fit's info, kept under ``"expected_fit"``)."""
    import scipy.optimize

    ok = np.all(np.isfinite(sld), axis=1)
    sld, u = np.asarray(sld, float)[ok], np.asarray(u_death, float)[ok]

    def make(x: np.ndarray) -> SurvivalLink:
        return dataclasses.replace(
            start, scale_days=float(math.exp(x[0])), shape=float(np.clip(math.exp(x[1]), 0.3, 3))
        )

    def loss(x: np.ndarray) -> float:
        pred = sampled_os(sld, grid_days, u, make(x), targets, follow_up=follow_up)
        r = 0.0
        for t, v in zip(targets, pred, strict=True):
            if t.kind == "median":
                e = math.log(min(max(v, 1.0), 1e6) / t.value)
            else:
                q = min(max(v, 1e-9), 1 - 1e-9)
                e = math.log(q / (1 - q)) - math.log(t.value / (1 - t.value))
            r += (e / t.standard_error()) ** 2
        return r

    x0 = np.array([math.log(start.scale_days), math.log(start.shape)])
    simplex = np.vstack([x0, x0 + 0.1 * np.eye(2)])  # ±10 % in scale and shape
    sol = scipy.optimize.minimize(
        loss,
        x0,
        method="Nelder-Mead",
        options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 400, "initial_simplex": simplex},
    )
    link = make(sol.x)
    pred = sampled_os(sld, grid_days, u, link, targets, follow_up=follow_up)
    info: dict[str, object] = {
        "scale_days": link.scale_days,
        "shape": link.shape,
        "beta": link.beta,
        "background_per_year": link.background_per_year,
        "beta_fixed": True,
        "fit": "sampled deaths (the patients' own u_death)",
        "targets": [
            {"name": t.name, "target": t.value, "fitted": v, "source": t.source}
            for t, v in zip(targets, pred, strict=True)
        ],
        "loss": float(sol.fun),
    }
    if expected is not None:
        info["expected_fit"] = dict(expected)
    return link, info


def _os_residual(t: OSTarget, v: float) -> float:
    """Standardized residual of ``v`` against ``t`` (log of a median, logit of a landmark), as
    :func:`fit_survival_link`."""
    if t.kind == "median":
        e = math.log(min(max(v, 1.0), 1e6) / t.value)
    else:
        q = min(max(v, 1e-9), 1 - 1e-9)
        e = math.log(q / (1 - q)) - math.log(t.value / (1 - t.value))
    return e / t.standard_error()


#: Bounds of a fitted hazard ratio of death (dimensionless).
HAZARD_RATIO_BOUNDS: tuple[float, float] = (0.1, 10.0)


def fit_hazard_ratio(
    sld: Float[np.ndarray, "n grid"],
    grid_days: Float[np.ndarray, " grid"],
    u_death: Float[np.ndarray, " n"],
    link: SurvivalLink,
    *,
    targets: Sequence[OSTarget],
    follow_up: float,
    sampled: bool = True,
) -> tuple[float, dict[str, object]]:
    """The one constant ``hazard_ratio`` by which an arm's tumor-driven hazard differs from
    ``link``'s (:meth:`~tumorimmune.response.SurvivalLink.with_hazard_ratio`; ``link`` itself
    stays), fitted to the arm's whole-arm OS ``targets``.

    First on each patient's expected survival (:func:`os_predictions`, bounded Brent on the
    squared standardized residuals of :func:`fit_survival_link`); with ``sampled``, then on the
    deaths drawn with the patients' own ``u_death`` (:func:`sampled_os`, as the sweep draws
    them): every death day falls as ``hazard_ratio`` grows, so each target's residual is
    monotone in it and the sum of the standardized residuals is bisected on ``log
    hazard_ratio`` (for one target: the ratio where the drawn value crosses it, to the step of
    one death). ``sld`` (mm) on ``grid_days`` of the arm's patients. Returns the ratio and its
    info."""
    import scipy.optimize

    ok = np.all(np.isfinite(sld), axis=1)
    sld, u = np.asarray(sld, float)[ok], np.asarray(u_death, float)[ok]
    grid = np.asarray(grid_days, float)
    lo, hi = (math.log(b) for b in HAZARD_RATIO_BOUNDS)
    no_pd = np.zeros(sld.shape[0], bool)

    def expected_loss(x: float) -> float:
        pred = os_predictions(sld, grid, no_pd, link.with_hazard_ratio(math.exp(x)), targets)
        return sum(_os_residual(t, v) ** 2 for t, v in zip(targets, pred, strict=True))

    sol = scipy.optimize.minimize_scalar(
        expected_loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-8}
    )
    x = float(sol.x)  # pyright: ignore[reportAttributeAccessIssue]
    info: dict[str, object] = {"expected_fit": math.exp(x)}
    if sampled:

        def total(x: float) -> float:
            pred = sampled_os(
                sld, grid, u, link.with_hazard_ratio(math.exp(x)), targets, follow_up=follow_up
            )
            return sum(_os_residual(t, v) for t, v in zip(targets, pred, strict=True))

        a, b = lo, hi
        if total(a) > 0 > total(b):
            for _ in range(60):  # to a relative 1e-17 of the ratio's log-range
                mid = 0.5 * (a + b)
                a, b = (mid, b) if total(mid) > 0 else (a, mid)
            x = 0.5 * (a + b)
        info["fit"] = "sampled deaths (the patients' own u_death)"
    else:
        info["fit"] = "expected survival"
    hr = math.exp(x)
    pred = (
        sampled_os(sld, grid, u, link.with_hazard_ratio(hr), targets, follow_up=follow_up)
        if sampled
        else os_predictions(sld, grid, no_pd, link.with_hazard_ratio(hr), targets)
    )
    info = {
        "hazard_ratio": hr,
        "meaning": "the arm's tumor-driven hazard of death over the antibody arm's link at "
        "equal time and sum of diameters (background hazard unchanged)",
        **info,
        "targets": [
            {"name": t.name, "target": t.value, "fitted": v, "source": t.source}
            for t, v in zip(targets, pred, strict=True)
        ],
    }
    return hr, info


_KN024 = "Reck et al. 2016, N Engl J Med 375:1823 (KEYNOTE-024)"
_KN024_5Y = "Reck et al. 2021, J Clin Oncol 39:2339 (KEYNOTE-024 5-year update)"
#: KEYNOTE-024's data cut-off of the first report: median follow-up 11.2 months (days).
KEYNOTE024_CUTOFF_DAY = 11.2 * _MONTH


def keynote024_scan_days(follow_up: float = FOLLOW_UP_DAYS) -> tuple[float, ...]:
    """KEYNOTE-024 imaging: baseline and every 9 weeks (63 days), up to ``follow_up`` days
    (Reck et al. 2016; docs/science.md §7c)."""
    return tuple(63.0 * k for k in range(int(follow_up // 63.0) + 1))


#: KEYNOTE-024, pembrolizumab 200 mg q3w (n = 154): ORR 44.8 % (69/154), CR 3.9 % (6/154),
#: 6-month PFS 62.1 %, median PFS 10.3 months (95 % CI 6.7 to not reached) — the fitted targets.
KEYNOTE024_PEMBRO_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("ORR", "orr", 69 / 154, n=154, source=_KN024),
    Endpoint("CR rate", "cr", 6 / 154, n=154, source=_KN024),
    Endpoint("6-month PFS", "pfs_at", 0.621, n=154, day=182.6, source=_KN024),
    Endpoint("median PFS (days)", "median_pfs", 10.3 * _MONTH, n=154, source=_KN024),
)
#: KEYNOTE-024, platinum-doublet chemotherapy (n = 151): ORR 27.8 % (42/151), 6-month PFS
#: 50.3 %, median PFS 6.0 months (95 % CI 4.2–6.2), 6-month OS 72.4 % (first report); median
#: OS 13.4 months (95 % CI 9.4–18.3; 5-year update, 66.0 % effective crossover to anti-PD-(L)1).
KEYNOTE024_CHEMO_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("ORR", "orr", 42 / 151, n=151, source=_KN024),
    Endpoint("6-month PFS", "pfs_at", 0.503, n=151, day=182.6, source=_KN024),
    Endpoint(
        "median PFS (days)",
        "median_pfs",
        6.0 * _MONTH,
        n=151,
        lo=4.2 * _MONTH,
        hi=6.2 * _MONTH,
        source=_KN024,
    ),
    Endpoint("6-month OS", "os_at", 0.724, n=151, day=182.6, source=_KN024),
    Endpoint(
        "median OS (days)",
        "median_os",
        13.4 * _MONTH,
        n=151,
        lo=9.4 * _MONTH,
        hi=18.3 * _MONTH,
        source=_KN024_5Y,
    ),
)
#: The chemotherapy arm's endpoints that select the population (ORR, 6-month PFS), the one that
#: fits its hazard ratio of death (6-month OS: the deaths its tumor sizes do not explain,
#: docs/science.md §7c) and those held out (median PFS: its scan falls on the landmark's;
#: median OS of the 5-year update: crossover to pembrolizumab is not modelled).
KEYNOTE024_CHEMO_FITTED: tuple[Endpoint, ...] = KEYNOTE024_CHEMO_ENDPOINTS[:2]
KEYNOTE024_CHEMO_OS_FITTED: tuple[Endpoint, ...] = KEYNOTE024_CHEMO_ENDPOINTS[3:4]
KEYNOTE024_CHEMO_HELD_OUT: tuple[Endpoint, ...] = (
    KEYNOTE024_CHEMO_ENDPOINTS[2],
    KEYNOTE024_CHEMO_ENDPOINTS[4],
)
#: KEYNOTE-024's comparator as calibrated: platinum doublet, 4 cycles q3w (the trial allowed
#: 4–6; 4 is the minimum and the most common choice — assumption), every patient with its own
#: lognormal kill and resistance rates (docs/science.md §7c).
KEYNOTE024_CHEMO_ARM = ChemoArm(
    name="platinum doublet (KEYNOTE-024)",
    chemo=PLATINUM_DOUBLET.with_schedule(cycles=4),
    endpoints=KEYNOTE024_CHEMO_FITTED,
    predicted=KEYNOTE024_CHEMO_HELD_OUT,
    responder_pf=0.8,
    os_endpoints=KEYNOTE024_CHEMO_OS_FITTED,
)
#: The OS numbers the survival link is fitted to on the pembrolizumab arm: 6-month OS 80.2 %
#: (first report) and median OS 26.3 months (5-year update; 95 % CI 18.3–40.4 months).
KEYNOTE024_OS_TARGETS: tuple[OSTarget, ...] = (
    OSTarget("6-month OS", "landmark", 0.802, day=182.6, n=154, source=_KN024),
    OSTarget(
        "median OS (days)",
        "median",
        26.3 * _MONTH,
        n=154,
        se_log=(math.log(40.4) - math.log(18.3)) / (2 * 1.96),
        source=_KN024_5Y,
    ),
)
#: Pembrolizumab 200 mg q3w for up to 35 cycles (two years): the last dose on day 34·21 = 714.
KEYNOTE024_REGIMEN = Regimen(
    dose=200.0,
    unit="mg",
    interval=21.0,
    drug="pembrolizumab",
    end_day=714.0,
    name="pembrolizumab 200 mg q3w (KEYNOTE-024)",
)
#: The tumor-size exponent of the survival link, held at the KEYNOTE-006 fit (packaged
#: population; docs/science.md §7): two whole-arm OS numbers cannot fit it (assumption).
KEYNOTE006_SURVIVAL_BETA = 1.5845359761024889

#: Plausible untreated volume-doubling times of advanced NSCLC at baseline (days): up to 400
#: days, the "very long" doubling time that only a small proportion of conventionally detected
#: lung cancers exceed (Detterbeck & Gibson 2008, J Thorac Oncol 3:781); 15 days as melanoma.
NSCLC_DOUBLING_DAYS: tuple[float, float] = (15.0, 400.0)
#: Maximal growth rate ``a`` (1/day) of the NSCLC candidates: down to ln 2/400 d so that the
#: slowest plausible doubling time can be drawn; upper bound as melanoma.
NSCLC_GROWTH_RANGE: tuple[float, float, str] = (math.log(2) / 400.0, 0.05, "log")

#: KEYNOTE-024 (advanced NSCLC, PD-L1 TPS ≥ 50 %, first line), pembrolizumab arm.
KEYNOTE024_TRIAL = TrialDefinition(
    name="keynote024",
    title="KEYNOTE-024, pembrolizumab 200 mg q3w and platinum-doublet arms, first report "
    "(11.2-month follow-up)",
    indication="advanced NSCLC, PD-L1 TPS ≥ 50 %, first line",
    regimen=KEYNOTE024_REGIMEN,
    endpoints=KEYNOTE024_PEMBRO_ENDPOINTS,
    scan_days=keynote024_scan_days(FOLLOW_UP_DAYS),
    cutoff_day=KEYNOTE024_CUTOFF_DAY,
    os_targets=KEYNOTE024_OS_TARGETS,
    survival_beta=KEYNOTE006_SURVIVAL_BETA,
    survival_fit="sampled",
    responder_pf=0.85,
    durability_day=KEYNOTE024_CUTOFF_DAY,
    ranges={**CLINICAL_RANGES, "a": NSCLC_GROWTH_RANGE},
    doubling_days=NSCLC_DOUBLING_DAYS,
    tps_distribution=KEYNOTE024_SCREENING,
    tps_min=50.0,
    seed=2016,
    chemo_arm=KEYNOTE024_CHEMO_ARM,
    pending=(
        PendingArm(
            "platinum doublet (KEYNOTE-024)",
            "platinum-based doublet, 4 cycles q3w (the trial allowed 4–6)",
            KEYNOTE024_CHEMO_HELD_OUT,
            "held out: the arm is fitted on ORR, 6-month PFS and (its hazard ratio of death) "
            "6-month OS; its median PFS falls in the same scan interval as the 6-month "
            "landmark (no class of its own) and its median OS (5-year update) is a prediction "
            "of the survival link without crossover to pembrolizumab",
        ),
    ),
    sources={
        "endpoints": _KN024,
        "survival": f"{_KN024}; {_KN024_5Y}",
        "responder_pf": "assumption (median duration of response not reached, range 1.9+ to "
        "14.5+ months, Reck et al. 2016)",
        "survival_beta": "assumption: the KEYNOTE-006 fit",
        "baseline_sld": "assumption: the melanoma distribution (no published KEYNOTE-024 "
        "baseline sum of diameters found)",
        "tps": "KEYNOTE-024 enrolled TPS ≥ 50 % only; uniform within the category (assumption)",
        "ranges": "as the melanoma population except the growth rate a and the plausible "
        "doubling times (Detterbeck & Gibson 2008; docs/science.md §7c)",
        "chemo": "platinum doublet, 4 cycles q3w; k_chemo lognormal (median 0.03/day, log-SD "
        "1) and lam_chemo lognormal (median 0.02/day, log-SD 0.5), truncated at ±3 SD; 80 % "
        "of the chemotherapy responders progression-free at 6 months (assumptions; "
        "docs/science.md §7c)",
        "chemo_hazard_ratio": "assumption: one constant ratio of the chemotherapy arm's "
        "tumor-driven hazard of death to the pembrolizumab arm's link, fitted to its 6-month OS "
        "72.4 % (Reck et al. 2016; docs/science.md §7c)",
    },
)

#: The trials a population can be calibrated to, by name.
TRIALS: Mapping[str, TrialDefinition] = {t.name: t for t in (KEYNOTE006_TRIAL, KEYNOTE024_TRIAL)}


def get_trial(name: str) -> TrialDefinition:
    """The :class:`TrialDefinition` named ``name`` (case-insensitive) in :data:`TRIALS`."""
    key = name.lower().replace("-", "")
    if key not in TRIALS:
        raise ValueError(f"unknown trial {name!r}; known: {', '.join(TRIALS)}")
    return TRIALS[key]


def calibrate_population(
    *,
    trial: TrialDefinition | str = KEYNOTE006_TRIAL,
    n_candidates: int = 2**18,
    seed: int | None = None,
    endpoints: Sequence[Endpoint] | None = None,
    regimen: Regimen | None = None,
    fixed: Mapping[str, float] | None = None,
    ranges: Mapping[str, tuple[float, float, str]] | None = None,
    scan_days: Sequence[float] | None = None,
    follow_up: float | None = None,
    doubling_days: tuple[float, float] | None = None,
    readout: Readout = _READOUT,
    cutoff_day: float | None = None,
    os_targets: Sequence[OSTarget] | None = None,
    survival_passes: int = 2,
    grid_days: float = 14.0,
    backend: str | AbstractBackend = "auto",
    tolerances: Tolerances | None = None,
    progress: bool = False,
) -> VirtualPopulation:
    """Calibrate a virtual population to a trial arm's endpoints (Allen et al. 2016).

    ``trial``: the :class:`TrialDefinition` (or its name in :data:`TRIALS`) that supplies
    every default below — arm regimen, endpoints, scans, cut-off, OS targets, candidate
    distributions and seed (default :data:`KEYNOTE006_TRIAL`); an argument given here overrides it.
    Deterministic for a given ``seed`` (Sobol' scrambling and acceptance draws). See the
    module docstring for the three steps and what replaces the paper's optimization.
    ``backend`` (a name or a :mod:`tumorimmune.solvers` backend object) and ``tolerances``
    (:class:`~tumorimmune.solvers.Tolerances`, float64 defaults) are those of the
    simulations (:func:`tumorimmune.simulate`). The endpoints are read as published: on the
    scans up to ``cutoff_day`` (the data cut-off of the report that gave them; KEYNOTE-006's
    first report: median follow-up 7.9 months), while the population is simulated over the
    whole ``follow_up``. ``readout``: how the cells are read (lesions, density, detection
    limit; :class:`~tumorimmune.response.Readout`).

    Survival (``survival_passes`` > 0): the tumor-size-driven hazard of death is fitted to
    ``os_targets`` on the selected patients (:func:`fit_survival_link`, on the hazard grid
    of ``grid_days``); the selection is then repeated with deaths ending follow-up (a death
    before progression is a PFS event, as in the trial), and the link fitted again, in all
    ``survival_passes`` times. The link is in ``info["survival"]``.
    """
    clock = _time.perf_counter()
    say = print if progress else (lambda *a, **k: None)
    tr = get_trial(trial) if isinstance(trial, str) else trial
    seed = tr.seed if seed is None else seed
    endpoints = tr.endpoints if endpoints is None else endpoints
    regimen = tr.regimen if regimen is None else regimen
    fixed = tr.fixed if fixed is None else fixed
    ranges = tr.ranges if ranges is None else ranges
    follow_up = tr.follow_up if follow_up is None else follow_up
    scan_days = tr.scan_days if scan_days is None else scan_days
    doubling_days = tr.doubling_days if doubling_days is None else doubling_days
    cutoff_day = tr.cutoff_day if cutoff_day is None else cutoff_day
    os_targets = tr.os_targets if os_targets is None else os_targets
    scan_days = tuple(float(d) for d in scan_days if d <= follow_up)  # what the trial reads
    cand = plausible_candidates(
        n_candidates,
        seed=seed,
        ranges=ranges,
        readout=readout,
        baseline_sld_median_mm=tr.baseline_sld_median_mm,
        baseline_sld_cv=tr.baseline_sld_cv,
        baseline_sld_range_mm=tr.baseline_sld_range_mm,
        zero_share=tr.zero_share,
        weight_mean_kg=tr.weight_mean_kg,
        weight_sd_kg=tr.weight_sd_kg,
        tps_distribution=tr.tps_distribution,
        tps_min=tr.tps_min,
    )
    model = _model(cand, fixed)
    cand["E0"] = initial_effectors(model, cand["T0"])
    finite = np.isfinite(cand["E0"])
    # net untreated growth at baseline (1/day), from the model's own vector field
    net = np.asarray(model.a) * (1 - np.asarray(model.b) * cand["T0"]) - np.asarray(
        _kill(model, np.nan_to_num(cand["E0"]))
    )
    grows = (net > math.log(2) / doubling_days[1]) & (net < math.log(2) / doubling_days[0])
    keep0 = np.flatnonzero(finite & grows)
    vals = {k: v[keep0] for k, v in cand.items()}
    ca = tr.chemo_arm
    sens = {} if ca is None else ca.sample_sensitivity(n_candidates, seed=seed)
    sens = {k: v[keep0] for k, v in sens.items()}
    say(
        f"candidates {n_candidates}, growing at baseline {keep0.size}; "
        f"simulating {2 if ca is None else 3} arms …"
    )
    # one solve per arm at the scans and the hazard grid of the survival link
    grid = np.arange(0.0, follow_up + 1e-9, grid_days)
    times = np.union1d(np.asarray(scan_days), grid)
    i_scan, i_grid = np.searchsorted(times, scan_days), np.searchsorted(times, grid)
    kw = dict(fixed=fixed, scan_days=tuple(times), backend=backend, tolerances=tolerances)
    cells_u, st_u = simulate_scans(vals, None, **kw)  # type: ignore[arg-type]
    cells_all, st_t = simulate_scans(vals, regimen, **kw)  # type: ignore[arg-type]
    cells_u, cells_t = cells_u[:, i_scan], cells_all[:, i_scan]
    sld_grid = sum_of_diameters_mm(cells_all[:, i_grid], readout=readout)
    ru = read_scans(cells_u, scan_days, follow_up=follow_up, readout=readout)
    rt = read_scans(cells_t, scan_days, follow_up=follow_up, readout=readout)
    plaus = (
        (st_u == 0)
        & (st_t == 0)
        & (ru["bor"] >= 2)
        & (rt["bor"] >= 0)
        & (cells_u[:, -1] > cells_u[:, 0])
    )
    cells_c = sld_grid_c = None
    if ca is not None:  # the chemotherapy arm: no antibody, each patient's own sensitivity
        n_keep = keep0.size
        sched = {k: np.full(n_keep, v) for k, v in ca.chemo.schedule().items()}
        cells_call, st_c = simulate_scans({**vals, **sens, **sched}, None, **kw)  # type: ignore[arg-type]
        cells_c = cells_call[:, i_scan]
        sld_grid_c = sum_of_diameters_mm(cells_call[:, i_grid], readout=readout)
        rcs = read_scans(cells_c, scan_days, follow_up=follow_up, readout=readout)
        plaus &= (st_c == 0) & (rcs["bor"] >= 0)
    idx = np.flatnonzero(plaus)
    landmark = float(next(e.day for e in endpoints if e.kind == "pfs_at") or 182.6)
    med_day = median_scan(scan_days, next(e.value for e in endpoints if e.kind == "median_pfs"))
    durability = next((e.day for e in endpoints if e.kind == "responders_pf_at"), None)
    responder_pf = None
    if durability is None:
        durability, responder_pf = tr.durability()
    names = class_names(landmark=landmark, median_day=med_day)
    target = target_class_probabilities(endpoints, responder_pf=responder_pf, median_day=med_day)
    first_pd = rt["bor"] == 3  # PD at the first on-study scan (best response PD)
    target_c = None if ca is None else ca.target_class_probabilities()
    landmark_c = None if ca is None else ca.landmark_day()
    u_death = patient_uniforms(seed, np.arange(cells_t.shape[0]))
    link: SurvivalLink | None = None
    os_info: dict[str, object] = {}
    # the chemotherapy arm's hazard ratio of death over the antibody arm's link (1: none)
    chemo_os = () if ca is None else ca.os_targets()
    hazard_ratio, hr_info = 1.0, {}
    for _pass in range(1 + survival_passes):
        if link is None:  # first pass: nobody dies
            deaths = (np.full(len(u_death), np.inf), np.zeros(len(u_death), bool))
        else:
            deaths = sample_death_days(sld_grid, grid, u_death, link, follow_up=follow_up)
        rc = _cutoff_readout(cells_t, scan_days, cutoff_day, deaths, readout)
        sub_t = {k: v[idx] for k, v in rc.items()}
        classes = classify(
            sub_t,
            landmark=landmark,
            median_day=med_day,
            durability_day=float(durability or KEYNOTE006_DURABILITY.day or 240.4),
        )
        if ca is None or cells_c is None or sld_grid_c is None or target_c is None:
            accept, freq = prevalence_weights(classes, target, names=names)
        else:
            deaths_c = deaths
            if link is not None:
                link_c = link.with_hazard_ratio(hazard_ratio)
                deaths_c = sample_death_days(sld_grid_c, grid, u_death, link_c, follow_up=follow_up)
            rc_c = _cutoff_readout(cells_c, scan_days, cutoff_day, deaths_c, readout)
            classes_c = classify_chemo(
                {k: v[idx] for k, v in rc_c.items()}, landmark=float(landmark_c or 182.6)
            )
            k, m = len(target), len(target_c)
            ok = (classes >= 0) & (classes_c >= 0)
            joint = np.where(ok, classes * m + classes_c, -1)
            table_n = np.bincount(joint[ok], minlength=k * m).reshape(k, m).astype(float)
            q = joint_class_targets(table_n, target, target_c)
            joint_names = [f"{a} | {b}" for a in names for b in CHEMO_CLASSES]
            accept, _ = prevalence_weights(joint, q.ravel(), names=joint_names)
            valid = classes[classes >= 0]
            freq = np.bincount(valid, minlength=k) / max(valid.size, 1)
        rng = np.random.default_rng([seed, 1])
        chosen = rng.uniform(size=idx.size) < accept
        sel = idx[chosen]
        if survival_passes:
            say(f"pass {_pass + 1}: selected {sel.size}; fitting the survival link …")
            link, os_info = fit_survival_link(
                sld_grid[sel], grid, first_pd[sel], targets=os_targets, beta=tr.survival_beta
            )
            if tr.survival_fit == "sampled":
                link, os_info = fit_link_to_sampled_deaths(
                    sld_grid[sel],
                    grid,
                    u_death[sel],
                    link,
                    targets=os_targets,
                    follow_up=follow_up,
                    expected=os_info,
                )
            if chemo_os and sld_grid_c is not None:
                hazard_ratio, hr_info = fit_hazard_ratio(
                    sld_grid_c[sel],
                    grid,
                    u_death[sel],
                    link,
                    targets=chemo_os,
                    follow_up=follow_up,
                    sampled=tr.survival_fit == "sampled",
                )
                say(f"pass {_pass + 1}: chemotherapy arm's hazard ratio {hazard_ratio:.4g}")
    sel_t = {k: v[sel] for k, v in rc.items()}
    counts = np.bincount(classes[chosen], minlength=len(target))
    chi2 = scipy.stats.chisquare(counts, target * counts.sum())
    table = {k: np.asarray(v[sel], float) for k, v in vals.items()}
    table.update({k: np.asarray(v[sel], float) for k, v in sens.items()})
    if survival_passes:  # each patient keeps the death quantile it was selected with
        table["u_death"] = np.asarray(u_death[sel], float)
    info: dict[str, object] = {
        "method": "Allen et al. 2016 (plausible patients by rejection; exact prevalence "
        "selection on RECIST read-out classes)",
        "seed": seed,
        "n_candidates": int(n_candidates),
        "n_growing": int(keep0.size),
        "n_plausible": int(idx.size),
        "n_selected": int(sel.size),
        "trial": tr.name,
        "classes": list(names),
        "target_class_p": target.tolist(),
        "plausible_class_p": freq.tolist(),
        "selected_class_n": counts.tolist(),
        "chi2": float(chi2.statistic),
        "chi2_p": float(chi2.pvalue),
        "untreated_pfs_at_365": km_at(ru["pfs_days"][sel], ru["pfs_event"][sel], 365.0)[0],
        "regimen": regimen.label,
        "scan_days": list(map(float, scan_days)),
        "cutoff_day": float(cutoff_day),
        "survival": os_info,
        "survival_grid_days": float(grid_days),
        "follow_up_days": float(follow_up),
        "ranges": {k: list(v) for k, v in ranges.items()},
        "wall_time_s": _time.perf_counter() - clock,
    }
    if responder_pf is not None:
        info["responder_pf_assumed"] = {"value": responder_pf, "day": float(durability)}
    if ca is not None and target_c is not None:
        sel_c = {k: v[sel] for k, v in rc_c.items()}  # pyright: ignore[reportPossiblyUnbound]
        if survival_passes and link is not None and cells_c is not None and sld_grid_c is not None:
            # the arm's endpoints as a sweep on the population reads them: deaths from the final
            # link and hazard ratio (the selection's pass drew them with the previous ones)
            dc = sample_death_days(
                sld_grid_c[sel],
                grid,
                u_death[sel],
                link.with_hazard_ratio(hazard_ratio),
                follow_up=follow_up,
            )
            sel_c = _cutoff_readout(cells_c[sel], scan_days, cutoff_day, dc, readout)
            sel_c["os_days"], sel_c["os_event"] = dc
        counts_c = np.bincount(classes_c[chosen], minlength=len(target_c))  # pyright: ignore[reportPossiblyUnbound]
        chi2_c = scipy.stats.chisquare(counts_c, target_c * counts_c.sum())
        is_os = ("os_at", "median_os")
        held = [e for e in ca.predicted if survival_passes or e.kind not in is_os]
        fitted_c = [*ca.endpoints, *(ca.os_endpoints if survival_passes else ())]
        chemo_info: dict[str, object] = {
            "arm": ca.name,
            "regimen": ca.chemo.label,
            "classes": list(CHEMO_CLASSES),
            "target_class_p": target_c.tolist(),
            "selected_class_n": counts_c.tolist(),
            "chi2": float(chi2_c.statistic),
            "chi2_p": float(chi2_c.pvalue),
            "responder_pf_assumed": {"value": ca.responder_pf, "day": ca.landmark_day()},
            "selection": "joint: Allen acceptance on the product of the two arms' classes, "
            "target = plausible joint frequencies raked to both arms' target margins (IPF)",
            "sensitivity": {
                "k_chemo": {"median": ca.k_chemo_median, "log_sd": ca.k_chemo_sigma},
                "lam_chemo": {"median": ca.lam_chemo_median, "log_sd": ca.lam_chemo_sigma},
                "truncation_sd": 3.0,
            },
            "endpoints": evaluate_endpoints(sel_c, fitted_c),
            "predicted": evaluate_endpoints(sel_c, held),
        }
        if survival_passes and chemo_os:
            chemo_info["survival"] = hr_info
        info["chemo_arm"] = chemo_info
    if tr.pending:
        info["not_fitted"] = [
            {
                "arm": a.name,
                "treatment": a.treatment,
                "reason": a.reason,
                "endpoints": [dataclasses.asdict(e) for e in a.endpoints],
            }
            for a in tr.pending
        ]
    return VirtualPopulation(
        table=table,
        fixed=dict(fixed),
        endpoints=evaluate_endpoints(sel_t, endpoints),
        info=info,
    )


def _cutoff_readout(
    cells: np.ndarray,
    scan_days: Sequence[float],
    cutoff_day: float,
    deaths: tuple[np.ndarray, np.ndarray],
    readout: Readout,
) -> dict[str, np.ndarray]:
    """RECIST read-out at the data cut-off, deaths ending follow-up as in the sweep engine
    (:func:`~tumorimmune.response.cutoff_readout`), plus the SLD (mm)."""
    sld = sum_of_diameters_mm(cells, readout=readout)
    r = cutoff_readout(
        sld, np.asarray(scan_days, float), cutoff_day, os_days=deaths[0], os_event=deaths[1]
    )
    return {"bor": r["bor"], "pfs_days": r["pfs_days"], "pfs_event": r["pfs_event"], "sld": sld}


def _kill(model: TumorImmunePD1, E: np.ndarray) -> np.ndarray:
    import jax

    with jax.enable_x64(True):
        return np.asarray(model.kill_rate(jnp.asarray(E, float), jnp.asarray(model.n, float)))

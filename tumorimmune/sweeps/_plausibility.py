"""Plausibility guards: settings and results that run but are far outside biology or the clinic.

Each guard returns warnings, one line each, giving the value, the bound and what to do
(``tumorimmune validate`` and ``run`` print them, the store keeps them in its ``warnings``
attribute, the report repeats them). Before a run (:func:`plausibility_warnings`, part of
``spec_warnings``): a baseline tumor above the model's carrying capacity and drug exposures
far above the highest studied regimen. After the solve (:func:`runaway_warnings`, from what
the store holds): tumors beyond capacity or a body's mass at a scan and effector counts
beyond a body's lymphocytes in the stored trajectories. Bounds and sources:
docs/science.md §3b.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..model import AbstractDrugModel, Regimen, get_drug, individual_pk
from ._spec import format_number as _num

if TYPE_CHECKING:
    from ._plan import SweepPlan

#: Highest studied regimen of the anti-PD-1 antibodies: 10 mg/kg every 2 weeks
#: (pembrolizumab: KEYNOTE-006, Robert et al. 2015, N Engl J Med 372:2521; nivolumab: Topalian
#: et al. 2012, N Engl J Med 366:2443). docs/science.md §3b.
HIGHEST_STUDIED = Regimen(dose=10.0, unit="mg/kg", interval=14.0, name="10 mg/kg q2w")
#: Warn when an arm's peak concentration exceeds this multiple of the highest studied
#: regimen's steady-state peak (an **assumption**, docs/science.md §3b).
EXPOSURE_MULTIPLE = 10.0
#: Effector cells beyond which a trajectory is a runaway: about the lymphocytes of an adult
#: body (docs/science.md §3b).
MAX_EFFECTORS = 1e12
#: Tumor cells beyond which a scan is a runaway whatever the model's capacity: 10 kg of tumor
#: at 1e9 cells/cm³ (an **assumption**, docs/science.md §3b).
MAX_TUMOR_CELLS = 1e13
#: A tumor beyond this multiple of the model's carrying capacity at a scan is a runaway (the
#: imaged burden may hold infiltrate besides tumor cells, so the capacity itself is allowed).
CAPACITY_MULTIPLE = 2.0


def peak_concentration(regimen: Regimen, drug_name: str, follow_up_days: float) -> float:
    """Peak central concentration (µg/mL) of ``regimen`` within follow-up for the drug's
    typical patient (reference weight and covariates, baseline clearance).

    Closed form of the two-compartment bolus model (``two_compartment_bolus``) after the
    last of the ``n`` doses given in ``[0, follow_up_days)``: for doses ``D`` every ``τ``
    days ``C = D·Σ_{x∈{α,β}} c_x (1 − e^{−n x τ})/(1 − e^{−x τ})`` with the macro constants
    ``c_α = A``, ``c_β = B`` — the concentration after each dose grows with ``n``, so the
    last one is the peak. ``n = ∞`` gives the steady-state peak.
    """
    drug = get_drug(drug_name)
    pk = individual_pk(drug)
    CL, V1, Q, V2 = (float(pk[k]) for k in ("CL", "V1", "Q", "V2"))
    k10, k12, k21 = CL / V1, Q / V1, Q / V2
    s = k10 + k12 + k21
    disc = math.sqrt(s * s - 4.0 * k10 * k21)
    alpha, beta = (s + disc) / 2.0, (s - disc) / 2.0
    A = (alpha - k21) / (V1 * (alpha - beta))
    B = (k21 - beta) / (V1 * (alpha - beta))
    if math.isinf(follow_up_days):
        n = math.inf
    else:
        n = len(regimen.dose_times(0.0, follow_up_days))
        if n == 0:
            return 0.0
    dose = float(regimen.dose_amount_mg(drug.weight_ref))
    tau = regimen.interval

    def term(c: float, x: float) -> float:
        grown = 1.0 if math.isinf(n) else -math.expm1(-n * x * tau)
        return c * grown / -math.expm1(-x * tau)

    return dose * (term(A, alpha) + term(B, beta))


def _exposure_warnings(plan: SweepPlan) -> list[str]:
    out: list[str] = []
    if not issubclass(plan.model_class, AbstractDrugModel):
        return out
    for i, (arm, reg) in enumerate(zip(plan.arms, plan.regimens, strict=True)):
        if reg is None:
            continue
        drug = arm.drug_name()
        peak = peak_concentration(reg, drug, plan.follow_up_days)
        ref = peak_concentration(HIGHEST_STUDIED, drug, math.inf)
        if peak > EXPOSURE_MULTIPLE * ref:
            w = get_drug(drug).weight_ref
            out.append(
                f"arms[{i}] ({arm.name!r}): peak {drug} concentration {peak:,.0f} µg/mL "
                f"(typical {w:g} kg patient, {_num(reg.dose)} {reg.unit} every "
                f"{_num(reg.interval)} days) is {peak / ref:,.0f}× the peak of the highest "
                f"studied regimen ({HIGHEST_STUDIED.name}: {ref:,.0f} µg/mL; warned above "
                f"{EXPOSURE_MULTIPLE:g}×); check dose, unit and interval"
            )
    return out


def _base_model(plan: SweepPlan) -> Any:
    """The model at the spec's base parameter values (``None`` when they do not build it)."""
    try:
        return plan.model_class(**dict(plan.spec.parameters))
    except Exception:  # a user model with other constructor rules: no guard
        return None


def _capacity(plan: SweepPlan) -> float:
    model = _base_model(plan)
    if model is None:
        return math.inf
    try:
        cap = np.asarray(model.carrying_capacity(), dtype=float)
    except Exception:
        return math.inf
    return float(np.min(cap)) if cap.size else math.inf


def _baseline_warnings(plan: SweepPlan) -> list[str]:
    spec = plan.spec
    if plan.model_class.tumor_state is None or spec.population is not None:
        return []
    cap = _capacity(plan)
    if not math.isfinite(cap):
        return []
    if "T0" in plan.axes:  # a grid across the capacity explores it (a phase portrait)
        key, t0 = "axes.T0", float(np.min(plan.axes["T0"]))
    else:
        key, t0 = "initial.T0", float(spec.initial.T0)
    if t0 <= cap:
        return []
    return [
        f"{key}: baseline tumor {t0:.3g} cells is above the carrying capacity {cap:.3g} "
        f"cells of {plan.model_class.__name__}; every tumor shrinks toward the capacity, "
        f"untreated ones too (read as responses) — use T0 below {cap:.3g} cells"
    ]


def plausibility_warnings(plan: SweepPlan) -> list[str]:
    """Before a run: baseline above capacity, exposures far above the clinical range."""
    return [*_baseline_warnings(plan), *_exposure_warnings(plan)]


def _above(values: np.ndarray, bound: float, arm: str, line: str) -> list[str]:
    """``line`` filled in (``arm``, ``n``, ``of``, ``top``) when some ``values`` exceed
    ``bound``."""
    v = np.asarray(values, dtype=float)
    n = int(np.sum(v > bound))
    top = f"{float(np.nanmax(v)):.3g}"
    return [line.format(arm=repr(arm), n=n, of=v.size, top=top)] if n else []


def runaway_warnings(
    plan: SweepPlan,
    max_tumor: np.ndarray | Sequence[np.ndarray],
    max_effectors: np.ndarray | None = None,
) -> list[str]:
    """After the solve: patients whose states left what a body can hold.

    Args:
        plan: the run's plan.
        max_tumor: largest tumor (cells) over the scans after baseline (a baseline above
            the capacity is :func:`plausibility_warnings`' job), ``(arm, patient)`` (or one
            ``(patient,)`` array per arm, read once each, in order).
        max_effectors: largest effector count (cells) of each stored trajectory
            ``(arm, traj_patient)``, or ``None``.
    """
    out: list[str] = []
    cap = _capacity(plan)
    bound = min(MAX_TUMOR_CELLS, CAPACITY_MULTIPLE * cap)
    what = (
        f"{CAPACITY_MULTIPLE:g}× the carrying capacity ({cap:.3g} cells)"
        if bound < MAX_TUMOR_CELLS
        else f"{MAX_TUMOR_CELLS:.0e} cells (10 kg)"
    )
    for a, arm in enumerate(plan.arms):
        out += _above(
            max_tumor[a], bound, arm.name, "arm {arm}: {n} of {of} patients have a tumor "
            f"above {what} at a scan (largest {{top}} cells); check the growth and "
            "capacity parameters and T0",
        )  # fmt: skip
        if max_effectors is not None and max_effectors.size:
            out += _above(
                max_effectors[a], MAX_EFFECTORS, arm.name, "arm {arm}: {n} of {of} stored "
                f"trajectories have effectors above {MAX_EFFECTORS:.0e} cells (a body's "
                "lymphocytes; largest {top}); check the effector parameters and E0",
            )  # fmt: skip
    return out

"""Virtual-population calibration to a response rate by a differentiable relaxation (optax).

The population's distributions (location and spread of chosen parameters) are optimised with
Adam so that the relaxed ORR (:func:`~tumorimmune.calibrate.soft_response`) of a fixed-draw
cohort (common random numbers, explicit seed) matches the target; gradients by ``jax.grad``
through diffrax. The result is then checked with the hard RECIST rule on the same cohort and on
a fresh one (another seed), and on the untreated arm.
"""

from __future__ import annotations

import dataclasses
import math
import time as _time
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from ..response import soft_response
from ._population import (
    ClinicalTarget,
    Dist,
    TrialArm,
    draw,
    hard_orr,
    simulate_arm,
    standard_normal,
)


@dataclasses.dataclass(frozen=True)
class VPCalibration:
    """Outcome of a virtual-population calibration (either method).

    Attributes:
        method: ``"soft"`` (relaxed RECIST + optax) or ``"allen"`` (Allen et al. 2016).
        target: the clinical target.
        distributions: table of the calibrated parameter distributions.
        orr, orr_lo, orr_hi, n, responders: hard-RECIST ORR of the calibrated treated arm with
            Wilson 95 % CI (validation cohort for ``"soft"``, the selected VPs for
            ``"allen"``).
        untreated_orr, untreated_lo, untreated_hi: the same for the untreated arm (sanity
            check: about 0).
        within_target_ci: the achieved ORR lies inside the target's Wilson 95 % CI.
        history: per-iteration loss (soft) or empty.
        info: method-specific numbers.
        wall_time_s: wall time of the calibration (compilation included).
    """

    method: str
    target: ClinicalTarget
    distributions: pd.DataFrame
    orr: float
    orr_lo: float
    orr_hi: float
    n: int
    responders: int
    untreated_orr: float
    untreated_lo: float
    untreated_hi: float
    history: np.ndarray
    info: dict
    wall_time_s: float

    @classmethod
    def from_arms(
        cls,
        method: str,
        target: ClinicalTarget,
        rows: list[dict],
        treated: dict,
        untreated: dict,
        *,
        history: np.ndarray,
        info: dict,
        wall_time_s: float,
    ) -> VPCalibration:
        """Assemble a result from the treated and untreated arms' ORR summaries (``hard_orr``)."""
        return cls(
            method=method,
            target=target,
            distributions=pd.DataFrame(rows),
            orr=treated["orr"],
            orr_lo=treated["lo"],
            orr_hi=treated["hi"],
            n=treated["n"],
            responders=treated["responders"],
            untreated_orr=untreated["orr"],
            untreated_lo=untreated["lo"],
            untreated_hi=untreated["hi"],
            history=history,
            info=info,
            wall_time_s=wall_time_s,
        )

    @property
    def within_target_ci(self) -> bool:
        lo, hi = self.target.ci()
        return bool(lo <= self.orr <= hi)

    def summary(self) -> str:
        """Human-readable summary (several lines)."""
        lo, hi = self.target.ci()
        lines = [
            f"method: {self.method}",
            f"target: {self.target.name}: ORR {100 * self.target.orr:.1f} % "
            f"(95 % CI {100 * lo:.1f}–{100 * hi:.1f} %, n = {self.target.n}; "
            f"{self.target.source})",
            f"treated arm: ORR {100 * self.orr:.1f} % ({self.responders}/{self.n}; Wilson 95 % "
            f"CI {100 * self.orr_lo:.1f}–{100 * self.orr_hi:.1f} %) — "
            + ("inside" if self.within_target_ci else "OUTSIDE")
            + " the target's CI",
            f"untreated arm: ORR {100 * self.untreated_orr:.1f} % (95 % CI "
            f"{100 * self.untreated_lo:.1f}–{100 * self.untreated_hi:.1f} %)",
            f"wall time: {self.wall_time_s:.1f} s",
            "calibrated distributions:",
            self.distributions.to_string(index=False),
        ]
        return "\n".join(lines)


def _hard(arm: TrialArm, values: dict, T0: np.ndarray) -> dict:
    with jax.enable_x64(True):
        cells, _ = simulate_arm(arm, values, T0)
    _, res = hard_orr(np.asarray(cells), readout=arm.readout)
    return res


def _values(
    population: Mapping[str, Dist],
    locs: Mapping[str, jax.Array],
    spreads: Mapping[str, jax.Array],
    z,
) -> tuple[dict, jax.Array]:
    vals = {k: draw(d.kind, locs[k], spreads[k], z[k]) for k, d in population.items() if k != "T0"}
    T0 = draw(population["T0"].kind, locs["T0"], spreads["T0"], z["T0"])
    return vals, T0


def calibrate_soft(
    arm: TrialArm,
    population: Mapping[str, Dist],
    target: ClinicalTarget,
    *,
    calibrate: Sequence[str],
    calibrate_spread: bool = True,
    n_patients: int = 200,
    seed: int = 0,
    n_validation: int = 1000,
    validation_seed: int | None = None,
    steps: int = 60,
    learning_rate: float = 0.1,
    temperature: float | None = None,
    ridge: float = 1e-3,
) -> VPCalibration:
    """Calibrate population distributions to a target ORR through a relaxed RECIST rule.

    Loss: ``(ORR_soft − ORR_target)² + ridge·Σ(θ − θ₀)²`` over the transformed locations
    (log / logit median) and log-spreads ``θ`` of the ``calibrate`` parameters; ``ORR_soft``
    is the mean of :func:`~tumorimmune.calibrate.soft_response` (the arm's read-out,
    ``arm.readout``, at temperature ``temperature``, percentage points of baseline SLD,
    default ``arm.readout.temperature`` = 2; responses after progression do not count) over
    a cohort drawn once with ``seed``. Adam with a cosine-decayed step (from
    ``learning_rate``) for ``steps`` iterations, gradients by ``jax.grad`` through diffrax,
    float64; the iterate with the lowest loss is kept.

    Args:
        arm: the treated arm (its ``untreated()`` twin is the sanity check).
        population: ``{parameter: Dist}``; must contain ``"T0"`` (baseline tumor cells).
        target: e.g. :data:`KEYNOTE006_Q2W`.
        calibrate: names whose median (and spread, with ``calibrate_spread``) are adjusted.
        n_patients: cohort size.
        seed: draws of the calibration cohort.
        n_validation: size of the fresh cohort on which the hard ORR is reported (drawn from
            the calibrated distributions with ``validation_seed``, default ``seed + 1``); the
            untreated arm is simulated on the same patients.

    Returns:
        :class:`VPCalibration` (``info`` holds the soft and hard ORR on the calibration
        cohort and the initial soft ORR).
    """
    if "T0" not in population:
        raise ValueError("population must contain 'T0' (baseline tumor cells)")
    for name in calibrate:
        if name not in population:
            raise ValueError(f"calibrate names {name!r}, which is not in the population")
        if population[name].kind == "fixed":
            raise ValueError(f"cannot calibrate {name!r}: its Dist is 'fixed'")
    if temperature is None:
        temperature = float(arm.readout.temperature)  # type: ignore[arg-type]
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be > 0 (percentage points); got {temperature!r}")
    soft = arm.readout.replace(temperature=temperature)
    clock = _time.perf_counter()
    names = list(population)
    z_cal = standard_normal(n_patients, names, seed)
    vseed = seed + 1 if validation_seed is None else validation_seed
    z_val = standard_normal(n_validation, names, vseed)
    base_loc = {k: population[k].loc() for k in names}
    base_spread = {k: population[k].spread for k in names}

    with jax.enable_x64(True):
        z = {k: jnp.asarray(v) for k, v in z_cal.items()}
        theta0 = {
            k: jnp.asarray([base_loc[k], math.log(max(base_spread[k], 1e-3))]) for k in calibrate
        }

        def unpack(theta):
            locs = {k: jnp.asarray(base_loc[k]) for k in names}
            spreads = {k: jnp.asarray(base_spread[k]) for k in names}
            for k, v in theta.items():
                locs[k] = v[0]
                if calibrate_spread:
                    spreads[k] = jnp.exp(v[1])
            return locs, spreads

        def soft_orr(theta):
            locs, spreads = unpack(theta)
            vals, T0 = _values(population, locs, spreads, z)
            cells, _ = simulate_arm(arm, vals, T0)
            r = soft_response(cells, readout=soft)
            return jnp.mean(jnp.where(jnp.isfinite(r), r, 0.0))

        def loss(theta):
            reg = sum(jnp.sum((theta[k] - theta0[k]) ** 2) for k in theta)
            return (soft_orr(theta) - target.orr) ** 2 + ridge * reg

        vg = jax.jit(jax.value_and_grad(loss))
        schedule = optax.cosine_decay_schedule(learning_rate, max(int(steps), 1), alpha=0.05)
        opt = optax.adam(schedule)
        theta = dict(theta0)
        state = opt.init(theta)
        history = []
        best, best_value = theta, math.inf
        for _ in range(int(steps)):
            value, grad = vg(theta)
            history.append(float(value))
            if float(value) < best_value:
                best, best_value = theta, float(value)
            updates, state = opt.update(grad, state, theta)
            theta = optax.apply_updates(theta, updates)
        theta = best
        soft_initial = float(jax.jit(soft_orr)(theta0))
        soft_final = float(jax.jit(soft_orr)(theta))
        locs, spreads = unpack(theta)
        locs = {k: float(v) for k, v in locs.items()}
        spreads = {k: float(v) for k, v in spreads.items()}

    def realise(zz):
        with jax.enable_x64(True):
            vals, T0 = _values(
                population,
                {k: jnp.asarray(v) for k, v in locs.items()},
                {k: jnp.asarray(v) for k, v in spreads.items()},
                {k: jnp.asarray(v) for k, v in zz.items()},
            )
            return {k: np.asarray(v) for k, v in vals.items()}, np.asarray(T0)

    vals_cal, T0_cal = realise(z_cal)
    vals_val, T0_val = realise(z_val)
    hard_cal = _hard(arm, vals_cal, T0_cal)
    treated = _hard(arm, vals_val, T0_val)
    untreated = _hard(arm.untreated(), vals_val, T0_val)
    rows = []
    for k in names:
        d = population[k]
        med = _median(d.kind, locs[k])
        rows.append(
            {
                "parameter": k,
                "kind": d.kind,
                "median_before": d.median,
                "spread_before": d.spread,
                "median": med,
                "spread": spreads[k],
                "calibrated": k in calibrate,
            }
        )
    return VPCalibration.from_arms(
        "soft",
        target,
        rows,
        treated,
        untreated,
        history=np.asarray(history),
        info={
            "soft_orr_initial": soft_initial,
            "soft_orr_final": soft_final,
            "hard_orr_calibration_cohort": hard_cal["orr"],
            "temperature_pct": temperature,
            "seed": seed,
            "validation_seed": vseed,
            "n_patients": n_patients,
            "n_validation": n_validation,
        },
        wall_time_s=_time.perf_counter() - clock,
    )


def _median(kind: str, loc: float) -> float:
    if kind == "lognormal":
        return math.exp(loc)
    if kind == "logitnormal":
        return 1.0 / (1.0 + math.exp(-loc))
    return loc

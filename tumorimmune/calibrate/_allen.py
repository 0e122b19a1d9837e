"""Allen, Rieger & Musante (2016) virtual populations: plausible patients + prevalence selection.

Reference: R. J. Allen, T. R. Rieger, C. J. Musante, "Efficient generation and selection of
virtual populations in quantitative systems pharmacology models", CPT Pharmacometrics Syst.
Pharmacol. 5:140–146 (2016).

1. **Plausible patients**: parameter sets drawn space-filling (scrambled Sobol', explicit
   seed) within bounds (uniform or log-uniform), kept when their outputs are physiologically
   plausible. Here: both arms solve, the baseline SLD is within ``baseline_mm`` and the
   untreated tumor does not regress by itself (untreated RECIST best response SD or PD) —
   plausibility constraints of this project (**assumption**).
2. **Prevalence-weighted acceptance–rejection**: each plausible patient is accepted with
   probability ``α·p_target(y_i)/p_plausible(y_i)`` for its observable ``y_i``. With an
   ORR-only target the observable is the binary response (CR/PR vs not), whose densities are
   known exactly: ``p_target = ORR`` or ``1 − ORR``, ``p_plausible`` = the responder fraction
   among plausible patients. ``α = 1/max`` (the largest acceptance that keeps the ratio), so
   the expected ORR of the selection equals the target.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Mapping

import jax
import numpy as np
import scipy.stats.qmc

from ._population import ClinicalTarget, TrialArm, hard_orr, simulate_arm
from ._vpsoft import VPCalibration


def plausible_patients(
    ranges: Mapping[str, tuple[float, float, str]], n: int, *, seed: int
) -> dict[str, np.ndarray]:
    """Space-filling candidate parameter sets within bounds (scrambled Sobol', ``seed``).

    Args:
        ranges: ``{name: (lo, hi, scale)}`` with ``scale`` ``"log"`` (log-uniform, ``lo > 0``)
            or ``"linear"`` (uniform).
        n: number of candidates.

    Returns:
        ``{name: values (n,)}``.
    """
    names = list(ranges)
    if not names:
        raise ValueError("ranges must name at least one parameter")
    for k, r in ranges.items():
        if len(r) != 3 or r[2] not in ("log", "linear") or not (r[0] < r[1]):
            raise ValueError(
                f"ranges[{k!r}] must be (lo, hi, 'log'|'linear') with lo < hi; got {r!r}"
            )
        if r[2] == "log" and not r[0] > 0:
            raise ValueError(f"ranges[{k!r}]: log scale needs lo > 0; got {r[0]!r}")
    engine = scipy.stats.qmc.Sobol(d=len(names), scramble=True, seed=seed)  # pyright: ignore[reportCallIssue]
    u: np.ndarray = np.asarray(engine.random(int(n)))
    out = {}
    for j, k in enumerate(names):
        lo, hi, scale = ranges[k]
        if scale == "log":
            out[k] = np.exp(np.log(lo) + u[:, j] * (np.log(hi) - np.log(lo)))
        else:
            out[k] = lo + u[:, j] * (hi - lo)
    return out


def prevalence_select(
    responder: np.ndarray, target_orr: float, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Acceptance–rejection selection matching a response prevalence (Allen et al. 2016).

    Args:
        responder: bool (N,) — objective response of each plausible patient.
        target_orr: target response rate in (0, 1).

    Returns:
        ``(selected (N,) bool, acceptance probability (N,))``.
    """
    r = np.asarray(responder, dtype=bool)
    if not 0 < target_orr < 1:
        raise ValueError(f"target_orr must be in (0, 1); got {target_orr!r}")
    p = float(r.mean()) if r.size else math.nan
    if not 0 < p < 1:
        raise ValueError(
            f"plausible patients have response rate {p!r}; the target {target_orr} needs both "
            "responders and non-responders: widen the parameter ranges"
        )
    w = np.where(r, target_orr / p, (1.0 - target_orr) / (1.0 - p))
    accept = w / w.max()
    rng = np.random.default_rng(seed)
    return rng.uniform(size=r.size) < accept, accept


def calibrate_allen(
    arm: TrialArm,
    ranges: Mapping[str, tuple[float, float, str]],
    target: ClinicalTarget,
    *,
    n_plausible: int = 1024,
    seed: int = 0,
    baseline_mm: tuple[float, float] = (10.0, 200.0),
) -> VPCalibration:
    """Virtual population matching a target ORR by plausible-patient sampling + selection.

    Args:
        arm: the treated arm (its ``untreated()`` twin defines plausibility and the sanity
            check).
        ranges: ``{name: (lo, hi, "log"|"linear")}`` of the varied parameters; must include
            ``"T0"`` (baseline tumor cells).
        target: e.g. :data:`KEYNOTE006_Q2W`.
        n_plausible: candidates drawn (a power of 2 keeps Sobol' balanced).
        seed: seeds the Sobol' scrambling and the acceptance draws.
        baseline_mm: plausible baseline sums of target-lesion diameters (mm, the arm's
            read-out :meth:`TrialArm.sld_mm`).

    Returns:
        :class:`VPCalibration` with method ``"allen"``; ``distributions`` gives quantiles of
        every varied parameter among the plausible and the selected patients; ``info`` the
        numbers of candidates, plausible and selected patients.
    """
    if "T0" not in ranges:
        raise ValueError("ranges must contain 'T0' (baseline tumor cells)")
    clock = _time.perf_counter()
    cand = plausible_patients(ranges, n_plausible, seed=seed)
    T0 = cand["T0"]
    vals = {k: v for k, v in cand.items() if k != "T0"}
    with jax.enable_x64(True):
        treated_cells, st_t = simulate_arm(arm, vals, T0)
        untreated_cells, st_u = simulate_arm(arm.untreated(), vals, T0)
    treated_cells, untreated_cells = np.asarray(treated_cells), np.asarray(untreated_cells)
    bor_t, _ = hard_orr(treated_cells, readout=arm.readout)
    bor_u, _ = hard_orr(untreated_cells, readout=arm.readout)
    d0 = arm.sld_mm(T0)
    plausible = (
        (np.asarray(st_t) == 0)
        & (np.asarray(st_u) == 0)
        & (bor_t >= 0)
        & (bor_u >= 2)
        & (d0 >= baseline_mm[0])
        & (d0 <= baseline_mm[1])
    )
    idx = np.flatnonzero(plausible)
    responder = bor_t[idx] <= 1
    chosen, accept = prevalence_select(responder, target.orr, seed=seed + 1)
    sel = idx[chosen]
    _, treated = hard_orr(treated_cells[sel], readout=arm.readout)
    _, untreated = hard_orr(untreated_cells[sel], readout=arm.readout)
    rows = []
    for k, v in cand.items():
        qp = np.quantile(v[idx], [0.05, 0.5, 0.95])
        qs = np.quantile(v[sel], [0.05, 0.5, 0.95])
        rows.append(
            {
                "parameter": k,
                "lo": ranges[k][0],
                "hi": ranges[k][1],
                "scale": ranges[k][2],
                "plausible_p05": qp[0],
                "plausible_median": qp[1],
                "plausible_p95": qp[2],
                "selected_p05": qs[0],
                "selected_median": qs[1],
                "selected_p95": qs[2],
            }
        )
    return VPCalibration.from_arms(
        "allen",
        target,
        rows,
        treated,
        untreated,
        history=np.zeros(0),
        info={
            "n_candidates": int(n_plausible),
            "n_plausible": int(idx.size),
            "plausible_orr": float(responder.mean()),
            "n_selected": int(sel.size),
            "acceptance_responder": float(accept[responder].max()) if responder.any() else 0.0,
            "acceptance_nonresponder": float(accept[~responder].max())
            if (~responder).any()
            else 0.0,
            "selected_index": sel,
            "seed": seed,
        },
        wall_time_s=_time.perf_counter() - clock,
    )

"""Wall time of a 100-patient per-patient fit and of one population calibration (CPU).

    python -m benchmarks.calibrate_fit.run [--patients 100] [--save VARIANT]

Fit: Kuznetsov (1994), free ``a`` and ``n`` per patient (L-BFGS, 4 starts, log-normal noise
σ = 0.1 estimated, 13 weekly measurements), float64. The first call includes XLA compilation;
the second (new noise draw, same shapes) is the steady-state time. Calibration: the KEYNOTE-006
example's relaxed-RECIST calibration (200 patients, 40 Adam steps, validation on 1000) and the
Allen et al. 2016 calibration (1024 candidates). Not a test: timings depend on machine load
(reported as the load average).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

import tumorimmune as ti
from benchmarks._common.harness import add_save_options, save_result
from tumorimmune.calibrate import (
    KEYNOTE006_Q2W,
    Dist,
    Minimizer,
    TrialArm,
    calibrate_allen,
    calibrate_soft,
    fit_patients,
    load_measurements,
    rescale_tumor,
)
from tumorimmune.model import Regimen, TumorImmunePD1


def cohort(P: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = 0.18 * np.exp(0.2 * rng.standard_normal(P))
    n = 1.101e-7 * np.exp(0.2 * rng.standard_normal(P))
    days = np.arange(0.0, 85.0, 7.0)
    T = ti.simulate(ti.Kuznetsov1994(a=a, n=n), {"E": 3.2e5, "T": 5e6}, days)["T"].values
    y = T * np.exp(0.1 * rng.standard_normal(T.shape))
    y[:, 0] = T[:, 0]
    rows = [
        {"patient": i, "day": d, "value": v, "unit": "cells"}
        for i in range(P)
        for d, v in zip(days, y[i], strict=True)
    ]
    return pd.DataFrame(rows), np.stack([a, n], axis=1)


def clock(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=100)
    add_save_options(ap)
    args = ap.parse_args()
    out: dict = {"load_before": os.getloadavg()[0]}
    model = ti.Kuznetsov1994()
    for label, seed in (("fit_first_call", 1), ("fit_second_call", 2)):
        df, truth = cohort(args.patients, seed)
        data = load_measurements(df)
        res, wall, cpu = clock(
            lambda d=data: fit_patients(d, model, ["a", "n"], optimizer=Minimizer(n_starts=4))
        )
        ds = res.dataset
        cov = (ds["ci_lo"].values <= truth) & (truth <= ds["ci_hi"].values)
        out[label] = {
            "patients": args.patients,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "converged": int(ds["converged"].sum()),
            "coverage_95": round(float(cov.mean()), 3),
            "load": os.getloadavg()[0],
        }
        print(label, out[label], flush=True)

    arm = TrialArm(
        rescale_tumor(TumorImmunePD1.with_drug("pembrolizumab"), 100.0),
        Regimen(dose=10.0, unit="mg/kg", interval=14.0, drug="pembrolizumab"),
    )
    pop = {
        "L": Dist("logitnormal", 0.1, 1.5),
        "eps_n": Dist("lognormal", 1.0, 0.3),
        "T0": Dist("lognormal", 3.5e10, 0.15),
    }
    soft, wall, cpu = clock(
        lambda: calibrate_soft(arm, pop, KEYNOTE006_Q2W, calibrate=["L"], n_patients=200, steps=40)
    )
    out["calibrate_soft"] = {
        "patients": 200,
        "steps": 40,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "orr": soft.orr,
        "ci": [soft.orr_lo, soft.orr_hi],
        "within_target_ci": soft.within_target_ci,
        "load": os.getloadavg()[0],
    }
    print("calibrate_soft", out["calibrate_soft"], flush=True)
    ranges = {"L": (0.01, 1.0, "log"), "eps_n": (0.3, 3.0, "log"), "T0": (1e10, 4.5e10, "log")}
    allen, wall, cpu = clock(lambda: calibrate_allen(arm, ranges, KEYNOTE006_Q2W, n_plausible=1024))
    out["calibrate_allen"] = {
        "candidates": 1024,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "orr": allen.orr,
        "ci": [allen.orr_lo, allen.orr_hi],
        "selected": allen.n,
        "within_target_ci": allen.within_target_ci,
        "load": os.getloadavg()[0],
    }
    print("calibrate_allen", out["calibrate_allen"], flush=True)
    save_result(__file__, out, variant=args.save, results_dir=args.results_dir)


if __name__ == "__main__":
    main()

"""Optimise a pembrolizumab regimen by gradient for a virtual population, then check it.

    python examples/optimize_regimen.py [--train 128] [--test 1000] [--endpoint orr]

1. Soft (relaxed RECIST) endpoint of a training sample of the KEYNOTE-006 virtual population
   as a differentiable function of dose (mg/kg) and interval (days); maximised with optax
   (L-BFGS) within clinical bounds (1–10 mg/kg, q2w–q6w) under a drug-amount constraint
   (dose intensity <= the original label's 2 mg/kg per 3 weeks).
2. Hard verification on a *fresh* sample of the population (patients not used in step 1)
   through the sweep engine (``tumorimmune.sweeps.run_sweep``, exact RECIST read-out), together
   with the label regimen and a grid of the same regimen space (explicit arms): the grid's
   best arm and the gradient optimum should agree within the grid's resolution.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import tumorimmune as ti
from tumorimmune import sweeps
from tumorimmune.calibrate import CLINICAL_FIXED, load_population
from tumorimmune.optimize import optimize_regimen
from tumorimmune.response import Readout

SCANS = [84.0, 126.0, 168.0, 210.0, 252.0, 294.0, 336.0]  # KEYNOTE-006: week 12, then q6w
LANDMARK = 182.6  # 6 months
RATE = 2.0 / 21.0  # mg/kg per day: 2 mg/kg q3w (the original label)
DOSES = (1.0, 2.0, 3.0, 4.0)  # grid, mg/kg
INTERVALS = (14.0, 21.0, 28.0, 35.0, 42.0)  # grid, days


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--train", type=int, default=128, help="patients for the optimisation")
    ap.add_argument("--test", type=int, default=1000, help="fresh patients for verification")
    ap.add_argument("--endpoint", choices=["orr", "dcr", "pfs_at"], default="orr")
    ap.add_argument(
        "--temperature", type=float, default=2.0, help="soft read-out, percentage points"
    )
    ap.add_argument("--max-iter", type=int, default=15, help="L-BFGS iterations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write a JSON summary here")
    args = ap.parse_args()

    table, _ = load_population(Path(ti.__file__).parent / "data" / "keynote006_vpop.npz")
    perm = np.random.default_rng(args.seed).permutation(table["T0"].size)
    train = {k: v[perm[: args.train]] for k, v in table.items()}
    fresh = {k: v[perm[args.train : args.train + args.test]] for k, v in table.items()}

    clock = time.perf_counter()
    opt = optimize_regimen(
        train,
        scan_days=[0.0, *SCANS],
        endpoint=args.endpoint,
        dose_bounds=(1.0, 10.0),
        interval_bounds=(14.0, 42.0),
        max_dose_rate=RATE,
        readout=Readout(temperature=args.temperature),
        landmark=LANDMARK,
        max_iter=args.max_iter,
    )
    t_opt = time.perf_counter() - clock
    print(
        f"gradient optimum ({args.train} patients, {t_opt:.0f} s, {opt.n_iter} iterations): "
        f"{opt.dose:.3f} mg/kg q{opt.interval:.2f}d (dose rate {opt.dose_rate:.4f} mg/kg/day), "
        f"soft {args.endpoint} {opt.value:.4f} (start {opt.start_value:.4f})"
    )

    grid = [(d, i) for d in DOSES for i in INTERVALS if d / i <= RATE * (1 + 1e-9)]
    arms = [
        {
            "name": "label 2 mg/kg q3w",
            "drug": "pembrolizumab",
            "dose": 2.0,
            "unit": "mg/kg",
            "interval": 21.0,
        },
        {
            "name": "optimised",
            "drug": "pembrolizumab",
            "dose": opt.dose,
            "unit": "mg/kg",
            "interval": opt.interval,
        },
    ] + [
        {
            "name": f"grid {d:g} mg/kg q{i:g}d",
            "drug": "pembrolizumab",
            "dose": d,
            "unit": "mg/kg",
            "interval": i,
        }
        for d, i in grid
    ]
    with tempfile.TemporaryDirectory() as tmp:
        pop = Path(tmp) / "fresh.npz"
        np.savez(pop, meta=np.array(json.dumps({"fixed": CLINICAL_FIXED})), **fresh)  # pyright: ignore[reportArgumentType]
        spec = sweeps.validate_spec(
            {
                "name": "regimen_grid",
                "model": "TumorImmunePD1",
                "parameters": CLINICAL_FIXED,
                "population": {"file": str(pop)},
                "sampling": {"cohort_size": args.test, "seed": 1},
                "pk": {"variability": False, "weight_scaling": True},
                "scan_days": SCANS,
                "follow_up_days": SCANS[-1],
                "precision": "float64",
                "n_trajectories": 0,
                "arms": arms,
            }
        )
        clock = time.perf_counter()
        ds = sweeps.run_sweep(spec, output=Path(tmp) / "results.zarr")
        t_sweep = time.perf_counter() - clock
    assert ds is not None
    days, event = ds["pfs_days"].values, ds["pfs_event"].values
    pf = np.mean(~(event & (days <= LANDMARK)), axis=1)
    rows = {
        str(a): {"orr": float(o), "dcr": float(c), "pfs_at": float(p)}
        for a, o, c, p in zip(ds["arm"].values, ds["orr"].values, ds["dcr"].values, pf, strict=True)
    }
    print(f"hard read-out, {args.test} fresh patients (sweep engine, {t_sweep:.0f} s):")
    for name, r in rows.items():
        print(f"  {name:28s} ORR {r['orr']:.4f}  DCR {r['dcr']:.4f}  PF@6mo {r['pfs_at']:.4f}")
    grid_rows = {k: v for k, v in rows.items() if k.startswith("grid")}
    best = max(grid_rows, key=lambda k: grid_rows[k][args.endpoint])
    ties = [k for k, v in grid_rows.items() if v[args.endpoint] == grid_rows[best][args.endpoint]]
    print(f"grid optimum ({args.endpoint}): {', '.join(ties)}")
    print(
        f"optimised vs grid optimum vs label ({args.endpoint}): "
        f"{rows['optimised'][args.endpoint]:.4f} / {grid_rows[best][args.endpoint]:.4f} / "
        f"{rows['label 2 mg/kg q3w'][args.endpoint]:.4f}"
    )
    if args.out is not None:
        summary = {
            "optimum": {
                "dose_mg_per_kg": opt.dose,
                "interval_days": opt.interval,
                "soft": opt.value,
                "soft_start": opt.start_value,
                "n_iter": opt.n_iter,
                "seconds": t_opt,
            },
            "grid_optimum": ties,
            "hard": rows,
            "train": args.train,
            "test": args.test,
        }
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

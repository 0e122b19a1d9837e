"""Fused vs diffrax on every built-in model (and the SBML import): one run per engine.

For each model: N patients (default 1e4) with ±20 % lognormal spread of one parameter, one
year, monthly outputs (de Pillis: 30 days, daily outputs — with the human parameters the
system becomes stiff once the tumor is large, eigenvalues ≈ −p·T, −q·T ≈ −3000/day at
1e9 cells, beyond what the explicit Tsit5 of every backend does in 1e5 steps), float64 at
rtol 1e-6 (atol per model); wall time including compile (one run: what a user sees the first
time), the ratio, and the max relative difference of the tumor state between the two engines
(where the tumor is above 1e-6 of its largest value).

    python -m benchmarks.models_speed.run --n 10000 --save 1e4

Not a test: timings depend on the machine and its load (recorded in the JSON).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

from benchmarks._common.harness import add_save_options, save_result
from tumorimmune import simulate
from tumorimmune.model import (
    ClaretTGI,
    DePillis2005,
    Kuznetsov1994,
    Nikolopoulou2018,
    TumorImmunePD1,
    from_sbml,
)

ROOT = Path(__file__).resolve().parents[2]


YEAR = np.arange(0.0, 366.0, 30.0)


def cases():
    yield "Kuznetsov1994", Kuznetsov1994(), "a", {"E": 3.2e5, "T": 1e7}, 1e-6, YEAR
    yield "TumorImmunePD1", TumorImmunePD1(), "a", {"E": 3.2e5, "T": 1e7}, 1e-6, YEAR
    y0 = {"T": 1e5, "N": 3.2e5, "L": 1e3}
    yield "DePillis2005", DePillis2005(), "a", y0, 1e-6, np.arange(0.0, 31.0)
    y0 = {"C": 0.3968, "Tc": 0.006}
    yield "Nikolopoulou2018", Nikolopoulou2018(), "lambda_C", y0, 1e-12, YEAR
    yield "ClaretTGI", ClaretTGI(), "KD", {"SLD": 50.0}, 1e-9, YEAR
    try:
        K = from_sbml(ROOT / "tests" / "data" / "kuznetsov1994.xml")
        yield "Kuznetsov1994 (SBML)", K(), "a", {"E": 3.2e5, "T": 1e7}, 1e-6, YEAR
    except ImportError:
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    add_save_options(ap)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'model':24s} {'diffrax s':>10s} {'fused s':>10s} {'ratio':>7s} {'max rel diff':>13s}")
    for name, model, pname, y0, atol, t in cases():
        base = float(model.parameters()[pname])
        m = model.replace(**{pname: base * rng.lognormal(0.0, 0.2, args.n)})
        res = {}
        for backend in ("diffrax", "fused"):
            t0 = time.perf_counter()
            ds = simulate(m, y0, t, backend=backend, rtol=1e-6, atol=atol)
            res[backend] = (time.perf_counter() - t0, ds)
        tumor = type(model).tumor_state
        a, b = res["diffrax"][1][tumor].values, res["fused"][1][tumor].values
        # relative difference where the tumor is above 1e-6 of its largest value (below it,
        # both engines only resolve the absolute tolerance)
        keep = np.abs(a) > 1e-6 * np.nanmax(np.abs(a))
        diff = float(np.nanmax(np.abs(a - b)[keep] / np.abs(a)[keep]))
        row = {
            "model": name,
            "n": args.n,
            "diffrax_s": res["diffrax"][0],
            "fused_s": res["fused"][0],
            "ratio": res["diffrax"][0] / res["fused"][0],
            "max_rel_diff": diff,
            "days": float(t[-1]),
            "failed": int(res["fused"][1].attrs["n_failed"] + res["diffrax"][1].attrs["n_failed"]),
        }
        rows.append(row)
        print(f"{name:24s} {row['diffrax_s']:10.2f} {row['fused_s']:10.2f} "
              f"{row['ratio']:7.1f} {diff:13.2e}", flush=True)  # fmt: skip
    meta = {"backend": jax.default_backend()}
    out = {"meta": meta, "rows": rows}
    save_result(__file__, out, variant=args.save, results_dir=args.results_dir)


if __name__ == "__main__":
    main()

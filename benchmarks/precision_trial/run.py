"""Float32 vs float64 on the default virtual trial: do the clinical read-outs agree?

Runs the packaged default spec (``tumorimmune/sweeps/default.toml``: KEYNOTE-006 population,
five arms, one year) on the first ``--patients`` patients twice, in float32 and in float64
(same backend, same patients), and reports per arm: patients whose best overall response
differs, ORR and CR rate in both precisions, and the largest relative difference of the tumor
cells at the scans (patients whose tumor is above 1 cell in both).

    python -m benchmarks.precision_trial.run --patients 2000 [--save VARIANT]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np

from benchmarks._common.harness import add_save_options, save_result
from tumorimmune import sweeps


def run(n: int, precision: str, out: Path) -> tuple[object, float]:
    spec = sweeps.load_spec(Path(str(resources.files("tumorimmune.sweeps") / "default.toml")))
    spec = spec.model_copy(
        update={
            "sampling": spec.sampling.model_copy(update={"cohort_size": n}),
            "precision": precision,
            "n_trajectories": 16,
        }
    )
    t0 = time.perf_counter()
    ds = sweeps.run_sweep(spec, output=out / f"{precision}.zarr", overwrite=True)
    return ds, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=2000)
    add_save_options(ap)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ds32, s32 = run(a.patients, "float32", Path(tmp))
        ds64, s64 = run(a.patients, "float64", Path(tmp))
        rows = []
        for arm in ds64["arm"].values:
            b32 = ds32["best_response"].sel(arm=arm).values
            b64 = ds64["best_response"].sel(arm=arm).values
            c32 = ds32["tumor_cells"].sel(arm=arm).values.astype(float)
            c64 = ds64["tumor_cells"].sel(arm=arm).values.astype(float)
            both = (c32 > 1) & (c64 > 1)
            rel = np.abs(c32 - c64)[both] / c64[both]
            rows.append(
                {
                    "arm": str(arm),
                    "best_response_differs": int(np.sum(b32 != b64)),
                    "orr32": float(np.mean((b32 == 0) | (b32 == 1))),
                    "orr64": float(np.mean((b64 == 0) | (b64 == 1))),
                    "cr32": float(np.mean(b32 == 0)),
                    "cr64": float(np.mean(b64 == 0)),
                    "max_rel_diff_cells": float(rel.max()) if rel.size else 0.0,
                    "median_rel_diff_cells": float(np.median(rel)) if rel.size else 0.0,
                }
            )
    print(f"patients: {a.patients}; run time float32 {s32:.1f} s, float64 {s64:.1f} s")
    print("| arm | BOR differs | ORR f32 | ORR f64 | CR f32 | CR f64 | max rel Δ cells | median |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['arm']} | {r['best_response_differs']} | {r['orr32']:.4f} | {r['orr64']:.4f} "
            f"| {r['cr32']:.4f} | {r['cr64']:.4f} | {r['max_rel_diff_cells']:.1e} "
            f"| {r['median_rel_diff_cells']:.1e} |"
        )
    out = {"patients": a.patients, "seconds": [s32, s64], "arms": rows}
    save_result(__file__, out, variant=a.save, results_dir=a.results_dir)


if __name__ == "__main__":
    main()

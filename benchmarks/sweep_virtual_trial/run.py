"""Sweep throughput: ``examples/pd1_virtual_trial.toml`` end to end (engine + metrics + Zarr).

    python -m benchmarks.sweep_virtual_trial.run --precision float32 --backend diffrax
    python -m benchmarks.sweep_virtual_trial.run --precision float64 --backend diffrax

Reports patients/s (each virtual patient through every arm) over the whole run (first chunk
includes JIT compilation) and over the chunks after the first (steady state), the wall time and
the peak resident memory of the process (``resource.getrusage``). Not a test: timings depend on
the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

from benchmarks._common.harness import add_save_options, save_result
from tumorimmune.sweeps import SweepPlan, load_spec, run_sweep, validate_spec

SPEC = Path(__file__).resolve().parents[2] / "examples" / "pd1_virtual_trial.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description="Sweep throughput of the virtual-trial example.")
    ap.add_argument("--spec", type=Path, default=SPEC)
    ap.add_argument("--precision", choices=["float32", "float64"], default="float32")
    ap.add_argument("--backend", default="diffrax")
    ap.add_argument("--patients", type=int, default=None, help="cohort size (default: spec's)")
    add_save_options(ap)
    args = ap.parse_args()
    base = load_spec(args.spec).model_dump(mode="json", exclude_none=True)
    base.update(precision=args.precision, backend=args.backend)
    if args.patients:
        base["sampling"]["cohort_size"] = args.patients
    spec = validate_spec(base)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.zarr"
        t0 = time.perf_counter()
        ds = run_sweep(spec, output=path)
        wall = time.perf_counter() - t0
        sec = np.asarray(zarr.open_group(str(path), mode="r")["chunk_seconds"][...])  # type: ignore[index]
    assert ds is not None
    n = SweepPlan.from_spec(spec).n_patients
    sizes = [min(spec.chunk_size, n - i * spec.chunk_size) for i in range(len(sec))]
    steady = sum(sizes[1:]) / sec[1:].sum() if len(sec) > 1 else float("nan")
    out = {
        "spec": str(args.spec),
        "patients": n,
        "arms": len(spec.arms),
        "precision": args.precision,
        "backend": ds.attrs["backend"],
        "device": ds.attrs["device"],
        "wall_s": round(wall, 2),
        "patients_per_s_overall": round(n / wall, 1),
        "patients_per_s_steady": round(steady, 1),
        "chunk_seconds": np.round(sec, 3).tolist(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "orr": dict(
            zip(ds["arm"].values.tolist(), np.round(ds["orr"].values, 4).tolist(), strict=True)
        ),
    }
    print(json.dumps(out, indent=2))
    save_result(__file__, out, variant=args.save, results_dir=args.results_dir)


if __name__ == "__main__":
    main()

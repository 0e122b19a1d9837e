"""Sweep pipeline vs its integration kernel on the same patients, side by side in one process.

    python -m benchmarks.pipeline_vs_kernel.run            # 10^5 patients × 3 arms
    python -m benchmarks.pipeline_vs_kernel.run --quick    # 10^4 patients (a check)

Cohort: ``examples/pd1_virtual_trial.toml`` (KEYNOTE-006 virtual population, float32, fused
backend on CPU, Pallas on a GPU) with three arms (``benchmarks/_common/trials.py``: untreated,
pembrolizumab 10 mg/kg q3w, nivolumab 240 mg q2w) and ``--patients`` patients.

* **kernel**: the backend alone (``spec.backend`` resolved as the sweep does), one call per
  arm on all patients at once, inputs built beforehand (patient table, arm models, schedules);
  seconds = the sum of the arms' calls.
* **grouped kernel**: the backend alone as the sweep engine calls it on one device, the arms
  of one model structure as one cohort (``Fused.solve_groups`` / ``Pallas.solve_groups``: one
  call per program; the same as **kernel** for diffrax); reported next to the per-arm kernel
  (on a GPU: the Pallas all-arms kernel against the per-arm kernels, issue #27).
* **pipeline**: ``run_sweep`` end to end into a fresh ``results.zarr`` (sampling, every arm,
  RECIST read-out, PFS, Zarr writes with checksums, trajectories, summaries, finalize), as
  ``tumorimmune run`` does it without the report.
* **cli** (``--cli``): ``tumorimmune run SPEC --out DIR`` as a user types it, in a fresh
  process (imports, compilation, store **and report**): once with an empty compilation cache
  (``cold``) and then again with the cache it filled (``cached``).

Both are run once untimed first (compilation), then ``--repeats`` times alternately; the
medians are reported with their ratio (pipeline patients/s ÷ kernel patients/s). The first
(cold) pipeline run's wall time is reported too. Not a test: timings depend on the machine and
its load (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from benchmarks._common.harness import add_save_options, save_result
from benchmarks._common.trials import trial_spec
from tumorimmune.solvers import Fused, Pallas, make_schedule
from tumorimmune.sweeps import Engine, SweepPlan, run_sweep


def kernel_inputs(spec: Any) -> tuple[Engine, list[tuple]]:
    plan = SweepPlan.from_spec(spec)
    eng = Engine.create(plan)
    table = eng.rows(np.arange(plan.n_patients))
    ts = plan.output_times
    calls = []
    for a, regimen in enumerate(plan.regimens):
        model, y0 = eng.arm_model(table, a)
        schedule, doses = make_schedule(model, ts, regimen)
        if doses is None:
            doses = np.zeros((y0.shape[0], 0))
        kw = {"rtol": plan.rtol, "atol": plan.atol, "dtype": plan.precision}
        kw["max_steps"] = plan.max_steps
        calls.append((model, y0, schedule, doses, kw))
    return eng, calls


def run_kernel(eng: Engine, calls: list[tuple]) -> float:
    t0 = time.perf_counter()
    for model, y0, schedule, doses, kw in calls:
        out = eng.solve(model, y0, schedule, doses, **kw)
        jax.block_until_ready(out)
    return time.perf_counter() - t0


def run_grouped(eng: Engine, calls: list[tuple]) -> float:
    """The kernel as the engine calls it: the arms of each program in one call."""
    if not isinstance(eng.solve, Fused | Pallas):  # diffrax: arm by arm
        return run_kernel(eng, calls)
    programs = eng.programs([c[0] for c in calls])
    t0 = time.perf_counter()
    for prog in programs:
        kw = calls[prog[0]][4]
        out = eng.solve.solve_groups([calls[a][:4] for a in prog], **kw)
        jax.block_until_ready(out)
    return time.perf_counter() - t0


def run_pipeline(spec: Any) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ds = run_sweep(spec, output=Path(tmp) / "results.zarr")
        wall = time.perf_counter() - t0
    assert ds is not None
    return wall


def run_cli(spec: Any, cache: Path) -> float:
    """Wall seconds of ``tumorimmune --compile-cache CACHE run SPEC --out DIR`` (report included)
    in a new process."""
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.toml"
        path.write_text(spec.to_toml())
        cmd = [sys.executable, "-m", "tumorimmune", "--compile-cache", str(cache), "run"]
        cmd += [str(path), "--out", str(Path(tmp) / "out")]
        env = dict(os.environ)
        env.pop("TUMORIMMUNE_COMPILE_CACHE", None)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description="Sweep pipeline vs its kernel, same patients.")
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk-size", type=int, default=None, help="default: the spec's")
    ap.add_argument("--quick", action="store_true", help="10^4 patients, 2 repeats")
    ap.add_argument("--cli", action="store_true", help="also time `tumorimmune run` (cold, cached)")
    add_save_options(ap)
    args = ap.parse_args()
    n, reps = (10_000, 2) if args.quick else (args.patients, args.repeats)
    spec = trial_spec(n, args.chunk_size)
    eng, calls = kernel_inputs(spec)
    load0 = os.getloadavg()
    cold = run_pipeline(spec)
    run_kernel(eng, calls)  # compiles
    run_grouped(eng, calls)
    kern, group, pipe = [], [], []
    for _ in range(reps):
        kern.append(run_kernel(eng, calls))
        group.append(run_grouped(eng, calls))
        pipe.append(run_pipeline(spec))
    k, g, p = statistics.median(kern), statistics.median(group), statistics.median(pipe)
    cli: dict[str, float] = {}
    if args.cli:
        with tempfile.TemporaryDirectory() as cache:
            cli["cold"] = run_cli(spec, Path(cache))
            cli["cached"] = run_cli(spec, Path(cache))
    dev = jax.devices()[0]
    out = {
        "patients": n,
        "arms": len(spec.arms),
        "chunk_size": spec.chunk_size,
        "precision": spec.precision,
        "backend": eng.backend,
        "device": f"{dev.platform}: {dev.device_kind}",
        "cpu_count": os.cpu_count(),
        "load_avg_before_after": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
        "kernel_s": [round(x, 3) for x in kern],
        "grouped_kernel_s": [round(x, 3) for x in group],
        "pipeline_s": [round(x, 3) for x in pipe],
        "pipeline_cold_s": round(cold, 3),
        "kernel_patients_per_s": round(n / k, 1),
        "pipeline_patients_per_s": round(n / p, 1),
        "ratio": round(k / p, 3),
        "grouped_kernel_patients_per_s": round(n / g, 1),
        "ratio_to_grouped_kernel": round(g / p, 3),
        "grouped_kernel_speedup": round(k / g, 3),
    }
    for name, wall in cli.items():
        out[f"cli_{name}_s"] = round(wall, 3)
        out[f"cli_{name}_ratio"] = round(k / wall, 3)
    print(json.dumps(out, indent=2))
    save_result(__file__, out, variant=args.save, results_dir=args.results_dir)


if __name__ == "__main__":
    main()

"""The sweep pipeline's host work, with the integration taken out: what bounds a GPU run.

    python -m benchmarks.host_pipeline.run --patients 1000000 --batch 1048576
    python -m benchmarks.host_pipeline.run --patients 200000 --chunk-size 2500   # spec's chunks

On a GPU the kernel integrates the three-arm trial's 10^7 patients in well under a second
(``gpu_probe``, benchmarks/RESULTS.md), so a run's time is what the host does around it: drawing
the patients, building the arms' models, the read-out, the store (writes, read-back, checksums,
verification), the summaries, loading the results and the report. This script runs ``run_sweep``
of ``examples/pd1_virtual_trial.toml``'s three arms (``benchmarks/_common/trials.py``) with the
engine's solve replaced by a stand-in that returns each patient's initial state decaying
exponentially (no ODE is integrated; everything else is the real pipeline), and reports patient-
arms per second and where the time goes (timers around the runner's functions; ``compute``
includes the stand-in, ``write_chunks`` runs on the writer thread, overlapped with the next
batch; the stand-in's states are made on the device, as a kernel leaves them, one arm at a
time). The engine's compiled programs (the reduction of each arm's solution, the survival link,
the RECIST read-outs: ``DEVICE_WORK``) run on the device on a GPU; here they run on the CPU
threads and are reported apart (``device_work_s``), and ``host_share_s`` is the rest of the
wall time: what a GPU run's host does. ``--batch`` sets the patients per compute batch (the
engine's ``CPU_BATCH_PER_THREAD`` × threads; a GPU batch is 2^20). Not a test: timings depend
on the machine and its load (printed).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common.harness import PeakRSS, add_save_options, save_result


def stand_in(self: Any, table: dict[str, np.ndarray], ts: np.ndarray, on_solved: Any = None) -> Any:
    """``Engine._solve_arms`` without an ODE: the arms' models as the engine builds them,
    states ``y0 · exp(-k t)`` (float32, as the spec's precision) made on the device as a
    kernel leaves them (a JAX array), no failures, 50 steps; one arm at a time (a generator,
    so that one arm's states are alive at once, as a device streaming arms)."""
    import jax.numpy as jnp

    for a in range(self.plan.n_arms):
        model, y0 = self.arm_model(table, a)
        ys = _decay(jnp.asarray(y0, jnp.float32), jnp.asarray(ts, jnp.float32), 0.002 * (a + 1))
        n = y0.shape[0]
        if on_solved is not None:
            on_solved([a])
        yield (model, ys, np.zeros(n, np.int32), np.full(n, 50, np.int32))
        del ys


@functools.cache
def _decay_program() -> Any:
    import jax

    return jax.jit(lambda y0, ts, k: y0[:, None, :] * jax.numpy.exp(-k * ts)[None, :, None])


def _decay(y0: Any, ts: Any, k: float) -> Any:
    return _decay_program()(y0, ts, np.float32(k))


#: The engine's compiled programs that run on the device a batch was solved on (on a GPU: in
#: milliseconds, on the device's clock; here on the CPU threads, timed apart from the host's
#: share): the reduction of each arm's solution, the survival link, the RECIST read-outs.
DEVICE_WORK = ("arm_series", "jax_death_days", "jax_readout", "jax_timecourse_readout")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument(
        "--chunk-size", default="auto", help="an integer, 'spec' or 'auto' (trial_spec)"
    )
    ap.add_argument("--batch", type=int, default=1 << 20, help="patients per compute batch")
    ap.add_argument(
        "--in-flight",
        type=int,
        default=None,
        help="batches computed at once (default: the engine's; 1 on a CPU, as a GPU run's "
        "host: Engine.batches_in_flight)",
    )
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--report", action="store_true", help="also time write_report")
    ap.add_argument(
        "--keep",
        default=None,
        help="store tier: summary / readout / scans / trajectories (default: by cohort size)",
    )
    add_save_options(ap)
    args = ap.parse_args()

    import jax

    from benchmarks._common.trials import trial_spec

    # profiling hooks with no public form: the engine's CPU batch size and the runner's
    # finalize/load (tests/test_benchmarks_layout.py lists these private imports)
    from tumorimmune.sweeps import Engine, SweepStore, _engine, _runner, run_sweep

    spec = trial_spec(args.patients, args.chunk_size, args.keep)
    threads = os.cpu_count() or 1
    _engine.CPU_BATCH_PER_THREAD = max(1, args.batch // threads)
    Engine._solve_arms = stand_in  # type: ignore[method-assign]
    if args.in_flight is not None:
        k = args.in_flight
        Engine.batches_in_flight = lambda self: k  # type: ignore[method-assign]

    seconds: dict[str, float] = collections.defaultdict(float)

    def timed(obj: Any, name: str) -> None:
        f = getattr(obj, name)

        def wrapper(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                seconds[name] += time.perf_counter() - t

        setattr(obj, name, wrapper)

    for obj, name in [
        (Engine, "compute"),
        (Engine, "rows"),
        (Engine, "arm_model"),
        (SweepStore, "write_chunks"),
        (SweepStore, "verify"),
        (_runner, "_finalize"),
        (_runner, "load"),
    ] + [(_engine, name) for name in DEVICE_WORK]:
        timed(obj, name)

    walls, reports, phases, peaks = [], [], [], []
    for _ in range(args.repeats):
        seconds.clear()
        with tempfile.TemporaryDirectory() as tmp, PeakRSS() as rss:
            t0 = time.perf_counter()
            ds = run_sweep(spec, output=Path(tmp) / "results.zarr")
            walls.append(time.perf_counter() - t0)
            assert ds is not None
            if args.report:
                from tumorimmune.reports import write_report

                t1 = time.perf_counter()
                write_report(ds, Path(tmp) / "report.html")
                reports.append(time.perf_counter() - t1)
        phases.append(dict(seconds))
        peaks.append(rss.peak)
    wall = statistics.median(walls)
    device = sum(phases[-1].get(name, 0.0) for name in DEVICE_WORK)
    n_arms = len(spec.arms)
    out = {
        "device": f"{jax.devices()[0].device_kind}, {threads} threads",
        "patients": args.patients,
        "arms": n_arms,
        "chunk_size": spec.chunk_size,
        "store_chunks": -(-args.patients // spec.chunk_size),
        "batch": args.batch,
        "in_flight": args.in_flight,
        "load_avg": round(os.getloadavg()[0], 2),
        "run_sweep_s": [round(w, 3) for w in walls],
        "run_sweep_median_s": round(wall, 3),
        "patient_arms_per_s": float(f"{args.patients * n_arms / wall:.3g}"),
        "report_s": [round(r, 3) for r in reports],
        "keep": spec.store.keep if spec.store is not None else "default",
        "peak_rss_mb": round(max(peaks), 1),
        # on a GPU the device reduction and the survival link run on the device, in
        # milliseconds; here they run on the CPU threads (XLA) and are timed apart
        "device_work_s (last run)": round(device, 3),
        "host_share_s (last run)": round(walls[-1] - device, 3),
        "timers_s (last run)": {k: round(v, 3) for k, v in sorted(phases[-1].items())},
    }
    print(json.dumps(out, indent=2))
    save_result(__file__, out, variant=args.save, results_dir=args.results_dir)


if __name__ == "__main__":
    main()

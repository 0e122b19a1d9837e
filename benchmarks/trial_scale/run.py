"""A virtual trial end to end at scale, in one process: store and report, with the time spent
compiling (issue #12's GPU target: 10^7 patients × 3 arms, ≥ 5e7 patient-years/s end to end,
compile < 10 s).

    python -m benchmarks.trial_scale.run --patients 10000000 --cache /tmp/jaxcache   # GPU
    python -m benchmarks.trial_scale.run --patients 20000 --cache /tmp/jaxcache      # CPU check

Cohort: ``examples/pd1_virtual_trial.toml`` with three arms (untreated, pembrolizumab 10 mg/kg
q3w, nivolumab 240 mg q2w; ``benchmarks/_common/trials.py``). Times, from ``run_sweep``'s
start: JAX's own compile events (``jax.monitoring``: tracing, lowering, XLA compile; cache
hits), each phase of the run, the report (``write_report``), and patient-years per second end
to end (patients × arms × follow-up years ÷ (run + report)). Run it twice with the same
``--cache`` to see the compilation cache's effect (the second run loads the programs). Not a
test: timings depend on the machine and its load (printed).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import time
from pathlib import Path

from benchmarks._common.harness import add_save_options, save_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=10_000_000)
    ap.add_argument(
        "--chunk-size", default="auto", help="an integer, 'spec' or 'auto' (trial_spec)"
    )
    ap.add_argument("--cache", type=Path, default=None, help="compilation cache directory")
    ap.add_argument("--precision", default=None, help="float32 / float64 (default: the spec's)")
    ap.add_argument(
        "--backend", default=None, help="auto / fused / pallas / diffrax (default: the spec's)"
    )
    ap.add_argument(
        "--keep",
        default=None,
        help="store tier: summary / readout / scans / trajectories (default: by cohort size)",
    )
    add_save_options(ap)
    args = ap.parse_args()

    import jax
    import jax.monitoring

    import tumorimmune as ti

    if args.cache is not None:
        ti.enable_compilation_cache(args.cache)
    seconds: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.defaultdict(int)
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: seconds.__setitem__(event, seconds[event] + duration)
    )
    jax.monitoring.register_event_listener(
        lambda event, **kw: counts.__setitem__(event, counts[event] + 1)
    )
    from benchmarks._common.trials import trial_spec
    from tumorimmune.reports import write_report
    from tumorimmune.sweeps import run_sweep, validate_spec

    spec = trial_spec(args.patients, args.chunk_size, args.keep)
    for key in ("precision", "backend"):  # validated like a spec's own value
        if getattr(args, key):
            d = spec.model_dump(mode="json", exclude_none=True)
            spec = validate_spec({**d, key: getattr(args, key)})
    phases: list[tuple[str, float]] = []
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ds = run_sweep(
            spec,
            output=Path(tmp) / "results.zarr",
            phase=lambda name: phases.append((name, time.perf_counter() - t0)),
        )
        run_s = time.perf_counter() - t0
        files = (Path(tmp) / "results.zarr").rglob("*")
        store_bytes = sum(f.stat().st_size for f in files if f.is_file())
        t1 = time.perf_counter()
        assert ds is not None
        html = write_report(ds, Path(tmp) / "report.html")
        report_s = time.perf_counter() - t1
        report_mb = html.stat().st_size / 1e6
    years = args.patients * len(spec.arms) * spec.follow_up_days / 365.25
    dev = jax.devices()[0]
    out = {
        "device": f"{len(jax.devices())} × {dev.platform}: {dev.device_kind}",
        "backend": str(ds.attrs.get("backend")),
        "precision": spec.precision,
        "patients": args.patients,
        "arms": len(spec.arms),
        "chunk_size": spec.chunk_size,
        "follow_up_days": spec.follow_up_days,
        "load_avg_before_after": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "run_s": round(run_s, 3),
        "report_s": round(report_s, 3),
        "report_mb": round(report_mb, 2),
        "phases_s": {name: round(t, 3) for name, t in phases},
        "trace_s": round(seconds["/jax/core/compile/jaxpr_trace_duration"], 3),
        "lower_s": round(seconds["/jax/core/compile/jaxpr_to_mlir_module_duration"], 3),
        "xla_compile_s": round(seconds["/jax/core/compile/backend_compile_duration"], 3),
        "cache_hits": counts["/jax/compilation_cache/cache_hits"],
        "compile_time_saved_s": round(seconds["/jax/compilation_cache/compile_time_saved_sec"], 3),
        "patients_per_s": round(args.patients / (run_s + report_s), 1),
        "patient_years_per_s_end_to_end": float(f"{years / (run_s + report_s):.3g}"),
        "n_failed": int(ds.attrs.get("n_failed", -1)),
        "keep": str(ds.attrs.get("keep")),
        "store_bytes": store_bytes,
        "store_bytes_per_patient": round(store_bytes / args.patients, 1),
        "store_write_mb_per_s": round(store_bytes / 1e6 / run_s, 1),
    }
    print(json.dumps(out, indent=2))
    save_result(__file__, out, variant=args.save, results_dir=args.results_dir)


if __name__ == "__main__":
    main()

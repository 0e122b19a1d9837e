"""GPU ensemble benchmark: diffrax vmap vs the fused engine and the Pallas kernel, in one call of
under 5 minutes (the GPU counterpart of ``ensemble``).

Needs only jax, diffrax, equinox, numpy and this repository (``tumorimmune`` is imported
without its package ``__init__``, so xarray & co. are not needed)::

    python -m benchmarks.ensemble_gpu.run                     # 10^6 and 10^7 patients
    python -m benchmarks.ensemble_gpu.run --quick             # 10^5 and 10^6 patients
    python -m benchmarks.ensemble_gpu.run --sizes 200 --engines fused-f32,diffrax-f32   # check

Prints progress and a table; ``--save VARIANT`` writes the JSON (after every run, so a run cut
short keeps what it measured; ``--results-dir $OUT`` on a lent device). Each size runs twice
(compile, then steady state); a run predicted to take longer than ``--max-seconds`` or to
overrun the total ``--budget`` is skipped; out-of-memory and other errors are recorded per run
and never abort the script.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
import traceback
from typing import Any

import jax
import numpy as np

from benchmarks._common import cohorts as _cohorts
from benchmarks._common.harness import (
    HEADER,
    ResultFile,
    add_save_options,
    device_peak_mb,
    fmt_row,
    timed,
)
from tumorimmune.solvers import solve_diffrax, solve_fused, solve_pallas

T_START = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T_START:6.1f} s] {msg}", flush=True)


def engines(pool: int) -> dict[str, tuple[Any, str, float, float, dict[str, Any]]]:
    """name: (function, dtype, rtol, atol, extra options)."""
    return {
        "fused-f32": (solve_fused, "float32", 1e-4, 1e-3, {}),
        "pallas-f32": (solve_pallas, "float32", 1e-4, 1e-3, {"block": 128}),
        "pallas-f32-b64": (solve_pallas, "float32", 1e-4, 1e-3, {"block": 64, "num_warps": 2}),
        "pallas": (solve_pallas, "float64", 1e-6, 1e-6, {"block": 128}),
        "diffrax-f32": (solve_diffrax, "float32", 1e-4, 1e-3, {}),
        "fused-f32-refill": (
            solve_fused,
            "float32",
            1e-4,
            1e-3,
            {"chunk_size": pool, "lanes": pool // 4, "refill_every": 16},
        ),
        "fused-f32-unroll4": (solve_fused, "float32", 1e-4, 1e-3, {"unroll": 4}),
        "fused": (solve_fused, "float64", 1e-6, 1e-6, {}),
        "diffrax": (solve_diffrax, "float64", 1e-6, 1e-6, {}),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="sizes 1e5,1e6")
    ap.add_argument("--sizes", default=None, help="comma-separated cohort sizes (default 1e6,1e7)")
    ap.add_argument("--models", default="pd1,kuznetsov")
    ap.add_argument(
        "--engines",
        default=(
            "pallas-f32,fused-f32,diffrax-f32,pallas,fused,diffrax,"
            "fused-f32-unroll4,pallas-f32-b64,fused-f32-refill"
        ),
    )
    ap.add_argument("--ref-n", type=int, default=1000)
    ap.add_argument("--pool", type=int, default=1 << 21, help="fused pool size for the refill run")
    ap.add_argument("--max-seconds", type=float, default=40.0, help="skip a run predicted longer")
    ap.add_argument("--budget", type=float, default=270.0, help="total seconds for the script")
    add_save_options(ap)
    args = ap.parse_args(argv)
    sizes_arg = args.sizes or ("1e5,1e6" if args.quick else "1e6,1e7")
    sizes = sorted(int(float(s)) for s in sizes_arg.split(","))
    result = ResultFile(__file__, variant=args.save, results_dir=args.results_dir)

    dev = jax.devices()[0]
    meta = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": str(dev),
        "device_kind": getattr(dev, "device_kind", dev.platform),
        "jax": jax.__version__,
        "sizes": sizes,
    }
    log(json.dumps(meta))
    records: list[dict[str, Any]] = []

    def save() -> None:
        result({"meta": meta, "records": records})

    table = [HEADER]
    models = args.models.split(",")
    for i_model, model_name in enumerate(models):
        # share what is left of the budget between the models still to run
        now = time.perf_counter() - T_START
        deadline = now + (args.budget - now) / (len(models) - i_model)
        full = _cohorts.COHORTS[model_name](max(sizes), seed=0)
        ref_c = full.subset(min(args.ref_n, max(sizes)))
        log(f"{model_name}: reference (diffrax float64 rtol 1e-10, {ref_c.n} patients)")
        try:
            ref, _, _ = solve_diffrax(
                ref_c.model, ref_c.y0, ref_c.schedule, ref_c.doses, rtol=1e-10, atol=1e-8
            )
        except Exception as exc:
            log(f"reference failed: {exc!r}")
            ref = np.full((ref_c.n, len(ref_c.schedule.ts), ref_c.y0.shape[1]), np.nan)
        rate: dict[str, float] = {}
        for eng in args.engines.split(","):
            if time.perf_counter() - T_START > deadline:
                log(f"budget for {model_name} spent; skip {eng}")
                continue
            fn, dtype, rtol, atol, extra = engines(args.pool)[eng]
            for n in sizes:
                elapsed = time.perf_counter() - T_START
                predicted = 2 * n / rate[eng] if eng in rate else 0.0
                if predicted > args.max_seconds or elapsed + predicted > deadline:
                    log(f"skip {model_name} {eng} n={n}: predicted {predicted:.0f} s")
                    break
                log(f"{model_name} {eng} n={n} ...")
                c = full.subset(n)
                rec: dict[str, Any] = {
                    "model": model_name, "engine": eng, "dtype": dtype, "rtol": rtol, "n": n,
                }  # fmt: skip
                try:
                    res = timed(
                        lambda c=c, fn=fn, dtype=dtype, rtol=rtol, atol=atol, extra=extra: fn(
                            c.model,
                            c.y0,
                            c.schedule,
                            c.doses,
                            rtol=rtol,
                            atol=atol,
                            dtype=dtype,
                            **extra,
                        )
                    )
                    ys, status, nsteps = res.pop("out")
                    k = min(ref_c.n, n)
                    rate[eng] = n / res["wall_s"]
                    rec.update(
                        patients_per_s=n / res["wall_s"],
                        patient_years_per_s=n / res["wall_s"] * 365.0 / 365.25,
                        steps_per_patient=float(np.mean(nsteps)),
                        compile_s=res["compile_s"],
                        wall_s=res["wall_s"],
                        first_call_s=res["first_call_s"],
                        peak_mem_mb=device_peak_mb(),
                        host_rss_mb=res["peak_rss_mb"],
                        max_rel_err_T=_cohorts.max_rel_error_T(ys[:k], ref[:k]),
                        n_failed=int(np.sum(status != 0)),
                    )
                    del ys, status, nsteps
                except Exception as exc:  # OOM and friends: record, go on
                    rec["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    log("".join(traceback.format_exception_only(exc)).strip()[:300])
                    records.append(rec)
                    save()
                    break  # no larger sizes for an engine that failed (OOM, compile error)
                records.append(rec)
                if "error" not in rec:
                    table.append(fmt_row(rec))
                    log(table[-1])
                save()
    # speedups: fused vs diffrax at the same model, size and dtype
    for r in records:
        if "patients_per_s" in r:
            base = "diffrax-f32" if r["dtype"] == "float32" else "diffrax"
            if not r["engine"].startswith(("fused", "pallas")):
                continue
            for b in records:
                same = (b["model"], b["n"], b["engine"]) == (r["model"], r["n"], base)
                if same and "patients_per_s" in b:
                    r["speedup_vs_diffrax"] = r["patients_per_s"] / b["patients_per_s"]
    save()
    print("\n".join(table))
    for r in records:
        if "speedup_vs_diffrax" in r:
            print(f"{r['model']:<15} {r['engine']:<17} n={r['n']:>9}  "
                  f"{r['speedup_vs_diffrax']:.1f}x diffrax")  # fmt: skip
    log(f"done; JSON: {result.path}")
    return {"meta": meta, "records": records}


if __name__ == "__main__":
    main()

"""Short GPU probe: device-only vs end-to-end time of diffrax vmap, fused XLA loop and Pallas.

Needs only jax, diffrax, equinox, numpy, jaxtyping and this repository::

    python -m benchmarks.gpu_probe.run                  # 1e6 and 1e7 patients, float32
    python -m benchmarks.gpu_probe.run --sizes 1000 --quick --interpret   # CPU check

For every engine and size: ``device_s`` — the compiled computation alone, inputs already on the
device, outputs left there (``jax.block_until_ready``; second call, after a compiling first
call); ``e2e_s`` — the public ``solve_*`` function from numpy in to numpy out (host packing,
transfers, layout), also after compilation. patients/s and patient-years/s (one patient = one
simulated year) from each; max relative error of T at the scans against diffrax float64 at
rtol 1e-10 on the first ``--ref-n`` patients; ratio to diffrax vmap (same size, float32; at
sizes where diffrax does not run, to diffrax at the largest size it ran). Every run is guarded
(errors such as OOM are recorded, never fatal) and skipped when predicted to overrun the
budget. Prints a table; ``--save VARIANT`` writes the JSON (rewritten after every run;
``--results-dir $OUT`` on a lent device).

The device-only timings call the solvers' internals (``_solve_batch``, the fused pool loop,
``pallas_solver``): they have no public form (``tests/test_benchmarks_layout.py`` lists them).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import time
import traceback
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._common import cohorts as _cohorts
from benchmarks._common.harness import ResultFile, add_save_options
from tumorimmune.solvers import solve_diffrax, solve_fused, solve_pallas
from tumorimmune.solvers._diffrax import _solve_batch
from tumorimmune.solvers._fused import _Config, _pool_sizes, _prepare, _solve_pool
from tumorimmune.solvers._pallas import pallas_solver

T_START = time.perf_counter()
DTYPE, RTOL, ATOL = "float32", 1e-4, 1e-3
YEAR = 365.0 / 365.25  # simulated years per patient (cohorts run 365 days)


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T_START:6.1f} s] {msg}", flush=True)


def block(x: Any) -> Any:
    return jax.block_until_ready(x)


# ----------------------------------------------------------------------------- device-only


def diffrax_device(c: _cohorts.Cohort) -> tuple[Any, tuple]:
    """``(fn, args)`` of the diffrax vmap call with every input already on the device."""
    starts, ends, index = c.schedule.segments()
    seg_dose = np.zeros((c.n, len(starts)))
    has = index >= 0
    if np.any(has):
        seg_dose[:, has] = np.asarray(c.doses)[:, index[has]]
    cast = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    args = (
        jax.tree_util.tree_map(cast, c.model), cast(c.y0), cast(c.schedule.ts), cast(starts),
        cast(ends), cast(seg_dose), cast(RTOL), cast(ATOL),
    )  # fmt: skip
    dosing, tumor = c.schedule.dosing_state, _cohorts.tumor_index(c.model)

    def fn(*a: Any) -> Any:
        return _solve_batch(*a, dosing, tumor, 100_000)  # pyright: ignore[reportCallIssue]

    return fn, args


def fused_device(c: _cohorts.Cohort) -> tuple[Any, tuple]:
    """``(fn, args)`` running every pool of :func:`solve_fused` from device-resident inputs."""
    n, n_t, n_states = c.n, len(c.schedule.ts), c.y0.shape[1]
    chunk, lanes = _pool_sizes(n, n_t, n_states, 1)
    host, dosing = _prepare(
        [c.model], [c.y0], [c.schedule], [c.doses], rtol=RTOL, atol=ATOL, dtype=DTYPE
    )
    pools = tuple(host.pool(lo, chunk) for lo in range(0, n, chunk))
    cfg = _Config(
        lanes=lanes, refill_every=8, unroll=1, n_t=n_t, dosing_state=dosing,
        tumor_index=_cohorts.tumor_index(c.model), max_steps=100_000,
    )  # fmt: skip

    def fn(*pool_args: Any) -> list:
        return [_solve_pool(p, cfg=cfg) for p in pool_args]  # asynchronous dispatch

    return fn, pools


def pallas_device(c: _cohorts.Cohort, opts: dict[str, Any], interpret: bool) -> tuple[Any, tuple]:
    fn, args, _ = pallas_solver(
        c.model, c.y0, c.schedule, c.doses, rtol=RTOL, atol=ATOL, dtype=DTYPE,
        interpret=interpret, **opts,
    )  # fmt: skip
    return fn, args


# ----------------------------------------------------------------------------- engines

PALLAS = {
    "pallas-thread-b32w1": {"sync": "thread", "block": 32, "num_warps": 1},
    "pallas-thread-b128w4": {"sync": "thread", "block": 128, "num_warps": 4},
    "pallas-stop-b128w4": {"sync": "stop", "block": 128, "num_warps": 4},
    "pallas-thread-b64w2": {"sync": "thread", "block": 64, "num_warps": 2},
}
DEFAULT_ENGINES = "diffrax," + ",".join(PALLAS) + ",fused"  # fused last: slow at 1e7
MAX_DIFFRAX_N = 2_000_000  # diffrax vmap needs ~58 GiB at 1e7 PD-1 patients (OOM on an H100)


def run_engine(eng: str, c: _cohorts.Cohort, *, interpret: bool, e2e: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    if eng == "diffrax":
        fn, args = diffrax_device(c)
        e2e_fn = lambda: solve_diffrax(c.model, c.y0, c.schedule, c.doses, rtol=RTOL, atol=ATOL,  # noqa: E731
                                       dtype=DTYPE)  # fmt: skip
    elif eng == "fused":
        fn, args = fused_device(c)
        e2e_fn = lambda: solve_fused(c.model, c.y0, c.schedule, c.doses, rtol=RTOL, atol=ATOL,  # noqa: E731
                                     dtype=DTYPE)  # fmt: skip
    else:
        opts = PALLAS[eng]
        fn, args = pallas_device(c, opts, interpret)
        e2e_fn = lambda: solve_pallas(c.model, c.y0, c.schedule, c.doses, rtol=RTOL, atol=ATOL,  # noqa: E731
                                      dtype=DTYPE, interpret=interpret, **opts)  # fmt: skip
    block(args)
    w = time.perf_counter()
    out = block(fn(*args))
    rec["first_s"] = time.perf_counter() - w
    del out
    w = time.perf_counter()
    out = block(fn(*args))
    rec["device_s"] = time.perf_counter() - w
    rec["compile_s"] = max(rec["first_s"] - rec["device_s"], 0.0)
    del out, args
    if e2e:
        w = time.perf_counter()
        ys, status, steps = e2e_fn()
        rec["e2e_s"] = time.perf_counter() - w
        rec["steps_per_patient"] = float(np.mean(steps))
        rec["steps_max"] = int(np.max(steps))  # the fused loop runs until its slowest lane
        rec["n_failed"] = int(np.sum(status != 0))
        rec["_ys"] = ys
    return rec


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1e6,1e7")
    ap.add_argument("--models", default="pd1,kuznetsov")
    ap.add_argument("--engines", default=DEFAULT_ENGINES)
    ap.add_argument("--quick", action="store_true", help="two Pallas variants only")
    ap.add_argument("--interpret", action="store_true", help="Pallas interpret mode (CPU check)")
    ap.add_argument("--ref-n", type=int, default=256)
    ap.add_argument("--budget", type=float, default=115.0, help="total seconds for the script")
    ap.add_argument("--max-seconds", type=float, default=25.0, help="skip a run predicted longer")
    add_save_options(ap)
    args = ap.parse_args(argv)
    sizes = sorted(int(float(s)) for s in args.sizes.split(","))
    engines = args.engines.split(",")
    if args.quick:
        engines = [e for e in engines if e in ("diffrax", "fused", "pallas-thread-b32w1",
                                               "pallas-stop-b128w4")]  # fmt: skip
    result = ResultFile(__file__, variant=args.save, results_dir=args.results_dir)
    dev = jax.devices()[0]
    meta = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": str(dev), "device_kind": getattr(dev, "device_kind", dev.platform),
        "jax": jax.__version__, "sizes": sizes, "dtype": DTYPE, "rtol": RTOL, "atol": ATOL,
        "interpret": args.interpret,
    }  # fmt: skip
    log(json.dumps(meta))
    records: list[dict[str, Any]] = []

    def save() -> None:
        result({"meta": meta, "records": records})

    models = args.models.split(",")
    for i_model, model_name in enumerate(models):
        now = time.perf_counter() - T_START
        share = 0.7 if (i_model == 0 and len(models) > 1) else 1.0 / (len(models) - i_model)
        deadline = now + (args.budget - now) * share
        try:
            full = _cohorts.COHORTS[model_name](max(sizes), seed=0)
            ref_c = full.subset(min(args.ref_n, max(sizes)))
            log(f"{model_name}: reference (diffrax float64 rtol 1e-10, {ref_c.n} patients)")
            ref, _, _ = solve_diffrax(
                ref_c.model, ref_c.y0, ref_c.schedule, ref_c.doses, rtol=1e-10, atol=1e-8
            )
        except Exception as exc:
            log(f"{model_name}: setup failed: {exc!r}")
            continue
        # seconds per patient at the last size: device call, end-to-end call (None: failed)
        cost: dict[str, tuple[float, float] | None] = {}
        for n in sizes:
            c = full.subset(n)
            for eng in engines:
                if eng == "diffrax" and n > MAX_DIFFRAX_N:
                    continue
                if eng in cost and cost[eng] is None:
                    continue  # failed at a smaller size
                dev_pp, e2e_pp = cost.get(eng) or (0.0, 0.0)
                left = min(deadline - (time.perf_counter() - T_START), args.max_seconds)
                with_e2e = 1.2 * n * (2 * dev_pp + e2e_pp)
                e2e = with_e2e <= left
                if not e2e and 1.2 * n * 2 * dev_pp > left:
                    log(f"skip {model_name} {eng} n={n}: predicted {with_e2e:.1f} s")
                    continue
                log(f"{model_name} {eng} n={n}{'' if e2e else ' (device only)'} ...")
                rec: dict[str, Any] = {"model": model_name, "engine": eng, "n": n}
                rec.update(PALLAS.get(eng, {}))
                try:
                    r = run_engine(eng, c, interpret=args.interpret, e2e=e2e)
                    ys = r.pop("_ys", None)
                    rec.update(r)
                    if ys is not None:
                        k = min(ref_c.n, n)
                        rec["max_rel_err_T"] = _cohorts.max_rel_error_T(ys[:k], ref[:k])
                        del ys
                    for key in ("device", "e2e"):
                        if f"{key}_s" in rec:
                            rec[f"{key}_patients_per_s"] = n / rec[f"{key}_s"]
                            rec[f"{key}_patient_years_per_s"] = n / rec[f"{key}_s"] * YEAR
                    cost[eng] = (rec["device_s"] / n, rec.get("e2e_s", rec["device_s"]) / n)
                except Exception as exc:  # OOM, compile error: record, go on
                    rec["error"] = f"{type(exc).__name__}: {str(exc)[:400]}"
                    log("".join(traceback.format_exception_only(exc)).strip()[:400])
                    cost[eng] = None
                records.append(rec)
                log(_row(rec))
                save()
    _speedups(records)
    save()
    print("\n" + HEADER)
    for r in records:
        print(_row(r))
    log(f"done; JSON: {result.path}")
    return {"meta": meta, "records": records}


def _speedups(records: list[dict[str, Any]]) -> None:
    """Ratio to diffrax (device/device and e2e/e2e), same model; same size where diffrax ran,
    else diffrax at its largest size (per-patient rates)."""
    for r in records:
        if "device_s" not in r or r["engine"] == "diffrax":
            continue
        base = [
            b for b in records
            if b["engine"] == "diffrax" and b["model"] == r["model"] and "device_s" in b
            and b["n"] <= r["n"]
        ]  # fmt: skip
        if not base:
            continue
        b = max(base, key=lambda b: b["n"])
        r["diffrax_n"] = b["n"]
        for key in ("device", "e2e"):
            if f"{key}_patients_per_s" in r and f"{key}_patients_per_s" in b:
                r[f"{key}_vs_diffrax"] = r[f"{key}_patients_per_s"] / b[f"{key}_patients_per_s"]


def _f(x: Any, spec: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec)


HEADER = (
    f"{'model':<10} {'engine':<21} {'patients':>9} {'device s':>9} {'dev pat-yr/s':>13} "
    f"{'e2e s':>8} {'e2e pat-yr/s':>13} {'steps':>6} {'compile':>7} {'rel.err T':>9} "
    f"{'dev×dfx':>7} {'e2e×dfx':>7}"
)


def _row(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['model']:<10} {r['engine']:<21} {r['n']:>9} ERROR {r['error'][:90]}"
    return (
        f"{r['model']:<10} {r['engine']:<21} {r['n']:>9} {_f(r.get('device_s'), '>9.4f')} "
        f"{_f(r.get('device_patient_years_per_s'), '>13.3e')} {_f(r.get('e2e_s'), '>8.3f')} "
        f"{_f(r.get('e2e_patient_years_per_s'), '>13.3e')} "
        f"{_f(r.get('steps_per_patient'), '>6.1f')} {_f(r.get('compile_s'), '>7.2f')} "
        f"{_f(r.get('max_rel_err_T'), '>9.1e')} {_f(r.get('device_vs_diffrax'), '>7.1f')} "
        f"{_f(r.get('e2e_vs_diffrax'), '>7.1f')}"
    )


if __name__ == "__main__":
    main()

"""CPU ensemble benchmark: SciPy LSODA loop vs diffrax vmap vs the fused engine.

Same cohort in one process (see ``benchmarks/_common/cohorts.py``): the Kuznetsov (1994) model
for one year with lognormal variability in ``a`` and ``s`` (final state only), and the PD-1
model with pembrolizumab 200 mg q3w for one year (scans every 6 weeks). Errors: max relative
error of T at the saved times against diffrax float64 at rtol 1e-10 on the first ``--ref-n``
patients.

    python -m benchmarks.ensemble.run --sizes 1000,10000,100000 --save 1e3-1e5
    python -m benchmarks.ensemble.run --sizes 1000 --engines diffrax,fused --ref-n 20   # a check

Not a test: timings depend on the machine and its load (recorded in the JSON).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from typing import Any

import numpy as np

from benchmarks._common import cohorts as _cohorts
from benchmarks._common.harness import (
    HEADER,
    add_save_options,
    fmt_row,
    machine_meta,
    save_result,
    timed,
)
from tumorimmune.solvers import solve_diffrax, solve_fused

ENGINES = {
    # name: (function, dtype, rtol, atol)
    "diffrax": (solve_diffrax, "float64", 1e-6, 1e-6),
    "fused": (solve_fused, "float64", 1e-6, 1e-6),
    "diffrax-f32": (solve_diffrax, "float32", 1e-4, 1e-3),
    "fused-f32": (solve_fused, "float32", 1e-4, 1e-3),
}


def scipy_rhs(cohort: _cohorts.Cohort, i: int, params: np.ndarray | None = None):
    """Right-hand side of patient ``i`` for SciPy, independent of the JAX models: the
    benchmarks' own field (``vs_alternatives.FIELDS``: the package's equations with its
    clinical terms and extinction rule, checked against ``vector_field`` to 1e-12 in
    ``tests/test_bench_alternatives.py``). ``params``: the cohort's parameter matrix, if
    already built."""
    from benchmarks.vs_alternatives.run import FIELDS, model_key, param_matrix

    field, names = FIELDS[model_key(cohort)]
    field = getattr(field, "py_func", field)  # plain Python (no numba dispatch per call)
    p = [float(x) for x in (param_matrix(cohort, names) if params is None else params)[i]]

    def rhs(t: float, y: np.ndarray) -> list[float]:
        du = [0.0] * len(y)
        field(t, [float(v) for v in y], du, p)
        return du

    return rhs


def solve_scipy(cohort: _cohorts.Cohort, rtol: float, atol: float):
    """Python loop of ``solve_ivp(method="LSODA")``, restarted at doses (the usual approach)."""
    from scipy.integrate import solve_ivp

    sch = cohort.schedule
    ts = sch.ts
    cuts = np.unique(np.concatenate([[ts[0]], sch.dose_times[sch.dose_times < ts[-1]], [ts[-1]]]))
    ys = np.full((cohort.n, len(ts), cohort.y0.shape[1]), np.nan)
    status = np.zeros(cohort.n, np.int32)
    nfev = np.zeros(cohort.n, np.int32)
    from benchmarks.vs_alternatives.run import FIELDS, model_key, param_matrix

    params = param_matrix(cohort, FIELDS[model_key(cohort)][1])
    for i in range(cohort.n):
        rhs = scipy_rhs(cohort, i, params)
        y = cohort.y0[i].astype(float).copy()
        ys[i, 0] = y
        for s, e in itertools.pairwise(cuts):
            hit = np.flatnonzero(sch.dose_times == s)
            if hit.size and sch.dosing_state >= 0:
                y[sch.dosing_state] += cohort.doses[i, hit[0]]
            inside = (ts > s) & (ts <= e)
            t_eval = np.unique(np.append(ts[inside], e))
            sol = solve_ivp(rhs, (s, e), y, method="LSODA", rtol=rtol, atol=atol, t_eval=t_eval)
            nfev[i] += sol.nfev
            if not sol.success:
                status[i] = 1
                break
            ys[i, inside] = sol.y.T[np.searchsorted(t_eval, ts[inside])]
            y = sol.y[:, -1].copy()
    return ys, status, nfev


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000,1000000", help="cohort sizes")
    ap.add_argument("--models", default="kuznetsov,pd1")
    ap.add_argument("--engines", default="scipy,diffrax,fused,diffrax-f32,fused-f32")
    ap.add_argument("--scipy-n", type=int, default=40, help="patients in the SciPy loop")
    ap.add_argument("--ref-n", type=int, default=500, help="patients in the rtol-1e-10 reference")
    ap.add_argument("--max-seconds", type=float, default=120.0, help="skip a run predicted longer")
    add_save_options(ap)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sizes = sorted(int(float(s)) for s in args.sizes.split(","))
    engines = args.engines.split(",")
    records: list[dict[str, Any]] = []
    meta = machine_meta()
    print(json.dumps(meta), flush=True)
    print(HEADER, flush=True)
    for model_name in args.models.split(","):
        full = _cohorts.COHORTS[model_name](max(sizes), seed=args.seed)
        ref_c = full.subset(min(args.ref_n, max(sizes)))
        t0 = time.perf_counter()
        ref, ref_status, _ = solve_diffrax(
            ref_c.model, ref_c.y0, ref_c.schedule, ref_c.doses, rtol=1e-10, atol=1e-8
        )
        print(f"# reference: {ref_c.n} patients, diffrax float64 rtol 1e-10 "
              f"({time.perf_counter() - t0:.1f} s, {int(np.sum(ref_status != 0))} failed)",
              flush=True)  # fmt: skip
        rate: dict[str, float] = {}
        for eng in engines:
            for n in sizes:
                if eng == "scipy":
                    if n != sizes[0]:
                        continue
                    c = full.subset(min(args.scipy_n, ref_c.n))
                    res = timed(lambda c=c: solve_scipy(c, 1e-6, 1e-6), repeat=False)
                    ys, status, nfev = res.pop("out")
                    dtype, rtol, steps = "float64", 1e-6, None
                    res["fevals_per_patient"] = float(np.mean(nfev))
                else:
                    fn, dtype, rtol, atol = ENGINES[eng]
                    if eng in rate and n / rate[eng] > args.max_seconds:
                        print(f"# skip {eng} at {n}: predicted {n / rate[eng]:.0f} s", flush=True)
                        continue
                    c = full.subset(n)
                    res = timed(
                        lambda c=c, fn=fn, dtype=dtype, rtol=rtol, atol=atol: fn(
                            c.model, c.y0, c.schedule, c.doses, rtol=rtol, atol=atol, dtype=dtype
                        )
                    )
                    ys, status, nsteps = res.pop("out")
                    steps = float(np.mean(nsteps))
                    rate[eng] = c.n / res["wall_s"]
                k = min(ref_c.n, c.n)
                rec = {
                    "model": model_name,
                    "engine": eng,
                    "dtype": dtype,
                    "rtol": rtol,
                    "n": c.n,
                    "patients_per_s": c.n / res["wall_s"],
                    "patients_per_cpu_s": c.n / res["cpu_s"] if res["cpu_s"] > 0 else None,
                    "steps_per_patient": steps,
                    "compile_s": res["compile_s"],
                    "wall_s": res["wall_s"],
                    "cpu_s": res["cpu_s"],
                    "peak_mem_mb": res["peak_rss_mb"],
                    "load_avg": res["load_avg"],
                    "max_rel_err_T": _cohorts.max_rel_error_T(ys[:k], ref[:k]),
                    "n_failed": int(np.sum(status != 0)),
                    "fevals_per_patient": res.get("fevals_per_patient"),
                }
                records.append(rec)
                print(fmt_row(rec), flush=True)
    out = {"meta": meta, "records": records}
    save_result(__file__, out, variant=args.save, results_dir=args.results_dir)
    return records


if __name__ == "__main__":
    main()

"""Sobol' sensitivity of the PD-1 virtual trial's population: throughput, ranking, convergence.

    python -m benchmarks.sensitivity_pd1.run              # n = 16384: 131,072 evaluations/arm
    python -m benchmarks.sensitivity_pd1.run --n 1024 --save n1024

The analysis is built from the *current* ``examples/pd1_virtual_trial.toml`` (its model,
parameters, distributions, PK settings and arms; ``--trial`` to point elsewhere) plus a
``[sensitivity]`` section over every varying column, so a recalibrated trial is measured by
simply rerunning this script. It reports

* model evaluations per second of the sensitivity run against a plain sweep of the same number
  of patients (same spec without ``[sensitivity]``, LHS cohort), both after a warm-up run that
  compiles the solver (solve time = sum of chunk times; the index computation is timed apart),
  the sensitivity evaluations timed again after the plain sweep (order effects), and solver
  steps per evaluation of both;
* per arm, the ranking of the parameters by total-order index for the response indicator
  (CR/PR) and best % change, with first- and total-order indices and bootstrap CIs;
* the base sample size (powers of 2 from 8) from which the ranking by total-order index stays
  the final one at every larger size, for all parameters and for the influential ones (final
  ST lower CI bound > 0.01); parameters tied at exactly 0 (not entering an arm) keep their order.

Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from benchmarks._common.harness import add_save_options, save_result
from tumorimmune.sensitivity import convergence, indices, outputs, run_sensitivity, spec_design
from tumorimmune.sweeps import SweepPlan, load_spec, run_sweep, validate_spec

# a parametric cohort: a design cannot be drawn from a population table
TRIAL = Path(__file__).resolve().parents[2] / "examples" / "quickstart.toml"


def sensitivity_spec(trial: Path, *, n: int, seed: int, chunk: int, bootstrap: int) -> dict:
    d = load_spec(trial).model_dump(mode="json", exclude_none=True)
    d.update(name=f"{d['name']}_sensitivity", chunk_size=chunk, n_trajectories=0)
    d["sensitivity"] = {
        "method": "sobol",
        "n": n,
        "seed": seed,
        "outputs": ["response", "best_pct_change", "pfs_landmark", "final_tumor"],
        "n_bootstrap": bootstrap,
    }
    return d


def _solve_seconds(path: Path) -> float:
    return float(np.nansum(zarr.open_group(str(path), mode="r")["chunk_seconds"][...]))  # type: ignore[index]


def _steps(ds: Any, chunk: int = 1) -> tuple[float, float]:
    """Mean solver steps per evaluation, and the mean over chunks of the largest count."""
    steps = np.asarray(ds["num_steps"].values, dtype=float)  # (arm, patient)
    n = steps.shape[1] // chunk * chunk
    per_chunk = steps[:, :n].reshape(steps.shape[0], -1, chunk).max(axis=2)
    return round(float(steps.mean()), 1), round(float(per_chunk.mean()), 1)


def stable_from(ranks: list[list[str]], sizes: list[int]) -> int | None:
    """Smallest size from which every ranking equals the last one."""
    final = ranks[-1]
    k = len(ranks) - 1
    while k > 0 and ranks[k - 1] == final:
        k -= 1
    return sizes[k]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trial", type=Path, default=TRIAL)
    ap.add_argument("--n", type=int, default=16384, help="Sobol' base sample size (power of 2)")
    ap.add_argument("--seed", type=int, default=20150521)
    ap.add_argument("--chunk", type=int, default=8192)
    ap.add_argument("--bootstrap", type=int, default=200)
    add_save_options(ap)
    args = ap.parse_args()
    d = sensitivity_spec(
        args.trial, n=args.n, seed=args.seed, chunk=args.chunk, bootstrap=args.bootstrap
    )
    spec = validate_spec(d)
    plan = SweepPlan.from_spec(spec)
    n_eval = plan.n_patients
    plain = {k: v for k, v in d.items() if k != "sensitivity"}
    plain["sampling"] = dict(plain.get("sampling", {}), cohort_size=n_eval)
    plain_spec = validate_spec(plain)
    warm = validate_spec({**d, "sensitivity": {**d["sensitivity"], "n": 4, "n_bootstrap": 10}})
    out: dict[str, Any] = {"trial": str(args.trial), "n": args.n, "evaluations_per_arm": n_eval}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_sensitivity(warm, output=Path(tmp) / "warm.zarr")  # compiles the solver
        out["warmup_s"] = round(time.perf_counter() - t0, 1)
        path = Path(tmp) / "sens.zarr"
        t0 = time.perf_counter()
        ds = run_sensitivity(spec, output=path)
        wall = time.perf_counter() - t0
        assert ds is not None
        solve = _solve_seconds(path)
        ppath = Path(tmp) / "plain.zarr"
        t0 = time.perf_counter()
        pds = run_sweep(plain_spec, output=ppath)
        pwall = time.perf_counter() - t0
        assert pds is not None
        psolve = _solve_seconds(ppath)
        # order check: the same sensitivity evaluations again, after the plain sweep
        run_sensitivity(spec, output=path, overwrite=True)
        solve_again = _solve_seconds(path)
    arms = len(spec.arms)
    chunk = spec.chunk_size
    out.update(
        device=ds.attrs["device"],
        backend=ds.attrs["backend"],
        precision=spec.precision,
        arms=arms,
        sensitivity_solve_s=round(solve, 2),
        sensitivity_solve_again_s=round(solve_again, 2),
        sensitivity_evals_per_s_again=round(n_eval * arms / solve_again, 1),
        sensitivity_wall_s=round(wall, 2),
        sensitivity_index_s=round(wall - solve, 2),
        sensitivity_evals_per_s=round(n_eval * arms / solve, 1),
        plain_solve_s=round(psolve, 2),
        plain_wall_s=round(pwall, 2),
        plain_evals_per_s=round(n_eval * arms / psolve, 1),
        failed=int(np.sum(ds["best_response"].values < 0)),
        # solver steps per evaluation; the fused backend steps a chunk in lockstep, so its cost
        # follows the largest count in each chunk
        steps_mean={"sensitivity": _steps(ds)[0], "plain": _steps(pds)[0]},
        steps_chunk_max_mean={"sensitivity": _steps(ds, chunk)[1], "plain": _steps(pds, chunk)[1]},
    )
    idx = indices(ds)
    # a finer convergence study than the stored one: every power of 2 from 8 base samples
    sizes = [2**k for k in range(3, int(np.log2(args.n)) + 1)]
    out["convergence_sizes"] = sizes
    sens = spec.sensitivity
    assert sens is not None
    X = np.asarray(spec_design(spec))
    ys = outputs(
        ds, ["response", "best_pct_change"], landmark_days=sens.landmark(spec.follow_up_days)
    )
    conv_kw = {"names": sens.names(plan.columns), "n_bootstrap": args.bootstrap, "seed": args.seed}
    rankings: dict[str, Any] = {}
    for arm in idx["arm"].values:
        for output in ("response", "best_pct_change"):
            sel = idx.sel(arm=arm, output=output)
            st = sel["ST"].values
            if not np.any(np.isfinite(st)):
                continue
            params = [str(p) for p in idx["param"].values]
            order = np.argsort(-st, kind="stable")
            rows = [
                {
                    "param": params[i],
                    "ST": round(float(st[i]), 4),
                    "ST_ci": [round(float(sel[k].values[i]), 4) for k in ("ST_lo", "ST_hi")],
                    "S1": round(float(sel["S1"].values[i]), 4),
                    "S1_ci": [round(float(sel[k].values[i]), 4) for k in ("S1_lo", "S1_hi")],
                }
                for i in order
            ]
            a = list(idx["arm"].values).index(arm)
            conv = convergence("sobol", X, ys[output][a], sizes, **conv_kw)["ST"].values
            ranks = [[params[i] for i in np.argsort(-c, kind="stable")] for c in conv]
            strong = {params[i] for i in range(len(params)) if sel["ST_lo"].values[i] > 0.01}
            ranks_strong = [[p for p in r if p in strong] for r in ranks]
            rankings[f"{arm} / {output}"] = {
                "ranking": rows,
                "sum_S1": round(float(np.nansum(sel["S1"].values)), 4),
                "stable_from_n_all": stable_from(ranks, sizes),
                "stable_from_n_influential": stable_from(ranks_strong, sizes),
                "influential": sorted(strong, key=lambda p: -st[params.index(p)]),
                "rankings_by_n": {str(n): r for n, r in zip(sizes, ranks, strict=True)},
            }
    out["rankings"] = rankings
    text = json.dumps(out, indent=1)
    print(text)
    save_result(__file__, out, variant=args.save, results_dir=args.results_dir)


if __name__ == "__main__":
    main()

"""Generate ``benchmarks/RESULTS.md`` from the result files: one table per benchmark with its
headline figures, each row one file (date, machine, variant from the harness's name).

    python -m benchmarks.summarize            # rewrite benchmarks/RESULTS.md
    python -m benchmarks.summarize --check    # exit 1 when RESULTS.md is out of date

The headline of each benchmark is chosen in ``BENCHMARKS`` below; figures measured without a
result file (kept from the benchmarks' history) are in ``NOTES``. Full records are in the JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common.harness import RESULT_NAME

BENCH = Path(__file__).resolve().parent
Row = dict[str, Any]


def _fmt(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 1e3 else f"{x:,.0f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _ratio(a: float | None, b: float | None) -> str | None:
    return None if not a or not b else f"{a / b:.1f}×"


# ----------------------------------------------------------------------------- headline rows


def _ensemble(d: dict) -> list[Row]:
    recs = d["records"]
    rows = []
    for model in dict.fromkeys(r["model"] for r in recs):
        for suffix in ("", "-f32"):
            by = {(r["engine"], r["n"]): r for r in recs if r["model"] == model}
            ns = [n for (e, n) in by if e == f"fused{suffix}" and (f"diffrax{suffix}", n) in by]
            if not ns:
                continue
            n = max(ns)
            f, x = by[(f"fused{suffix}", n)], by[(f"diffrax{suffix}", n)]
            rows.append(
                {
                    "model": model,
                    "dtype": f["dtype"],
                    "patients": n,
                    "fused patients/s": f["patients_per_s"],
                    "fused ÷ diffrax (wall)": _ratio(f["patients_per_s"], x["patients_per_s"]),
                    "max rel err T (fused)": f"{f['max_rel_err_T']:.1e}",
                }
            )
    return rows


def _ensemble_gpu(d: dict) -> list[Row]:
    rows = []
    for r in d["records"]:
        main = r["engine"] in ("fused", "pallas", "fused-f32", "pallas-f32")
        if main and "speedup_vs_diffrax" in r and r["n"] == max(d["meta"]["sizes"]):
            rows.append(
                {
                    "model": r["model"],
                    "engine": r["engine"],
                    "patients": r["n"],
                    "patients/s": r["patients_per_s"],
                    "× diffrax": f"{r['speedup_vs_diffrax']:.1f}×",
                }
            )
    return rows


def _gpu_probe(d: dict) -> list[Row]:
    rows = []
    recs = [r for r in d["records"] if "device_vs_diffrax" in r]
    for model in dict.fromkeys(r["model"] for r in recs):
        mine = [r for r in recs if r["model"] == model]
        n = max(r["n"] for r in mine)
        best = max((r for r in mine if r["n"] == n), key=lambda r: r["device_vs_diffrax"])
        rows.append(
            {
                "model": model,
                "engine": best["engine"],
                "patients": n,
                "device patient-yr/s": f"{best['device_patient_years_per_s']:.2g}",
                "device × diffrax": f"{best['device_vs_diffrax']:.0f}×",
                "e2e patient-yr/s": f"{best.get('e2e_patient_years_per_s', float('nan')):.2g}",
                "e2e × diffrax": f"{best.get('e2e_vs_diffrax', float('nan')):.1f}×",
            }
        )
    return rows


def _host_pipeline(d: dict) -> list[Row]:
    if "runs" in d:  # before/after rounds, names tree_chunk_batch_round
        groups: dict[tuple[str, str, str], list[float]] = {}
        for name, r in d["runs"].items():
            tree, chunk, batch, _ = name.rsplit("_", 3)
            groups.setdefault((tree, chunk, batch), []).append(r["run_sweep_median_s"])
        return [
            {
                "patients": 1_000_000,
                "tree": t,
                "chunk size": c,
                "batch": b,
                "run_sweep s (median of rounds)": statistics.median(v),
                "rounds": len(v),
            }
            for (t, c, b), v in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][2]))
        ]
    return [
        {
            "patients": d["patients"],
            "chunk size": d["chunk_size"],
            "store chunks": d["store_chunks"],
            "run_sweep s": d["run_sweep_median_s"],
            "patient-arms/s": d["patient_arms_per_s"],
            "report s": d["report_s"][0] if d.get("report_s") else None,
            "keep": d.get("keep"),
            "device work s": d.get("device_work_s (last run)"),
            "host share s": d.get("host_share_s (last run)"),
            "peak RSS MB": d.get("peak_rss_mb"),
        }
    ]


def _pipeline_vs_kernel(d: dict) -> list[Row]:
    return [
        {
            "patients": d["patients"],
            "arms": d["arms"],
            "pipeline ÷ per-arm kernel": d["ratio"],
            "pipeline ÷ grouped kernel": d.get("ratio_to_grouped_kernel"),
            "grouped ÷ per-arm kernel speed": d.get("grouped_kernel_speedup"),
            "`tumorimmune run` (cached) ÷ kernel": d.get("cli_cached_ratio"),
            "load": d["load_avg_before_after"][0],
        }
    ]


def _trial_scale(d: dict) -> list[Row]:
    return [
        {
            "patients": d["patients"],
            "arms": d["arms"],
            "run_sweep s": d["run_s"],
            "report s": d["report_s"],
            "XLA compile s": d["xla_compile_s"],
            "trace + lower s": round(d["trace_s"] + d["lower_s"], 2),
            "cache hits": d["cache_hits"],
            "patients/s end to end": d["patients_per_s"],
        }
    ]


def _vs_alternatives(d: dict) -> list[Row]:
    rows = []
    recs = d["records"]
    for model in dict.fromkeys(r["model"] for r in recs):
        by = {r["engine"]: r for r in recs if r["model"] == model}
        row: Row = {"model": model, "patients": next(iter(by.values()))["n"]}
        row["fused `simulate` s"] = by["fused"]["median_s"] if "fused" in by else None
        for eng in ("diffrax", "dop853", "lsoda", "roadrunner"):
            r = by.get(eng)
            row[f"{eng} ÷ fused"] = (
                None
                if r is None or r["x_fused"] is None
                else (f"{r['x_fused']:.1f}×" + ("" if r["counts"] else " (fails accuracy)"))
            )
        row["repeats"] = max(r["repeats"] for r in by.values())
        row["load"] = round(statistics.median(r["load_avg"] for r in by.values()), 1)
        rows.append(row)
    return rows


def _multihost(d: dict) -> list[Row]:
    return [
        {
            "patients": d["patients"],
            "per-process ÷ one process, per CPU-s": d["ratio_per_cpu_s"],
            "per wall-s": d["ratio_per_wall_s"],
            "identical stores": d["identical_stores"],
            "load": round(d["load_average"][0], 1),
        }
    ]


def _precision_trial(d: dict) -> list[Row]:
    return [
        {
            "patients": d["patients"],
            "arms": len(d["arms"]),
            "patient-arms with another best response": sum(
                a["best_response_differs"] for a in d["arms"]
            ),
            "max rel Δ tumor cells": f"{max(a['max_rel_diff_cells'] for a in d['arms']):.1e}",
            "run s float32 / float64": " / ".join(f"{s:.1f}" for s in d["seconds"]),
        }
    ]


def _sensitivity(d: dict) -> list[Row]:
    treated = next((k for k in d["rankings"] if "untreated" not in k), None)
    top = [] if treated is None else d["rankings"][treated]["ranking"][:3]
    return [
        {
            "n": d["n"],
            "evaluations/arm": d["evaluations_per_arm"],
            "sensitivity evals/s": d["sensitivity_evals_per_s"],
            "plain sweep evals/s": d["plain_evals_per_s"],
            "top ST (" + (treated or "—") + ")": ", ".join(
                f"{r['param']} {r['ST']:.2f}" for r in top
            ),
        }
    ]


def _models_speed(d: dict) -> list[Row]:
    return [
        {
            "model": r["model"],
            "patients": r["n"],
            "diffrax ÷ fused (incl. compile)": f"{r['ratio']:.1f}×",
            "max rel diff": f"{r['max_rel_diff']:.1e}",
        }
        for r in d["rows"]
    ]


def _gradient_cost(d: dict) -> list[Row]:
    return [
        {
            "patients": d["n_patients"],
            "forward s": d["forward_s"],
            "checkpoint gradient ÷ forward": d["ratio_checkpoint"],
            "backsolve gradient ÷ forward": d.get("ratio_backsolve"),
        }
    ]


def _generic(d: dict) -> list[Row]:
    return [{k: v for k, v in d.items() if isinstance(v, int | float | str) and k != "meta"}]


#: name: (title, what the headline is, rows of one result file)
BENCHMARKS: dict[str, tuple[str, str, Callable[[dict], list[Row]]]] = {
    "vs_alternatives": (
        "Against what users would pick instead",
        "time ÷ fused `simulate` time (medians; float64, rtol 1e-6, T within 3e-5 of an rtol-1e-12 "
        "reference); numbalsoda loops on one core",
        _vs_alternatives,
    ),
    "ensemble": (
        "CPU engines, float64 and float32",
        "fused ÷ diffrax vmap patients/s at the largest size, same cohort and run",
        _ensemble,
    ),
    "gpu_probe": (
        "GPU: device time vs end to end",
        "best engine at the largest size, float32; ratios to diffrax vmap (at 10^7 against its "
        "10^6 rate)",
        _gpu_probe,
    ),
    "ensemble_gpu": (
        "GPU ensemble (first versions)",
        "× diffrax vmap at the largest size (before the Pallas and packing fixes; kept for the "
        "record)",
        _ensemble_gpu,
    ),
    "pipeline_vs_kernel": (
        "Sweep pipeline vs kernel",
        "warm `run_sweep` patients/s ÷ the backend alone on the same patients (3 arms, fused "
        "float32)",
        _pipeline_vs_kernel,
    ),
    "trial_scale": (
        "Compilation cache and a trial at scale",
        "three-arm trial end to end (store and report), cold then cached compilation cache",
        _trial_scale,
    ),
    "host_pipeline": (
        "Host pipeline",
        "`run_sweep` of the three-arm trial with a stand-in solve (the host's share of a GPU run)",
        _host_pipeline,
    ),
    "multihost": (
        "Two processes vs one",
        "each process's patients/s ÷ the one-process figure (one core each, loopback)",
        _multihost,
    ),
    "precision_trial": (
        "float32 vs float64 on the default virtual trial",
        "same patients in both precisions: best overall responses that differ, tumor cells",
        _precision_trial,
    ),
    "sensitivity_pd1": (
        "Sensitivity analysis of the PD-1 trial's population",
        "Sobol' evaluations/s against a plain sweep of the same size; top total-order indices",
        _sensitivity,
    ),
    "models_speed": (
        "Built-in models: fused vs diffrax",
        "diffrax ÷ fused wall time, one run each including compilation",
        _models_speed,
    ),
    "gradient_cost": (
        "Cost of a gradient",
        "gradient time ÷ forward time (soft ORR, dose and every patient's growth rate)",
        _gradient_cost,
    ),
    "engine_passes": (
        "CPU engine: passes per step",
        "operations the XLA CPU runtime executes per iteration of the pool loop",
        lambda d: [
            {
                "model": m,
                "dtype": d["dtype"],
                "lanes": d["lanes"],
                "loop body operations": sum(c["loop_body"].values()),
            }
            for m, c in d["counts"].items()
        ],
    ),
    "calibrate_fit": (
        "Per-patient fit and population calibration",
        "wall seconds",
        lambda d: [{k: d[k]["wall_s"] for k in d if isinstance(d[k], dict) and "wall_s" in d[k]}],
    ),
    "sweep_virtual_trial": (
        "Sweep throughput of the virtual-trial example",
        "patients/s after the first chunk",
        _generic,
    ),
}

#: Figures measured without a result file, kept from the history of RESULTS.md (git log).
NOTES: dict[str, str] = {
    "host_pipeline": """\
The 2026-12-07 rows have `[survival]` and RECIST over time in the spec (the 2026-11-28 ones
predate both). Same command, same quiet 2-core AMD EPYC, back to back: the tree before the
on-device reduction (bca5248) took 112.4 s at 10^6 patients (peak RSS 2.9 GB) against 42.0 s
(2.1 GB); `device work` is the engine's compiled programs (per-arm reduction, survival link,
RECIST read-outs), run here on the CPU threads and on a GPU on the device.""",
    "ensemble": """\
**float32** halves the work mostly by allowing a looser tolerance (rtol 1e-4: 47 vs 99 steps a
year for Kuznetsov, 182 vs 345 for PD-1); per step it is 1.2–1.5× faster than float64 on a CPU.
On the oscillating Kuznetsov cohort the error of T after one year at rtol 1e-4 reaches 1e-2–7e-2
for the worst patient for both engines, and for fused float64 at the same rtol: use float64 and
rtol ≤ 1e-6 where the trajectory of an oscillating tumor matters (2026-11-26, 2-core Intel
Xeon).""",
    "engine_passes": """\
Loop body at 512 lanes (2026-11-27, Intel Xeon, jax 0.10.2): Kuznetsov 33 fusions + 8 copies +
1 conditional, PD-1 37 + 8 + 1. 512-bit vectors for the CPU pool loop
(`xla_cpu_prefer_vector_width = 512`, bitwise the same results) gave 1.07–1.17× patients/s at
10^5 patients (`ensemble`, 3 interleaved rounds, Kuznetsov/PD-1, float64/float32).""",
    "gradient_cost": """\
Without a result file: 2-core Intel Xeon, N = 256: checkpoint gradient 4.45×, backsolve 17.5×
the forward solve; one H100 (`gpu/clinical_trial_check.sh`, 2026-11-27), N = 10,000: forward
6.61 s, checkpoint gradient 30.1 s (4.55×). See also `docs/gradients.md`.""",
    "sensitivity_pd1": """\
Index computation for 3 arms × 4 outputs with the 8-size convergence study: 15.6 s; with SALib's
`sobol.analyze` for the bootstrap it took 444 s, hence the one-matrix-product resampling (same
numbers to 1e-16).""",
    "trial_scale": """\
Issue #12's GPU target (10^7 patients × 3 arms, ≥ 5e7 patient-years/s end to end, compile
< 10 s) is measured by `gpu/trial_at_scale.sh` on a lent GPU; no GPU result is recorded yet.""",
    "vs_alternatives": """\
Rows marked "loaded" or "quick" were taken on a machine with load average 14–16 and are not the
figures that count; libRoadRunner (quick check only) was 8–36× slower than fused.""",
}


# ----------------------------------------------------------------------------- rendering


def _table(rows: list[Row]) -> list[str]:
    cols = [k for k in dict.fromkeys(k for r in rows for k in r) if k != "file"] + ["file"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return out


def _results(name: str) -> list[Path]:
    folder = BENCH / name / "results"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def render() -> str:
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python -m benchmarks.summarize` from `benchmarks/<name>/results/*.json`; "
        "do not edit",
        "by hand. One table per benchmark, one row per result file "
        "(`DATE_MACHINE_VARIANT.json`, written",
        "by `--save VARIANT`); the full records, command line, versions and load average are "
        "in the file.",
        "Timings depend on the machine and its load: compare rows of one machine and date.",
        "Run a benchmark from the repository root: `python -m benchmarks.<name>.run --help`.",
        "",
    ]
    for name, (title, headline, fn) in BENCHMARKS.items():
        lines += [f"## {name} — {title}", "", f"`benchmarks/{name}/run.py`: {headline}.", ""]
        rows: list[Row] = []
        for path in _results(name):
            m = RESULT_NAME.match(path.name)
            assert m, path
            info = {"date": m["date"], "machine": m["machine"], "variant": m["variant"]}
            link = f"[{path.name}]({name}/results/{path.name})"
            for r in fn(json.loads(path.read_text())):
                rows.append({**info, **r, "file": link})
        lines += _table(rows) if rows else ["No result file recorded yet."]
        lines.append("")
        if name in NOTES:
            lines += [NOTES[name], ""]
    gpu_logs = sorted((BENCH / "gpu" / "results").glob("*.log"))
    lines += ["## gpu — shell checks on a lent GPU", "", "`benchmarks/gpu/README.md`. Logs:", ""]
    lines += [f"- [{p.name}](gpu/results/{p.name})" for p in gpu_logs]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that RESULTS.md is current")
    args = ap.parse_args(argv)
    text, path = render(), BENCH / "RESULTS.md"
    if args.check:
        current = path.read_text() == text
        print("RESULTS.md is up to date" if current else "RESULTS.md is out of date")
        return 0 if current else 1
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Passes per step of the fused CPU engine: what XLA runs in one iteration of the pool loop.

    python -m benchmarks.engine_passes.run                 # both models, float64
    python -m benchmarks.engine_passes.run --dtype float32

Compiles one pool (``lanes`` lanes) of each benchmark cohort (``benchmarks/_common/cohorts.py``)
with the options the engine uses on this machine and counts, in the optimized HLO of the
``while`` loop's body, the operations that the XLA CPU runtime executes one by one (each a pass
over the lanes or a runtime call): fusions, copies, conditionals (the refill; its branches
counted apart, the refill branch runs every ``refill_every`` iterations) and the loop condition.
Also counts the divides, exp and log per lane and step (elementwise operations of the fusions
times their elements ÷ lanes; as XLA counts them, before the per-state recomputation inside a
fusion). Not a timing; see benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys

import jax
import numpy as np

from benchmarks._common import cohorts as _cohorts
from benchmarks._common.harness import add_save_options, save_result

# the pool loop's internals (no public form: this benchmark reads their compiled HLO;
# tests/test_benchmarks_layout.py lists this private import)
from tumorimmune.solvers import _fused

_OP = re.compile(r"(?:ROOT )?%?[\w.\-]+ = (.*?) ([a-z][\w\-]*)\(")
_SKIP = {"parameter", "get-tuple-element", "tuple", "constant", "bitcast"}


def _computations(hlo: str) -> dict[str, list[str]]:
    comps: dict[str, list[str]] = {}
    cur = None
    for line in hlo.splitlines():
        m = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
        if m and not line.startswith(" "):
            cur = m.group(1)
            comps[cur] = []
        elif cur and line.startswith("  ") and " = " in line:
            comps[cur].append(line.strip())
    return comps


def _count(comps: dict[str, list[str]], name: str) -> collections.Counter[str]:
    return collections.Counter(
        m.group(2) for line in comps[name] if (m := _OP.match(line)) and m.group(2) not in _SKIP
    )


def _elementwise(comps: dict[str, list[str]], name: str, lanes: int) -> dict[str, float]:
    """divide/exp/log per lane in the fusions called from computation ``name``."""
    out: collections.Counter[str] = collections.Counter()
    for line in comps[name]:
        if (m := _OP.match(line)) and m.group(2) == "fusion":
            called = re.search(r"calls=%?([\w.\-]+)", line)
            assert called
            for inner in comps[called.group(1)]:
                mi = _OP.match(inner)
                if mi and mi.group(2) in ("divide", "exponential", "log", "power"):
                    dims = re.findall(r"\[([\d,]*)\]", mi.group(1))[0]
                    out[mi.group(2)] += int(np.prod([int(d) for d in dims.split(",") if d]))
    return {k: v / lanes for k, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", default="kuznetsov,pd1")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--lanes", type=int, default=512)
    add_save_options(ap)
    args = ap.parse_args(argv)
    on_cpu = jax.default_backend() == "cpu"
    print(f"# jax {jax.__version__}, {jax.default_backend()}, options "
          f"{_fused._CPU_COMPILER_OPTIONS if on_cpu else {}}")  # fmt: skip
    counts: dict[str, dict] = {}
    for name in args.models.split(","):
        c = _cohorts.COHORTS[name](4 * args.lanes)
        host, dosing = _fused._prepare(
            [c.model], [c.y0], [c.schedule], [c.doses], rtol=1e-6, atol=1e-6, dtype=args.dtype
        )
        cfg = _fused._Config(
            lanes=args.lanes, refill_every=8, unroll=1, n_t=len(c.schedule.ts),
            dosing_state=dosing, tumor_index=_cohorts.tumor_index(c.model),
            max_steps=100_000,
        )  # fmt: skip
        options = _fused._CPU_COMPILER_OPTIONS if on_cpu else None
        with jax.enable_x64(host.x64):
            lowered = _fused._solve_pool.lower(host.pool(0, 4 * args.lanes), cfg=cfg)
            hlo = lowered.compile(compiler_options=options).compiled.as_text()
        comps = _computations(hlo)
        loop = next(ln for body in comps.values() for ln in body if " while(" in ln)
        body = re.search(r"body=%?([\w.\-]+)", loop)
        cond = re.search(r"condition=%?([\w.\-]+)", loop)
        assert body and cond
        per_step = _count(comps, body.group(1))
        counts[name] = {
            "loop_body": dict(per_step),
            "loop_condition": sum(_count(comps, cond.group(1)).values()),
            "per_lane_and_step": _elementwise(comps, body.group(1), args.lanes),
        }
        rec = counts[name]
        print(f"{name} {args.dtype}: loop body {rec['loop_body']} = {sum(per_step.values())} "
              f"operations; loop condition {rec['loop_condition']}; "
              f"per lane and step {rec['per_lane_and_step']}")  # fmt: skip
        for line in comps[body.group(1)]:
            if " conditional(" in line:
                branches = re.search(r"branch_computations=\{([^}]*)\}", line)
                assert branches
                for b in branches.group(1).split(","):
                    k = _count(comps, b.strip().lstrip("%"))
                    print(f"    refill conditional branch: {dict(k)} = {sum(k.values())}")
                    rec.setdefault("refill_branches", []).append(dict(k))
    out = {"dtype": args.dtype, "lanes": args.lanes, "counts": counts}
    save_result(__file__, out, variant=args.save, results_dir=args.results_dir)


if __name__ == "__main__":
    sys.exit(main())

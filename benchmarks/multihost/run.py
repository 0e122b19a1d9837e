"""Multi-process sweeps: 2 processes on loopback against 1, one thread (one core) each.

    python -m benchmarks.multihost.run --patients 4000 --chunk 250 --save 4000

Runs the virtual-trial example (``examples/pd1_virtual_trial.toml``, first two arms, no
trajectories) once in one process and once in two processes joined by ``jax.distributed``
(coordinator on 127.0.0.1), each process pinned to its own core (``sched_setaffinity``), with
one XLA thread (``--xla_cpu_multi_thread_eigen=false``) and one pool thread of the fused engine
(``os.cpu_count`` → 1). Checks that both stores are identical, variable by variable, and
reports each process's throughput: the patients of its chunks over the solve seconds of its
chunks (``chunk_seconds``), once with all chunks and once without each process's first chunk
(which includes its JIT compilation), and over the chunks after the first, patients per CPU
second of the process (``time.process_time``: the work, independent of other load on the
machine) and per wall second. Target: per-process throughput ≥ 80 % of the one-process
figure. Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common.harness import add_save_options, save_result

SPEC = Path(__file__).resolve().parents[2] / "examples" / "pd1_virtual_trial.toml"

_WORKER = """
import os, sys, json
os.sched_setaffinity(0, {int(sys.argv[5])})
os.cpu_count = lambda: 1  # one pool thread in the fused engine
from tumorimmune.sweeps import init_distributed, run_sweep, validate_spec
n = int(sys.argv[3])
if n > 1:
    init_distributed(f"127.0.0.1:{sys.argv[2]}", n, int(sys.argv[4]))
import time
spec = validate_spec(json.loads(sys.argv[1]))
marks = []  # (patients done, CPU seconds, wall seconds) at the end of every chunk
def progress(done, total, seconds):
    if done and (done % spec.chunk_size == 0 or done == total):
        marks.append((done, time.process_time(), time.perf_counter()))
run_sweep(spec, output=sys.argv[6], progress=progress)
print("MARKS" + json.dumps(marks))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(spec: dict, path: Path, n_proc: int) -> tuple[float, list]:
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_cpu_multi_thread_eigen=false")
    port = str(_free_port())
    cores = sorted(os.sched_getaffinity(0))
    t0 = time.perf_counter()
    procs = []
    for i in range(n_proc):
        core = str(cores[i % len(cores)])
        cmd = [sys.executable, "-c", _WORKER, json.dumps(spec), port, str(n_proc), str(i), core]
        procs.append(
            subprocess.Popen(
                [*cmd, str(path)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    marks = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            raise RuntimeError(err[-3000:])
        marks.append(json.loads(out.split("MARKS", 1)[1]))
    return time.perf_counter() - t0, marks


def _after_first(marks: list) -> dict[str, float]:
    """Patients per CPU second and per wall second over the chunks after the first."""
    (d0, c0, w0), (d1, c1, w1) = marks[0], marks[-1]
    return {"per_cpu_s": (d1 - d0) / (c1 - c0), "per_wall_s": (d1 - d0) / (w1 - w0)}


def main() -> None:
    ap = argparse.ArgumentParser(description="2 processes vs 1 (one core each).")
    ap.add_argument("--patients", type=int, default=4000)
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--backend", default="fused")
    add_save_options(ap)
    args = ap.parse_args()

    import numpy as np
    import zarr

    from tumorimmune.sweeps import load, load_spec

    d = load_spec(SPEC).model_dump(mode="json", exclude_none=True)
    d.update(chunk_size=args.chunk, backend=args.backend, n_trajectories=0)
    d["sampling"]["cohort_size"] = args.patients
    d["arms"] = d["arms"][:2]
    d["targets"] = [t for t in d.get("targets", []) if t["arm"] in {a["name"] for a in d["arms"]}]
    out: dict = {"patients": args.patients, "chunk": args.chunk, "arms": 2,
                 "backend": args.backend, "cores": len(os.sched_getaffinity(0))}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for n_proc in (1, 2):
            path = Path(tmp) / f"p{n_proc}.zarr"
            wall, marks = _run(d, path, n_proc)
            g = zarr.open_group(str(path), mode="r")
            sec = np.asarray(g["chunk_seconds"][...])  # type: ignore[index]
            n_chunks = len(sec)
            sizes = np.array([min(args.chunk, args.patients - i * args.chunk)
                              for i in range(n_chunks)])  # fmt: skip
            per = []
            for p in range(n_proc):
                mine = np.arange(n_chunks) % n_proc == p
                first = np.flatnonzero(mine)[0]
                steady = mine.copy()
                steady[first] = False
                per.append({
                    "all_chunks": float(sizes[mine].sum() / sec[mine].sum()),
                    "after_first": float(sizes[steady].sum() / sec[steady].sum()),
                })  # fmt: skip
            out[f"{n_proc}_process"] = {
                "wall_s": round(wall, 2),
                "per_process_patients_per_s": per,  # from the store's chunk_seconds
                "per_process_after_first": [_after_first(m) for m in marks],
            }
            stores[n_proc] = load(path)
        a, b = stores[1], stores[2]
        same = set(a.variables) == set(b.variables) and all(
            a[k].dtype == b[k].dtype
            and np.array_equal(a[k].values, b[k].values, equal_nan=a[k].dtype.kind == "f")
            for k in a.variables
        )
    one = out["1_process"]["per_process_patients_per_s"][0]
    for key in ("all_chunks", "after_first"):
        out[f"ratio_{key}"] = [
            round(p[key] / one[key], 3) for p in out["2_process"]["per_process_patients_per_s"]
        ]
    one_m = out["1_process"]["per_process_after_first"][0]
    for key in ("per_cpu_s", "per_wall_s"):
        out[f"ratio_{key}"] = [
            round(p[key] / one_m[key], 3) for p in out["2_process"]["per_process_after_first"]
        ]
    out["load_average"] = os.getloadavg()
    out["identical_stores"] = bool(same)
    text = json.dumps(out, indent=1)
    print(text)
    save_result(__file__, out, variant=args.save, results_dir=args.results_dir)


if __name__ == "__main__":
    main()

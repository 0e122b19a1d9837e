#!/usr/bin/env bash
# End-to-end check on a lent GPU: simulate() with backend "auto" (→ Pallas on GPU) against the
# diffrax reference, then the main job (`tumorimmune run`) and the response map, timed.
# Needs the wheels named in benchmarks/gpu/README.md carried in .whl/ (pydantic, zarr, plotly, ...).
# Run from the repository root: bash benchmarks/gpu/simulate_and_examples_endtoend.sh
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
python3 - <<'PY'
import time, numpy as np, jax, tumorimmune as ti
from tumorimmune.model import TumorImmunePD1, PEMBROLIZUMAB_200MG_Q3W
print("device:", jax.devices()[0].device_kind, "| auto backend:", ti.solvers.get_backend("auto").resolve().name)
rng = np.random.default_rng(0); n = 4096
m = TumorImmunePD1(L=rng.uniform(0, 1, n), a=0.18 * rng.lognormal(0, 0.2, n))
y0 = {"E": 3.2e5, "T": rng.uniform(1e6, 5e7, n)}; t = np.arange(0, 366, 42.0)
for dtype in ("float64", "float32"):
    ref = ti.simulate(m, y0, t, regimen=PEMBROLIZUMAB_200MG_Q3W, dtype=dtype, backend="diffrax")
    t0 = time.perf_counter()
    got = ti.simulate(m, y0, t, regimen=PEMBROLIZUMAB_200MG_Q3W, dtype=dtype)
    err = float(np.max(np.abs(got["T"] - ref["T"]) / np.maximum(ref["T"], 1.0)))
    print(f"{dtype}: backend={got.attrs['backend']} max rel diff of T vs diffrax {err:.2e}, "
          f"failed {got.attrs['n_failed']}, {time.perf_counter() - t0:.2f} s (incl. compile)")
PY
for spec in pd1_virtual_trial response_map; do
  echo "== tumorimmune run examples/$spec.toml"
  /usr/bin/time -v python3 -m tumorimmune run examples/$spec.toml --out /tmp/run_$spec 2>&1 \
    | grep -vE "^\s+(Average|Exit|File|Major|Minor|Page|Signals|Socket|Swaps|Voluntary|Involuntary|Percent|System time|User time)" \
    | tail -22
  ls -la /tmp/run_$spec/report.html
done
cp /tmp/run_pd1_virtual_trial/report.html "$OUT/report_gpu.html" 2>/dev/null || true

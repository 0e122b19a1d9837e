#!/usr/bin/env bash
# GPU check of the clinical trial (issue 9 + reliability fixes) on a lent device, one call:
# (1) simulate() of 4096 KEYNOTE-006 virtual patients, backend "auto" (Pallas on a GPU) vs the
#     diffrax reference, float64 and float32: tumor cells and RECIST best responses;
# (2) the solver tests with the real Triton kernels (not interpret mode);
# (3) `tumorimmune run` of the default trial (10,000 patients x 5 arms), timed;
# (4) the cost of one gradient relative to one forward solve (benchmarks/gradient_cost).
# Needs the wheels carried in .whl/ (pydantic, zarr, plotly and their needs; see
# benchmarks/gpu/README.md). Run from the repository root: bash benchmarks/gpu/clinical_trial_check.sh
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 - <<'PY'
import time, numpy as np, jax, tumorimmune as ti
from pathlib import Path
from tumorimmune.calibrate import CLINICAL_FIXED, load_population
from tumorimmune.model import TumorImmunePD1, PEMBROLIZUMAB_200MG_Q3W
from tumorimmune.sweeps import best_overall_response, sum_of_diameters_mm
print("device:", jax.devices()[0].device_kind)
tab, _ = load_population(Path(ti.__file__).parent / "data" / "keynote006_vpop.npz")
n = 4096
p = {k: v[:n] for k, v in tab.items()}
m = TumorImmunePD1.with_drug("pembrolizumab", **CLINICAL_FIXED,
                             **{k: v for k, v in p.items() if k not in ("T0", "E0")})
y0 = {"E": p["E0"], "T": p["T0"]}
t = np.array([0, 84, 126, 168, 210, 252, 294, 336.0])
for dtype in ("float64", "float32"):
    ref = ti.simulate(m, y0, t, regimen=PEMBROLIZUMAB_200MG_Q3W, dtype=dtype, backend="diffrax")
    for rep in range(2):
        t0 = time.perf_counter()
        got = ti.simulate(m, y0, t, regimen=PEMBROLIZUMAB_200MG_Q3W, dtype=dtype)
        dt = time.perf_counter() - t0
    T, R = got["T"].values, ref["T"].values
    err = float(np.max(np.abs(T - R) / np.maximum(R, 1.0)))
    bor = [best_overall_response(sum_of_diameters_mm(x)) for x in (T, R)]
    same = float(np.mean(bor[0] == bor[1]))
    print(f"{dtype}: backend={got.attrs['backend']} max rel diff of T vs diffrax {err:.2e}; "
          f"best response identical in {same:.4f}; failed {got.attrs['n_failed']} vs "
          f"{ref.attrs['n_failed']}; {dt:.2f} s warm")
PY
echo "== solver tests on the GPU"
timeout 150 python3 -m pytest tests/solvers -q -x -p no:cacheprovider 2>&1 | tail -5
echo "== tumorimmune run (default trial)"
/usr/bin/time -f "wall %e s, max RSS %M KB" python3 -m tumorimmune run --out /tmp/run_default 2>&1 | tail -16
python3 - <<'PY'
import json, os
from tumorimmune.sweeps import load
ds = load("/tmp/run_default/results.zarr")
rows = json.loads(ds.attrs["calibration"])["targets"]
out = {"arms": [str(a) for a in ds.arm.values], "orr": ds.orr.values.tolist(),
       "n_cr": ds.n_cr.values.tolist(), "targets": rows, "backend": ds.attrs["backend"],
       "patients_per_s": ds.attrs["patients_per_s"], "wall_time_s": ds.attrs["wall_time_s"]}
json.dump(out, open(os.path.join(os.environ.get("OUT", "/tmp"), "gpu_default_trial.json"), "w"), indent=1)
for r in rows: print(f"{r['name'][:70]:<70} {r['target']:.3g} {r['simulated']:.3g}")
PY
echo "== gradient cost (10,000 patients)"
timeout 170 python3 -m benchmarks.gradient_cost.run --n 10000 --repeats 2 --save 1e4 --results-dir "$OUT/gradient_cost" 2>&1 | grep -v "^ " | tail -6

#!/usr/bin/env bash
# The three-arm virtual trial at scale on a lent GPU (issue #12's target), in one call: 10^6
# and 10^7 patients end to end (store and report), each twice with one compilation cache (cold,
# then cached); the fused backend against the Pallas default; the host pipeline alone at 10^7.
# Needs the wheels named in benchmarks/gpu/README.md carried in .whl/ (pydantic, zarr, plotly,
# typer, ...). Run from the repository root: bash benchmarks/gpu/trial_at_scale.sh
# Results: $OUT/trial_scale/*.json and $OUT/host_pipeline/*.json (harness names: DATE_MACHINE_VARIANT);
# copy them to benchmarks/<name>/results/ to keep them.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,memory.total,clocks.sm,temperature.gpu --format=csv,noheader
for n in 1000000 10000000; do
  for run in cold cached; do
    echo "== $n patients × 3 arms, $run"
    python3 -m benchmarks.trial_scale.run --patients $n --cache /tmp/jaxcache_$n \
      --save "${n}-${run}" --results-dir "$OUT/trial_scale" | tail -30
  done
done
# arms as a batch axis on the GPU: the fused backend (arms of one structure in one program)
# against the Pallas default (arm by arm), same cohort, cached
for backend in fused pallas; do
  echo "== 1000000 patients × 3 arms, backend $backend (cached)"
  python3 -m benchmarks.trial_scale.run --patients 1000000 --backend $backend \
    --cache /tmp/jaxcache_b > /dev/null
  python3 -m benchmarks.trial_scale.run --patients 1000000 --backend $backend \
    --cache /tmp/jaxcache_b --save "1000000-${backend}" --results-dir "$OUT/trial_scale" | tail -30
done
# the host's share alone (stand-in solve): what bounds the 10^7 run on this host's cores, with
# one and with three batches in flight (Engine.batches_in_flight; 3 is the accelerator default)
for k in 1 3; do
  echo "== host pipeline, 10^7 patients × 3 arms, stand-in solve, $k batch(es) in flight"
  python3 -m benchmarks.host_pipeline.run --patients 10000000 --in-flight $k \
    --save "10000000-inflight$k" --results-dir "$OUT/host_pipeline" | tail -16
done
python3 - <<'PY'
import json, glob, os
rows = [json.load(open(f)) | {"file": os.path.basename(f)} for f in sorted(glob.glob(os.environ.get("OUT", "/tmp/out") + "/trial_scale/*.json"))]
print("file | run s | report s | XLA compile s | trace+lower s | cache hits | patient-years/s")
for r in rows:
    print(f"{r['file']} | {r['run_s']} | {r['report_s']} | {r['xla_compile_s']} | "
          f"{r['trace_s'] + r['lower_s']:.2f} | {r['cache_hits']} | {r['patient_years_per_s_end_to_end']:.3g}")
PY

#!/usr/bin/env bash
# Issue #27's GPU figures in one call (fits in 8 minutes on one H100): what the store keeps is a
# choice, arms in one Pallas kernel. Run from the repository root on a lent GPU machine:
#   bash benchmarks/gpu/store_tiers_at_scale.sh
# Needs the wheels named in benchmarks/gpu/README.md carried in .whl/. Steps, each bounded by
# `timeout` so that the whole call ends in time (a step that runs out is reported, not fatal):
#  1. the disk's sequential write bandwidth (`dd`, 2 GiB, fdatasync) in this call;
#  2. Pallas vs diffrax accuracy on the KEYNOTE-006 cohort (benchmarks/gpu_probe --quick);
#  3. the per-arm Pallas kernels against the all-arms kernel on the same 10^6 × 3 arms
#     (benchmarks/pipeline_vs_kernel: kernel vs grouped kernel vs the sweep pipeline);
#  4. `tumorimmune run`'s trial at 10^6 in every tier (cached) and at 10^7 in the read-out tier
#     (cold, then cached) and the scans tier (cached): patient-years/s end to end, compile
#     time, store bytes per patient (benchmarks/trial_scale --keep TIER).
# Results: $OUT/*/*.json (harness names: DATE_MACHINE_VARIANT) and $OUT/summary.json.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,temperature.gpu --format=csv,noheader
DISK=/tmp/tiers_disk
mkdir -p $DISK
echo "== 1. dd: sequential write bandwidth of $DISK"
dd if=/dev/zero of=$DISK/dd.bin bs=16M count=128 conv=fdatasync 2>&1 | tail -1 | tee "$OUT/dd.txt"
rm -f $DISK/dd.bin
echo "== 2. Pallas vs diffrax accuracy"
timeout 100 python3 -m benchmarks.gpu_probe.run --quick --sizes 1e6 --models pd1 --budget 80 --save accuracy \
  --results-dir "$OUT/gpu_probe" | tail -12
echo "== 3. per-arm Pallas kernels vs the all-arms kernel, 10^6 patients x 3 arms"
timeout 120 python3 -m benchmarks.pipeline_vs_kernel.run --patients 1000000 --repeats 2 \
  --save arms-kernel --results-dir "$OUT/pipeline_vs_kernel" | tail -12
echo "== 4. tumorimmune run's trial, per tier"
run() {  # patients tier variant timeout
  TMPDIR=$DISK timeout "$4" python3 -m benchmarks.trial_scale.run --patients "$1" --keep "$2" \
    --cache /tmp/jaxcache --save "$3" --results-dir "$OUT/trial_scale" | tail -6 \
    || echo "   ($3: ran out of its $4 s or failed)"
}
run 1000000 readout 1000000-readout-cold 90
for tier in summary readout scans trajectories; do run 1000000 $tier "1000000-$tier" 60; done
run 10000000 readout 10000000-readout-cold 90
run 10000000 readout 10000000-readout-cached 75
run 10000000 scans 10000000-scans-cached 90
python3 - <<'PY'
import glob, json, os, re
out = os.environ.get("OUT", "/tmp/out")
dd = open(f"{out}/dd.txt").read()
m = re.search(r"([\d.]+) ([GM])B/s", dd)
dd_mb_s = float(m.group(1)) * (1000 if m.group(2) == "G" else 1) if m else None
rows = []
for f in sorted(glob.glob(f"{out}/trial_scale/*.json")):
    r = json.load(open(f))
    rows.append({k: r.get(k) for k in ("patients", "keep", "run_s", "xla_compile_s",
                 "patient_years_per_s_end_to_end", "store_bytes", "store_bytes_per_patient",
                 "store_write_mb_per_s")} | {"file": os.path.basename(f)})
summary = {"dd_write_mb_per_s": dd_mb_s, "trial_scale": rows}
for f in glob.glob(f"{out}/pipeline_vs_kernel/*.json"):
    r = json.load(open(f))
    summary["arms_kernel"] = {k: r.get(k) for k in r if "kernel" in k or "ratio" in k}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
print(json.dumps(summary, indent=1))
PY

"""The finalisation reads one arm at a time (``_runner._finalize``): its summaries, calibration
rows (with prediction intervals), PD-L1 strata and warnings equal, bit for bit, those computed
from the whole arrays at once, as the finalisation did before it was streamed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import zarr

from tumorimmune.response import (
    AssayColumns,
    arm_summary,
    cell_summary,
    os_summary,
    timecourse_summary,
)
from tumorimmune.sweeps import SweepPlan, _runner, run_sweep, validate_spec
from tumorimmune.sweeps._plausibility import runaway_warnings
from tumorimmune.sweeps._store import PEAK, SCRATCH

PEMBRO = "pembrolizumab 200 mg q3w"
#: Fitted class targets at a cut-off (prediction intervals by re-selection), held-out ones
#: on subgroups of the parameters and of the read-out, at another cut-off and on OS.
TARGETS = [
    {"arm": PEMBRO, "name": "ORR", "kind": "orr", "value": 0.3, "n": 40, "cutoff_day": 84.0},
    {"arm": PEMBRO, "name": "CR", "kind": "cr", "value": 0.05, "n": 40, "cutoff_day": 84.0},
    {
        "arm": PEMBRO,
        "name": "PFS at 6 weeks",
        "kind": "pfs_at",
        "value": 0.6,
        "n": 40,
        "day": 42.0,
        "cutoff_day": 84.0,
    },
    {"arm": PEMBRO, "name": "mPFS", "kind": "median_pfs", "value": 84.0, "cutoff_day": 84.0},
    {
        "arm": "nivolumab 3 mg/kg q2w",
        "name": "ORR, small tumors",
        "kind": "orr",
        "value": 0.3,
        "n": 30,
        "fitted": False,
        "cutoff_day": 126.0,
        "subgroup": "T0 < median",
    },
    {
        "arm": "control",
        "name": "OS at 3 months, alive at week 6",
        "kind": "os_at",
        "day": 90.0,
        "value": 0.6,
        "n": 20,
        "fitted": False,
        "subgroup": "os_days > 42 and best_response <= 2",
    },
    {"arm": PEMBRO, "name": "pseudo-progression", "kind": "pseudo_progression", "value": 0.05},
]
SURVIVAL = {"scale_days": 150.0, "shape": 1.2, "beta": 1.0, "grid_days": 14.0}


def _in_memory(path, plan: SweepPlan) -> tuple[dict[str, np.ndarray], dict[str, str], list]:
    """The summaries, clinical attributes and runaway warnings of an unfinished store's
    whole arrays at once (the finalisation before it was streamed)."""
    g = zarr.open_group(str(path), mode="r")
    sg = g[SCRATCH]

    def read(k: str) -> np.ndarray:
        return np.asarray((g if k in g else sg)[k][...])  # type: ignore[index]

    br, days, event = read("best_response"), read("pfs_days"), read("pfs_event")
    out = dict(arm_summary(br, days, event))
    tc = {k: read(k) for k in ("ttr_days", "dor_days", "dor_event", "pseudo_progression")}
    out.update(
        timecourse_summary(
            tc["ttr_days"],
            tc["dor_days"],
            tc["dor_event"],
            tc["pseudo_progression"],
            scan_days=plan.scan_days,
            follow_up=plan.spec.follow_up_days,
        )
    )
    tc["os_days"], tc["os_event"] = read("os_days"), read("os_event").astype(bool)
    out.update(os_summary(br, tc["os_days"], tc["os_event"], follow_up=plan.spec.follow_up_days))
    out.update(cell_summary(br, read("best_pct_change"), read("cell"), plan.grid_shape))
    tc["diameters"] = read("diameter_mm")
    params = AssayColumns({c: read(f"param_{c}") for c in plan.columns})
    attrs = _runner.clinical_attrs(plan, br, days, event, params, readout=tc)
    return out, attrs, runaway_warnings(plan, read(PEAK))


def test_streamed_finalize_equals_the_whole_arrays_at_once(tiny, tmp_path, monkeypatch):
    spec = validate_spec(
        tiny(
            survival=SURVIVAL,
            targets=TARGETS,
            chunk_size=6,
            n_trajectories=0,
            store={"keep": "readout"},
            caveats=["a caveat"],
            backend="fused",  # compiles faster than diffrax
        )
    )
    plan = SweepPlan.from_spec(spec)
    before = tmp_path / "before.zarr"
    finalize = _runner._finalize

    def keep_a_copy(store, engine):
        shutil.copytree(store.path, before)
        finalize(store, engine)

    monkeypatch.setattr(_runner, "_finalize", keep_a_copy)
    monkeypatch.setattr(_runner, "FINALIZE_WINDOW_PATIENTS", 12)  # windows of two chunks
    ds = run_sweep(spec, output=tmp_path / "results.zarr")
    assert ds is not None and plan.n_chunks >= 3 and plan.n_arms == 3
    summaries, attrs, found = _in_memory(before, plan)
    for k, v in summaries.items():
        assert ds[k].dtype == v.dtype, k
        np.testing.assert_array_equal(ds[k].values, v, err_msg=k)
    assert {"caveats", "pdl1_strata", "calibration"} <= set(attrs)
    for k, v in attrs.items():
        assert ds.attrs[k] == v, k
    rows = json.loads(attrs["calibration"])["targets"]
    assert len(rows) == len(TARGETS) and all("prediction_lo" in r for r in rows)
    assert ds.attrs["n_failed"] == int(np.sum(ds["best_response"].values < 0))
    stored = json.loads(ds.attrs["warnings"])
    assert stored[len(stored) - len(found) :] == found

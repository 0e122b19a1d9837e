"""Zarr store: schema, round trip, overwrite protection, spec mismatch, resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import xarray as xr
import zarr

from tumorimmune.response import timecourse_readout, timecourse_summary
from tumorimmune.sweeps import (
    arm_summary,
    km_median,
    load,
    run_sweep,
    validate_spec,
    wilson_ci,
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny):
    """One uninterrupted run of the tiny spec (reused by several tests)."""
    path = tmp_path_factory.mktemp("store") / "results.zarr"
    spec = validate_spec(tiny())
    ds = run_sweep(spec, output=path)
    return spec, path, ds


def test_schema_of_results(finished):
    spec, path, ds = finished
    assert list(ds["arm"].values) == [a.name for a in spec.arms]
    assert ds.sizes["patient"] == 20 and ds.sizes["scan"] == 4
    np.testing.assert_array_equal(ds["scan_day"].values, [0, 42, 84, 126])
    for k in ("tumor_cells", "diameter_mm", "pct_change"):
        assert ds[k].dims == ("arm", "patient", "scan")
    for k in ("best_response", "pfs_days", "pfs_event", "outcome", "status", "best_pct_change"):
        assert ds[k].dims == ("arm", "patient")
    assert ds["best_response"].dtype == np.int8 and ds["pfs_event"].dtype == bool
    assert ds["cell_orr"].dims == ("arm", "axis_eps_m")
    np.testing.assert_array_equal(ds["axis_eps_m"].values, [0.0, 0.5])
    assert ds["traj_T"].dims == ("arm", "traj_patient", "time")
    assert "traj_RO" in ds and "traj_C" in ds
    for k in ("param_a", "param_L", "param_T0", "param_eps_m", "param_eta_CL"):
        assert ds[k].dims == ("patient",)
    assert ds.attrs["precision"] == "float64" and ds.attrs["backend"] == "diffrax"
    # no [survival]: no deaths, no OS variables or attributes
    assert not any(k.startswith(("os_", "median_os")) for k in ds.variables)
    assert not any(k.startswith("survival_") for k in ds.attrs)
    assert ds.attrs["n_lesions"] == 3 and ds.attrs["detection_limit_mm"] == 5.0  # read-out
    assert "SLD" in ds["diameter_mm"].attrs["description"]
    assert json.loads(ds.attrs["versions"])["jax"]
    assert ds.attrs["patients_per_s"] > 0
    # the stored spec names the store it is in (the spec's own ``output`` differs)
    stored = validate_spec(__import__("tomllib").loads(ds.attrs["spec"]))
    assert stored == spec.model_copy(update={"output": str(path)}) and spec.output != str(path)


def test_summaries_agree_with_patient_rows(finished):
    _, _, ds = finished
    br = ds["best_response"].values
    for a in range(ds.sizes["arm"]):
        k = int(np.sum(br[a] <= 1))
        assert int(ds["n"][a]) == 20
        assert float(ds["orr"][a]) == pytest.approx(k / 20)
        lo, hi = wilson_ci(k, 20)
        assert float(ds["orr_lo"][a]) == pytest.approx(lo)
        assert float(ds["orr_hi"][a]) == pytest.approx(hi)
        med = km_median(ds["pfs_days"].values[a], ds["pfs_event"].values[a])
        np.testing.assert_allclose(float(ds["median_pfs_days"][a]), med[0])
        # per-cell ORR: cells 0 and 1 hold patients 0-9 and 10-19
        for c in range(2):
            rows = br[a][10 * c : 10 * (c + 1)]
            assert float(ds["cell_orr"][a, c]) == pytest.approx(np.mean(rows <= 1))
    s = arm_summary(br, ds["pfs_days"].values, ds["pfs_event"].values)
    np.testing.assert_array_equal(s["n_pd"], ds["n_pd"].values)


def test_recist_over_time_from_the_stored_diameters(finished):
    spec, _, ds = finished
    assert spec.response.confirm is False and spec.response.confirm_days == 28.0
    want = timecourse_readout(
        ds["diameter_mm"].values, ds["scan_day"].values, follow_up=spec.follow_up_days
    )
    for k, v in want.items():
        assert ds[k].dims == ("arm", "patient") and ds[k].dtype == v.dtype
        np.testing.assert_array_equal(ds[k].values, v)
        assert ds[k].attrs["description"]
    # unconfirmed responders are exactly the CR/PR patients of best_response
    np.testing.assert_array_equal(
        np.isfinite(ds["ttr_days"].values), ds["best_response"].values.astype(int) <= 1
    )
    s = timecourse_summary(
        ds["ttr_days"].values,
        ds["dor_days"].values,
        ds["dor_event"].values,
        ds["pseudo_progression"].values,
        scan_days=ds["scan_day"].values,
        follow_up=spec.follow_up_days,
    )
    for k, v in s.items():
        assert ds[k].dims == ("arm",)
        np.testing.assert_array_equal(ds[k].values, v)


def test_load_round_trip(finished):
    _, path, ds = finished
    xr.testing.assert_identical(load(path), ds)
    lazy = load(path, lazy=True)
    xr.testing.assert_identical(lazy.load(), ds)


def test_finished_store_is_never_silently_overwritten(finished, tmp_path):
    spec, path, _ = finished
    with pytest.raises(FileExistsError, match="overwrite"):
        run_sweep(spec, output=path)
    other = tmp_path / "notastore"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a tumorimmune sweep store"):
        run_sweep(spec, output=other, overwrite=True)
    assert (other / "precious.txt").exists()


def test_resume_after_partial_run_equals_uninterrupted(finished, tmp_path):
    spec, _, ds = finished
    path = tmp_path / "r.zarr"
    assert run_sweep(spec, output=path, max_chunks=1) is None
    with pytest.raises(ValueError, match="unfinished"):
        load(path)
    part = load(path, allow_partial=True)
    assert np.all(part["best_response"].values[:, 8:] == -1)  # unfinished chunks: fill values
    seen = []
    again = run_sweep(spec, output=path, progress=lambda d, n, s: seen.append(d))
    # resumed after the first chunk (8 of 20 patients), in patient × arm solves (3 arms)
    assert seen[0] == 8 * 3 and seen[-1] == 20 * 3
    assert again is not None
    xr.testing.assert_equal(again, ds)


def test_spec_mismatch_with_partial_store_is_an_error(finished, tmp_path):
    spec, _, _ = finished
    path = tmp_path / "m.zarr"
    run_sweep(spec, output=path, max_chunks=1)
    d = spec.model_dump(mode="json", exclude_none=True)
    d["sampling"]["seed"] += 1
    other = validate_spec(d)
    with pytest.raises(ValueError, match="different spec"):
        run_sweep(other, output=path)
    ds = run_sweep(other, output=path, overwrite=True)
    assert ds is not None
    stored = validate_spec(__import__("tomllib").loads(ds.attrs["spec"]))
    assert stored == other.model_copy(update={"output": str(path)})


_KILL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from tumorimmune.sweeps import Engine, run_sweep, validate_spec
    # batches of 2 chunks (each committed together), so that the kill lands between commits
    Engine.chunks_per_batch = lambda self: 2
    run_sweep(validate_spec(json.loads(sys.argv[1])), output=sys.argv[2])
    """
)


def _chunks_done(path) -> int:
    try:
        return int(np.sum(zarr.open_group(str(path), mode="r")["chunk_done"][:]))  # type: ignore[index]
    except Exception:
        return 0


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_equals_uninterrupted(tmp_path, tiny):
    """A run killed with SIGKILL mid-way resumes from the finished chunks; the final store
    equals an uninterrupted run."""
    d = tiny(
        chunk_size=4,
        sampling={"method": "lhs", "cohort_size": 100, "seed": 5},
        axes={},
        n_trajectories=0,
    )
    d["arms"] = d["arms"][:2]
    spec = validate_spec(d)
    n_chunks = 25
    path = tmp_path / "killed.zarr"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    cmd = [sys.executable, "-c", _KILL_SCRIPT, json.dumps(d), str(path)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while _chunks_done(path) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _chunks_done(path)
    print(f"killed after {killed_at} of {n_chunks} chunks")
    assert 3 <= killed_at < n_chunks, f"kill landed at {killed_at} of {n_chunks} chunks"
    with pytest.raises(ValueError, match="unfinished"):
        load(path)
    seen: list[int] = []
    resumed = run_sweep(spec, output=path, progress=lambda k, n, s: seen.append(k))
    assert seen[0] == 4 * 2 * killed_at  # continued from the finished chunks (patient × arm)
    reference = run_sweep(spec, output=tmp_path / "reference.zarr")
    assert resumed is not None and reference is not None
    xr.testing.assert_equal(resumed, reference)
    xr.testing.assert_equal(load(path), reference)


def test_a_failed_write_on_the_writer_thread_stops_the_run_and_resumes(tiny, tmp_path, monkeypatch):
    """Zarr writes run on a writer thread while the next batch is solved: a write that fails
    raises in ``run_sweep``, its chunk is not marked done, and a rerun completes the store
    identically to an uninterrupted run."""
    from tumorimmune.sweeps import _runner
    from tumorimmune.sweeps._store import SweepStore

    spec = validate_spec(tiny(n_trajectories=0))
    reference = run_sweep(spec, output=tmp_path / "ref.zarr")
    real = SweepStore.write_chunks

    def flaky(self, items):
        if any(i == 1 for i, _, _ in items):
            raise OSError("disk full (simulated)")
        real(self, items)

    monkeypatch.setattr(_runner.Engine, "chunks_per_batch", lambda self: 1)  # 3 batches
    monkeypatch.setattr(SweepStore, "write_chunks", flaky)
    path = tmp_path / "r.zarr"
    with pytest.raises(OSError, match="disk full"):
        run_sweep(spec, output=path)
    monkeypatch.setattr(SweepStore, "write_chunks", real)
    store = SweepStore.open(spec, path)
    try:
        done = store.done()
    finally:
        store.close()
    assert done[0] and not done[1]
    xr.testing.assert_equal(run_sweep(spec, output=path), reference)


def test_batches_in_flight_overlap_and_give_the_same_store(tiny, tmp_path, monkeypatch):
    """With several batches in flight (accelerators), batches after the first are computed
    at once in threads (two of them must meet at a barrier, so the test fails if they run
    one after the other), written in order, and the store equals a one-at-a-time run's; the
    first batch (the compiling one) runs alone."""
    import threading

    from tumorimmune.sweeps import _engine, _runner

    spec = validate_spec(tiny(n_trajectories=0, chunk_size=4))
    reference = run_sweep(spec, output=tmp_path / "ref.zarr")
    monkeypatch.setattr(_runner.Engine, "chunks_per_batch", lambda self: 1)  # 5 batches
    monkeypatch.setattr(_engine.Engine, "batches_in_flight", lambda self: 2)
    meet = threading.Barrier(2, timeout=120)
    real = _engine.Engine.compute
    starts: list[int] = []
    written: list[int] = []

    def compute(self, ids, **kw):
        starts.append(int(ids[0]))
        if int(ids[0]) in (4, 8):  # batches 1 and 2: in flight together
            meet.wait()
        return real(self, ids, **kw)

    real_write = _runner.SweepStore.write_chunks

    def write(self, items):
        written.extend(i for i, _, _ in items)
        real_write(self, items)

    monkeypatch.setattr(_engine.Engine, "compute", compute)
    monkeypatch.setattr(_runner.SweepStore, "write_chunks", write)
    phases: list[str] = []
    ds = run_sweep(spec, output=tmp_path / "r.zarr", phase=phases.append)
    xr.testing.assert_equal(ds, reference)
    assert starts[0] == 0 and sorted(starts) == [0, 4, 8, 12, 16]
    assert written == [0, 1, 2, 3, 4]
    assert phases == ["compiling", "solving", "finalizing"]

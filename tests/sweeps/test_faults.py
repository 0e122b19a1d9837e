"""Fault injection on a small sweep: corrupted chunks, interrupted overwrites, concurrent
writers, stale locks, kills. Every fault must end in a store identical to an uninterrupted
run, or in a clear refusal; never in silently wrong or lost results."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import xarray as xr
import zarr

from tumorimmune.sweeps import SweepPlan, load, run_sweep, validate_spec
from tumorimmune.sweeps._store import StoreLock, StoreLockedError, SweepStore, verify_store


def _small(tiny, **changes):
    d = tiny(
        chunk_size=4,
        backend="fused",
        axes={},
        n_trajectories=2,
        sampling={"method": "lhs", "cohort_size": 20, "seed": 11},
        **changes,
    )
    d["arms"] = d["arms"][:2]
    return d


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny):
    """Spec mapping, spec and the uninterrupted run (5 chunks of 4 patients, 2 arms)."""
    d = _small(tiny)
    spec = validate_spec(d)
    ds = run_sweep(spec, output=tmp_path_factory.mktemp("ref") / "results.zarr")
    assert ds is not None
    return d, spec, ds


def _chunk_file(path, name="tumor_cells", i=1):
    """The Zarr v3 file of chunk ``i`` (along patient) of an (arm, patient[, scan]) array."""
    a = zarr.open_group(str(path), mode="r")[name]
    assert isinstance(a, zarr.Array)
    key = "/".join(["c", "0", str(i)] + ["0"] * (a.ndim - 2))
    f = path / name / key
    assert f.is_file(), f
    return f


def _corrupt(f, how):
    if how == "delete":
        f.unlink()
    elif how == "garbage":
        f.write_bytes(os.urandom(f.stat().st_size))
    elif how == "truncate":
        f.write_bytes(f.read_bytes()[: max(f.stat().st_size // 3, 1)])
    elif how == "zeros":
        f.write_bytes(b"\0" * f.stat().st_size)


@pytest.mark.parametrize("how", ["delete", "garbage", "truncate"])
@pytest.mark.parametrize("name", ["tumor_cells", "best_response"])
def test_damaged_finished_chunk_is_recomputed_on_resume(reference, tmp_path, how, name):
    """Before: a deleted chunk turned 2,500 patients 'failed', garbage gave a traceback after
    the store was marked complete, a truncated chunk made the store unresumable."""
    _, spec, ref = reference
    path = tmp_path / "r.zarr"
    assert run_sweep(spec, output=path, max_chunks=3) is None
    _corrupt(_chunk_file(path, name, 1), how)
    store = SweepStore.open(spec, path)  # resume: verifies the finished chunks
    try:
        np.testing.assert_array_equal(store.done(), [True, False, True, False, False])
    finally:
        store.close()
    ds = run_sweep(spec, output=path)
    xr.testing.assert_equal(ds, ref)
    assert verify_store(path) == []


def test_damaged_flag_array_is_recomputed(reference, tmp_path):
    _, spec, ref = reference
    path = tmp_path / "f.zarr"
    run_sweep(spec, output=path, max_chunks=2)
    _corrupt(path / "chunk_checksum" / "c" / "0", "garbage")
    xr.testing.assert_equal(run_sweep(spec, output=path), ref)


@pytest.mark.parametrize("how", ["delete", "garbage", "zeros"])
def test_damage_after_completion_is_refused_on_load(reference, tmp_path, how):
    _, spec, _ = reference
    path = tmp_path / "c.zarr"
    run_sweep(spec, output=path)
    _corrupt(_chunk_file(path, "pct_change", 2), how)
    assert verify_store(path) == [2]
    with pytest.raises(ValueError, match="damaged"):
        load(path)


def test_store_is_never_marked_complete_when_a_chunk_stays_damaged(
    reference, tmp_path, monkeypatch
):
    _, spec, _ = reference
    path = tmp_path / "d.zarr"
    monkeypatch.setattr(SweepStore, "verify", lambda self, repair=False: [3])
    with pytest.raises(OSError, match="not marked complete"):
        run_sweep(spec, output=path)
    assert zarr.open_group(str(path), mode="r").attrs["tumorimmune_status"] == "running"


def test_results_are_consolidated_and_open_without_warning(reference, tmp_path):
    _, spec, ref = reference
    path = tmp_path / "z.zarr"
    run_sweep(spec, output=path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(path)
    np.testing.assert_array_equal(ds["tumor_cells"].values, ref["tumor_cells"].values)


def test_overwrite_that_cannot_write_keeps_the_old_store(reference, tmp_path, monkeypatch):
    """Before: the old store was deleted before checking the new one could be written."""
    _, spec, ref = reference
    path = tmp_path / "o.zarr"
    run_sweep(spec, output=path)

    def refuse(*a, **k):
        raise PermissionError("read-only file system")

    with monkeypatch.context() as m:
        m.setattr(SweepStore, "_create", classmethod(refuse))
        with pytest.raises(PermissionError):
            run_sweep(spec, output=path, overwrite=True)
    xr.testing.assert_equal(load(path), ref)
    # an overwrite interrupted half-way also keeps the old store, and a rerun completes it
    assert run_sweep(spec, output=path, overwrite=True, max_chunks=2) is None
    xr.testing.assert_equal(load(path), ref)
    again = run_sweep(spec, output=path, overwrite=True)
    xr.testing.assert_equal(again, ref)
    assert not any(p.name.startswith(".o.zarr") for p in tmp_path.iterdir())


def test_second_writer_is_refused_naming_the_holder(reference, tmp_path):
    _, spec, _ = reference
    path = tmp_path / "l.zarr"
    lock = StoreLock(path)
    lock.acquire()
    try:
        with pytest.raises(StoreLockedError, match=rf"pid {os.getpid()} on host"):
            run_sweep(spec, output=path)
    finally:
        lock.release()
    assert not path.exists()  # the refused writer did not touch anything


def test_stale_lock_of_a_killed_process_is_taken_over(reference, tmp_path):
    _, spec, ref = reference
    path = tmp_path / "s.zarr"
    # a lock file left by a process that no longer exists (the kernel dropped its flock)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    (tmp_path / "s.zarr.lock").write_text(json.dumps({"pid": int(dead), "host": "x", "since": "t"}))
    xr.testing.assert_equal(run_sweep(spec, output=path), ref)
    assert not (tmp_path / "s.zarr.lock").exists()


def test_resume_with_other_settings_is_refused(reference, tmp_path):
    _, spec, _ = reference
    path = tmp_path / "k.zarr"
    run_sweep(spec, output=path, max_chunks=1)
    g = zarr.open_group(str(path), mode="r+")
    keys = json.loads(str(g.attrs["resume_keys"]))
    g.attrs["resume_keys"] = json.dumps({**keys, "jaxlib": "0.0.1"}, sort_keys=True)
    with pytest.raises(ValueError, match=r"jaxlib: '0\.0\.1' then"):
        run_sweep(spec, output=path)


_RUN = textwrap.dedent(
    """
    import json, sys, time
    from tumorimmune.sweeps import Engine, run_sweep, validate_spec
    pace = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    if pace:  # one chunk per commit, and a pause after each, so that a kill lands between
        Engine.chunks_per_batch = lambda self: 1
    try:
        run_sweep(
            validate_spec(json.loads(sys.argv[1])),
            output=sys.argv[2],
            progress=lambda k, n, s: time.sleep(pace),
        )
    except FileExistsError as err:
        print("REFUSED", err)
        sys.exit(3)
    """
)


def _spawn(d, path, pace=0.0):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    cmd = [sys.executable, "-c", _RUN, json.dumps(d), str(path), str(pace)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _chunks_done(path) -> int | None:
    """Finished chunks of a store being written; ``None`` before its flag array exists."""
    try:
        return int(np.sum(zarr.open_group(str(path), mode="r")["chunk_done"][:]))  # type: ignore[index]
    except Exception:
        return None


@pytest.mark.slow
def test_concurrent_runs_one_refused_and_kills_resume_identically(reference, tmp_path):
    """Races and kill -9 at several points; prints the fault table."""
    d, spec, ref = reference
    n_chunks = SweepPlan.of(spec).n_chunks
    table = {"tried": 0, "identical": 0, "refused": 0, "lost": 0}
    # two writers on one store: exactly one is refused, naming the other
    path = tmp_path / "race.zarr"
    procs = [_spawn(d, path) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    table["tried"] += 1
    assert codes == [0, 3], outs
    refused = next(o for o, p in zip(outs, procs, strict=True) if p.returncode == 3)[0]
    assert "being written by another tumorimmune run (pid" in refused
    table["refused"] += 1
    xr.testing.assert_equal(load(path), ref)
    # kill -9 where the store has 0 (created, nothing committed), >= 1 and >= 3 finished
    # chunks (of 5), then resume; each kill is checked to have landed mid-run
    for target in (0, 1, 3):
        path = tmp_path / f"kill{target}.zarr"
        proc = _spawn(d, path, pace=1.0)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            done = _chunks_done(path)
            if done is not None and done >= target:
                break
            time.sleep(0.005)
        assert proc.poll() is None, f"the run ended before the kill at {target} chunks"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        landed = _chunks_done(path)
        assert landed is not None and target <= landed < n_chunks, (target, landed)
        assert not _complete(path)
        table["tried"] += 1
        seen: list[tuple[int, int]] = []
        ds = run_sweep(spec, output=path, progress=lambda k, n, s, seen=seen: seen.append((k, n)))
        k, n = seen[0]  # the first report: the chunks finished before the kill
        assert k * n_chunks == n * landed and seen[-1] == (n, n), seen
        assert all(a[0] < b[0] for a, b in itertools.pairwise(seen)), seen
        if ds is not None and ds.equals(ref):
            table["identical"] += 1
        else:
            table["lost"] += 1
    print("fault table:", table)
    assert table == {"tried": 4, "identical": 3, "refused": 1, "lost": 0}


def _complete(path):
    try:
        return zarr.open_group(str(path), mode="r").attrs.get("tumorimmune_status") == "complete"
    except Exception:
        return False


@pytest.mark.parametrize("window_chunks", [1, 2, 100])
def test_windowed_checksums_equal_chunk_by_chunk(reference, tmp_path, monkeypatch, window_chunks):
    """Verification reads consecutive chunks together: the same checksums as reading each
    chunk alone, for windows of 1, 2 and all chunks and for a non-contiguous selection; a
    damaged chunk inside a window marks only itself."""
    from tumorimmune.sweeps import _store

    _, spec, _ = reference
    path = tmp_path / "w.zarr"
    run_sweep(spec, output=path)
    group = zarr.open_group(str(path), mode="r")
    names = _store._chunk_arrays(group)
    c, n = spec.chunk_size, SweepPlan.from_spec(spec).n_patients
    one = {i: _store._chunk_checksum(group, names, i * c, min((i + 1) * c, n)) for i in range(5)}
    assert len(set(one.values())) == 5 and None not in one.values()
    per_patient = sum(
        group[k].dtype.itemsize * int(np.prod(group[k].shape)) // n  # type: ignore[union-attr]
        for k in names
    )
    monkeypatch.setattr(_store, "VERIFY_WINDOW_BYTES", window_chunks * c * per_patient)
    assert _store._chunk_checksums(group, names, range(5), c, n) == one
    assert _store._chunk_checksums(group, names, [4, 0, 2, 3], c, n) == {
        i: one[i] for i in (0, 2, 3, 4)
    }
    _corrupt(_chunk_file(path, "diameter_mm", 3), "garbage")
    got = _store._chunk_checksums(group, names, range(5), c, n)
    assert got[3] is None and {i: got[i] for i in (0, 1, 2, 4)} == {i: one[i] for i in (0, 1, 2, 4)}
    assert verify_store(path) == [3]


def test_chunks_written_in_a_run_are_not_read_again_before_load(reference, tmp_path, monkeypatch):
    """Each chunk is read back once when written; the end-of-run checks read no chunk again,
    and the final load reads each once more (it still catches damage after the run)."""
    from tumorimmune.sweeps import _store

    _, spec, ref = reference
    reads: list[int] = []
    real = _store._chunk_checksums

    def counting(group, names, chunks, chunk_size, n, **kw):
        reads.extend(int(i) for i in chunks)
        return real(group, names, chunks, chunk_size, n, **kw)

    monkeypatch.setattr(_store, "_chunk_checksums", counting)
    ds = run_sweep(spec, output=tmp_path / "once.zarr")
    xr.testing.assert_equal(ds, ref)
    assert sorted(reads) == sorted([*range(5), *range(5)])  # at write, and at load


def test_load_reads_each_data_chunk_file_once(reference, tmp_path, monkeypatch):
    """``load`` checksums the finished chunks from the data it loads: every chunk file of a
    per-patient array is read once (it was read twice: by the verification, then by xarray),
    and damage is still caught (``test_damage_after_completion_is_refused_on_load``)."""
    import collections

    from zarr.storage import LocalStore

    _, spec, ref = reference
    path = tmp_path / "l.zarr"
    run_sweep(spec, output=path)
    reads: collections.Counter[str] = collections.Counter()
    real = LocalStore.get

    async def get(self, key, *args, **kwargs):
        reads[key] += 1
        return await real(self, key, *args, **kwargs)

    monkeypatch.setattr(LocalStore, "get", get)
    xr.testing.assert_equal(load(path), ref)
    for name in ("tumor_cells", "best_response", f"param_{SweepPlan.from_spec(spec).columns[0]}"):
        files = {k: v for k, v in reads.items() if k.startswith(f"{name}/c/")}
        assert len(files) == 5, (name, files)  # the reference store's 5 chunks
        assert set(files.values()) == {1}, (name, files)


def test_chunk_checksum_is_crc32c_and_blake2b_stores_stay_valid(reference, tmp_path):
    """New stores checksum chunks with CRC-32C (the library's published check value; equal to
    the CRC of the headers and bytes concatenated); a store written before, with BLAKE2b
    checksums and no algorithm attribute, still loads, and its damage is still caught."""
    import google_crc32c

    from tumorimmune.sweeps import _store

    assert google_crc32c.value(b"123456789") == 0xE3069283  # CRC-32C check value (RFC 3720)
    parts = [np.arange(7.0), np.zeros((3, 0), np.int8), np.ones((2, 3), np.float32)[:, :2]]
    raw = b"".join(
        str((p.dtype.str, p.shape)).encode() + np.ascontiguousarray(p).tobytes() for p in parts
    )
    assert _store._digest(parts) == google_crc32c.value(raw) | (1 << 32)
    assert _store._digest(parts, "blake2b") != _store._digest(parts)

    _, spec, ref = reference
    path = tmp_path / "old.zarr"
    run_sweep(spec, output=path)
    group = zarr.open_group(str(path), mode="r+")
    assert group.attrs[_store.CHECKSUM_KEY] == "crc32c"
    # the store as an earlier version wrote it: BLAKE2b checksums, no attribute
    names = _store._chunk_arrays(group)
    c = spec.chunk_size
    data = {k: np.asarray(group[k][...]) for k in names}  # type: ignore[index]
    old = [
        _store._digest(
            [
                v[i * c : (i + 1) * c] if v.ndim == 1 else v[:, i * c : (i + 1) * c]
                for v in data.values()
            ],
            "blake2b",
        )
        for i in range(5)
    ]
    group["chunk_checksum"][:] = np.array(old, np.int64)  # type: ignore[index]
    del group.attrs[_store.CHECKSUM_KEY]
    assert verify_store(path) == []
    xr.testing.assert_equal(load(path), ref)
    _corrupt(_chunk_file(path, "diameter_mm", 4), "zeros")
    assert verify_store(path) == [4]
    with pytest.raises(ValueError, match=r"chunk 4 does not match"):
        load(path)

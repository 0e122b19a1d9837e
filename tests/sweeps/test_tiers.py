"""Output tiers (``[store] keep``) and lazy results (``sweeps.open``): each tier's store holds
exactly its variables, bitwise those of the full (``"trajectories"``) store, and stays
resumable (kill -9, damaged chunks, a kill while the scratch group is removed), checksummed
and reproducible; ``open`` gives the same values as ``load``, as dask arrays of the store's
chunks."""

from __future__ import annotations

import os
import shutil
import signal
import time

import google_crc32c
import numpy as np
import pytest
import xarray as xr
import zarr

from tumorimmune import reports, sweeps
from tumorimmune.sweeps import (
    KEEP_TIERS,
    SweepPlan,
    default_keep,
    load,
    run_sweep,
    spec_key,
    validate_spec,
)
from tumorimmune.sweeps._store import SCRATCH, SweepStore, verify_store
from tumorimmune.sweeps._tiers import (
    DEFAULT_READOUT_MAX,
    DEFAULT_TRAJECTORIES_MAX,
    tier_rank,
    variable_tier,
)

from .test_faults import _chunks_done, _complete, _corrupt, _small, _spawn


def _tier(tiny, keep: str | None, **changes):
    d = _small(tiny, **changes)
    if keep is not None:
        d["store"] = {"keep": keep}
    return d


def _digests(path) -> dict[str, str]:
    """``{array: "dtype:shape:crc32c"}`` of the store's arrays but the chunks' seconds."""
    g = zarr.open_group(str(path), mode="r")
    out = {}
    for name in sorted(g.array_keys()):
        if name == "chunk_seconds":
            continue
        a = np.ascontiguousarray(g[name][...])  # type: ignore[index]
        raw = "\0".join(map(str, a.ravel())).encode() if a.dtype.kind in "OUT" else a.tobytes()
        out[name] = f"{a.dtype.str}:{a.shape}:{google_crc32c.value(raw)}"
    return out


@pytest.fixture(scope="module")
def stores(tmp_path_factory, tiny):
    """The same tiny trial (5 chunks of 4 patients, 2 arms) run in every tier."""
    root = tmp_path_factory.mktemp("tiers")
    out = {}
    for keep in KEEP_TIERS:
        path = root / f"{keep}.zarr"
        ds = run_sweep(validate_spec(_tier(tiny, keep)), output=path)
        assert ds is not None
        out[keep] = (path, ds)
    return out


# ------------------------------------------------------------------------------ the spec
def test_spec_without_store_keeps_its_resume_key(tiny):
    d = _small(tiny)
    spec = validate_spec(d)
    assert spec.store is None and "store" not in spec.to_toml()
    keyed = validate_spec({**d, "store": {"keep": "trajectories"}})
    assert spec_key(keyed) != spec_key(spec)  # a tier is part of what is resumed
    assert SweepPlan.of(spec).keep == "trajectories" and SweepPlan.of(spec).keep_notice is None


def test_default_tier_by_cohort_size():
    assert default_keep(DEFAULT_TRAJECTORIES_MAX, 1) == "trajectories"
    assert default_keep(DEFAULT_TRAJECTORIES_MAX // 3 + 1, 3) == "readout"
    assert default_keep(DEFAULT_READOUT_MAX, 1) == "readout"
    assert default_keep(DEFAULT_READOUT_MAX + 1, 1) == "summary"
    assert default_keep(DEFAULT_READOUT_MAX + 1, 1, minimum="readout") == "readout"
    assert default_keep(DEFAULT_READOUT_MAX, 1, minimum="scans") == "scans"


def test_default_that_drops_a_tier_gives_one_notice(tiny):
    d = _small(tiny)
    d["sampling"]["cohort_size"] = 600_000
    d["chunk_size"] = 4096
    plan = SweepPlan.of(validate_spec(d))
    assert plan.keep == "readout"
    notice = plan.keep_notice
    assert notice is not None and "\n" not in notice
    assert 'keep = "readout"' in notice and "scans, trajectories" in notice
    given = SweepPlan.of(validate_spec({**d, "store": {"keep": "scans"}}))
    assert given.keep == "scans" and given.keep_notice is None  # chosen: no notice


def test_bad_tier_and_summary_sensitivity_are_refused(tiny):
    with pytest.raises(ValueError, match=r"store\.keep"):
        validate_spec(_tier(tiny, "everything"))
    d = _tier(tiny, "readout", sensitivity={"method": "morris", "n": 4})
    with pytest.raises(ValueError, match=r'store\.keep: "readout".*use keep = "scans"'):
        validate_spec(d)  # the default outputs include final_tumor: the last scan
    d["sensitivity"]["outputs"] = ["response"]
    assert validate_spec(d).store.keep == "readout"  # type: ignore[union-attr]
    d["store"] = {"keep": "summary"}
    with pytest.raises(ValueError, match=r'store\.keep: "summary".*use keep = "readout"'):
        validate_spec(d)


# ------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("keep", KEEP_TIERS)
def test_tier_keeps_exactly_its_variables_bitwise(stores, keep):
    path, ds = stores[keep]
    ref_path, ref = stores["trajectories"]
    g = zarr.open_group(str(path), mode="r")
    assert g.attrs["keep"] == keep and g.attrs["tumorimmune_status"] == "complete"
    assert SCRATCH not in g and not (path / SCRATCH).exists()
    rank = tier_rank(keep)
    full = zarr.open_group(str(ref_path), mode="r")
    for name, a in full.arrays():
        dims = [str(d) for d in a.metadata.dimension_names or ()]  # type: ignore[union-attr]
        kept = tier_rank(variable_tier(name, dims)) <= rank
        assert (name in g) == kept, (name, dims)
    got, want = _digests(path), _digests(ref_path)
    got.pop("chunk_checksum")  # of the tier's arrays: differs between tiers
    assert {k: want[k] for k in got} == got  # every variable: the same bits
    assert sorted(ds.variables) == sorted(v for v in ref.variables if v in ds.variables)
    for v in ds.variables:
        np.testing.assert_array_equal(ds[v].values, ref[v].values)
    assert verify_store(path) == []
    if keep == "summary":
        assert "patient" not in ds.sizes and g.attrs["n_patients"] == ref.sizes["patient"]


def test_tier_is_bitwise_reproducible(stores, tiny, tmp_path):
    path = tmp_path / "again.zarr"
    run_sweep(validate_spec(_tier(tiny, "summary")), output=path)
    assert _digests(path) == _digests(stores["summary"][0])


@pytest.mark.parametrize("keep", ["readout", "summary"])
def test_damaged_kept_or_scratch_chunk_is_recomputed(stores, tiny, tmp_path, keep):
    spec = validate_spec(_tier(tiny, keep))
    path = tmp_path / "r.zarr"
    assert run_sweep(spec, output=path, max_chunks=3) is None
    where = path / SCRATCH if keep == "summary" else path
    f = where / "best_response" / "c" / "0" / "1"
    assert f.is_file()
    _corrupt(f, "garbage")
    assert verify_store(path) == [1]  # checked while unfinished (scratch included)
    store = SweepStore.open(spec, path)
    try:
        np.testing.assert_array_equal(store.done(), [True, False, True, False, False])
    finally:
        store.close()
    run_sweep(spec, output=path)
    assert _digests(path) == _digests(stores[keep][0])


def test_kill_while_summaries_are_written_resumes_without_solving(
    stores, tiny, tmp_path, monkeypatch
):
    spec = validate_spec(_tier(tiny, "summary"))
    path = tmp_path / "f.zarr"
    with monkeypatch.context() as m:
        m.setattr(SweepStore, "finish", lambda self, attrs: (_ for _ in ()).throw(OSError("x")))
        with pytest.raises(OSError):
            run_sweep(spec, output=path)
    assert (path / SCRATCH).is_dir() and not _complete(path)
    seen: list[tuple[int, int]] = []
    run_sweep(spec, output=path, progress=lambda k, n, s: seen.append((k, n)))
    assert seen == [(40, 40)]  # every chunk was finished: none solved again
    assert _digests(path) == _digests(stores["summary"][0])


def test_kill_while_scratch_is_removed_resumes_without_solving(stores, tiny, tmp_path, monkeypatch):
    """Killed after the summaries, with the scratch group half removed: the resumed run
    only finishes the removal (its scratch data are not needed, nor checked, any more)."""
    spec = validate_spec(_tier(tiny, "summary"))
    path = tmp_path / "d.zarr"

    def half(self):
        self.group.attrs["dropping_scratch"] = True
        for name in ("best_response", "pfs_days", "zarr.json"):
            target = self.path / SCRATCH / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        raise KeyboardInterrupt  # stands for the kill

    with monkeypatch.context() as m:
        m.setattr(SweepStore, "_drop_scratch", half)
        with pytest.raises(KeyboardInterrupt):
            run_sweep(spec, output=path)
    assert not _complete(path) and (path / SCRATCH).is_dir()
    seen: list[tuple[int, int]] = []
    ds = run_sweep(spec, output=path, progress=lambda k, n, s: seen.append((k, n)))
    assert seen == [(40, 40)]
    assert not (path / SCRATCH).exists()
    assert "dropping_scratch" not in zarr.open_group(str(path), mode="r").attrs
    assert _digests(path) == _digests(stores["summary"][0])
    xr.testing.assert_equal(ds, load(stores["summary"][0]))


@pytest.mark.slow
@pytest.mark.parametrize("keep", KEEP_TIERS)
def test_kill_9_mid_run_resumes_identically_in_each_tier(stores, tiny, tmp_path, keep):
    d = _tier(tiny, keep)
    spec = validate_spec(d)
    n_chunks = SweepPlan.of(spec).n_chunks
    path = tmp_path / "kill.zarr"
    proc = _spawn(d, path, pace=1.0)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        done = _chunks_done(path)
        if done is not None and done >= 2:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before the kill"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    landed = _chunks_done(path)
    assert landed is not None and 2 <= landed < n_chunks, landed
    assert not _complete(path)
    seen: list[tuple[int, int]] = []
    ds = run_sweep(spec, output=path, progress=lambda k, n, s: seen.append((k, n)))
    k, n = seen[0]  # resumed: the chunks finished before the kill are not solved again
    assert k * n_chunks == n * landed and seen[-1] == (n, n), seen
    assert ds is not None and ds.equals(stores[keep][1])
    assert _digests(path) == _digests(stores[keep][0])
    assert verify_store(path) == []


# ------------------------------------------------------------------------- lazy results
@pytest.mark.parametrize("keep", ["trajectories", "summary"])
def test_open_is_lazy_with_store_chunks_and_equals_load(stores, keep):
    path, ds = stores[keep]
    lazy = sweeps.open(path)
    for v in lazy.data_vars.values():
        assert v.chunks is not None, v.name  # dask-backed
    if keep == "trajectories":
        assert lazy["tumor_cells"].chunks == ((2,), (4,) * 5, (lazy.sizes["scan"],))
        assert lazy["best_response"].chunks == ((2,), (4,) * 5)
    xr.testing.assert_identical(lazy.compute(), ds)
    xr.testing.assert_identical(load(path, lazy=True).compute(), load(path))


def test_open_checks_completion_and_checksums(stores, tiny, tmp_path):
    spec = validate_spec(_tier(tiny, "readout"))
    path = tmp_path / "p.zarr"
    run_sweep(spec, output=path, max_chunks=2)
    with pytest.raises(ValueError, match="unfinished"):
        sweeps.open(path)
    assert sweeps.open(path, allow_partial=True)["best_response"].chunks is not None
    run_sweep(spec, output=path)
    _corrupt(path / "pfs_days" / "c" / "0" / "3", "garbage")
    with pytest.raises(ValueError, match="damaged"):
        sweeps.open(path)
    sweeps.open(path, verify=False)  # as it is


# ------------------------------------------------------------------------------ reports
@pytest.mark.parametrize("keep", KEEP_TIERS)
def test_report_draws_what_the_tier_keeps(stores, keep):
    path, _ = stores[keep]
    html = reports.render_report(sweeps.open(path))
    why = f"not kept in this store (keep = &#34;{keep}&#34;)"
    assert ("Trajectories: " + why in html) == (keep != "trajectories")
    assert ("Spider plot: " + why in html) == (keep in ("readout", "summary"))
    assert ("Waterfall: " + why in html) == (keep == "summary")
    assert 'id="summary-table"' in html  # the per-arm summary in every tier
    assert "20 virtual patients per arm" in html


def test_lower_tiers_give_the_summaries_calibration_and_warnings_of_the_full_store(tiny, tmp_path):
    """[survival], [[targets]] at a cut-off day and on a subgroup, grid-cell summaries: what a
    lower tier computes from its scratch group equals the full store's."""
    targets = [
        {"arm": "control", "name": "OS at 3 months", "kind": "os_at", "day": 90.0, "value": 0.6},
        {
            "arm": "pembrolizumab 200 mg q3w",
            "name": "ORR at day 84",
            "kind": "orr",
            "value": 0.3,
            "n": 50,
            "cutoff_day": 84.0,
            "subgroup": "T0 < median",
        },
    ]
    survival = {"scale_days": 150.0, "shape": 1.2, "beta": 1.0, "grid_days": 14.0}
    full = None
    for keep in ("trajectories", "readout", "summary"):
        d = tiny(survival=survival, targets=targets, chunk_size=6, store={"keep": keep})
        path = tmp_path / f"{keep}.zarr"
        ds = run_sweep(validate_spec(d), output=path)
        assert ds is not None and not (path / SCRATCH).exists()
        if full is None:
            full = ds
            continue
        assert "cell_orr" in ds and "median_os_days" in ds
        for v in ds.variables:
            np.testing.assert_array_equal(ds[v].values, full[v].values)
        for a in ("calibration", "warnings", "n_failed"):
            assert ds.attrs[a] == full.attrs[a], a

"""run_sweep returns a large store's results opened lazily, with the values of load."""

from __future__ import annotations

import xarray as xr

from tumorimmune.sweeps import _runner, load, run_sweep, validate_spec


def test_large_results_come_back_lazily_with_the_same_values(tiny, tmp_path, monkeypatch):
    spec = validate_spec(tiny(chunk_size=10))
    small = run_sweep(spec, output=tmp_path / "a.zarr")
    assert small is not None and small["best_response"].chunks is None  # in memory
    monkeypatch.setattr(_runner, "LAZY_RESULTS_PATIENT_ARMS", 0)
    big = run_sweep(spec, output=tmp_path / "b.zarr")
    assert big is not None and big["best_response"].chunks is not None  # dask, on disk
    assert big["best_response"].data.chunks[-1][0] == 10  # the store's chunks
    xr.testing.assert_identical(big.load(), load(tmp_path / "b.zarr"))
    xr.testing.assert_identical(big.load().drop_attrs(), small.drop_attrs())

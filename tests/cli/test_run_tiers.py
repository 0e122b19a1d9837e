"""``tumorimmune run`` and ``tumorimmune report`` in every ``[store] keep`` tier: the store
holds its tier, the report renders and names what the store does not keep, the report's
checksum check works in every tier."""

from __future__ import annotations

import os

import pytest
import zarr
from typer.testing import CliRunner

from tumorimmune.cli import app
from tumorimmune.sweeps import KEEP_TIERS, load

from .test_run import SPEC

runner = CliRunner()


@pytest.mark.parametrize("keep", KEEP_TIERS)
def test_run_and_report_in_each_tier(tmp_path, keep):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC + f'\n[store]\nkeep = "{keep}"\n')
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(spec_path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "store: keep" not in res.output  # chosen, not defaulted: no notice
    store = out / "results.zarr"
    assert zarr.open_group(str(store), mode="r").attrs["keep"] == keep
    ds = load(store)
    assert ("patient" in ds.sizes) == (keep != "summary")
    assert ("pct_change" in ds) == (keep in ("scans", "trajectories"))
    assert ("traj_T" in ds) == (keep == "trajectories")
    html = (out / "report.html").read_text()
    assert "Response per arm" in html and "12 virtual patients per arm" in html
    why = f"not kept in this store (keep = &#34;{keep}&#34;)"
    assert (why in html) == (keep != "trajectories")
    # the report of the store on its own, checksums verified
    res = runner.invoke(app, ["report", str(store), "-o", str(tmp_path / "again.html")])
    assert res.exit_code == 0, res.output
    if keep != "summary":  # a damaged kept chunk is refused
        f = store / "best_response" / "c" / "0" / "1"
        f.write_bytes(os.urandom(f.stat().st_size))
        res = runner.invoke(app, ["report", str(store), "-o", str(tmp_path / "bad.html")])
        assert res.exit_code == 2 and "damaged" in res.output, res.output

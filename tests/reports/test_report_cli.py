"""Tests of ``tumorimmune report`` (tumorimmune/cli/_report.py); here to share the fixtures."""

from __future__ import annotations

import pytest
import zarr
from typer.testing import CliRunner

from tumorimmune.cli import app
from tumorimmune.sweeps._store import STATUS_KEY


def _store(ds, path):
    ds.to_zarr(path, consolidated=False)
    zarr.open_group(str(path), mode="r+").attrs[STATUS_KEY] = "complete"
    return path


@pytest.mark.filterwarnings("ignore:The data type .* does not have a Zarr V3 specification")
def test_report_command_writes_html(results, tmp_path):
    store = _store(results, tmp_path / "results.zarr")
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(store)])
    assert res.exit_code == 0, res.output
    default = tmp_path / "report.html"
    assert default.is_file() and f"report: {default}" in res.output
    html = default.read_text("utf-8")
    assert '<table class="data" id="summary-table">' in html
    assert '<table class="data" id="metadata-table">' in html
    for fig in ("fig-response-map", "fig-waterfall", "fig-pfs"):
        assert f'<div id="{fig}"' in html
    out = tmp_path / "elsewhere" / "r.html"
    res = runner.invoke(app, ["report", str(store), "-o", str(out), "--title", "Trial A"])
    assert res.exit_code == 0, res.output
    assert "<title>Trial A</title>" in out.read_text("utf-8")


def test_report_command_missing_store(tmp_path):
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nope.zarr")])
    assert res.exit_code == 2
    assert "no sweep store" in res.output


@pytest.mark.filterwarnings("ignore:The data type .* does not have a Zarr V3 specification")
def test_report_out_directory_and_unwritable(results, tmp_path):
    store = _store(results, tmp_path / "results.zarr")
    target = tmp_path / "reports"
    target.mkdir()
    res = CliRunner().invoke(app, ["report", str(store), "-o", str(target)])
    assert res.exit_code == 0, res.output
    assert (target / "report.html").is_file()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = CliRunner().invoke(app, ["report", str(store), "-o", str(blocker / "r.html")])
    assert res.exit_code == 2 and res.output.startswith("error: ")
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output

"""Tests of tumorimmune.reports._tables (summary and metadata tables)."""
# plotly ships no type information and pyright infers its figure properties (`fig.data`,
# `fig.layout`) from the implementation, wrongly; the attribute reads below are plotly's API.
# pyright: reportAttributeAccessIssue=false

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from tumorimmune.reports import (
    median_pfs_note,
    metadata_rows,
    render_report,
    run_metadata,
    summary_rows,
    summary_table,
)


def test_summary_table_rows_match_dataset(results):
    fig = summary_table(results)
    assert len(fig.data) == 1 and isinstance(fig.data[0], go.Table)  # pyright: ignore[reportArgumentType]  (plotly: untyped)
    assert [list(r) for r in zip(*fig.data[0].cells.values, strict=True)] == summary_rows(results)
    cols = fig.data[0].cells.values
    arms = [str(a) for a in results["arm"].values]
    assert list(cols[0]) == arms
    assert [int(v.replace(",", "")) for v in cols[1]] == [int(v) for v in results["n"].values]
    for i in range(len(arms)):
        orr, lo, hi = (float(results[k].values[i]) for k in ("orr", "orr_lo", "orr_hi"))
        assert cols[2][i] == f"{100 * orr:.1f} ({100 * lo:.1f}–{100 * hi:.1f})"
        for j, key in enumerate(("n_cr", "n_pr", "n_sd", "n_pd", "n_failed"), start=5):
            assert int(cols[j][i]) == int(results[key].values[i])
    # the synthetic cohort has one failed solve, in the treated arm
    assert list(cols[9]) == ["0", "1"]


def test_summary_table_median_not_reached(results):
    ds = results.copy()
    ds["median_pfs_days"] = ds["median_pfs_days"].copy(data=np.array([np.nan, 84.0]))
    ds["median_pfs_days_lo"] = ds["median_pfs_days_lo"].copy(data=np.array([np.nan, 42.0]))
    ds["median_pfs_days_hi"] = ds["median_pfs_days_hi"].copy(data=np.array([np.nan, np.nan]))
    cols = summary_table(ds).data[0].cells.values
    assert cols[4][0] == "not reached"
    assert cols[4][1] == "84 (42–NR)"


def _with_median_pfs(ds, med, lo, hi):
    out = ds.copy()
    for suffix, values in (("", med), ("_lo", lo), ("_hi", hi)):
        name = f"median_pfs_days{suffix}"
        out[name] = out[name].copy(data=np.array(values, dtype=float))
    return out


def test_zero_width_median_pfs_is_marked_and_explained(results):
    # issue #24: "126 (126–126)" read as a median known to the day; PFS is read at scans
    # (every 42 days here), so a zero-width interval gets a mark and the scan window
    days = results["scan_day"].values
    assert np.allclose(np.diff(days), 42.0) and 126.0 in days
    ds = _with_median_pfs(results, [126.0, 168.0], [126.0, 126.0], [126.0, 210.0])
    pfs = [r[4] for r in summary_rows(ds)]
    assert pfs == ["126 (126–126) *", "168 (126–210)"]
    note = median_pfs_note(ds)
    assert note.startswith("* Median PFS is resolved to the scan grid")
    assert "(every 42 days)" in note and "126 (126–126)" in note
    assert "(control: days 84–126)." in note  # only the marked arm, with its scan window
    assert "pembrolizumab" not in note
    html = render_report(ds)
    assert '<p class="note" id="pfs-scan-note">* Median PFS is resolved' in html
    assert '126 <span class="ci">(126–126)</span> *</td>' in html  # interval kept on a line
    # the first scan: the window starts at baseline; a median off the grid is not marked
    first = _with_median_pfs(results, [42.0, 100.0], [42.0, 100.0], [42.0, 100.0])
    assert [r[4] for r in summary_rows(first)] == ["42 (42–42) *", "100 (100–100)"]
    assert "(control: days 0–42)." in median_pfs_note(first)
    # intervals of some width: no mark, no note
    wide = _with_median_pfs(results, [126.0, np.nan], [84.0, np.nan], [168.0, np.nan])
    assert [r[4] for r in summary_rows(wide)] == ["126 (84–168)", "not reached"]
    assert median_pfs_note(wide) == ""
    assert 'id="pfs-scan-note"' not in render_report(wide)


def test_summary_table_missing_variable_is_named(results):
    with pytest.raises(ValueError, match="'dcr_hi'"):
        summary_table(results.drop_vars("dcr_hi"))


def test_run_metadata_lists_attributes(results):
    fig = run_metadata(results)
    keys, values = fig.data[0].cells.values
    table = {k.replace("<b>", "").replace("</b>", ""): v for k, v in zip(keys, values, strict=True)}
    assert table["Model"] == "TumorImmunePD1"
    assert table["Precision"] == "float64"
    assert table["Wall time (s)"] == "12.50"
    versions = json.loads(results.attrs["versions"])
    for pkg, ver in versions.items():
        assert table[f"Version of {pkg}"] == ver
    assert "[axes.eps_n]" in table["Spec (TOML)"]
    assert table["Failed solves"] == "1"  # other short attributes are listed too
    assert table["Sweep"] == "synthetic"
    no_spec = run_metadata(results, include_spec=False).data[0].cells.values[0]
    assert not any("Spec" in k for k in no_spec)


def test_run_metadata_formats_numbers(results):
    # the runner stores raw floats and ints; the report must not print float noise
    ds = results.assign_attrs(
        solve_time_s=31.540923319999933,
        solves_per_s=634.1234567,
        n_patients=10000,
        cells_per_cm3=1e9,
        chunk_size=2500.0,
        compile_fraction=0.123456789,
    )
    table = dict(metadata_rows(ds))
    assert table["Solve time (s)"] == "31.54"
    assert table["Throughput (solves/s)"] == "634"
    assert table["Patients"] == "10,000"
    assert table["Tumor cells per cm³"] == "1e+09"
    assert table["Chunk size (patients)"] == "2,500"
    assert table["Compile fraction"] == "0.1235"
    assert not any("31.5409" in v for v in table.values())

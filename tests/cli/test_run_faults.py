"""``tumorimmune run``: progress phases from the first chunk on, and the rerun after a run
that was killed while writing its report."""

from __future__ import annotations

from typer.testing import CliRunner

from tumorimmune.cli import app
from tumorimmune.sweeps import run_sweep, validate_spec

SPEC = """
name = "cli-faults"
model = "TumorImmunePD1"
follow_up_days = 84
chunk_size = 4
precision = "float64"
backend = "fused"
n_trajectories = 0

[parameters]
b = 2e-11
g = 2.019e9
m = 3.422e-12

[initial]
T0 = 1.5e10

[variability.L]
dist = "uniform"
low = 0.0
high = 1.0

[sampling]
cohort_size = 8
seed = 2

[[arms]]
name = "control"

[[arms]]
name = "pembro"
regimen = "pembrolizumab_200mg_q3w"
"""

runner = CliRunner()


def test_progress_reports_compiling_then_every_chunk(tmp_path):
    """ "compiling" before the first batch (all arms of both chunks, solved together), then one
    update per chunk as it is written; "solving" once the compiled batch is done."""
    import tomllib

    spec = validate_spec(tomllib.loads(SPEC))
    events: list[tuple] = []
    run_sweep(
        spec,
        output=tmp_path / "r.zarr",
        progress=lambda d, n, s: events.append(("progress", d)),
        phase=lambda name: events.append(("phase", name)),
    )
    assert events[0] == ("progress", 0)
    assert events[1] == ("phase", "compiling")  # before the first chunk is solved
    done = [d for kind, d in events if kind == "progress"]
    assert done == [0, 4, 8]  # 2 chunks of 4 patients: after each chunk is written
    phases = [p for kind, p in events if kind == "phase"]
    assert phases == ["compiling", "solving", "finalizing"]
    assert events.index(("phase", "finalizing")) > events.index(("progress", 8))


def test_rerun_after_a_killed_report_says_how_to_write_it(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(spec_path), "--out", str(out), "--no-report"])
    assert res.exit_code == 0, res.output
    html = out / "report.html"
    html.write_text("<!DOCTYPE html><html><head><script>var data = [1, 2,")  # cut off
    res = runner.invoke(app, ["run", str(spec_path), "--out", str(out)])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "tumorimmune report" in text and "report.html" in text
    assert "Traceback" not in res.output
    html.unlink()  # no report at all: the same hint
    res = runner.invoke(app, ["run", str(spec_path), "--out", str(out)])
    assert res.exit_code == 2 and "tumorimmune report" in " ".join(res.output.split())
    # with --no-report the usual message
    res = runner.invoke(app, ["run", str(spec_path), "--out", str(out), "--no-report"])
    assert res.exit_code == 2 and "--overwrite" in res.output

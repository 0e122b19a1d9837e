"""``tumorimmune run`` / ``report``: progress phases and the progress unit (patient × arm
solves), Ctrl-C and the resume, the rerun after a run that was killed while writing its
report, the checksum check of ``report``, the cache warning, the overwrite wording and the
spec stored with the results (issue #24). CLI checks run ``tumorimmune`` in a subprocess, in
a temporary working directory, as a user does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
import zarr
from typer.testing import CliRunner

from tumorimmune.cli import app
from tumorimmune.sweeps import load, run_sweep, validate_spec

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


def test_progress_reports_compiling_then_every_chunk_and_arm(tmp_path):
    """ "compiling" before the first batch (all arms of both chunks, solved together), then one
    update per chunk × arm solved, counted in patient × arm solves (before: one update per
    chunk written, counting patients: 2 chunks × 2 arms showed 0, 4, 8 of 8); "solving" once
    the compiled batch is done."""
    import tomllib

    spec = validate_spec(tomllib.loads(SPEC))
    events: list[tuple] = []
    totals: set[int] = set()

    def progress(done: int, total: int, seconds: float) -> None:
        events.append(("progress", done))
        totals.add(total)

    run_sweep(
        spec,
        output=tmp_path / "r.zarr",
        progress=progress,
        phase=lambda name: events.append(("phase", name)),
    )
    assert events[0] == ("progress", 0)
    assert events[1] == ("phase", "compiling")  # before the first chunk is solved
    done = [d for kind, d in events if kind == "progress"]
    # 2 chunks of 4 patients × 2 arms: one call per (chunk, arm), 4 solves each
    assert done == [0, 4, 8, 12, 16]
    assert totals == {16}  # patients × arms
    phases = [p for kind, p in events if kind == "phase"]
    assert phases == ["compiling", "solving", "finalizing"]
    assert events.index(("phase", "finalizing")) > events.index(("progress", 16))


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


def _cli(*args: str, cwd, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tumorimmune", *args],
        cwd=cwd,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _text(n: int) -> str:
    """``SPEC`` with a cohort of ``n`` patients (chunks of 4)."""
    return SPEC.replace("cohort_size = 8", f"cohort_size = {n}")


def _write_spec(tmp_path, n: int = 8) -> str:
    (tmp_path / "spec.toml").write_text(_text(n))
    return "spec.toml"


def _spec(n: int = 8):
    import tomllib

    return validate_spec(tomllib.loads(_text(n)))


def test_bar_counts_patient_arm_solves_and_report_status_is_shown(tmp_path):
    """Before: the bar counted patients ("8/8 patients") and nothing was shown while the
    report was written."""
    spec = _write_spec(tmp_path)
    res = _cli("run", spec, "--out", "out", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    bar = next(line for line in lines if "patient×arm solves" in line)
    assert "16/16" in bar  # 8 patients × 2 arms
    i = lines.index("writing report…")
    assert lines[i + 1] == "report: out/report.html"
    assert (tmp_path / "out" / "report.html").stat().st_size > 0


def _chunks_done(path) -> int:
    try:
        return int(np.sum(zarr.open_group(str(path), mode="r")["chunk_done"][:]))  # type: ignore[index]
    except Exception:
        return 0


#: The command line with one chunk per batch (each chunk committed on its own), so that the
#: interrupt lands between chunks; otherwise the ``tumorimmune`` a user runs.
_ONE_CHUNK_PER_BATCH = (
    "import sys\n"
    "from tumorimmune.sweeps import Engine\n"
    "Engine.chunks_per_batch = lambda self: 1\n"
    "from tumorimmune.cli import app\n"
    "app(sys.argv[1:], prog_name='tumorimmune')\n"
)


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume_and_the_rerun_says_it_resumed(tmp_path):
    """Before: Ctrl-C exited 130 with no hint, and the rerun did not say that it resumed."""
    n, n_chunks = 60, 15
    spec = _write_spec(tmp_path, n)
    store = tmp_path / "out" / "results.zarr"
    cmd = [sys.executable, "-c", _ONE_CHUNK_PER_BATCH, "run", spec, "--out", "out", "--no-report"]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while _chunks_done(store) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    saved = _chunks_done(store)
    print(f"interrupted after {saved} of {n_chunks} chunks")
    assert 2 <= saved < n_chunks, f"the interrupt landed at {saved} of {n_chunks} chunks"
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == (
        f"interrupted: {saved} of {n_chunks} chunks finished and saved in out/results.zarr; "
        "rerun the same command to resume"
    )
    assert "Traceback" not in err
    res = _cli("run", spec, "--out", "out", "--no-report", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    resumed = f"resuming out/results.zarr: {saved} of {n_chunks} chunks already finished"
    assert resumed in lines
    bar = next(i for i, line in enumerate(lines) if "patient×arm solves" in line)
    assert lines.index(resumed) < bar
    reference = run_sweep(_spec(n), output=tmp_path / "reference.zarr")
    assert reference is not None
    xr.testing.assert_equal(load(store), reference)  # as if never interrupted


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished store (3 chunks of 4 patients, 2 arms) and a pristine copy of it."""
    path = tmp_path_factory.mktemp("store") / "results.zarr"
    assert run_sweep(_spec(12), output=path) is not None
    return path


def _copy(store, tmp_path):
    import shutil

    dst = tmp_path / "results.zarr"
    shutil.copytree(store, dst)
    return dst


def test_report_refuses_a_hand_edited_store(finished, tmp_path):
    """Before: the report was rebuilt from edited best responses without a word."""
    store = _copy(finished, tmp_path)
    g = zarr.open_group(str(store), mode="r+")
    best = g["best_response"]
    assert isinstance(best, zarr.Array)
    edited = np.asarray(best[:, 4:8])
    best[:, 4:8] = np.where(edited == 3, 0, 3)  # chunk 1: PD <-> CR
    res = _cli("report", "results.zarr", cwd=tmp_path)
    assert res.returncode == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert "chunk 1 " in err and "values changed after the run" in err
    assert "tumorimmune run SPEC --overwrite" in err and "--no-verify" in err
    assert "overwrite=True" not in err and "verify=False" not in err
    assert not (tmp_path / "report.html").exists()
    forced = _cli("report", "results.zarr", "--no-verify", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "report.html").stat().st_size > 0


def test_report_names_the_truncated_variable(finished, tmp_path):
    store = _copy(finished, tmp_path)
    f = store / "pct_change" / "c" / "0" / "2" / "0"  # (arm, patient, scan): chunk 2
    assert f.is_file()
    f.write_bytes(f.read_bytes()[: max(f.stat().st_size // 3, 1)])
    res = _cli("report", "results.zarr", cwd=tmp_path)
    assert res.returncode == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1
    assert "chunk 2 " in err and "unreadable: pct_change" in err
    forced = _cli("report", "results.zarr", "--no-verify", cwd=tmp_path)  # cannot be read
    assert forced.returncode == 2 and "Traceback" not in forced.stderr
    assert forced.stderr.startswith("error: results.zarr: cannot read the store")


def test_library_load_lazy_verifies_unless_told_not_to(finished, tmp_path):
    store = _copy(finished, tmp_path)
    g = zarr.open_group(str(store), mode="r+")
    a = g["pfs_days"]
    assert isinstance(a, zarr.Array)
    a[0, 0] = float(np.asarray(a[0, 0])) + 1.0
    with pytest.raises(ValueError, match=r"chunk 0 .*overwrite=True.*verify=False"):
        load(store, lazy=True)
    assert float(load(store, lazy=True, verify=False)["pfs_days"].values[0, 0]) == float(
        np.asarray(a[0, 0])
    )


def test_overwrite_refusal_speaks_the_callers_language(finished, tmp_path):
    """Before: "pass overwrite=True (--overwrite)" from both the library and the CLI."""
    store = _copy(finished, tmp_path)
    with pytest.raises(FileExistsError) as info:
        run_sweep(_spec(12), output=store)
    assert "overwrite=True" in str(info.value) and "--overwrite" not in str(info.value)
    spec = _write_spec(tmp_path, 12)
    res = _cli("run", spec, "--out", ".", "--no-report", cwd=tmp_path)
    assert res.returncode == 2
    assert "--overwrite" in res.stderr and "overwrite=True" not in res.stderr


def test_unusable_cache_is_one_warning_line_and_stored_spec_names_the_store(tmp_path):
    """Before: Python's warning format (file:line, then the source line ``warnings.warn(``),
    and the stored spec named the spec's ``output``, not the store written with --out."""
    spec = _write_spec(tmp_path)
    (tmp_path / "file").write_text("not a directory")
    env = dict(os.environ, TUMORIMMUNE_COMPILE_CACHE=str(tmp_path / "file" / "cache"))
    res = _cli("run", spec, "--out", "elsewhere", "--no-report", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    warned = [line for line in res.stderr.splitlines() if "compilation cache" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: compilation cache off: ")
    assert "warnings.warn" not in res.stderr and "UserWarning" not in res.stderr
    import tomllib

    stored = tomllib.loads(load(tmp_path / "elsewhere" / "results.zarr").attrs["spec"])
    assert stored["output"] == "elsewhere/results.zarr"


_MODULES_AFTER = (
    "import json, sys\n"
    "from tumorimmune.cli import app\n"
    "try:\n"
    "    app(sys.argv[1:], prog_name='tumorimmune')\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {mods!r})))\n"
)


@pytest.mark.parametrize("args", [["validate", "bad.toml"], ["run", "bad.toml"]])
def test_a_toml_syntax_error_is_reported_without_importing_jax(tmp_path, args):
    """Before: a TOML syntax error imported JAX, diffrax, xarray and zarr first (4-6 s)."""
    (tmp_path / "bad.toml").write_text('name = "x"\nmodel = [\n')
    # (pydantic is typer's: it converts the command's parameters)
    heavy = ["jax", "diffrax", "equinox", "xarray", "zarr", "plotly", "scipy"]
    code = _MODULES_AFTER.format(mods=set(heavy))
    res = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True
    )
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: bad.toml: invalid TOML: ")
    assert json.loads(res.stdout.splitlines()[-1]) == []

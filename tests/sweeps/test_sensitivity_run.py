"""Sensitivity runs through the sweep engine and store: design → patients, indices in the store,
resume after kill -9, completion of a run killed before its indices, the CLI."""

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
from scipy import stats
from typer.testing import CliRunner

from tumorimmune.cli import app
from tumorimmune.sensitivity import indices, run_sensitivity, sample, sensitivity
from tumorimmune.sweeps import load, run_sweep, validate_spec

PARAMS = ["a", "L", "eta_CL"]


def _sens_spec(tiny) -> dict:
    d = tiny(
        axes={},
        chunk_size=16,
        n_trajectories=2,
        sensitivity={"method": "sobol", "parameters": PARAMS, "n": 16, "n_bootstrap": 50},
    )
    d["arms"] = d["arms"][:2]  # control, pembrolizumab
    return d


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny):
    d = _sens_spec(tiny)
    path = tmp_path_factory.mktemp("sens") / "results.zarr"
    ds = run_sensitivity(validate_spec(d), output=path)
    assert ds is not None
    return d, path, ds


def test_patients_are_the_design_points(finished):
    _, _, ds = finished
    assert ds.sizes["patient"] == 16 * (3 + 2)
    u = sample("sobol", 3, 16, seed=0)
    sigma = np.sqrt(np.log1p(0.3**2))
    a_ref = stats.lognorm(s=sigma, scale=0.18).ppf(u[:, 0])  # median: the model's a = 0.18
    np.testing.assert_allclose(ds["param_a"].values, a_ref, rtol=1e-10)
    np.testing.assert_allclose(ds["param_L"].values, u[:, 1], rtol=1e-12)
    np.testing.assert_allclose(ds["param_eta_CL"].values, stats.norm.ppf(u[:, 2]), rtol=1e-10)
    # varying columns outside the analysis sit at their median
    np.testing.assert_allclose(ds["param_T0"].values, 1.5e10)
    np.testing.assert_allclose(ds["param_eta_V1"].values, 0.0, atol=1e-12)
    w = stats.truncnorm((40 - 76.8) / 15, (150 - 76.8) / 15, loc=76.8, scale=15).median()
    np.testing.assert_allclose(ds["param_weight"].values, w, rtol=1e-9)


def test_indices_in_the_store(finished):
    _, _, ds = finished
    idx = indices(ds)
    assert idx["ST"].dims == ("arm", "output", "param")
    assert list(idx["param"].values) == PARAMS
    assert list(idx["output"].values) == [
        "best_pct_change",
        "response",
        "pfs_landmark",
        "final_tumor",
    ]
    assert idx["ST_conv"].dims == ("arm", "output", "n", "param")
    assert idx.attrs["method"] == "sobol" and idx.attrs["confidence"] == 0.95
    # neither PD-L1 expression nor the PK random effect enters the untreated arm's model:
    # their indices' CIs contain 0 for every output that varies
    ctl = idx.sel(arm="control", output="final_tumor")
    for p in ("L", "eta_CL"):
        for k in ("S1", "ST"):
            assert float(ctl[f"{k}_lo"].sel(param=p)) <= 0 <= float(ctl[f"{k}_hi"].sel(param=p))
    assert float(ctl["ST_lo"].sel(param="a")) > 0  # growth rate decides the untreated arm
    # treated: PD-L1 expression matters
    trt = idx.sel(arm="pembrolizumab 200 mg q3w", output="final_tumor")
    assert float(trt["ST_lo"].sel(param="L")) > 0


def test_indices_agree_with_salib_on_the_stored_outputs(finished):
    from SALib.analyze import sobol

    _, _, ds = finished
    problem = {"num_vars": 3, "names": PARAMS, "bounds": [[0, 1]] * 3}
    y = np.log10(1 + ds["tumor_cells"].values[1, :, -1])
    ref = sobol.analyze(problem, y, calc_second_order=False, num_resamples=50, seed=1)
    idx = indices(ds).sel(arm="pembrolizumab 200 mg q3w", output="final_tumor")
    np.testing.assert_allclose(idx["S1"].values, ref["S1"], rtol=1e-9)
    np.testing.assert_allclose(idx["ST"].values, ref["ST"], rtol=1e-9)
    np.testing.assert_allclose(idx["ST_hi"].values - idx["ST"].values, ref["ST_conf"], rtol=1e-9)


def test_run_killed_before_its_indices_is_completed(finished, tmp_path):
    d, _, ds = finished
    spec = validate_spec(d)
    path = tmp_path / "p.zarr"
    run_sweep(spec, output=path)  # every chunk done and the store complete, no indices yet
    assert not any(str(k).startswith("sens_") for k in load(path).data_vars)
    calls: list[int] = []
    idx = sensitivity(spec, output=path, progress=lambda k, n, s: calls.append(k))
    assert calls == []  # nothing re-solved
    xr.testing.assert_equal(idx, indices(ds))
    with pytest.raises(FileExistsError, match="overwrite"):
        run_sensitivity(spec, output=path)


def test_spec_without_sensitivity_section_is_an_error(tiny, tmp_path):
    with pytest.raises(ValueError, match=r"no \[sensitivity\] section"):
        run_sensitivity(validate_spec(tiny()), output=tmp_path / "x.zarr")
    assert not (tmp_path / "x.zarr").exists()


_KILL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from tumorimmune.sensitivity import run_sensitivity
    from tumorimmune.sweeps import Engine, validate_spec
    # one chunk per batch (each committed on its own), so that the kill lands between commits
    Engine.chunks_per_batch = lambda self: 1
    run_sensitivity(validate_spec(json.loads(sys.argv[1])), output=sys.argv[2])
    """
)


def _chunks_done(path) -> int:
    try:
        return int(np.sum(zarr.open_group(str(path), mode="r")["chunk_done"][:]))  # type: ignore[index]
    except Exception:
        return 0


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_equals_uninterrupted(finished, tmp_path):
    d, _, reference = finished
    spec = validate_spec(d)
    n_chunks = 5
    path = tmp_path / "killed.zarr"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    cmd = [sys.executable, "-c", _KILL_SCRIPT, json.dumps(d), str(path)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while _chunks_done(path) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _chunks_done(path)
    assert 2 <= killed_at < n_chunks, f"kill landed at {killed_at} of {n_chunks} chunks"
    with pytest.raises(ValueError, match="unfinished"):
        load(path)
    seen: list[int] = []
    resumed = run_sensitivity(spec, output=path, progress=lambda k, n, s: seen.append(k))
    # continued from the finished chunks (counted in patient × arm solves)
    assert seen[0] == 16 * len(spec.arms) * killed_at
    assert resumed is not None
    drop = ["chunk_seconds"]
    xr.testing.assert_equal(resumed.drop_vars(drop, errors="ignore"), reference)
    xr.testing.assert_equal(indices(load(path)), indices(reference))


def test_cli_run_prints_the_dominant_parameters_and_reports(finished, tmp_path):
    d, _, _ = finished
    spec = validate_spec(d)
    toml = tmp_path / "sens.toml"
    toml.write_text(spec.to_toml())
    res = CliRunner().invoke(app, ["validate", str(toml)])
    assert res.exit_code == 0 and "sensitivity: sobol of a, L, eta_CL" in res.output
    res = CliRunner().invoke(app, ["run", str(toml), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "control: best % change is driven mostly by a" in res.output
    html = (tmp_path / "o" / "report.html").read_text("utf-8")
    assert '<section id="sensitivity">' in html and 'id="sensitivity-convergence"' in html


@pytest.mark.slow
def test_example_spec_runs_small(tmp_path):
    """examples/pd1_sensitivity.toml through `tumorimmune run`, with n overridden to 8."""
    import tomllib
    from pathlib import Path

    from tumorimmune.sweeps import load_spec

    root = Path(__file__).resolve().parents[2]
    d = load_spec(root / "examples" / "pd1_sensitivity.toml").model_dump(
        mode="json", exclude_none=True
    )
    d["sensitivity"].update(n=8, n_bootstrap=20)
    d.update(chunk_size=64, n_trajectories=2)
    spec = validate_spec(d)
    toml = tmp_path / "small.toml"
    toml.write_text(spec.to_toml())
    assert validate_spec(tomllib.loads(toml.read_text())) == spec
    res = CliRunner().invoke(app, ["run", str(toml), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    idx = indices(load(tmp_path / "o" / "results.zarr"))
    assert idx.sizes["param"] == 6 and idx.sizes["arm"] == 3
    # the untreated arm has no drug: L, weight and the PK etas do not enter the model, their
    # indices' CIs contain 0
    zero = [("untreated", p) for p in ("L", "weight", "eta_CL", "eta_V1")]
    for arm, p in zero:
        sel = idx.sel(arm=arm, output="best_pct_change", param=p)
        for k in ("S1", "ST"):
            assert float(sel[f"{k}_lo"]) <= 0.0 <= float(sel[f"{k}_hi"]), (arm, p, k)
    html = (tmp_path / "o" / "report.html").read_text("utf-8")
    assert '<section id="sensitivity">' in html

"""Bring your own model: a Model defined in this file runs through ``tumorimmune run``.

The sweep spec names it by import path (``model = "test_user_model:LogisticKill"``); the
published models run through the same path (tiny specs, control arm, report).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, ArrayLike, Float
from typer.testing import CliRunner

from tumorimmune.cli import app
from tumorimmune.model import Model, parameter
from tumorimmune.sweeps import load

runner = CliRunner()


class LogisticKill(Model):
    """dT/dt = r·T·(1 − T/K) − k·E·T with constant effectors E (dE/dt = 0)."""

    r: Float[ArrayLike, "*N"] = parameter(0.05, unit="1/day", description="growth rate")
    K: Float[ArrayLike, "*N"] = parameter(
        1e11, unit="cells", bounds=(1.0, math.inf), description="carrying capacity"
    )
    k: Float[ArrayLike, "*N"] = parameter(1e-7, unit="1/(cell·day)", description="kill rate")

    state_names: ClassVar[tuple[str, ...]] = ("E", "T")
    state_units: ClassVar[dict[str, str]] = {"E": "cells", "T": "cells"}

    def carrying_capacity(self):
        return np.asarray(self.K, dtype=float)

    def vector_field(self, t, y: Float[Array, " 2"], args=None) -> Float[Array, " 2"]:
        E, T = y[0], y[1]
        return jnp.stack([jnp.zeros_like(E), self.r * T * (1.0 - T / self.K) - self.k * E * T])


def _spec(model: str, **extra: str) -> str:
    lines = [
        'name = "byo"',
        f'model = "{model}"',
        "follow_up_days = 84",
        "scan_interval_days = 42",
        "chunk_size = 8",
        'precision = "float64"',
        'backend = "diffrax"',
        "n_trajectories = 2",
        "trajectory_step_days = 7.0",
        *[f"{k} = {v}" for k, v in extra.items()],
    ]
    return "\n".join(lines) + "\n"


def _run(tmp_path: Path, text: str):
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(spec), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.html").stat().st_size > 10_000
    return load(out / "results.zarr")


def test_user_model_in_a_test_file_runs_through_tumorimmune_run(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    text = _spec("test_user_model:LogisticKill") + (
        "[initial]\nE0 = 2e5\nT0 = 1e9\n"
        '[variability.r]\ndist = "uniform"\nlow = 0.01\nhigh = 0.1\n'
        "[sampling]\ncohort_size = 6\nseed = 1\n"
        '[[arms]]\nname = "control"\n'
    )
    ds = _run(tmp_path, text)
    assert ds.attrs["model"] == "LogisticKill"
    # closed form of the logistic equation with constant kill: net rate ρ = r − k·E0,
    # T(t) = K'·T0/(T0 + (K' − T0)·exp(−ρt)), K' = K·ρ/r
    r = ds["param_r"].values
    rho = r - 1e-7 * 2e5
    Kp = 1e11 * rho / r
    days = ds["scan_day"].values
    exact = Kp[:, None] * 1e9 / (1e9 + (Kp[:, None] - 1e9) * np.exp(-rho[:, None] * days))
    np.testing.assert_allclose(ds["tumor_cells"].values[0], exact, rtol=1e-6)
    np.testing.assert_allclose(ds["traj_E"].values, 2e5)  # effectors constant


def test_bad_model_paths_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    tail = '[[arms]]\nname = "control"\n'
    for model, msg in (
        ("no_such_module_xyz:Model", "cannot import module 'no_such_module_xyz'"),
        ("test_user_model:Nope", "has no attribute 'Nope'"),
        ("test_user_model:runner", "is not a tumorimmune Model subclass"),
        ("NoSuchModel", "unknown model 'NoSuchModel'"),
    ):
        spec = tmp_path / "bad.toml"
        spec.write_text(_spec(model) + tail)
        res = runner.invoke(app, ["validate", str(spec)])
        assert res.exit_code == 2, res.output
        assert msg in res.output.replace("\n", " "), res.output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "initial", "param"),
    [
        ("DePillis2005", "T0 = 1e7\nE0 = 1e3", ("a", 0.3, 0.5)),
        ("Nikolopoulou2018", "T0 = 3e8\nE0 = 6e6", ("lambda_C", 0.3, 0.6)),
        ("ClaretTGI", "T0 = 5e10", ("KD", 0.005, 0.05)),
    ],
)
def test_published_models_run_in_a_sweep_and_report(tmp_path, model, initial, param):
    name, lo, hi = param
    text = _spec(model) + (
        f"[initial]\n{initial}\n"
        f'[variability.{name}]\ndist = "uniform"\nlow = {lo}\nhigh = {hi}\n'
        "[sampling]\ncohort_size = 6\nseed = 2\n"
        '[[arms]]\nname = "control"\n'
    )
    ds = _run(tmp_path, text)
    assert ds.attrs["model"] == model
    assert np.all(ds["status"].values == 0)
    assert np.all(np.isfinite(ds["tumor_cells"].values))
    # the baseline scan holds T0 (cells), whatever the model's tumor unit
    T0 = float(initial.split("\n")[0].split("=")[1])
    np.testing.assert_allclose(ds["tumor_cells"].values[..., 0], T0, rtol=1e-9)

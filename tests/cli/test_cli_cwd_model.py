"""A user model in the directory the command runs from is found by name, as docs/models.md
says, when ``tumorimmune`` runs as a shell would run it (the console script, no PYTHONPATH)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MODEL = '''
from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import ArrayLike, Float
from tumorimmune.model import Model, parameter


class Grow(Model):
    """dT/dt = r T, dE/dt = 0."""

    r: Float[ArrayLike, "*N"] = parameter(0.01, unit="1/day", description="growth rate")
    state_names: ClassVar[tuple[str, ...]] = ("E", "T")
    tumor_state: ClassVar[str | None] = "T"
    effector_state: ClassVar[str | None] = "E"

    def vector_field(self, t, y, args):
        return jnp.stack([0.0 * y[0], self.r * y[1]])
'''

SPEC = """
name = "byo"
model = "my_models:Grow"
follow_up_days = 84.0
[sampling]
cohort_size = 4
[[arms]]
name = "untreated"
"""


def _console_script() -> str:
    found = Path(sys.executable).with_name("tumorimmune")
    if found.exists():
        return str(found)
    which = shutil.which("tumorimmune")
    if which is None:
        pytest.skip("the tumorimmune console script is not installed")
    return which


def test_a_model_in_the_working_directory_is_found_without_pythonpath(tmp_path):
    (tmp_path / "my_models.py").write_text(MODEL)
    (tmp_path / "byo.toml").write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run(
        [_console_script(), "validate", "byo.toml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "my_models:Grow" in res.stdout and "4 patients" in res.stdout

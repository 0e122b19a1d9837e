"""``tumorimmune simulate --model NAME`` runs every packaged model (it failed for the models
whose states are not named E and T: "unknown state 'E' in y0")."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from tumorimmune.cli import app
from tumorimmune.model import get_model, model_names

runner = CliRunner()


@pytest.mark.parametrize("name", sorted(model_names()))
def test_simulate_runs_every_packaged_model(name, tmp_path):
    out = tmp_path / "one.csv"
    res = runner.invoke(
        app, ["simulate", "--model", name, "--days", "14", "--T0", "2e7", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    with out.open() as f:
        rows = list(csv.DictReader(f))
    cls = get_model(name)
    assert cls.tumor_state is not None
    # day 0 holds the given baseline tumor, in the model's unit
    want = float(np.asarray(cls().tumor_size(2e7)))
    assert float(rows[0][cls.tumor_state]) == pytest.approx(want, rel=1e-9)
    if cls.effector_state is not None:
        # E0 is cells too (Nikolopoulou2018's T cells are g/cm³)
        want_e = float(np.asarray(cls().effector_size(3.2e5)))
        assert float(rows[0][cls.effector_state]) == pytest.approx(want_e, rel=1e-9)
    assert float(next(iter(rows[-1].values()))) == 14.0  # the first column: days

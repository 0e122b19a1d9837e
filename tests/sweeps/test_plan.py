"""``SweepPlan``: what a run derives from a validated spec, built once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tumorimmune.model import get_model
from tumorimmune.sweeps import (
    SweepPlan,
    load_spec,
    patient_table,
    same_spec_key,
    spec_key,
    validate_spec,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


def _kuznetsov(**kw):
    return {
        "name": "k",
        "model": "Kuznetsov1994",
        "follow_up_days": 126.0,
        "sampling": {"cohort_size": 8},
        "arms": [{"name": "untreated"}],
        **kw,
    }


@pytest.mark.parametrize("model", ["Kuznetsov1994", "DePillis2005", "Nikolopoulou2018"])
def test_memory_estimate_counts_the_models_own_states(model):
    """The estimate used ``4 if "pd1" in model else 2`` states: the 3-state de Pillis and
    Nikolopoulou models were undercounted. Now the chunk's solver output grows with the
    model's real state count, term by term as the formula says."""
    plan = SweepPlan.from_spec(validate_spec(_kuznetsov(model=model)))
    states = len(get_model(model).state_names)
    assert plan.n_states == states
    s = plan.sizes
    per_patient = s.n_arms * (3 * s.n_times * states * 8 + 3 * s.n_times * 8 + 64)
    per_patient += s.n_columns * 8
    assert plan.memory["chunk"] == max(s.chunk_size, 16) * per_patient
    if model != "Kuznetsov1994":
        two = SweepPlan.from_spec(validate_spec(_kuznetsov()))
        assert two.n_states == 2 and plan.memory["chunk"] > two.memory["chunk"]


def test_plan_is_frozen_and_resolved_once():
    spec = load_spec(ROOT / "examples" / "quickstart.toml")
    plan = SweepPlan.from_spec(spec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.n_patients = 3  # type: ignore[misc]
    assert SweepPlan.of(plan) is plan
    assert plan.backend is plan.backend  # resolved on first use, then kept
    assert plan.backend.name in ("fused", "diffrax", "pallas")
    assert plan.regimens[0] is None and plan.regimens[1] is not None  # control, then drug
    assert plan.n_chunks == -(-plan.n_patients // plan.chunk_size)
    start, stop = plan.chunk_range(plan.n_chunks - 1)
    assert stop == plan.n_patients and stop - start <= plan.chunk_size
    assert "quickstart" in repr(plan) and f"{plan.n_patients:,} patients" in repr(plan)


def test_output_times_hold_the_scans_and_the_hazard_grid():
    spec = load_spec(ROOT / "examples" / "pd1_virtual_trial.toml")
    plan = SweepPlan.from_spec(spec)
    ts = plan.output_times
    assert np.all(np.diff(ts) > 0) and ts[-1] == spec.follow_up_days
    np.testing.assert_array_equal(ts[plan.scan_index], plan.scan_days)
    # every hazard-grid day is read at an output time within 1e-9 days
    assert np.max(np.abs(ts[plan.survival_index] - plan.survival_grid)) <= 1e-9
    assert plan.trajectory_times[-1] == spec.follow_up_days


def test_patient_table_is_the_plans_row_source():
    spec = load_spec(ROOT / "examples" / "quickstart.toml")
    plan = SweepPlan.from_spec(spec)
    whole = patient_table(plan)
    rows = plan.rows(np.array([5, 0, 199]))
    assert list(rows) == [*plan.columns, "cell"]
    for k in plan.columns:
        np.testing.assert_array_equal(rows[k], whole[k][[5, 0, 199]])
    empty = patient_table(spec, 7, 7)
    assert all(v.shape == (0,) for v in empty.values())


def test_a_store_key_of_the_former_toml_writer_still_resumes():
    """Stores record their spec as canonical TOML. The writer is now tomli-w, whose text
    differs from the former hand-written one (arrays, empty tables); a store written before
    is matched by its TOML *data*, so it still resumes; a changed spec does not match."""
    spec = load_spec(ROOT / "examples" / "quickstart.toml")
    old = (DATA / "quickstart_spec_key_before_tomli_w.toml").read_text()
    assert old != spec_key(spec)  # other text ...
    assert same_spec_key(old, spec)  # ... the same spec
    other = spec.model_copy(update={"follow_up_days": 300.0})
    assert not same_spec_key(old, other)
    assert not same_spec_key("not = [toml", spec) and not same_spec_key(None, spec)

"""The [sensitivity] section of sweep specs: validation messages and design sizes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tumorimmune.sweeps import SweepPlan, load_spec, validate_spec

ROOT = Path(__file__).resolve().parents[2]


def _spec(tiny, **sens):
    return tiny(axes={}, sensitivity=sens)


def test_design_size_is_the_number_of_patients(tiny):
    s = validate_spec(_spec(tiny, n=64))
    # default parameters: every varying column (a, L, T0, weight, 5 PK etas): D = 9
    assert s.sensitivity is not None and s.sensitivity.names(SweepPlan.from_spec(s).columns) == [
        "a",
        "L",
        "T0",
        "weight",
        "eta_CL",
        "eta_V1",
        "eta_Q",
        "eta_V2",
        "eta_CL_emax",
    ]
    assert SweepPlan.from_spec(s).n_patients == 64 * (9 + 2)
    s2 = validate_spec(_spec(tiny, n=64, parameters=["a", "L"], second_order=True))
    assert SweepPlan.from_spec(s2).n_patients == 64 * (2 * 2 + 2)
    assert (
        SweepPlan.from_spec(
            validate_spec(_spec(tiny, method="morris", n=10, parameters=["a"]))
        ).n_patients
        == 20
    )
    assert SweepPlan.from_spec(validate_spec(_spec(tiny, method="prcc", n=100))).n_patients == 100
    # the spec round-trips through its TOML text (what the store keeps)
    assert validate_spec(tomllib.loads(s2.to_toml())) == s2


@pytest.mark.parametrize(
    ("sens", "changes", "message"),
    [
        ({"n": 1000}, {}, "sensitivity: 'n' must be a power of 2 for method 'sobol'"),
        ({"method": "fast"}, {}, "sensitivity.method: Input should be 'sobol', 'morris' or"),
        ({"method": "morris", "second_order": True}, {}, "'second_order' applies to method"),
        ({"parameters": ["a", "nope"]}, {}, "sensitivity.parameters: 'nope' has no distribution"),
        ({"parameters": ["a", "a"]}, {}, "'parameters' has duplicates"),
        ({"outputs": ["orr"]}, {}, "sensitivity.outputs[0]: Input should be 'best_pct_change'"),
        ({"confidence": 1.5}, {}, "sensitivity.confidence: Input should be less than 1"),
        ({"bogus": 1}, {}, "sensitivity.bogus: unknown key 'bogus'; allowed keys: ['confidence'"),
        ({"landmark_days": 400}, {}, "sensitivity.landmark_days: 400.0 exceeds follow_up_days"),
        ({"method": "sobol", "parameters": ["a"]}, {}, "method 'sobol' needs at least 2"),
        ({}, {"axes": {"eps_m": {"values": [0.0, 0.5]}}}, "sensitivity: grid axes ['eps_m']"),
    ],
)
def test_bad_sensitivity_sections_name_the_key(tiny, sens, changes, message):
    d = tiny(axes={}, sensitivity=sens)
    d.update(changes)
    with pytest.raises(ValueError) as err:
        validate_spec(d)
    assert message in str(err.value)
    assert "\n" not in str(err.value)  # one line


def test_example_spec_has_at_least_1e5_evaluations_per_arm():
    spec = load_spec(ROOT / "examples" / "pd1_sensitivity.toml")
    plan = SweepPlan.from_spec(spec)
    assert spec.sensitivity is not None and plan.n_patients >= 100_000  # per arm
    assert spec.sensitivity.n * (len(spec.sensitivity.names(plan.columns)) + 2) >= 100_000
    assert set(spec.sensitivity.names(plan.columns)) <= set(plan.columns)


def test_a_population_spec_cannot_take_a_sensitivity_design():
    """A design is drawn from distributions; a population table has none (it failed with a
    KeyError inside the design before)."""
    d = load_spec(ROOT / "examples" / "pd1_virtual_trial.toml").model_dump(
        mode="json", exclude_none=True
    )
    d["sensitivity"] = {"method": "prcc", "n": 8}
    with pytest.raises(ValueError, match=r"sensitivity: cannot be combined with \[population\]"):
        validate_spec(d)

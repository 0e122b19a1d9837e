"""Bad inputs a user may write in a spec: each gets a one-line error naming the key, or (where
the setting is legitimate) a warning from ``spec_warnings``; nothing is silently accepted."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tumorimmune.sweeps import SweepPlan, spec_warnings, validate_spec
from tumorimmune.sweeps._sizing import size_errors

from .conftest import make_tiny

TiB = 2**40


def _set(path: str, value: Any) -> dict[str, Any]:
    d = make_tiny()
    node: Any = d
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for k in keys[:-1]:
        node = node.setdefault(k, {}) if isinstance(node, dict) else node[k]
    node[keys[-1]] = value
    return d


#: (id, spec mapping, text the error must contain: the key)
ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("cohort 1e12", _set("sampling.cohort_size", 10**12), "sampling.cohort_size"),
    ("axis 1e12", _set("axes.eps_m", {"linspace": [0.0, 1.0, 10**12]}), "axes.eps_m"),
    (
        "grid 1e15",
        _set("axes", {k: {"linspace": [0.1, 0.9, 10**5]} for k in ("eps_m", "g", "m")}),
        "axes",
    ),
    ("chunk 1e12", _set("chunk_size", 10**12), "chunk_size"),
    ("follow-up 1e9 days", _set("follow_up_days", 1e9), "follow_up_days"),
    (
        "follow-up 1e6 days",
        {**_set("follow_up_days", 1e6), "n_trajectories": 0},
        "scan_interval_days",
    ),
    ("follow-up inf", _set("follow_up_days", float("inf")), "follow_up_days"),
    ("follow-up nan", _set("follow_up_days", float("nan")), "follow_up_days"),
    ("scan step 1e-6", _set("scan_interval_days", 1e-6), "scan_interval_days"),
    ("trajectory step 1e-6", _set("trajectory_step_days", 1e-6), "trajectory_step_days"),
    ("atol inf", _set("atol", float("inf")), "atol"),
    ("atol 1e3", _set("atol", 1e3), "atol"),
    ("rtol 1e10", _set("rtol", 1e10), "rtol"),
    ("rtol 0", _set("rtol", 0.0), "rtol"),
    ("max_steps 1", _set("max_steps", 1), "max_steps"),
    ("start day after follow-up", _set("arms.1.start_day", 500.0), "arms[1].start_day"),
    ("start day at follow-up", _set("arms.2.start_day", 126.0), "arms[2].start_day"),
    ("drug next to preset", _set("arms.1.drug", "nivolumab"), "arms[1]"),
    ("zero-width linspace", _set("axes.eps_m", {"linspace": [0.5, 0.5, 4]}), "axes.eps_m"),
    (
        "zero-width uniform",
        _set("variability.L", {"dist": "uniform", "low": 0.3, "high": 0.3}),
        "variability.L",
    ),
    (
        "axis and uniform variability",
        _set("variability.eps_m", {"dist": "uniform", "low": 0.1, "high": 0.9}),
        "variability.eps_m",
    ),
    (
        "axis and centred variability",
        _set(
            "variability.eps_m", {"dist": "normal", "mean": 0.5, "sd": 0.1, "low": 0.0, "high": 1.0}
        ),
        "variability.eps_m",
    ),
    ("cohort as string", _set("sampling.cohort_size", "32"), "sampling.cohort_size"),
    ("cohort as float", _set("sampling.cohort_size", 32.0), "sampling.cohort_size"),
    ("parameter as bool", _set("parameters.a", True), "parameters.a"),
    ("parameter as string", _set("parameters.a", "0.3"), "parameters.a"),
    ("seed as string", _set("sampling.seed", "1"), "sampling.seed"),
    ("pk flag as int", _set("pk.variability", 1), "pk.variability"),
    ("dose as string", _set("arms.2.dose", "3"), "arms[2].dose"),
    ("arm name as int", _set("arms.0.name", 7), "arms[0].name"),
    ("negative parameter", _set("parameters.a", -1.0), "parameters.a"),
    ("parameter inf", _set("parameters.a", float("inf")), "parameters.a"),
    ("negative T0", _set("initial.T0", -5.0), "initial.T0"),
    ("axis value inf", _set("axes.eps_m", {"values": [0.1, float("inf")]}), "axes.eps_m"),
    ("n_trajectories negative", _set("n_trajectories", -1), "n_trajectories"),
    ("chunk 0", _set("chunk_size", 0), "chunk_size"),
]

#: (id, spec mapping, text the warning must contain: the key)
WARNINGS: list[tuple[str, dict[str, Any], str]] = [
    ("rtol loose", _set("rtol", 0.05), "rtol"),
    ("rtol below float32", {**_set("rtol", 1e-9), "precision": "float32"}, "rtol"),
    ("atol loose", _set("atol", 0.5), "atol"),
    ("max_steps small", _set("max_steps", 200), "max_steps"),
    (
        "start after last scan",
        {**_set("arms.1.start_day", 127.0), "follow_up_days": 130},
        "arms[1].start_day",
    ),
    ("more trajectories than patients", _set("n_trajectories", 1000), "n_trajectories"),
]


@pytest.mark.parametrize(("data", "key"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_bad_input_gives_one_line_error_naming_the_key(data, key):
    with pytest.raises(ValueError) as info:
        validate_spec(data)
    msg = str(info.value)
    assert "\n" not in msg, msg  # one problem, one line
    assert msg.startswith(key), msg
    assert "np.float" not in msg and "np.int" not in msg, msg


@pytest.mark.parametrize(("data", "key"), [c[1:] for c in WARNINGS], ids=[c[0] for c in WARNINGS])
def test_questionable_input_gives_a_warning_naming_the_key(data, key):
    spec = validate_spec(data)
    warnings = spec_warnings(spec)
    assert any(w.startswith(key) for w in warnings), warnings


def test_the_tiny_spec_has_no_warnings(tiny):
    assert spec_warnings(validate_spec(tiny())) == []


def test_drug_matching_its_preset_is_accepted(tiny):
    d = _set("arms.1.drug", "pembrolizumab")
    validate_spec(d)


def test_axis_with_variability_centred_on_grid_values_is_accepted(tiny):
    d = _set("variability.eps_m", {"dist": "lognormal", "cv": 0.2, "high": 1.0})
    assert SweepPlan.from_spec(validate_spec(d)).columns[0] == "eps_m"


def test_bad_value_is_reported_next_to_structural_errors(tiny):
    d = _set("parameters.a", -1.0)
    d["folow_up_days"] = 1
    d["sampling"]["cohort_size"] = "32"
    d["arms"][2]["dosee"] = d["arms"][2].pop("dose")
    with pytest.raises(ValueError) as info:
        validate_spec(d)
    msg = str(info.value)
    assert msg.startswith("4 problems in the spec:"), msg
    lines = [x.strip() for x in msg.splitlines()[1:]]
    assert [x.split(":")[0] for x in lines] == [
        "sampling.cohort_size",
        "arms[2].dosee",
        "folow_up_days",
        "parameters.a",
    ], lines
    assert "-1" in lines[-1] and "np." not in msg


def test_several_bad_values_are_all_reported(tiny):
    d = _set("parameters.a", -1.0)
    d["parameters"]["L"] = 2.0
    d["arms"][1]["start_day"] = 400.0
    with pytest.raises(ValueError) as info:
        validate_spec(d)
    msg = str(info.value)
    assert "parameters.a" in msg and "parameters.L" in msg and "arms[1].start_day" in msg


def test_size_limit_names_key_and_limit():
    spec = validate_spec(make_tiny(chunk_size=4096))
    plan = SweepPlan.from_spec(spec)
    need = plan.memory
    assert size_errors(spec, plan.sizes, max(need.values())) == []
    errs = size_errors(spec, plan.sizes, need["chunk"] - 1)
    assert len(errs) == 1 and errs[0].startswith("chunk_size")
    allowed = int(re.search(r"chunk_size <= (\d+)", errs[0]).group(1))  # type: ignore[union-attr]
    smaller = validate_spec(make_tiny(chunk_size=allowed))
    assert SweepPlan.from_spec(smaller).memory["chunk"] <= need["chunk"] - 1


def test_memory_estimate_grows_with_the_sizes():
    base = SweepPlan.from_spec(validate_spec(make_tiny())).memory
    big = SweepPlan.from_spec(validate_spec(make_tiny(chunk_size=160, follow_up_days=252))).memory
    assert big["chunk"] > 10 * base["chunk"] and big["summary"] == base["summary"]
    assert base["summary"] < 1 * TiB


def test_bad_value_is_reported_next_to_a_malformed_axis(tiny):
    d = _set("parameters.a", -1.0)
    d["axes"]["eps_m"] = {"linspace": [0.0, 1.0, "three"]}
    d["variability"]["L"]["low"] = "0"
    with pytest.raises(ValueError) as info:
        validate_spec(d)
    keys = [x.strip().split(":")[0] for x in str(info.value).splitlines()[1:]]
    assert keys == ["axes.eps_m.linspace[2]", "variability.L.low", "parameters.a"], keys

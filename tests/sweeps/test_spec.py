"""Sweep specification: validation messages, derived quantities, TOML round trip, examples."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from tumorimmune.sweeps import SweepPlan, load_spec, validate_spec

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.toml"))


def _error(data: dict) -> str:
    with pytest.raises(ValueError) as info:
        validate_spec(data)
    return str(info.value)


def test_tiny_spec_is_valid_and_derived_sizes(tiny):
    s = validate_spec(tiny())
    plan = SweepPlan.from_spec(s)
    assert plan.n_cells == 2
    assert plan.n_patients == 20
    np.testing.assert_array_equal(plan.scan_days, [0.0, 42.0, 84.0, 126.0])
    assert list(plan.columns) == [
        "eps_m", "a", "L", "T0", "weight", "eta_CL", "eta_V1", "eta_Q", "eta_V2", "eta_CL_emax"
    ]  # fmt: skip


def test_typo_in_top_level_key_names_key_and_allowed_keys(tiny):
    d = tiny()
    d["folow_up_days"] = d.pop("follow_up_days")
    msg = _error(d)
    assert "folow_up_days" in msg and "follow_up_days" in msg and "allowed keys" in msg


def test_typo_in_arm_key_names_arm_and_allowed_keys(tiny):
    d = tiny()
    d["arms"][2]["dosee"] = d["arms"][2].pop("dose")
    msg = _error(d)
    assert msg.startswith("arms[2].dosee") and "'dose'" in msg and "'interval'" in msg


def test_typo_in_distribution_key(tiny):
    d = tiny()
    d["variability"]["a"]["cvv"] = 0.3
    msg = _error(d)
    assert "variability.a.cvv" in msg and "'cv'" in msg


def test_unknown_parameter_lists_allowed_parameters(tiny):
    d = tiny()
    d["variability"]["growth"] = {"dist": "uniform", "low": 0.1, "high": 0.2}
    msg = _error(d)
    assert "variability.growth" in msg and "'a'" in msg and "'T0'" in msg


def test_negative_cv(tiny):
    d = tiny()
    d["variability"]["a"]["cv"] = -0.1
    msg = _error(d)
    assert "variability.a" in msg and "cv" in msg and "-0.1" in msg


def test_empty_axis(tiny):
    d = tiny(axes={"eps_m": {"values": []}})
    msg = _error(d)
    assert "axes.eps_m" in msg and "empty" in msg


def test_axis_needs_exactly_one_form_and_positive_logspace(tiny):
    assert "exactly one" in _error(tiny(axes={"a": {"values": [0.1], "linspace": [0, 1, 3]}}))
    assert "logspace" in _error(tiny(axes={"a": {"logspace": [0.0, 1.0, 3]}}))


def test_axis_values_outside_parameter_bounds(tiny):
    msg = _error(tiny(axes={"L": {"linspace": [0.0, 1.5, 4]}}))
    assert "axes.L" in msg and "1.5" in msg


def test_zero_interval_regimen(tiny):
    d = tiny()
    d["arms"][2]["interval"] = 0
    msg = _error(d)
    assert "arms[2].interval" in msg and "greater than 0" in msg


def test_unknown_regimen_lists_presets(tiny):
    d = tiny()
    d["arms"][1]["regimen"] = "pembro_200"
    msg = _error(d)
    assert "arms[1]" in msg and "pembrolizumab_200mg_q3w" in msg


def test_unknown_drug_and_precision_and_sampling(tiny):
    d = tiny()
    d["arms"][2]["drug"] = "atezolizumab"
    assert "nivolumab" in _error(d)
    msg = _error(tiny(precision="float16"))
    assert "precision" in msg and "float32" in msg and "float64" in msg
    msg = _error(tiny(sampling={"method": "halton"}))
    assert "sampling.method" in msg and "'lhs'" in msg and "'sobol'" in msg


def test_unbounded_distribution_on_bounded_parameter(tiny):
    d = tiny()
    d["variability"]["L"] = {"dist": "lognormal", "median": 0.5, "cv": 0.5}
    msg = _error(d)
    assert "variability.L" in msg and "high" in msg
    d["variability"]["L"]["high"] = 1.0  # truncated: fine
    validate_spec(d)


def test_pk_parameters_come_from_the_drug(tiny):
    d = tiny()
    d["variability"]["CL"] = {"dist": "lognormal", "cv": 0.3}
    assert "pk" in _error(d)


def test_duplicate_arm_names_and_untreatable_model(tiny):
    d = tiny()
    d["arms"][1]["name"] = "control"
    assert "duplicate" in _error(d)
    d = tiny(model="Kuznetsov1994", variability={}, parameters={}, pk={}, axes={})
    msg = _error(d)
    assert "arms[1]" in msg and "Kuznetsov1994" in msg


def test_unknown_model_and_backend(tiny):
    assert "TumorImmunePD1" in _error(tiny(model="Gompertz"))
    assert "diffrax" in _error(tiny(backend="rk4"))


def test_toml_round_trip(tiny):
    s = validate_spec(tiny())
    again = validate_spec(tomllib.loads(s.to_toml()))
    assert again == s
    assert again.to_toml() == s.to_toml()


def test_load_spec_reports_bad_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("name = \n")
    with pytest.raises(ValueError, match="invalid TOML"):
        load_spec(p)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_are_valid(path):
    s = load_spec(path)
    assert SweepPlan.from_spec(s).n_patients >= 1


def test_all_structural_problems_are_reported_at_once(tiny):
    d = tiny()
    d["folow_up_days"] = d.pop("follow_up_days")
    d["arms"][2]["dosee"] = d["arms"][2].pop("dose")
    msg = _error(d)
    assert msg.startswith("2 problems in the spec:")
    lines = msg.splitlines()[1:]
    assert lines[0].strip().startswith("arms[2].dosee: unknown key 'dosee'")
    assert lines[1].strip().startswith("folow_up_days: unknown key 'folow_up_days'")


def test_response_readout_defaults_and_bounds(tiny):
    r = validate_spec(tiny()).response
    assert (r.cells_per_cm3, r.n_lesions, r.detection_limit_mm) == (1e9, 3, 5.0)
    for bad, where in (
        ({"n_lesions": 0}, "response.n_lesions"),
        ({"n_lesions": 6}, "response.n_lesions"),
        ({"n_lesions": 2.5}, "response.n_lesions"),
        ({"detection_limit_mm": -1.0}, "response.detection_limit_mm"),
        ({"detection_limit_mm": float("inf")}, "response.detection_limit_mm"),
        ({"n_lesion": 3}, "response.n_lesion: unknown key"),
    ):
        assert _error(tiny(response=bad)).startswith(where)
    s = validate_spec(tiny(response={"n_lesions": 1, "detection_limit_mm": 0.0}))
    assert validate_spec(tomllib.loads(s.to_toml())) == s


def test_lesion_count_variability_and_axis(tiny):
    d = tiny()
    d["variability"]["n_lesions"] = {"dist": "discrete", "values": [1, 2, 3], "weights": [1, 2, 1]}
    s = validate_spec(d)
    assert "n_lesions" in SweepPlan.from_spec(s).columns
    assert validate_spec(tomllib.loads(s.to_toml())) == s
    d["variability"]["n_lesions"] = {"dist": "lognormal", "cv": 0.3}
    assert 'use dist = "discrete"' in _error(d)
    d["variability"]["n_lesions"] = {"dist": "discrete", "values": [2, 7]}
    assert "variability.n_lesions: value 7.0 is not an integer in 1..5" in _error(d)
    d["variability"]["n_lesions"] = {"dist": "discrete", "values": [1, 2], "weights": [1]}
    assert "'weights' needs one weight per value (2); got 1" in _error(d)
    d["variability"]["n_lesions"] = {"dist": "discrete", "values": [1, 2], "weights": [0, 0]}
    assert "not all 0" in _error(d)
    d["variability"]["n_lesions"] = {"dist": "discrete", "values": [1, 2], "cv": 1.0}
    assert "key 'cv' does not apply to dist='discrete'" in _error(d)
    assert SweepPlan.from_spec(
        validate_spec(tiny(axes={"n_lesions": {"values": [1, 3, 5]}}))
    ).grid_shape == (3,)
    msg = _error(tiny(axes={"n_lesions": {"values": [1, 2.5]}}))
    assert msg == "axes.n_lesions: value 2.5 is not an integer in 1..5"
    msg = _error(tiny(parameters={"n_lesions": 3}))
    assert msg.startswith("parameters.n_lesions: 'n_lesions' is a read-out setting")


def _sized(tiny, n_per_cell: int, **changes):
    d = tiny(**changes)
    d.pop("chunk_size", None)
    d["sampling"] = {**d["sampling"], "cohort_size": n_per_cell}
    return d


def test_automatic_chunk_size_keeps_large_cohorts_to_about_128_chunks(tiny, monkeypatch):
    """A spec without chunk_size: 4,096 up to 128 × 4,096 patients (the former default, so
    such specs and their stores are unchanged), then a multiple of 4,096 giving at most 128
    chunks, at most 2^18, within a sixteenth of the memory; kept when re-validated and in the
    canonical TOML; an explicit chunk_size is kept as given."""
    from tumorimmune.sweeps import _sizing, auto_chunk_size

    for n_cells_patients, want in [(10, 4096), (262_144, 4096), (262_145, 8192)]:
        s = validate_spec(_sized(tiny, n_cells_patients))  # tiny has 2 grid cells
        assert s.chunk_size == want == auto_chunk_size(s), n_cells_patients
        assert validate_spec(s).chunk_size == want
        assert f"chunk_size = {want}" in s.to_toml()
    s = validate_spec(_sized(tiny, 5_000_000))  # 10^7 patients
    n = SweepPlan.from_spec(s).n_patients
    assert s.chunk_size % 4096 == 0 and -(-n // s.chunk_size) <= 128
    assert -(-n // (s.chunk_size - 4096)) > 128  # the smallest such multiple
    s = validate_spec(_sized(tiny, 50_000_000))  # 10^8: capped at 2^18 patients per chunk
    assert s.chunk_size == 1 << 18
    assert validate_spec({**_sized(tiny, 5_000_000), "chunk_size": 2500}).chunk_size == 2500
    # memory: a chunk within a sixteenth of the limit (but never below 4,096)
    free = validate_spec(_sized(tiny, 500_000))  # 10^6 patients
    assert free.chunk_size == 8192
    per = SweepPlan.from_spec(free).memory["chunk"] / free.chunk_size
    monkeypatch.setattr(_sizing, "memory_limit_bytes", lambda: int(16 * per * 6000))
    assert 4096 <= validate_spec(_sized(tiny, 500_000)).chunk_size <= 6000


def test_many_store_chunks_get_a_warning_naming_the_automatic_size(tiny):
    from tumorimmune.sweeps import spec_warnings

    many = validate_spec({**_sized(tiny, 5_000_000), "chunk_size": 2500})  # 4,000 chunks
    lines = [w for w in spec_warnings(many) if w.startswith("chunk_size:")]
    auto = validate_spec(_sized(tiny, 5_000_000)).chunk_size
    assert len(lines) == 1 and "4000 store chunks" in lines[0] and f"automatic: {auto}" in lines[0]
    assert not [w for w in spec_warnings(validate_spec(tiny())) if w.startswith("chunk_size:")]
    assert not [
        w for w in spec_warnings(validate_spec(_sized(tiny, 5_000_000))) if "chunk_size" in w
    ]


def test_response_confirmation_options_and_new_target_kinds(tiny):
    from tumorimmune.sweeps._spec import TargetSpec

    spec = validate_spec(tiny(response={"confirm": True, "confirm_days": 35}))
    assert spec.response.confirm is True and spec.response.confirm_days == 35.0
    assert validate_spec(tiny()).response.confirm is False
    with pytest.raises(ValueError, match="confirm_days"):
        validate_spec(tiny(response={"confirm_days": -1}))
    t = TargetSpec.model_validate({"arm": "a", "name": "TTR", "kind": "median_ttr", "value": 84})
    assert t.value == 84.0
    TargetSpec.model_validate(
        {"arm": "a", "name": "pp", "kind": "pseudo_progression", "value": 0.07, "n": 327}
    )
    with pytest.raises(ValueError, match="fraction"):
        TargetSpec.model_validate(
            {"arm": "a", "name": "pp", "kind": "pseudo_progression", "value": 7.0}
        )

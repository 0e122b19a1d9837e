"""A chemotherapy arm (``[[arms]] chemo = "platinum_doublet"``) beside an untreated and a
pembrolizumab arm: what it does to tumors, per-patient chemo parameters, backends, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tumorimmune as ti
from tumorimmune.model import TumorImmunePD1
from tumorimmune.sweeps import ArmSpec, Engine, SweepPlan, validate_spec

from .conftest import make_tiny

ARMS = [
    {"name": "untreated"},
    {"name": "pembrolizumab", "regimen": "pembrolizumab_200mg_q3w"},
    {"name": "platinum doublet", "chemo": "platinum_doublet", "chemo_cycles": 4},
]
#: Growth and chemotherapy only: no effectors (s = 0, E0 = 0), so the antibody cannot act.
PARAMS = {"b": 2e-11, "s": 0.0, "a": 0.05, "k_chemo": 0.1, "lam_chemo": 0.01}


def _spec(**changes: Any) -> dict[str, Any]:
    d = make_tiny(
        follow_up_days=252,
        chunk_size=6,
        n_trajectories=0,
        axes={},
        parameters=PARAMS,
        initial={"E0": 0.0, "T0": 1.5e10},
        variability={"a": {"dist": "lognormal", "cv": 0.2}},
        sampling={"method": "lhs", "cohort_size": 6, "seed": 1},
        pk={"variability": False},
        arms=ARMS,
    )
    d.update(changes)
    return d


@pytest.fixture(scope="module")
def blocks() -> dict[str, dict[str, np.ndarray]]:
    return {
        b: Engine.create(validate_spec(_spec(backend=b))).run_block(0, 6)
        for b in ("diffrax", "fused")
    }


def test_chemo_arm_shrinks_during_cycles_and_regrows_after(blocks):
    plan = SweepPlan.from_spec(validate_spec(_spec()))
    days = plan.scan_days
    assert list(days) == [0, 42, 84, 126, 168, 210, 252]
    assert plan.chemotherapies[2] is not None and plan.chemotherapies[2].end_day == 84.0
    assert plan.regimens[2] is None and plan.chemotherapies[:2] == (None, None)
    assert plan.arms[0].is_control and not plan.arms[2].is_control
    cells = blocks["diffrax"]["tumor_cells"]  # (arm, patient, scan)
    untreated, pembro, chemo = cells
    assert np.all(chemo[:, 1:3] < 0.5 * untreated[:, 1:3])  # smaller on cycles (days 42, 84)
    assert np.all(chemo[:, 2] < chemo[:, 0])  # shrunk below baseline by the end of cycle 4
    assert np.all(np.diff(untreated, axis=1) > 0)  # untreated grow throughout
    assert np.all(np.diff(chemo[:, 2:], axis=1) > 0)  # and the chemo arm regrows after day 84
    # the patients' k_chemo acts only on chemotherapy: without effectors the antibody arm is
    # the untreated arm
    np.testing.assert_allclose(pembro, untreated, rtol=1e-6)
    br = blocks["diffrax"]["best_response"]
    assert np.all(br[0] == 3) and np.any(br[2] <= 2)  # PD untreated; PR/SD on chemo


def test_chemo_arm_equals_simulate_with_chemo(blocks):
    """Route of a user: TumorImmunePD1().with_chemo(...) and simulate give the engine's arm."""
    spec = validate_spec(_spec())
    block = blocks["diffrax"]
    ts = SweepPlan.from_spec(spec).scan_days
    for p in (0, 4):
        model = TumorImmunePD1().replace(**{**PARAMS, "a": float(block["param_a"][p])})
        model = model.with_chemo("platinum_doublet", cycles=4, k_chemo=0.1, lam_chemo=0.01)
        out = ti.simulate(model, {"E": 0.0, "T": 1.5e10}, ts, backend="diffrax")
        np.testing.assert_allclose(block["tumor_cells"][2, p], out["burden"].values, rtol=1e-6)


def test_fused_and_diffrax_agree_on_the_chemo_spec(blocks):
    a, b = blocks["diffrax"], blocks["fused"]
    assert np.all(a["status"] == 0) and np.all(b["status"] == 0)
    np.testing.assert_allclose(b["tumor_cells"], a["tumor_cells"], rtol=1e-5)
    np.testing.assert_array_equal(b["best_response"], a["best_response"])


def test_per_patient_chemo_sensitivity_from_a_population(tmp_path):
    """Population columns k_chemo / lam_chemo are per-patient model parameters of the chemo
    arm, overriding the preset, and are switched off in the arms without chemotherapy."""
    k = np.array([0.0, 0.05, 0.1, 0.2])
    np.savez(tmp_path / "pop.npz", k_chemo=k, lam_chemo=np.full(4, 0.01), T0=np.full(4, 1.5e10))
    d = _spec(
        population={"file": str(tmp_path / "pop.npz")},
        variability={},
        parameters={"b": 2e-11, "s": 0.0, "a": 0.05},
        sampling={"method": "lhs", "cohort_size": 4, "seed": 0},
    )
    spec = validate_spec(d)
    eng = Engine.create(spec)
    table = eng.rows(np.arange(4))
    model, _ = eng.arm_model(table, 2)
    np.testing.assert_array_equal(model.k_chemo, table["k_chemo"])  # type: ignore[attr-defined]
    assert np.all(model.chemo_end == 84.0)  # type: ignore[attr-defined]
    for arm in (0, 1):
        m, _ = eng.arm_model(table, arm)
        assert not np.any(m.k_chemo)  # type: ignore[attr-defined]
    cells = eng.run_block(0, 4)["tumor_cells"]
    kc = table["k_chemo"]
    np.testing.assert_allclose(cells[2][kc == 0], cells[0][kc == 0], rtol=1e-6)
    order = np.argsort(kc)  # more sensitive, smaller at the end of the cycles
    assert np.all(np.diff(cells[2][order, 2]) < 0)


def test_preset_defaults_reach_the_arm():
    """Without k_chemo anywhere in the spec the arm gets the preset's typical values."""
    spec = validate_spec(_spec(parameters={"b": 2e-11, "s": 0.0}))
    eng = Engine.create(spec)
    table = eng.rows(np.arange(2))
    model, _ = eng.arm_model(table, 2)
    pd = ti.model.PLATINUM_DOUBLET
    assert np.all(model.k_chemo == pd.k_chemo) and np.all(model.lam_chemo == pd.lam_chemo)  # type: ignore[attr-defined]
    six = dict(ARMS[2], chemo_cycles=6, start_day=7.0)
    m6, _ = Engine.create(validate_spec(_spec(arms=[six]))).arm_model(table, 0)
    assert np.all(m6.chemo_start == 7.0) and np.all(m6.chemo_end == 7.0 + 126.0)  # type: ignore[attr-defined]


def test_chemo_plus_antibody_arm():
    arm = ArmSpec.model_validate(
        {
            "name": "pembro + chemo",
            "regimen": "pembrolizumab_200mg_q3w",
            "chemo": "platinum_doublet",
        }
    )
    assert arm.regimen_obj() is not None and arm.chemo_obj().cycles == 4
    assert not arm.is_control and arm.drug_name() == "pembrolizumab"


def _arm(**kw: Any) -> dict[str, Any]:
    return _spec(arms=[{"name": "x", **kw}])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            _arm(chemo="folfox"),
            "unknown chemo 'folfox'; allowed: ['docetaxel', 'platinum_doublet']",
        ),
        (_arm(chemo="platinum_doublet", chemo_cycles=7), "chemo_cycles: 7 is outside 4..6"),
        (_arm(chemo="platinum_doublet", chemo_cycles=3), "chemo_cycles: 3 is outside 4..6"),
        (_arm(chemo_cycles=4), "chemo_cycles needs a chemotherapy"),
        (_arm(chemo="platinum_doublet", n_doses=4), "chemo_cycles (and its first day"),
        (
            _arm(chemo="platinum_doublet", start_day=400.0),
            "the first chemotherapy cycle (day 400) is not before the end of follow-up",
        ),
        (
            {**_arm(chemo="platinum_doublet"), "model": "Kuznetsov1994", "parameters": {},
             "variability": {}, "pk": {}},
            "Kuznetsov1994 has no chemotherapy term",
        ),
        (
            _spec(parameters={**PARAMS, "chemo_end": 100.0}),
            "parameters.chemo_end: the chemotherapy schedule comes from the arm",
        ),
        (_spec(parameters={**PARAMS, "k_chemo": -1.0}), "parameters.k_chemo"),
    ],
)  # fmt: skip
def test_bad_chemo_specs(spec, message):
    with pytest.raises(ValueError) as err:
        validate_spec(spec)
    assert message in str(err.value)


def test_report_reads_a_chemo_only_arm_as_treated_without_antibody():
    import xarray as xr

    from tumorimmune.reports._data import arm_treatments
    from tumorimmune.reports._parameters import inert_parameters

    ds = xr.Dataset(attrs={"spec": validate_spec(_spec()).to_toml()})
    arms = arm_treatments(ds)
    assert arms is not None
    assert not arms["untreated"].treated
    assert arms["pembrolizumab"].treated and arms["pembrolizumab"].antibody
    chemo = arms["platinum doublet"]
    assert chemo.treated and not chemo.antibody and chemo.drug == "platinum_doublet"
    assert set(inert_parameters(ds, "platinum doublet")) == {
        "eta_CL", "eta_V1", "eta_Q", "eta_V2", "eta_CL_emax"
    }  # fmt: skip

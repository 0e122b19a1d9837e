"""Two-compartment PK against its closed-form solution and the label's numbers."""

import numpy as np
import pytest

import tumorimmune as ti
from tumorimmune.model import (
    NIVOLUMAB,
    PEMBROLIZUMAB,
    PEMBROLIZUMAB_200MG_Q3W,
    Regimen,
    TumorImmunePD1,
    two_compartment_bolus,
)


def _pk_only(drug, regimen, t, backend="auto", **kw):
    # PK never depends on E, T.
    model = TumorImmunePD1.with_drug(drug, **kw)
    return ti.simulate(model, {"E": 3.2e5, "T": 5e6}, t, regimen=regimen, backend=backend)


@pytest.mark.parametrize("backend", ["diffrax", "fused"])
def test_repeated_bolus_matches_closed_form(backend):
    reg = Regimen(dose=200.0, interval=21.0, drug="pembrolizumab")
    # output times off and on dose days (pre-dose at dose days)
    t = np.unique(np.concatenate([np.linspace(0, 200, 81), np.arange(0, 200, 21) + 0.5]))
    ds = _pk_only("pembrolizumab", reg, t, backend)
    doses = reg.dose_times(0, 200)
    pre = t - 1e-12  # closed form evaluated just before a coinciding dose: pre-dose values
    ref = two_compartment_bolus(
        pre,
        doses,
        np.full(len(doses), 200.0),
        CL=PEMBROLIZUMAB.CL,
        V1=PEMBROLIZUMAB.V1,
        Q=PEMBROLIZUMAB.Q,
        V2=PEMBROLIZUMAB.V2,
    )
    on = t > 0
    np.testing.assert_allclose(ds["C"].values[on], ref[on], rtol=1e-6)
    assert ds["C"].values[0] == 0.0


def test_pembrolizumab_200mg_q3w_troughs_and_peak():
    t = np.arange(0.0, 21.0 * 40 + 1, 21.0)
    ds = _pk_only("pembrolizumab", PEMBROLIZUMAB_200MG_Q3W, t)
    c = ds["C"].values
    assert c[1] == pytest.approx(12.7, abs=0.05)  # first trough, day 21 (science.md §3)
    assert c[-1] == pytest.approx(29.5, abs=0.15)  # steady-state trough
    # steady-state peak: just after the last dose ≈ 87 µg/mL
    t2 = np.array([0.0, 21.0 * 39, 21.0 * 39 + 1e-6])
    peak = _pk_only("pembrolizumab", PEMBROLIZUMAB_200MG_Q3W, t2)["C"].values[-1]
    assert peak == pytest.approx(87.0, abs=0.6)


def test_terminal_half_life_about_22_days():
    t = np.array([0.0, 150.0, 172.0])
    c = _pk_only("pembrolizumab", Regimen(dose=200.0, interval=1000.0, n_doses=1), t)["C"].values
    half_life = 22.0 * np.log(2) / np.log(c[1] / c[2])
    assert 20 < half_life < 30


def test_mg_per_kg_scales_with_weight():
    reg = Regimen(dose=2.0, unit="mg/kg", interval=21.0, drug="pembrolizumab")
    t = np.array([0.0, 10.0, 21.0])
    ds = _pk_only("pembrolizumab", reg, t, weight=np.array([50.0, 100.0]))
    c = ds["C"].values  # (patient, time)
    np.testing.assert_allclose(c[1, 1:] / c[0, 1:], 2.0, rtol=1e-7)  # solver tolerance 1e-8


def test_nivolumab_time_varying_clearance_raises_exposure():
    reg = Regimen(dose=240.0, interval=14.0, drug="nivolumab")
    t = np.arange(0.0, 14.0 * 20 + 1, 14.0)
    tv = _pk_only(NIVOLUMAB, reg, t)["C"].values
    const = _pk_only(NIVOLUMAB, reg, t, CL_emax=0.0)["C"].values
    assert tv[1] == pytest.approx(const[1], rel=1e-3)  # early: CL(t) ≈ CL
    assert tv[-1] > const[-1] * 1.15  # late: clearance 25 % lower → higher troughs


def test_regimen_drug_must_match_model():
    with pytest.raises(ValueError, match="nivolumab"):
        _pk_only("pembrolizumab", ti.model.NIVOLUMAB_240MG_Q2W, np.array([0.0, 14.0]))


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(dose=0.0, interval=21.0), "dose"),
        (dict(dose=200.0, interval=0.0), "interval"),
        (dict(dose=200.0, interval=-3.0), "interval"),
        (dict(dose=200.0, interval=21.0, unit="g"), "unit"),
        (dict(dose=200.0, interval=21.0, n_doses=0), "n_doses"),
        (dict(dose=float("nan"), interval=21.0), "dose"),
    ],
)
def test_invalid_regimen(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Regimen(**kwargs)


def test_dose_times():
    reg = Regimen(dose=1.0, interval=21.0, start_day=7.0, n_doses=3)
    np.testing.assert_array_equal(reg.dose_times(0, 365), [7.0, 28.0, 49.0])
    reg = Regimen(dose=1.0, interval=14.0, end_day=30.0)
    np.testing.assert_array_equal(reg.dose_times(0, 365), [0.0, 14.0, 28.0])
    assert ti.model.PEMBROLIZUMAB_400MG_Q6W.label == "pembrolizumab 400 mg q6w"

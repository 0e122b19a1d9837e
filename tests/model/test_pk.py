"""Two-compartment PK against its closed-form solution and the label's numbers."""

import dataclasses

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import tumorimmune as ti
from tumorimmune.model import (
    IIV_PARAMETERS,
    NIVOLUMAB,
    PEMBROLIZUMAB,
    PEMBROLIZUMAB_200MG_Q3W,
    Regimen,
    TumorImmunePD1,
    individual_pk,
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


def test_mg_per_kg_scales_pk_with_weight_in_simulate():
    """A mg/kg dose scales with weight, and so do CL, Q (exponent 0.595) and V1, V2 (0.489):
    the concentration matches the closed form of each patient's allometrically scaled PK, and
    is no longer exactly proportional to weight (the defect: ratio 2 for weights 50/100 kg)."""
    reg = Regimen(dose=2.0, unit="mg/kg", interval=21.0, drug="pembrolizumab")
    t = np.array([0.0, 10.0, 20.0, 42.5])
    w = np.array([50.0, 100.0])
    ds = _pk_only("pembrolizumab", reg, t, weight=w)
    c = ds["C"].values  # (patient, time)
    for i in range(2):
        s_cl, s_v = (w[i] / 76.8) ** 0.595, (w[i] / 76.8) ** 0.489  # Ahamadi 2017, Table 3
        ref = two_compartment_bolus(
            t, reg.dose_times(0, 43), np.full(3, 2.0 * w[i]),
            CL=0.22 * s_cl, V1=3.48 * s_v, Q=0.795 * s_cl, V2=4.06 * s_v,
        )  # fmt: skip
        np.testing.assert_allclose(c[i, 1:], ref[1:], rtol=1e-6)
    ratio = c[1, 1:] / c[0, 1:]
    assert np.all(ratio < 1.75) and np.all(ratio > 1.3)  # ≈ 2^(1-0.489) early


def test_individual_pk_nivolumab_published_covariate_model():
    """Bajaj et al. 2017 Table 1 and Eqs. 7, 10, written out by hand (CL, Q in mL/h)."""
    cov = {"female": 0, "ecog": 1, "egfr": 60.0, "asian": 1}
    z = {"CL": 0.7, "V1": -1.2, "Q": 2.0, "V2": 0.4, "CL_emax": -0.5}
    pk = individual_pk(NIVOLUMAB, weight=60.0, covariates=cov, iiv_z=z)
    eta_cl = np.sqrt(0.123) * 0.7
    eta_v1 = 0.0432 / np.sqrt(0.123) * 0.7 + np.sqrt(0.123 - 0.0432**2 / 0.123) * -1.2
    cl = 9.40e-3 * 24 * (60 / 80) ** 0.566 * (60 / 90) ** 0.186 * np.exp(0.165 + 0.172 - 0.125)
    assert pk["CL"] == pytest.approx(cl * np.exp(eta_cl), rel=1e-12)
    v1 = 3.63 * (60 / 80) ** 0.597 * np.exp(0.152)
    assert pk["V1"] == pytest.approx(v1 * np.exp(eta_v1), rel=1e-12)
    assert pk["Q"] == pytest.approx(32.1e-3 * 24, rel=1e-12)  # no weight effect, no IIV
    assert pk["V2"] == pytest.approx(2.78 * np.exp(np.sqrt(0.258) * 0.4), rel=1e-12)
    assert pk["CL_emax"] == pytest.approx(-0.295 + np.sqrt(0.0719) * -0.5, rel=1e-12)
    assert pk["CL_T50"] == pytest.approx(1410 / 24) and pk["CL_gamma"] == 3.15


def test_individual_pk_pembrolizumab_published_covariate_model():
    """Ahamadi et al. 2017 Table 3 (footnotes a, b): power and proportional effects."""
    cov = {"female": 1, "ecog": 1, "egfr": 70.0, "albumin": 35.0, "sld": 120.0, "nsclc": 1}
    cov["prior_ipilimumab"] = 1
    pk = individual_pk(PEMBROLIZUMAB, weight=90.0, covariates=cov, iiv_z={"CL": 1.0, "V1": -1.0})
    s_cl = (90 / 76.8) ** 0.595 * np.exp(np.sqrt(0.134))
    s_v = (90 / 76.8) ** 0.489 * np.exp(-np.sqrt(0.0417))
    cl = 0.22 * s_cl * (35 / 39.6) ** -0.907 * (120 / 89.6) ** 0.0872 * (70 / 88.47) ** 0.135
    cl *= (1 - 0.152) * (1 + 0.145) * (1 - 0.0739) * (1 + 0.140)
    assert pk["CL"] == pytest.approx(cl, rel=1e-12)
    v1 = 3.48 * s_v * (35 / 39.6) ** -0.208 * (1 - 0.134) * (1 + 0.0736)
    assert pk["V1"] == pytest.approx(v1, rel=1e-12)
    assert pk["Q"] == pytest.approx(0.795 * s_cl, rel=1e-12)  # η shared with CL
    assert pk["V2"] == pytest.approx(4.06 * s_v, rel=1e-12)  # η shared with V1
    assert pk["CL_emax"] == 0.0


@pytest.mark.parametrize("drug", [PEMBROLIZUMAB, NIVOLUMAB])
def test_reference_patient_has_the_typical_pk(drug):
    ref = drug.reference_covariates()
    w = ref.pop("weight")
    assert individual_pk(drug) == drug.pk_parameters()
    assert individual_pk(drug, weight=w, covariates=ref) == drug.pk_parameters()
    model = TumorImmunePD1.with_drug(drug)
    assert model.weight == w and model.CL == drug.CL


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(covariates={"sex": 1}), "unknown covariate 'sex'.*female"),
        (dict(covariates={"female": 2}), "'female'.*0..1"),
        (dict(covariates={"egfr": -5.0}), "'egfr'.*positive"),
        (dict(weight=0.0), "weight"),
        (dict(iiv_z={"Vc": 1.0}), "unknown random effect 'Vc'.*V1"),
    ],
)
def test_individual_pk_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        individual_pk(NIVOLUMAB, **kwargs)


@pytest.mark.parametrize("drug", [PEMBROLIZUMAB, NIVOLUMAB])
def test_iiv_moments_recover_published_omega(drug):
    """1e5 sampled patients: the covariance of (log CL, log V1, log Q, log V2, CL_emax) is the
    published Ω within sampling error (SE of a variance ω²·sqrt(2/n) = 5.5e-4 for 0.123)."""
    n = 100_000
    z = np.random.default_rng(7).standard_normal((5, n))
    pk = individual_pk(drug, iiv_z=dict(zip(IIV_PARAMETERS, z, strict=True)))
    eta = np.stack([np.log(pk[k] / getattr(drug, k)) for k in ("CL", "V1", "Q", "V2")])
    eta = np.concatenate([eta, [pk["CL_emax"] - drug.CL_emax]])
    emp = np.cov(eta)
    om = drug.omega_matrix()
    se = np.sqrt((om**2 + np.outer(np.diag(om), np.diag(om))) / n)  # SE of sample covariances
    assert np.all(np.abs(emp - om) <= 5 * se + 1e-12)
    assert np.all(np.abs(eta.mean(axis=1)) <= 5 * np.sqrt(np.diag(om) / n) + 1e-12)
    if drug is PEMBROLIZUMAB:  # one η shared by CL and Q, one by V1 and V2
        np.testing.assert_allclose(pk["Q"] / pk["CL"], 0.795 / 0.22, rtol=1e-12)
        np.testing.assert_allclose(pk["V2"] / pk["V1"], 4.06 / 3.48, rtol=1e-12)
    else:  # published values: ω² CL 0.123, V1 0.123 (cov 0.0432), V2 0.258, Emax 0.0719
        np.testing.assert_allclose(np.diag(om), [0.123, 0.123, 0.0, 0.258, 0.0719])
        assert om[0, 1] == 0.0432


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


def _bajaj_scipy(dose_mg, t_days, *, weight=80.0):
    """Independent reference: Bajaj et al. 2017 Table 1 in its own units (hours, L/h),
    typical white female, eGFR 90, ECOG 0; 2-compartment ODE with
    CL(t) = CL·(BW/80)^0.566·exp(Emax·t^γ/(T50^γ + t^γ)), t in hours since the first dose;
    boluses every 336 h; SciPy DOP853 at rtol 1e-11. Returns pre-dose C at ``t_days``."""
    cl0 = 9.40e-3 * (weight / 80) ** 0.566
    v1, q, v2 = 3.63 * (weight / 80) ** 0.597, 0.0321, 2.78
    emax, t50, hill = -0.295, 1410.0, 3.15

    def rhs(t, a):
        cl = cl0 * np.exp(emax * t**hill / (t50**hill + t**hill))
        return [-(cl + q) / v1 * a[0] + q / v2 * a[1], q / v1 * a[0] - q / v2 * a[1]]

    t_h = np.asarray(t_days) * 24.0
    doses = np.arange(0.0, t_h[-1], 336.0)
    out, a, t0 = [], np.zeros(2), 0.0
    for t_end in t_h:  # pre-dose value at t_end: give the doses in [t0, t_end)
        for td in doses[(doses >= t0) & (doses < t_end)]:
            if td > t0:
                a = solve_ivp(rhs, (t0, td), a, method="DOP853", rtol=1e-11, atol=1e-12).y[:, -1]
            a, t0 = a + np.array([dose_mg, 0.0]), td
        if t_end > t0:
            a = solve_ivp(rhs, (t0, t_end), a, method="DOP853", rtol=1e-11, atol=1e-12).y[:, -1]
            t0 = t_end
        out.append(a[0] / v1)
    return np.array(out)


@pytest.mark.parametrize(
    "regimen,weight",
    [(ti.model.NIVOLUMAB_240MG_Q2W, 80.0), (ti.model.NIVOLUMAB_3MGKG_Q2W, 60.0)],
)
def test_nivolumab_typical_profile_matches_scipy_solve_of_bajaj(regimen, weight):
    """No published typical trough was found with the search tool (docs/science.md): the
    typical Bajaj 2017 profile is checked against an independent SciPy solve of the published
    equations, in the paper's units, at troughs (days 14, 28, ..., 364) and mid-interval."""
    t = np.concatenate([[0.0], np.arange(7.0, 365.0, 7.0)])
    model = TumorImmunePD1.with_drug("nivolumab", weight=weight)
    c = ti.simulate(model, {"E": 3.2e5, "T": 5e6}, t, regimen=regimen)["C"].values
    ref = _bajaj_scipy(regimen.dose_amount_mg(weight), t, weight=weight)
    np.testing.assert_allclose(c[1:], ref[1:], rtol=1e-6)


@pytest.mark.parametrize("backend", ["diffrax", "fused"])
def test_clearance_clock_starts_at_first_dose(backend):
    """A nivolumab regimen starting on day 28 gives the day-0 profile shifted by 28 days
    (time-varying CL counts from the first dose: Bajaj et al. 2017); nothing before it."""
    s = np.arange(0.0, 200.0, 7.0)
    t = np.concatenate([[0.0, 14.0], 28.0 + s])
    late = dataclasses.replace(ti.model.NIVOLUMAB_240MG_Q2W, start_day=28.0)
    c_late = _pk_only("nivolumab", late, t, backend)["C"].values
    # the day-0 profile on as many output times (2 after s) and doses (15) as the late one: the
    # same shapes, so the second solve reuses the first one's compiled program
    s2 = np.concatenate([s, [200.0, 203.0]])
    c0 = _pk_only("nivolumab", ti.model.NIVOLUMAB_240MG_Q2W, s2, backend)["C"].values[: s.size]
    assert c_late[0] == c_late[1] == 0.0
    np.testing.assert_allclose(c_late[2:], c0, rtol=1e-6, atol=1e-9)
    cl = ti.model.clearance(np.array([10.0, 28.0, 28.0 + 400]), 0.2, -0.295, 58.75, 3.15,
                            t_dose0=28.0)  # fmt: skip
    np.testing.assert_allclose(cl[:2], 0.2)
    assert float(cl[2]) == pytest.approx(0.2 * np.exp(-0.295), rel=1e-3)


def test_pembrolizumab_typical_exposure_matches_published():
    """Typical (reference-patient) exposure of the Ahamadi 2017 preset against published
    population values (docs/science.md): steady-state AUC over 6 weeks, mean 1.87 mg·day/mL
    at 200 mg q3w and 1.38 at 2 mg/kg q3w (Freshwater et al. 2017, CV 37-38 %: typical and
    mean agree within 5 %), and systemic accumulation 2.1-fold (KEYTRUDA label)."""
    tau, n = 21.0, 60  # 60 doses: steady state
    t = np.linspace(0.0, tau * n, int(tau * n * 48) + 1)
    pk = {k: getattr(PEMBROLIZUMAB, k) for k in ("CL", "V1", "Q", "V2")}
    for dose, published in ((200.0, 1.87), (2.0 * PEMBROLIZUMAB.weight_ref, 1.38)):
        c = two_compartment_bolus(t, tau * np.arange(n), np.full(n, dose), **pk)
        last = t >= tau * (n - 2)  # the last two intervals: 6 weeks at steady state
        auc_6w = np.trapezoid(c[last], t[last]) / 1000.0  # mg·day/L -> mg·day/mL
        assert auc_6w == pytest.approx(published, rel=0.05)
        first = t <= tau
        acc = np.trapezoid(c[t >= tau * (n - 1)], t[t >= tau * (n - 1)])
        acc /= np.trapezoid(c[first], t[first])
        assert round(float(acc), 1) == 2.1

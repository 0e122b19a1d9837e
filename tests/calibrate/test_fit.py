"""Parameter recovery of fit_patients (tumorimmune.calibrate._fit) on simulated patients.

The ODE fits compile L-BFGS + diffrax gradients (tens of seconds on 2 cores): marked slow.
"""

import numpy as np
import pandas as pd
import pytest

import tumorimmune as ti
from tumorimmune.calibrate import Minimizer, Noise, fit_patients, load_measurements
from tumorimmune.model import ClaretTGI

A0, N0 = 0.18, 1.101e-7
Y0 = {"E": 3.2e5, "T": 5e6}


def _cohort(P, days, seed, noise=0.0, unit="cells"):
    rng = np.random.default_rng(seed)
    a = A0 * np.exp(0.2 * rng.standard_normal(P))
    n = N0 * np.exp(0.2 * rng.standard_normal(P))
    T = np.atleast_2d(ti.simulate(ti.Kuznetsov1994(a=a, n=n), Y0, days)["T"].values)
    y = T * np.exp(noise * rng.standard_normal(T.shape))
    y[:, 0] = T[:, 0]  # baseline is the (known) initial condition
    rows = [
        {"patient": f"p{i:02d}", "day": d, "value": v, "unit": unit}
        for i in range(P)
        for d, v in zip(days, y[i], strict=True)
    ]
    return pd.DataFrame(rows), np.stack([a, n], axis=1)


@pytest.mark.slow
def test_noise_free_recovery_per_patient():
    df, truth = _cohort(4, np.arange(0.0, 85.0, 7.0), seed=1)
    res = fit_patients(
        load_measurements(df),
        ti.Kuznetsov1994(),
        ["a", "n"],
        noise=Noise(sigma=0.1),
        optimizer=Minimizer(n_starts=2),
    )
    ds = res.dataset
    assert ds["converged"].all() and ds["hessian_ok"].all()
    np.testing.assert_allclose(ds["estimate"].values, truth, rtol=1e-3)
    np.testing.assert_allclose(ds["fitted"].values, ds["observed"].values, rtol=1e-4)
    # intervals contain the estimate and respect the default bounds (value ÷/× 10)
    assert np.all(ds["ci_lo"] < ds["estimate"]) and np.all(ds["estimate"] < ds["ci_hi"])
    assert np.all(ds["ci_lo"] >= ds["lower_bound"]) and np.all(ds["ci_hi"] <= ds["upper_bound"])
    # the figure: one marker and one line trace per patient, curves through the data
    fig = res.figure()
    assert len(fig.data) == 8  # pyright: ignore[reportArgumentType]  (plotly: untyped)
    dense = res.predict(np.arange(0.0, 85.0, 7.0))
    np.testing.assert_allclose(dense, ds["fitted"].values, rtol=1e-6)


@pytest.mark.slow
def test_laplace_coverage_with_noise():
    """True values fall inside the 95 % Laplace intervals at about the nominal rate.

    40 patients x 2 parameters = 80 intervals, log-normal noise σ = 0.1 (estimated), 12
    weekly measurements after baseline each (small-sample Student-t intervals, the default).
    Binomial(80, 0.95): P(coverage < 0.875) ≈ 0.3 %.
    """
    df, truth = _cohort(40, np.arange(0.0, 85.0, 7.0), seed=7, noise=0.1)
    res = fit_patients(
        load_measurements(df), ti.Kuznetsov1994(), ["a", "n"], optimizer=Minimizer(n_starts=2)
    )
    ds = res.dataset
    assert ds["converged"].all() and ds["hessian_ok"].all()
    covered = (ds["ci_lo"].values <= truth) & (truth <= ds["ci_hi"].values)
    coverage = covered.mean()
    print(
        f"coverage of 95 % intervals: {coverage:.3f} (a: {covered[:, 0].mean():.3f}, "
        f"n: {covered[:, 1].mean():.3f})"
    )
    assert 0.875 <= coverage <= 1.0
    # σ is estimated close to the truth (pooled over patients)
    assert abs(float(ds["sigma"].mean()) - 0.1) < 0.015
    # Laplace SE vs the spread of the estimates around the truth (z-scores ~ N(0, 1))
    z = np.log(ds["estimate"].values / truth) / ds["se_log"].values
    assert 0.7 < z.std() < 1.3


@pytest.mark.slow
def test_joint_fit_shared_parameter_noise_free():
    """Shared ``a``, per-patient ``n`` and baseline ``T0``; data in mm³.

    (Noise-free recovery needs the log-normal model: under proportional error the density's
    ``log f`` term biases the MLE even for exact data.)
    """
    rng = np.random.default_rng(3)
    n = N0 * np.exp(0.2 * rng.standard_normal(3))
    days = np.arange(0.0, 85.0, 7.0)
    T = ti.simulate(ti.Kuznetsov1994(a=0.2, n=n), Y0, days)["T"].values
    df = pd.DataFrame(
        [
            {"patient": i, "day": d, "value": v * 1e-6, "unit": "mm3"}  # 1 mm³ = 1e6 cells
            for i in range(3)
            for d, v in zip(days, T[i], strict=True)
        ]
    )
    res = fit_patients(
        load_measurements(df),
        ti.Kuznetsov1994(),
        ["a", "n", "T0"],
        shared=["a"],
        noise=Noise(sigma=0.1),
        init={"T0": 4e6},  # start away from the measured baseline
    )
    ds = res.dataset
    assert ds.attrs["mode"] == "joint"
    np.testing.assert_allclose(ds["estimate"].sel(param="a").values, 0.2, rtol=1e-3)
    np.testing.assert_allclose(ds["estimate"].sel(param="n").values, n, rtol=1e-3)
    np.testing.assert_allclose(ds["estimate"].sel(param="T0").values, 5e6, rtol=1e-3)
    assert (ds["n_obs"] == 13).all()  # with T0 free the baseline counts in the likelihood
    # the shared parameter has one interval for everybody
    assert np.ptp(ds["ci_lo"].sel(param="a").values) == 0


@pytest.mark.usefixtures("unchecked")  # ill-typed arguments on purpose
def test_fit_argument_errors():
    df, _ = _cohort(1, np.array([0.0, 7.0]), seed=0)
    data = load_measurements(df)
    m = ti.Kuznetsov1994()
    with pytest.raises(ValueError, match="free parameter 'zz' is not a parameter"):
        fit_patients(data, m, ["zz"])
    with pytest.raises(ValueError, match="shared parameter 'n' must also be in free"):
        fit_patients(data, m, ["a"], shared=["n"])
    with pytest.raises(ValueError, match=r"bounds\['a'\] must be"):
        fit_patients(data, m, ["a"], bounds={"a": (1.0, 0.5)})
    with pytest.raises(ValueError, match="noise must be"):
        fit_patients(data, m, ["a"], noise=Noise("gaussian"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has no drug compartment"):
        fit_patients(data, m, ["a"], regimen=ti.model.PEMBROLIZUMAB_200MG_Q3W)
    with pytest.raises(ValueError, match="scalar parameters"):
        fit_patients(data, ti.Kuznetsov1994(a=np.array([0.1, 0.2])), ["n"])
    zero = df.assign(value=[5e6, 0.0])
    with pytest.raises(ValueError, match="needs positive sizes; patient 'p00'"):
        fit_patients(load_measurements(zero), m, ["a"])


@pytest.mark.slow
def test_pd1_recovery_with_dosing_records():
    """PD-L1 expression L recovered from tumor sizes under per-patient pembrolizumab doses.

    Each patient starts on another calendar day (baseline shift); the default bounds of L are
    clipped to the model's allowed range [0, 1].
    """
    reg = ti.model.PEMBROLIZUMAB_200MG_Q3W
    L = np.array([0.3, 0.6, 0.9])
    days = np.arange(0.0, 85.0, 7.0)
    m = ti.TumorImmunePD1.with_drug("pembrolizumab")
    T = ti.simulate(m.replace(L=L), Y0, days, regimen=reg)["T"].values
    df = pd.DataFrame(
        [
            {"patient": i, "day": d + 10 * i, "value": v, "unit": "cells"}
            for i in range(3)
            for d, v in zip(days, T[i], strict=True)
        ]
    )
    doses = pd.DataFrame(
        [
            {"patient": i, "day": d + 10 * i, "dose_mg": 200.0}
            for i in range(3)
            for d in reg.dose_times(0.0, 85.0)
        ]
    )
    res = fit_patients(
        load_measurements(df, doses=doses),
        m,
        ["L"],
        noise=Noise(sigma=0.1),
        optimizer=Minimizer(n_starts=2),
    )
    ds = res.dataset
    np.testing.assert_allclose(ds["estimate"].values[:, 0], L, rtol=1e-3)
    np.testing.assert_allclose(ds["upper_bound"].values, 1.0)
    with pytest.raises(ValueError, match=r"bounds\['L'\] = \(0\.1, 2\.0\) leave the allowed"):
        fit_patients(load_measurements(df, doses=doses), m, ["L"], bounds={"L": (0.1, 2.0)})


@pytest.mark.slow
def test_claret_tgi_recovery_from_its_closed_form():
    # a one-state model whose state is a diameter (mm), not cells: fitted from cell counts
    truth = np.array([[0.004, 0.03, 0.02], [0.002, 0.01, 0.005]])  # KL, KD, lam per patient
    days = np.arange(0.0, 300.0, 42.0)
    base = ClaretTGI()
    rows = []
    for i, (KL, KD, lam) in enumerate(truth):
        m = base.replace(KL=KL, KD=KD, lam=lam)
        cells = np.asarray(m.tumor_cells(m.closed_form(days, 40.0)))
        rows += [
            {"patient": f"p{i}", "day": d, "value": v} for d, v in zip(days, cells, strict=True)
        ]
    res = fit_patients(
        load_measurements(pd.DataFrame(rows).assign(unit="cells")),
        base,
        ["KL", "KD", "lam"],
        noise=Noise(sigma=0.1),
        optimizer=Minimizer(n_starts=2),
    )
    ds = res.dataset
    assert ds["converged"].all()
    np.testing.assert_allclose(ds["estimate"].values, truth, rtol=1e-3)
    np.testing.assert_allclose(ds["fitted"].values, ds["observed"].values, rtol=1e-5)


@pytest.mark.slow
def test_forward_mode_gradient_equals_reverse_mode():
    """The optimizer's objective takes its gradient from forward-mode ODE sensitivities
    (``_objective``); it equals reverse mode through the checkpointed solve (``_nll``)."""
    import jax
    import jax.numpy as jnp

    from tumorimmune.calibrate._fit import _arrays, _nll, _objective

    df, _ = _cohort(2, np.arange(0.0, 85.0, 14.0), seed=5, noise=0.05)
    res = fit_patients(
        load_measurements(df),
        ti.Kuznetsov1994(),
        ["a", "n"],
        optimizer=Minimizer(n_starts=1, max_iter=2),
    )
    pb = res._problem
    reverse = jax.jit(jax.value_and_grad(lambda q, *one: _nll(pb, q, *one)))
    forward = jax.jit(lambda q, *one: jax.value_and_grad(_objective(pb, *one))(q))
    for i in range(2):
        with jax.enable_x64(True):  # as fit_patients
            one = [a[i] for a in _arrays(pb)]
            z = jnp.array([0.3, -0.2, np.log(0.07)])  # x-space parameters and log σ
            v_rev, g_rev = reverse(z, *one)
            v_fwd, g_fwd = forward(z, *one)
        assert abs(float(g_rev[0])) > 1e-3  # a gradient that is not trivially zero
        np.testing.assert_allclose(float(v_fwd), float(v_rev), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(g_fwd), np.asarray(g_rev), rtol=1e-6)

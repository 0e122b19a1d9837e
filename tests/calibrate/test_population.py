"""Virtual-population building blocks (tumorimmune.calibrate._population)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats

import tumorimmune as ti
from tumorimmune.calibrate import (
    KEYNOTE006_Q2W,
    KEYNOTE024,
    Dist,
    TrialArm,
    hard_orr,
    rescale_tumor,
    simulate_arm,
    soft_response,
)
from tumorimmune.model import Regimen, TumorImmunePD1
from tumorimmune.response import Readout
from tumorimmune.sweeps import best_overall_response, diameter_mm, sum_of_diameters_mm

REG = Regimen(dose=10, unit="mg/kg", interval=14, drug="pembrolizumab")


def test_rescale_tumor_scales_trajectories():
    t = np.arange(0.0, 200.0, 10.0)
    base = ti.Kuznetsov1994()
    big = rescale_tumor(base, 1e3)
    a = ti.simulate(base, {"E": 3.2e5, "T": 5e6}, t)
    b = ti.simulate(big, {"E": 3.2e5, "T": 5e9}, t)
    np.testing.assert_allclose(b["T"].values, 1e3 * a["T"].values, rtol=1e-6)
    np.testing.assert_allclose(b["E"].values, a["E"].values, rtol=1e-6)
    with pytest.raises(ValueError, match="factor must be a positive number"):
        rescale_tumor(base, -1.0)


def test_clinical_targets_wilson_ci():
    for target in (KEYNOTE006_Q2W, KEYNOTE024):
        k = round(target.orr * target.n)
        ref = scipy.stats.binomtest(k, target.n).proportion_ci(method="wilson")
        np.testing.assert_allclose(target.ci(), (ref.low, ref.high), rtol=1e-10)
    assert round(KEYNOTE006_Q2W.orr * KEYNOTE006_Q2W.n) == 94  # 94/279 responders


@pytest.mark.usefixtures("unchecked")  # an unknown kind literal on purpose
def test_dist_validation():
    with pytest.raises(ValueError, match=r"logitnormal Dist\.median must be in"):
        Dist("logitnormal", 1.5, 1.0)
    with pytest.raises(ValueError, match=r"Dist\.kind"):
        Dist("gamma", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="spread must be >= 0"):
        Dist("lognormal", 1.0, -0.1)
    with pytest.raises(ValueError, match="scan_days must start at 0"):
        TrialArm(TumorImmunePD1(), REG, scan_days=(7.0, 14.0))


def test_soft_response_tends_to_hard_rule():
    # diameters as fractions of baseline at 4 scans; hard rule: any scan <= 0.7 (−30 %)
    frac = np.array(
        [
            [1.0, 0.9, 0.6, 0.5, 0.5],  # PR
            [1.0, 1.05, 1.1, 1.12, 1.15],  # SD (growth < 20 %)
            [1.0, 0.8, 0.72, 0.75, 0.8],  # SD, best −28 %
            [1.0, 0.5, 0.0, 0.0, 0.0],  # CR (extinct)
            [1.0, 0.95, 0.69, 0.8, 0.9],  # PR at −31 %
        ]
    )
    cells = 1e10 * frac**3
    hard = best_overall_response(diameter_mm(cells)) <= 1
    no_pd = Readout(detection_limit_mm=0.0, pd_increase_pct=1000.0)  # progression impossible
    with jax.enable_x64(True):
        soft = np.asarray(soft_response(jnp.asarray(cells), readout=Readout(temperature=0.05)))
        warm = np.asarray(soft_response(jnp.asarray(cells), readout=no_pd.replace(temperature=5.0)))
        g = jax.grad(lambda c: soft_response(c, readout=Readout(temperature=2.0)).sum())(
            jnp.asarray(cells)
        )
    np.testing.assert_allclose(soft, hard.astype(float), atol=1e-6)
    assert np.all(np.isfinite(np.asarray(g)))
    # without progression or detection limit it is the former relaxation, evaluated
    # independently: sigmoid((−30 − min_j c_j)/τ)
    c = 100.0 * (frac[:, 1:] - 1.0)
    expected = scipy.special.expit((-30.0 - c.min(axis=1)) / 5.0)
    np.testing.assert_allclose(
        warm, expected, rtol=1e-9, atol=1e-8
    )  # extinct: ratio floored at 1e-12
    assert 0.0 < warm[2] < warm[4] < 1.0  # near −30 %: smeared, ordered by depth


def test_simulate_arm_matches_simulate_and_hard_orr():
    model = rescale_tumor(TumorImmunePD1.with_drug("pembrolizumab"), 100.0)
    arm = TrialArm(model, REG)
    L = np.array([0.05, 0.5, 1.0])
    T0 = np.full(3, 3e10)
    with jax.enable_x64(True):
        cells, status = simulate_arm(arm, {"L": L}, T0)
    ref = ti.simulate(
        model.replace(L=L), {"E": arm.E0, "T": T0}, np.asarray(arm.scan_days), regimen=REG
    )
    np.testing.assert_allclose(np.asarray(cells), ref["T"].values, rtol=1e-5)  # solver tolerance
    assert np.all(np.asarray(status) == 0)
    bor, res = hard_orr(np.asarray(cells), readout=arm.readout)
    sld = sum_of_diameters_mm(ref["T"].values, readout=Readout(n_lesions=3, detection_limit_mm=5.0))
    np.testing.assert_allclose(arm.sld_mm(ref["T"].values), sld)
    np.testing.assert_array_equal(bor, best_overall_response(sld))
    # one lesion without detection limit: the former single-sphere read-out
    bor1, _ = hard_orr(np.asarray(cells), readout=Readout(n_lesions=1, detection_limit_mm=0.0))
    np.testing.assert_array_equal(bor1, best_overall_response(diameter_mm(ref["T"].values)))
    assert res["n"] == 3 and res["responders"] == int(np.sum(bor <= 1))
    starts, ends, dose = arm.segments()
    np.testing.assert_array_equal(starts[:3], [0.0, 14.0, 28.0])
    assert ends[-1] == arm.scan_days[-1] and np.all(dose == 768.0)  # 10 mg/kg x 76.8 kg

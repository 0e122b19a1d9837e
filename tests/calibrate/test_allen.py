"""Allen et al. 2016 plausible patients and prevalence selection (tumorimmune.calibrate._allen)."""

import numpy as np
import pytest

from tumorimmune.calibrate import (
    KEYNOTE006_Q2W,
    TrialArm,
    calibrate_allen,
    plausible_patients,
    prevalence_select,
    rescale_tumor,
)
from tumorimmune.model import Regimen, TumorImmunePD1


def test_plausible_patients_bounds_and_seed():
    r = {"L": (0.01, 1.0, "log"), "T0": (1e9, 2e9, "linear")}
    a = plausible_patients(r, 256, seed=3)
    b = plausible_patients(r, 256, seed=3)
    np.testing.assert_array_equal(a["L"], b["L"])
    assert a["L"].min() >= 0.01 and a["L"].max() <= 1.0
    # log-uniform: log L is uniform, so half the points lie below the geometric mean 0.1
    assert abs(np.mean(a["L"] < 0.1) - 0.5) < 0.02
    assert abs(np.mean(a["T0"] < 1.5e9) - 0.5) < 0.02
    with pytest.raises(ValueError, match=r"ranges\['L'\]: log scale needs lo > 0"):
        plausible_patients({"L": (0.0, 1.0, "log")}, 8, seed=0)
    with pytest.raises(ValueError, match=r"ranges\['L'\] must be"):
        plausible_patients({"L": (1.0, 0.0, "linear")}, 8, seed=0)


def test_prevalence_selection_matches_target_in_expectation():
    rng = np.random.default_rng(0)
    responder = rng.uniform(size=40_000) < 0.2
    chosen, accept = prevalence_select(responder, 0.337, seed=1)
    orr = responder[chosen].mean()
    assert abs(orr - 0.337) < 0.01  # SD of the selected ORR ≈ 0.003
    assert accept[responder].max() == 1.0  # the rarer class is always accepted
    p = responder.mean()
    np.testing.assert_allclose(accept[~responder], (0.663 / (1 - p)) / (0.337 / p))
    with pytest.raises(ValueError, match="widen the parameter ranges"):
        prevalence_select(np.zeros(10, bool), 0.3, seed=0)


def test_calibrate_allen_hits_keynote006_on_small_cohort():
    model = rescale_tumor(TumorImmunePD1.with_drug("pembrolizumab"), 100.0)
    arm = TrialArm(model, Regimen(dose=10, unit="mg/kg", interval=14, drug="pembrolizumab"))
    ranges = {"L": (0.01, 1.0, "log"), "eps_n": (0.3, 3.0, "log"), "T0": (1e10, 4.5e10, "log")}
    res = calibrate_allen(arm, ranges, KEYNOTE006_Q2W, n_plausible=256, seed=0)
    lo, hi = KEYNOTE006_Q2W.ci()
    assert lo <= res.orr <= hi and res.within_target_ci
    assert res.orr_lo <= KEYNOTE006_Q2W.orr <= res.orr_hi
    assert res.untreated_orr == 0.0  # sanity: no responses without drug
    assert res.n == res.info["n_selected"] >= 150
    sel = res.distributions.set_index("parameter")
    assert sel.loc["L", "selected_p05"] >= 0.01 and sel.loc["L", "selected_p95"] <= 1.0
    assert "OUTSIDE" not in res.summary()

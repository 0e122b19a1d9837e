"""Relaxed RECIST endpoints converge to the hard read-out of ``tumorimmune.response``; the
optimize entry points are the relaxed read-out of ``tumorimmune.response`` that calibrate
uses too (one implementation, one unit)."""

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tumorimmune as ti
from tumorimmune import calibrate
from tumorimmune.calibrate import CLINICAL_FIXED, load_population
from tumorimmune.optimize import evaluable, soft_diameter_mm, soft_endpoints, soft_readout
from tumorimmune.response import (
    Readout,
    best_overall_response,
    diameter_mm,
    pfs,
    sum_of_diameters_mm,
)

DAYS = np.array([0.0, 84.0, 126.0, 168.0, 210.0, 252.0, 294.0, 336.0])
LANDMARK = 182.6


def _hard(cells):
    """The sweeps' read-out: sum of diameters of 3 lesions, 5 mm detection limit (defaults)."""
    d = sum_of_diameters_mm(cells)
    bor = best_overall_response(d)
    days, event = pfs(d, DAYS, follow_up=DAYS[-1])
    return bor, ~(event & (days <= LANDMARK))


def _view(cells, days=DAYS, landmark=LANDMARK, **readout):
    """Per patient: responder, disease control and progression-free at the landmark."""
    r = soft_readout(cells, readout=Readout(**readout))
    return {
        "responder": r.response,
        "disease_control": r.disease_control,
        "progression_free": r.progression_free_at(days, landmark),
    }


def _random_series(n=3000, seed=0):
    """Random walks of log-cells, with extinctions and regrowth (PD after response)."""
    rng = np.random.default_rng(seed)
    cells = 1e10 * np.exp(np.cumsum(rng.normal(0.0, 0.6, (n, DAYS.size)), axis=1))
    cells[rng.random(cells.shape) < 0.05] = 0.0
    cells[:, 0] = 1e10 * np.exp(rng.normal(0.0, 0.5, n))
    return cells


def _population_series():
    """Tumor cells at the scans of 24 KEYNOTE-006 virtual patients, 2 mg/kg q3w."""
    table, _ = load_population(Path(ti.__file__).parent / "data" / "keynote006_vpop.npz")
    per_patient: dict[str, Any] = {
        k: table[k][:24] for k in ("a", "m", "s", "h_kill", "L", "weight")
    }
    m = ti.TumorImmunePD1.with_drug("pembrolizumab", **CLINICAL_FIXED, **per_patient)
    ds = ti.simulate(
        m,
        {"E": table["E0"][:24], "T": table["T0"][:24]},
        DAYS,
        regimen=ti.Regimen(dose=2.0, unit="mg/kg", interval=21.0),
        backend="fused",
    )
    return ds["T"].values


@pytest.mark.parametrize("series", [_random_series, _population_series])
def test_soft_readout_converges_to_sweeps_metrics(series):
    cells = series()
    bor, pf = _hard(cells)
    hard = {"responder": bor <= 1, "disease_control": bor <= 2, "progression_free": pf}
    with jax.enable_x64(True):
        exact = _view(cells, temperature=0.0)
        for k, v in hard.items():  # temperature 0: exactly the hard read-out, per patient
            np.testing.assert_array_equal(np.asarray(exact[k]), v.astype(float))
        errors = []
        for tau in (3.0, 0.3, 0.03, 0.003):  # percentage points
            r = _view(cells, temperature=tau)
            errors.append([float(np.mean(np.abs(np.asarray(r[k]) - v))) for k, v in hard.items()])
    errors = np.asarray(errors)
    assert np.all(np.diff(errors, axis=0) <= 1e-12)  # monotone in the temperature
    assert np.all(errors[-1] < 2e-3)
    assert set(np.unique(bor)) >= {1, 2, 3}  # responders, stable and progressing patients


def test_population_endpoints_and_gradient():
    cells = _random_series(n=500, seed=3)
    cells[0] = np.nan  # a failed solve: left out, as in the sweeps summary
    bor, pf = _hard(cells)
    ok = bor >= 0
    with jax.enable_x64(True):
        e = soft_endpoints(cells, DAYS, landmark=LANDMARK, readout=Readout(temperature=0.0))
        np.testing.assert_allclose(float(e["orr"]), np.mean(bor[ok] <= 1))
        np.testing.assert_allclose(float(e["dcr"]), np.mean(bor[ok] <= 2))
        np.testing.assert_allclose(float(e["pfs_at"]), np.mean(pf[ok]))
        # shrinking every tumor raises the soft ORR: the gradient w.r.t. a common scale of
        # post-baseline cells is negative and finite (extinct tumors and the failed row in)
        c = jnp.asarray(cells)

        def orr(scale):
            scaled = c.at[1:, 1:].multiply(scale)
            return soft_endpoints(scaled, DAYS, readout=Readout(temperature=2.0))["orr"]

        g = jax.grad(orr)(1.0)
        assert np.isfinite(float(g)) and float(g) < 0


def test_soft_diameter_matches_sweeps_diameter():
    cells = np.array([0.0, 1.0, 1e9, 3.3e11])
    with jax.enable_x64(True):
        np.testing.assert_allclose(soft_diameter_mm(cells), diameter_mm(cells), rtol=1e-12)
        g = jax.grad(lambda c: soft_diameter_mm(c).sum())(jnp.asarray(cells))
    assert np.all(np.isfinite(g)) and g[0] == 0.0


def test_single_lesion_without_detection_limit_is_the_diameter_readout():
    """``n_lesions=1, detection_limit_mm=0``: the hard rule on ``diameter_mm`` (the former
    optimize read-out), exactly at temperature 0."""
    cells = _random_series(n=800, seed=5)
    one = {"n_lesions": 1, "detection_limit_mm": 0.0}
    d = diameter_mm(cells)
    bor = best_overall_response(d)
    with jax.enable_x64(True):
        r = _view(cells, temperature=0.0, **one)
    ok = bor >= 0
    np.testing.assert_array_equal(np.asarray(r["responder"])[ok], (bor[ok] <= 1).astype(float))
    np.testing.assert_array_equal(
        np.asarray(r["disease_control"])[ok], (bor[ok] <= 2).astype(float)
    )


def test_optimize_readout_is_the_calibrate_readout_in_percentage_points():
    """Same numbers as ``calibrate.soft_readout`` (one implementation) and the documented unit:
    a tumor 2 points below the -30 % threshold of its baseline SLD, far from progression,
    responds with probability sigmoid(2 / tau)."""
    cells = _random_series(n=300, seed=9)
    assert soft_readout is calibrate.soft_readout  # one object, re-exported
    warm = Readout(temperature=2.0)
    with jax.enable_x64(True):
        a = _view(cells, temperature=2.0)
        b = calibrate.soft_readout(jnp.asarray(cells), readout=warm)
        pf = calibrate.soft_progression_free(jnp.asarray(cells), DAYS, LANDMARK, readout=warm)
        np.testing.assert_array_equal(np.asarray(a["responder"]), np.asarray(b.response))
        np.testing.assert_array_equal(
            np.asarray(a["disease_control"]), np.asarray(b.progression_free[:, 0])
        )
        np.testing.assert_array_equal(np.asarray(a["progression_free"]), np.asarray(pf))
        # one lesion, no detection limit: SLD = diameter; scan 1 at 68 % of the baseline SLD
        c0 = 1e10
        c1 = c0 * 0.68**3  # diameter scales with cells^(1/3)
        x = np.array([[c0, c1]])
        for tau in (1.0, 2.0, 4.0):
            r = _view(x, DAYS[:2], temperature=tau, n_lesions=1, detection_limit_mm=0.0)
            np.testing.assert_allclose(
                float(r["responder"][0]), 1.0 / (1.0 + np.exp(-2.0 / tau)), rtol=1e-9
            )


def test_evaluable_matches_the_hard_rule():
    """Not evaluable: a non-finite scan, no tumor at baseline, or baseline lesions below the
    detection limit (hard best response -1)."""
    cells = _random_series(n=400, seed=11)
    cells[:5, 0] = 1e5  # 3 lesions of 3.3e4 cells: about 0.4 mm each, below 5 mm
    cells[5, 3] = np.nan
    cells[6, 0] = 0.0
    bor = best_overall_response(sum_of_diameters_mm(cells))
    with jax.enable_x64(True):
        ok = np.asarray(evaluable(cells))
        r = soft_readout(cells, readout=Readout(temperature=1.0))
    np.testing.assert_array_equal(ok, bor >= 0)
    assert not ok[:7].any()
    np.testing.assert_array_equal(np.isnan(np.asarray(r.response)), bor < 0)

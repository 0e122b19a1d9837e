"""Regimen optimisation: known optima (analytic and constructed), and the gradient of a
whole virtual trial's soft endpoint against central finite differences."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tumorimmune as ti
from tumorimmune.calibrate import CLINICAL_FIXED, load_population
from tumorimmune.optimize import maximize_regimen, optimize_regimen, regimen_endpoint
from tumorimmune.response import Readout

DAYS = (0.0, 84.0, 126.0, 168.0)


def _table(n, seed=0):
    table, _ = load_population(Path(ti.__file__).parent / "data" / "keynote006_vpop.npz")
    idx = np.random.default_rng(seed).choice(table["T0"].size, n, replace=False)
    return {k: v[idx] for k, v in table.items()}


def test_maximize_regimen_analytic_optima():
    """Quadratic objective: interior optimum (3, 30); with dose/interval <= 0.08 the optimum
    is on the constraint, where (0.08·i − 3)² + ((i − 30)/10)² is least: i = 1.08/0.0328."""
    f = lambda d, i: -((d - 3.0) ** 2 + ((i - 30.0) / 10.0) ** 2)  # noqa: E731
    with jax.enable_x64(True):
        free = maximize_regimen(f, dose_bounds=(1.0, 10.0), interval_bounds=(14.0, 42.0))
        tied = maximize_regimen(
            f, dose_bounds=(1.0, 10.0), interval_bounds=(14.0, 42.0), max_dose_rate=0.08
        )
    np.testing.assert_allclose([free.dose, free.interval], [3.0, 30.0], rtol=1e-4)
    i_star = 1.08 / 0.0328
    np.testing.assert_allclose([tied.dose, tied.interval], [0.08 * i_star, i_star], rtol=1e-3)
    assert tied.dose_rate <= 0.08 + 1e-12 and tied.value > tied.start_value
    with pytest.raises(ValueError, match="max_dose_rate"):
        maximize_regimen(
            f, dose_bounds=(1.0, 10.0), interval_bounds=(14.0, 42.0), max_dose_rate=0.05
        )


@pytest.mark.slow
def test_trial_endpoint_gradient_matches_central_differences():
    """d(soft ORR)/d(dose, interval) of a 6-patient virtual trial, float64."""
    with jax.enable_x64(True):
        f = regimen_endpoint(
            _table(6), CLINICAL_FIXED, DAYS, rtol=1e-11, atol=1e-7, readout=Readout(temperature=5.0)
        )
        x = (jnp.asarray(0.05), jnp.asarray(17.0))  # low exposure: the response depends on it
        g = jax.grad(f, argnums=(0, 1))(*x)
        fd_dose = (f(x[0] + 1e-5, x[1]) - f(x[0] - 1e-5, x[1])) / 2e-5
        fd_int = (f(x[0], x[1] + 1e-3) - f(x[0], x[1] - 1e-3)) / 2e-3
    np.testing.assert_allclose(float(g[0]), float(fd_dose), rtol=1e-5)
    np.testing.assert_allclose(float(g[1]), float(fd_int), rtol=1e-5)
    assert float(g[0]) > 0  # more drug, more responses


@pytest.mark.slow
def test_optimize_regimen_finds_max_exposure_corner():
    """Constructed case: doses far below saturation (0.01–0.2 mg/kg), no amount constraint.
    Blockade and so the response grow with exposure, so the optimum is the largest dose at
    the shortest interval; the optimiser must reach that corner from the box's middle."""
    opt = optimize_regimen(
        _table(8, seed=1),
        scan_days=DAYS,
        dose_bounds=(0.01, 0.2),
        interval_bounds=(14.0, 42.0),
        max_dose_rate=None,
        max_iter=15,
        readout=Readout(temperature=5.0),
    )
    assert opt.value > opt.start_value
    assert opt.dose > 0.19 and opt.interval < 15.0, opt

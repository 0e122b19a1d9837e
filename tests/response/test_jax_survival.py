"""The survival link on the device (jax_death_days) against the NumPy reference
(sample_death_days of sum_of_diameters_mm) and against the closed form it inverts."""

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune.response import (
    Readout,
    SurvivalLink,
    cumulative_hazard,
    jax_death_days,
    patient_uniforms,
    sample_death_days,
    sum_of_diameters_mm,
)
from tumorimmune.response._survival import DEATH_DAY_TOL

GRID = np.arange(0.0, 1095.0, 14.0)


def _cohort(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    T0 = 10 ** rng.uniform(8.5, 11.5, (1, n, 1))
    rate = rng.normal(0.0, 0.006, (2, n, 1))  # shrinking and growing tumors, two arms
    cells = T0 * np.exp(rate * GRID)
    cells[0, 3, 5] = np.nan  # a failed solve
    cells[1, 7, 20:] = 0.0  # an extinct tumor
    return cells


@pytest.mark.parametrize("background", [0.0, 0.01, 0.5])
@pytest.mark.parametrize("beta", [1.58, -0.4])
def test_device_death_days_equal_the_numpy_reference(background, beta):
    n = 4000
    cells = _cohort(n)
    lesions = np.random.default_rng(1).integers(1, 5, (n, 1)).astype(float)
    readout = Readout(n_lesions=lesions)
    u = patient_uniforms(7, np.arange(n))[None, :]
    link = SurvivalLink(2111.8, 1.667, beta, background_per_year=background)
    want_d, want_e = sample_death_days(
        sum_of_diameters_mm(cells, readout=readout), GRID, u, link, follow_up=1000.0
    )
    got_d, got_e = jax_death_days(cells, GRID, u, link, follow_up=1000.0, readout=readout)
    assert got_d.shape == want_d.shape == (2, n) and got_d.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(got_d), np.isnan(want_d))
    assert np.isnan(got_d[0, 3]) and not got_e[0, 3]
    # both find the root to DEATH_DAY_TOL; XLA's cbrt/pow differ from libm in the last bits
    np.testing.assert_allclose(got_d, want_d, rtol=1e-12, atol=4 * DEATH_DAY_TOL)
    np.testing.assert_array_equal(got_e, want_e)
    assert 0.05 < want_e.mean() < 0.95  # both censored and observed deaths are compared


def test_device_death_day_inverts_the_cumulative_hazard():
    """H(T) = -log(u) at the sampled day, with H the closed form on the grid continued."""
    n = 500
    cells = _cohort(n, seed=3)[:, 8:]  # no NaN / extinct rows
    readout = Readout()
    u = patient_uniforms(11, np.arange(n - 8))[None, :]
    link = SurvivalLink(900.0, 1.3, 1.0, background_per_year=0.2)
    days, event = jax_death_days(cells, GRID, u, link, follow_up=1e6, readout=readout)
    sld = sum_of_diameters_mm(cells, readout=readout)
    H = cumulative_hazard(sld, GRID, link)
    j = np.searchsorted(GRID, days, side="right") - 1
    c = link.factor(np.take_along_axis(sld, j[..., None], -1)[..., 0])
    Hj = np.take_along_axis(H, j[..., None], -1)[..., 0]
    tj = GRID[j]
    at_t = (
        Hj
        + c * (link.baseline_cumulative(days) - link.baseline_cumulative(tj))
        + link.background_per_day * (days - tj)
    )
    assert event.all()
    np.testing.assert_allclose(at_t, -np.log(np.broadcast_to(u, days.shape)), rtol=1e-9)

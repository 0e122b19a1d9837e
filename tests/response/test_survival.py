"""Overall survival from tumor kinetics: hazard, exact sampling, patient uniforms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate
import scipy.stats

from tumorimmune.response import (
    SurvivalLink,
    cumulative_hazard,
    kaplan_meier,
    os_summary,
    patient_uniforms,
    sample_death_days,
)

N_DRAWS = 20_000


def test_constant_size_gives_a_weibull_with_scaled_scale():
    link = SurvivalLink(scale_days=400.0, shape=1.4, beta=0.8, sld_ref_mm=100.0)
    sld_mm = 60.0
    c = (sld_mm / 100.0) ** 0.8
    grid = np.arange(0.0, 2000.0, 14.0)
    u = patient_uniforms(7, np.arange(N_DRAWS))
    days, event = sample_death_days(
        np.full((N_DRAWS, grid.size), sld_mm), grid, u, link, follow_up=1e6
    )
    assert event.all()
    dist = scipy.stats.weibull_min(c=1.4, scale=400.0 * c ** (-1 / 1.4))
    assert scipy.stats.kstest(days, dist.cdf).pvalue > 0.01
    km = kaplan_meier(days, event)
    for day in (100.0, 300.0, 600.0, 1200.0):
        s = dist.sf(day)
        emp = float(np.mean(days > day))
        se = np.sqrt(s * (1 - s) / N_DRAWS)
        assert abs(emp - s) < 4 * se
        i = np.searchsorted(km.time, day, side="right") - 1
        assert abs(km.survival[i] - s) < 4 * se


def test_hazard_ratio_multiplies_the_tumor_driven_hazard_only():
    """``with_hazard_ratio(hr)``: ``H_hr = hr·(H − background·t) + background·t`` on any path
    (the Weibull part times a constant is a Weibull of scale ``λ·hr^(−1/k)``)."""
    link = SurvivalLink(scale_days=700.0, shape=0.8, beta=1.6, background_per_year=0.01)
    grid = np.arange(0.0, 400.0, 14.0)
    sld = np.random.default_rng(1).uniform(0.0, 200.0, (5, grid.size))
    bg = link.background_per_day * grid
    h, h2 = (
        cumulative_hazard(sld, grid, link),
        cumulative_hazard(sld, grid, link.with_hazard_ratio(2.5)),
    )
    np.testing.assert_allclose(h2, 2.5 * (h - bg) + bg, rtol=1e-12)
    assert link.with_hazard_ratio(1.0) is link
    assert link.with_hazard_ratio(2.5).shape == link.shape
    with pytest.raises(ValueError, match="hazard_ratio must be a finite number > 0"):
        link.with_hazard_ratio(0.0)


def test_weibull_is_rejected_for_a_wrong_scale():
    """The KS check above has power: a 10 % longer scale is told apart."""
    link = SurvivalLink(scale_days=400.0, shape=1.4, beta=0.0)
    grid = np.array([0.0, 100.0])
    u = patient_uniforms(3, np.arange(N_DRAWS))
    days, _ = sample_death_days(np.full((N_DRAWS, 2), 50.0), grid, u, link, follow_up=1e6)
    assert scipy.stats.kstest(days, scipy.stats.weibull_min(c=1.4, scale=440.0).cdf).pvalue < 1e-6


def test_cumulative_hazard_is_the_integral_of_the_hazard():
    rng = np.random.default_rng(0)
    link = SurvivalLink(
        scale_days=300.0, shape=0.7, beta=1.3, sld_floor_mm=8.0, background_per_year=0.15
    )
    grid = np.concatenate([[0.0], np.cumsum(rng.uniform(3.0, 30.0, 25))])
    sld = rng.uniform(0.0, 150.0, grid.size)
    sld[[4, 9]] = 0.0  # complete responses: the floor applies
    H = cumulative_hazard(sld, grid, link)
    ref = [0.0]
    for j in range(grid.size - 1):
        val, _ = scipy.integrate.quad(
            lambda t, j=j: float(link.hazard(t, sld[j])),
            grid[j],
            grid[j + 1],
            epsabs=0,
            epsrel=1e-13,
        )
        ref.append(ref[-1] + val)
    np.testing.assert_allclose(H, ref, rtol=1e-10)
    assert H[0] == 0.0


def test_sampled_day_inverts_the_cumulative_hazard_on_a_varying_path():
    rng = np.random.default_rng(1)
    grid = np.arange(0.0, 400.0, 14.0)
    sld = rng.uniform(0.0, 200.0, (50, grid.size))
    u = patient_uniforms(11, np.arange(50))
    for bg in (0.0, 0.3):
        link = SurvivalLink(scale_days=250.0, shape=1.2, beta=1.0, background_per_year=bg)
        days, event = sample_death_days(sld, grid, u, link, follow_up=390.0)
        for p in np.flatnonzero(event):
            j = np.searchsorted(grid, days[p], side="right") - 1
            H = cumulative_hazard(
                np.append(sld[p, : j + 1], sld[p, j]), [*grid[: j + 1], days[p]], link
            )
            assert H[-1] == pytest.approx(-np.log(u[p]), rel=1e-9, abs=1e-12)


def test_background_only_is_exponential():
    link = SurvivalLink(scale_days=1e3, shape=1.0, beta=0.0, background_per_year=0.5)
    # beta = 0: factor 1; a baseline of 1/1000 per day plus 0.5/365.25 per day
    rate = 1e-3 + 0.5 / 365.25
    grid = np.arange(0.0, 700.0, 14.0)
    u = patient_uniforms(5, np.arange(N_DRAWS))
    days, event = sample_death_days(
        np.full((N_DRAWS, grid.size), 30.0), grid, u, link, follow_up=1e5
    )
    assert event.all()
    assert scipy.stats.kstest(days, scipy.stats.expon(scale=1 / rate).cdf).pvalue > 0.01


def test_background_alone_with_a_vanishing_tumor_hazard():
    link = SurvivalLink(scale_days=1e12, shape=1.0, beta=1.0, background_per_year=1.0)
    grid = np.array([0.0, 10.0])
    u = patient_uniforms(2, np.arange(N_DRAWS))
    days, _ = sample_death_days(np.full((N_DRAWS, 2), 100.0), grid, u, link, follow_up=1e6)
    ref = -np.log(u) * 365.25 / (1.0 + 365.25e-12)
    np.testing.assert_allclose(days, ref, rtol=1e-9)


def test_deaths_after_follow_up_are_censored_there():
    link = SurvivalLink(scale_days=200.0, shape=1.0, beta=1.0)
    grid = np.arange(0.0, 365.0, 14.0)
    u = patient_uniforms(9, np.arange(1000))
    sld = np.full((1000, grid.size), 100.0)
    full, _ = sample_death_days(sld, grid, u, link, follow_up=1e7)
    days, event = sample_death_days(sld, grid, u, link, follow_up=365.0)
    np.testing.assert_array_equal(event, full <= 365.0)
    np.testing.assert_array_equal(days[~event], 365.0)
    np.testing.assert_array_equal(days[event], full[event])
    assert 0 < event.sum() < 1000


def test_not_evaluable_rows_and_leading_axes():
    link = SurvivalLink(scale_days=100.0, shape=1.0, beta=1.0)
    grid = np.array([0.0, 14.0, 28.0])
    sld = np.full((2, 3, 3), 50.0)
    sld[1, 2, 1] = np.nan
    u = patient_uniforms(0, np.arange(3))  # the same patients in both arms
    days, event = sample_death_days(sld, grid, u, link, follow_up=1000.0)
    assert days.shape == (2, 3) and np.isnan(days[1, 2]) and not event[1, 2]
    np.testing.assert_array_equal(days[0, :2], days[1, :2])
    assert np.isnan(cumulative_hazard(sld, grid, link)[1, 2]).all()


def test_bad_input_names_the_argument(unchecked):
    with pytest.raises(ValueError, match="scale_days"):
        SurvivalLink(scale_days=0.0, shape=1.0, beta=1.0)
    with pytest.raises(ValueError, match="shape"):
        SurvivalLink(scale_days=1.0, shape=-1.0, beta=1.0)
    with pytest.raises(ValueError, match="beta"):
        SurvivalLink(scale_days=1.0, shape=1.0, beta=float("nan"))
    with pytest.raises(ValueError, match="sld_floor_mm"):
        SurvivalLink(scale_days=1.0, shape=1.0, beta=1.0, sld_floor_mm=0.0)
    with pytest.raises(ValueError, match="background_per_year"):
        SurvivalLink(scale_days=1.0, shape=1.0, beta=1.0, background_per_year=-1.0)
    link = SurvivalLink(scale_days=1.0, shape=1.0, beta=1.0)
    with pytest.raises(ValueError, match="grid_days"):
        cumulative_hazard(np.ones(3), [1.0, 2.0, 3.0], link)
    with pytest.raises(ValueError, match="grid_days"):
        cumulative_hazard(np.ones(3), [0.0, 2.0], link)
    with pytest.raises(ValueError, match="sld"):
        cumulative_hazard(-np.ones(2), [0.0, 2.0], link)
    with pytest.raises(ValueError, match="u must"):
        sample_death_days(np.ones((2, 2)), [0.0, 1.0], np.array([0.5, 1.0]), link, follow_up=5.0)
    with pytest.raises(ValueError, match="follow_up"):
        sample_death_days(np.ones((2, 2)), [0.0, 1.0], np.array([0.5, 0.5]), link, follow_up=0.0)
    with pytest.raises(ValueError, match="ids"):
        patient_uniforms(1, np.array([-1]))


def test_patient_uniforms_do_not_depend_on_batches():
    ids = np.arange(10_000)
    whole = patient_uniforms(42, ids)
    parts = np.concatenate(
        [patient_uniforms(42, ids[a : a + 777]) for a in range(0, ids.size, 777)]
    )
    np.testing.assert_array_equal(whole, parts)
    perm = np.random.default_rng(0).permutation(ids.size)
    np.testing.assert_array_equal(patient_uniforms(42, ids[perm]), whole[perm])
    assert np.all((whole > 0) & (whole < 1))
    assert scipy.stats.kstest(whole, "uniform").pvalue > 0.01
    assert not np.array_equal(patient_uniforms(43, ids), whole)
    # neighbouring ids are not correlated
    assert abs(np.corrcoef(whole[:-1], whole[1:])[0, 1]) < 0.05


def test_os_summary_medians_and_landmarks():
    days = np.array([[100.0, 200.0, 300.0, 400.0, 800.0], [50.0, 60.0, 70.0, 80.0, 90.0]])
    event = np.array([[True, True, True, False, False], [True] * 5])
    br = np.array([[0, 1, 2, 3, 2], [3, 3, 3, -1, 3]])
    s = os_summary(br, days, event, follow_up=800.0)
    assert s["median_os_days"][0] == 300.0
    assert s["median_os_days"][1] == 65.0  # without the failed patient (-1): midpoint rule
    assert set(s) == {
        f"{k}{x}" for k in ("median_os_days", "os_1y", "os_2y") for x in ("", "_lo", "_hi")
    }
    assert s["os_1y"][0] == pytest.approx(0.4) and s["os_1y"][1] == 0.0

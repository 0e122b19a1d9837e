"""Fitting the tumor-size-driven hazard of death (tumorimmune.calibrate._os)."""

import numpy as np
import pytest
import scipy.stats

from tumorimmune.calibrate import OSTarget, fit_survival_link, os_predictions
from tumorimmune.response import SurvivalLink, sample_death_days


def _cohort(n: int = 4000, seed: int = 0):
    """SLD paths on a 14-day grid: half the patients shrink (no PD at week 12), half grow."""
    rng = np.random.default_rng(seed)
    grid = np.arange(0.0, 1100.0, 14.0)
    base = rng.lognormal(np.log(100.0), 0.5, n)
    rate = np.where(
        rng.uniform(size=n) < 0.5, -rng.uniform(0.002, 0.01, n), rng.uniform(0.002, 0.01, n)
    )
    sld = base[:, None] * np.exp(rate[:, None] * grid[None, :])
    return sld, grid, rate > 0


def test_median_of_constant_size_is_the_weibull_median():
    link = SurvivalLink(scale_days=800.0, shape=1.3, beta=1.0)
    grid = np.arange(0.0, 3000.0, 1.0)
    sld = np.full((3, grid.size), 100.0)  # the reference size: factor 1
    (med,) = os_predictions(sld, grid, np.zeros(3, bool), link, [OSTarget("m", "median", 0.0)])
    assert med == pytest.approx(scipy.stats.weibull_min(1.3, scale=800.0).median(), rel=1e-4)


def test_fit_recovers_the_link_that_made_the_targets():
    sld, grid, pd = _cohort()
    true = SurvivalLink(scale_days=1200.0, shape=1.4, beta=1.5, background_per_year=0.01)
    shapes = [
        OSTarget("median", "median", 0.0, se_log=0.05),
        OSTarget("non-PD", "landmark", 0.0, day=730.0, from_day=84.0, group="non_pd", n=500),
        OSTarget("PD", "landmark", 0.0, day=730.0, from_day=84.0, group="pd", n=500),
    ]
    values = os_predictions(sld, grid, pd, true, shapes)
    targets = [
        OSTarget(
            t.name, t.kind, v, day=t.day, from_day=t.from_day, group=t.group, n=t.n, se_log=t.se_log
        )
        for t, v in zip(shapes, values, strict=True)
    ]
    link, info = fit_survival_link(sld, grid, pd, targets=targets, background_per_year=0.01)
    assert link.scale_days == pytest.approx(1200.0, rel=1e-3)
    assert link.shape == pytest.approx(1.4, rel=1e-3)
    assert link.beta == pytest.approx(1.5, rel=1e-3)
    assert float(info["max_abs_residual_se"]) < 1e-4  # type: ignore[arg-type]


def test_expected_survival_agrees_with_sampled_deaths():
    sld, grid, pd = _cohort(20_000, seed=3)
    link = SurvivalLink(scale_days=1000.0, shape=1.2, beta=1.0, background_per_year=0.01)
    (s_pd, s_non) = os_predictions(
        sld,
        grid,
        pd,
        link,
        [
            OSTarget("pd", "landmark", 0.0, day=728.0, from_day=84.0, group="pd"),
            OSTarget("non", "landmark", 0.0, day=728.0, from_day=84.0, group="non_pd"),
        ],
    )
    u = np.random.default_rng(5).uniform(size=len(pd))
    days, _ = sample_death_days(sld, grid, u, link, follow_up=1092.0)
    for group, expected in ((pd, s_pd), (~pd, s_non)):
        alive = group & (days > 84.0)
        got = np.mean(days[alive] > 728.0)
        se = np.sqrt(expected * (1 - expected) / alive.sum())
        assert abs(got - expected) < 4 * se

"""Fitting the tumor-size-driven hazard of death to published overall survival (docs/science.md §7).

The link (:class:`~tumorimmune.response.SurvivalLink`: Weibull baseline times
``(SLD/ref)^beta`` plus a background hazard) has three free parameters, ``scale_days``,
``shape`` and ``beta``. They are fitted to three published numbers that pin down both the level
of survival and how strongly it depends on the tumor (``fit_survival_link``):

* the median OS of the arm (KEYNOTE-006 pembrolizumab, 32.7 months; Robert et al. 2023,
  J Clin Oncol 41:3998, and the 10-year update);
* two-year OS of the patients alive at week 12 whose RECIST best response is not PD (77.6 %,
  n = 331) and is PD (23.8 %, n = 261: 17.3 % of 177 patients with PD by both RECIST v1.1 and
  irRC, 37.5 % of 84 with PD by RECIST only, pooled) — KEYNOTE-001 melanoma, pembrolizumab
  (Hodi et al. 2016, J Clin Oncol 34:1510).

The fit works on each patient's *expected* survival ``S_i(t) = exp(−H_i(t))`` (no sampling
noise): the arm's survival is ``mean_i S_i(t)`` and a group's two-year survival from week 12 is
``Σ S_i(730)/Σ S_i(84)`` over the group — the Kaplan–Meier estimates of a large trial.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import scipy.optimize
from jaxtyping import Bool, Float

from ..response import SurvivalLink, cumulative_hazard

_MONTH = 365.25 / 12


@dataclasses.dataclass(frozen=True)
class OSTarget:
    """A published overall-survival number the link is fitted to.

    Attributes:
        name: label.
        kind: ``"median"`` (days) of the whole arm, or ``"landmark"`` (fraction alive at
            ``day`` among the patients of ``group`` alive at ``from_day``).
        value: the published value.
        day: landmark day (``"landmark"``).
        from_day: the landmark analysis' start (patients alive then; 0: everybody).
        group: ``"all"``, ``"pd"`` (best overall response PD, i.e. PD at the first on-study
            scan) or ``"non_pd"``.
        n: patients behind the value (the weight of a landmark in the fit: its binomial
            standard error on the logit scale).
        se_log: standard error of ``log(value)`` of a median (its weight in the fit; from
            the published 95 % interval).
        source: citation.
    """

    name: str
    kind: str
    value: float
    day: float = 0.0
    from_day: float = 0.0
    group: str = "all"
    n: int | None = None
    se_log: float | None = None
    source: str = ""

    def standard_error(self) -> float:
        """Standard error of the fit's residual (log of a median, logit of a landmark)."""
        if self.kind == "median":
            return float(self.se_log or 0.1)
        n = self.n or 100
        return 1.0 / math.sqrt(n * self.value * (1.0 - self.value))


_HODI = "Hodi et al. 2016, J Clin Oncol 34:1510 (KEYNOTE-001 melanoma, pembrolizumab)"
#: The three fitted OS numbers (module docstring).
KEYNOTE006_OS_TARGETS: tuple[OSTarget, ...] = (
    OSTarget(
        "median OS (days)",
        "median",
        32.7 * _MONTH,
        n=556,
        se_log=(math.log(41.6) - math.log(24.5)) / (2 * 1.96),  # 95 % CI 24.5–41.6 months
        source="Robert et al. 2023, J Clin Oncol 41:3998 (KEYNOTE-006, pembrolizumab arms)",
    ),
    OSTarget(
        "2-year OS, alive at week 12, best response not PD",
        "landmark",
        0.776,
        day=730.5,
        from_day=84.0,
        group="non_pd",
        n=331,
        source=_HODI,
    ),
    OSTarget(
        "2-year OS, alive at week 12, best response PD",
        "landmark",
        (0.173 * 177 + 0.375 * 84) / 261,  # RECIST PD: PD by both criteria, or by RECIST only
        day=730.5,
        from_day=84.0,
        group="pd",
        n=261,
        source=_HODI + "; 17.3 % (n = 177, PD per RECIST and irRC) and 37.5 % (n = 84, PD "
        "per RECIST only) pooled",
    ),
)


def expected_survival(
    sld: Float[np.ndarray, "n grid"],
    grid_days: Float[np.ndarray, " grid"],
    link: SurvivalLink,
    days: Sequence[float],
) -> Float[np.ndarray, "n k"]:
    """Each patient's survival probability ``exp(−H(t))`` at ``days`` (H linear between grid
    days, exact at them)."""
    h = cumulative_hazard(sld, grid_days, link)
    d = np.asarray(days, float)
    out = np.stack([np.interp(d, grid_days, row) for row in h]) if h.ndim == 2 else h
    return np.exp(-np.asarray(out))


def _median(grid: np.ndarray, surv: np.ndarray) -> float:
    """First day where the mean survival curve ``surv`` (on ``grid``) falls to 0.5."""
    below = np.flatnonzero(surv <= 0.5)
    if below.size == 0:
        return math.inf
    j = int(below[0])
    if j == 0:
        return float(grid[0])
    t0, t1, s0, s1 = grid[j - 1], grid[j], surv[j - 1], surv[j]
    return float(t0 + (s0 - 0.5) / (s0 - s1) * (t1 - t0))


def os_predictions(
    sld: Float[np.ndarray, "n grid"],
    grid_days: Float[np.ndarray, " grid"],
    first_scan_pd: Bool[np.ndarray, " n"],
    link: SurvivalLink,
    targets: Sequence[OSTarget] = KEYNOTE006_OS_TARGETS,
) -> list[float]:
    """The value of each target under ``link`` (expected survival, module docstring)."""
    h = cumulative_hazard(sld, grid_days, link)
    out: list[float] = []
    for t in targets:
        if t.kind == "median":
            out.append(_median(grid_days, np.exp(-h).mean(axis=0)))
            continue
        if t.kind != "landmark":
            raise ValueError(f"OSTarget.kind must be 'median' or 'landmark'; got {t.kind!r}")
        sel = {"all": np.ones_like(first_scan_pd), "pd": first_scan_pd, "non_pd": ~first_scan_pd}
        if t.group not in sel:
            raise ValueError(f"OSTarget.group must be 'all', 'pd' or 'non_pd'; got {t.group!r}")
        g = sel[t.group]
        s_from = np.exp(-np.array([np.interp(t.from_day, grid_days, r) for r in h[g]]))
        s_at = np.exp(-np.array([np.interp(t.day, grid_days, r) for r in h[g]]))
        out.append(float(s_at.sum() / s_from.sum()) if g.any() else math.nan)
    return out


def fit_survival_link(
    sld: Float[np.ndarray, "n grid"],
    grid_days: Float[np.ndarray, " grid"],
    first_scan_pd: Bool[np.ndarray, " n"],
    *,
    targets: Sequence[OSTarget] = KEYNOTE006_OS_TARGETS,
    background_per_year: float = 0.01,
    sld_ref_mm: float = 100.0,
    sld_floor_mm: float = 5.0,
    start: tuple[float, float, float] = (1500.0, 1.0, 1.0),
    beta: float | None = None,
) -> tuple[SurvivalLink, dict[str, object]]:
    """Fit ``scale_days``, ``shape`` and ``beta`` of the link to ``targets``.

    Args:
        sld: each patient's sum of diameters (mm) on the hazard grid in the arm the targets
            describe, ``(n, n_grid)``.
        grid_days: the grid, ``(n_grid,)``, from 0 past the targets' days.
        first_scan_pd: whether each patient's first on-study scan is PD (best overall
            response PD), ``(n,)``.
        background_per_year: fixed tumor-independent hazard (**assumption**: other-cause
            mortality of the trial's age group, about 1 % a year).
        beta: if given, the tumor-size exponent is held at this value (dimensionless) and only
            ``scale_days`` and ``shape`` are fitted: for a trial whose published OS numbers
            (a median and a landmark of the whole arm) cannot separate the level of survival
            from its dependence on the tumor.

    Returns:
        ``(link, info)``: the fitted link, and per target the published and fitted value.
    """
    sld = np.asarray(sld, float)
    ok = np.all(np.isfinite(sld), axis=1)
    sld, pd = sld[ok], np.asarray(first_scan_pd, bool)[ok]
    grid = np.asarray(grid_days, float)

    def make(x: np.ndarray) -> SurvivalLink:
        return SurvivalLink(
            scale_days=float(math.exp(x[0])),
            shape=float(math.exp(x[1])),
            beta=float(x[2]) if beta is None else float(beta),
            sld_ref_mm=sld_ref_mm,
            sld_floor_mm=sld_floor_mm,
            background_per_year=background_per_year,
        )

    def residuals(x: np.ndarray) -> np.ndarray:
        pred = os_predictions(sld, grid, pd, make(x), targets)
        r = []
        for t, p in zip(targets, pred, strict=True):
            if t.kind == "median":
                e = math.log(min(max(p, 1.0), 1e6) / t.value)
            else:
                q = min(max(p, 1e-9), 1 - 1e-9)
                e = math.log(q / (1 - q)) - math.log(t.value / (1 - t.value))
            r.append(e / t.standard_error())
        return np.asarray(r)

    # shape within [0.3, 3] (hazards that fall or rise with time on study, no step functions)
    lo = [math.log(30.0), math.log(0.3), -5.0]
    hi = [math.log(1e6), math.log(3.0), 10.0]
    x0 = np.clip([math.log(start[0]), math.log(start[1]), start[2]], lo, hi)
    if beta is not None:  # two free parameters
        lo, hi, x0 = lo[:2], hi[:2], x0[:2]
    sol = scipy.optimize.least_squares(
        residuals, x0, bounds=(lo, hi), method="trf", xtol=1e-10, ftol=1e-10
    )
    link = make(sol.x)
    pred = os_predictions(sld, grid, pd, link, targets)
    info: dict[str, object] = {
        "scale_days": link.scale_days,
        "shape": link.shape,
        "beta": link.beta,
        "background_per_year": background_per_year,
        "targets": [
            {"name": t.name, "target": t.value, "fitted": p, "source": t.source}
            for t, p in zip(targets, pred, strict=True)
        ],
        "max_abs_residual_se": float(np.max(np.abs(sol.fun))),
    }
    if beta is not None:
        info["beta_fixed"] = True
    return link, info

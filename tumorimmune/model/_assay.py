"""PD-L1 as an assay: the model's PD-L1 expression ``L`` and the clinical tumor proportion score.

:class:`~tumorimmune.model.TumorImmunePD1` carries a per-patient PD-L1 expression ``L`` in
[0, 1]: the blockade acting on the tumor is ``RO·(f_indep + (1 − f_indep)·L)``. Trials read
PD-L1 as the **tumor proportion score** (TPS, %) of the PD-L1 IHC 22C3 pharmDx assay: the
percentage of viable tumor cells with partial or complete membranous staining, in [0, 100].

**Assumption** (docs/science.md, "PD-L1 as an assay"): ``L`` is the fraction of tumor cells
that express PD-L1, read without error by the assay, so ``TPS = 100·L``
(:data:`LINEAR_TPS_MAP`, the mapping used for every ``tps`` column of the package). Any other
strictly increasing, piecewise-linear map from [0, 1] onto [0, 100] can be stated as a
:class:`TPSMap` (e.g. :meth:`TPSMap.quantile`, which sends a uniform ``L`` onto a published
screening distribution); every map here is invertible, so ``L_from_tps(tps_from_L(L)) == L``.

The trials' categories: NSCLC ``TPS < 1 %``, ``1–49 %``, ``≥ 50 %`` (KEYNOTE-010, -024, -042);
melanoma "PD-L1 positive" in KEYNOTE-006 is ``≥ 1 %`` of tumor cells with membranous staining
(:data:`MELANOMA_PDL1_POSITIVE_TPS`). Screening distributions: :data:`KEYNOTE024_SCREENING`
(NSCLC) and :data:`KEYNOTE006_PDL1` (melanoma), sampled by :func:`sample_tps`.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from jaxtyping import Bool, Float, Real

from .._typing import NPArrayLike, Numbers

#: TPS cut-offs (%) of the NSCLC trials' categories: ``< 1``, ``1–49``, ``≥ 50``.
NSCLC_TPS_CUTOFFS: tuple[float, float] = (1.0, 50.0)
#: KEYNOTE-006's "PD-L1 positive": membranous staining on ≥ 1 % of tumor cells (TPS, %).
MELANOMA_PDL1_POSITIVE_TPS: float = 1.0
#: Labels of the NSCLC categories, in the order of :data:`NSCLC_TPS_CUTOFFS`.
TPS_CATEGORIES: tuple[str, str, str] = ("<1%", "1-49%", ">=50%")


@dataclasses.dataclass(frozen=True)
class TPSMap:
    """A strictly increasing, piecewise-linear map from ``L`` in [0, 1] onto TPS in [0, 100] %.

    Attributes:
        L_knots: knots of ``L`` (dimensionless), from 0 to 1, strictly increasing.
        tps_knots: the TPS (%) at each knot, from 0 to 100, strictly increasing.
        description: what the map assumes (shown in docs and reports).
    """

    L_knots: tuple[float, ...]
    tps_knots: tuple[float, ...]
    description: str = ""

    def __post_init__(self) -> None:
        x, y = np.asarray(self.L_knots, float), np.asarray(self.tps_knots, float)
        if x.shape != y.shape or x.size < 2:
            raise ValueError("TPSMap needs as many L_knots as tps_knots, at least 2")
        if not (np.all(np.diff(x) > 0) and np.all(np.diff(y) > 0)):
            raise ValueError("TPSMap knots must be strictly increasing (an invertible map)")
        if (x[0], x[-1], y[0], y[-1]) != (0.0, 1.0, 0.0, 100.0):
            raise ValueError("TPSMap must map L in [0, 1] onto TPS in [0, 100] %")

    @classmethod
    def quantile(cls, distribution: TPSDistribution) -> TPSMap:
        """The map that sends a uniform ``L`` onto ``distribution`` (uniform within each
        category): the knots are the cumulative category shares and the cut-offs."""
        cum = np.cumsum(distribution.shares)[:-1]
        return cls(
            L_knots=(0.0, *(float(c) for c in cum), 1.0),
            tps_knots=(0.0, *distribution.cutoffs, 100.0),
            description=f"quantile map onto {distribution.name}",
        )


#: ``TPS = 100·L`` — the package's stated assumption (docs/science.md, "PD-L1 as an assay").
LINEAR_TPS_MAP = TPSMap(
    L_knots=(0.0, 1.0),
    tps_knots=(0.0, 100.0),
    description="TPS = 100·L: L is the PD-L1-positive fraction of tumor cells (assumption)",
)


def tps_from_L(
    L: Real[NPArrayLike, "*shape"] | Numbers, *, mapping: TPSMap = LINEAR_TPS_MAP
) -> Float[np.ndarray, "*shape"]:
    """Tumor proportion score (TPS, %, in [0, 100]) of PD-L1 expression ``L`` (in [0, 1]).

    Values outside [0, 1] are clipped to it; NaN stays NaN.
    """
    x = np.clip(np.asarray(L, dtype=float), 0.0, 1.0)
    return np.asarray(np.interp(x, mapping.L_knots, mapping.tps_knots), dtype=float)


def L_from_tps(
    tps: Real[NPArrayLike, "*shape"] | Numbers, *, mapping: TPSMap = LINEAR_TPS_MAP
) -> Float[np.ndarray, "*shape"]:
    """PD-L1 expression ``L`` (in [0, 1]) of a tumor proportion score (TPS, %): the inverse
    of :func:`tps_from_L`. Values outside [0, 100] % are clipped to it; NaN stays NaN."""
    y = np.clip(np.asarray(tps, dtype=float), 0.0, 100.0)
    return np.asarray(np.interp(y, mapping.tps_knots, mapping.L_knots), dtype=float)


def tps_category(
    tps: Real[NPArrayLike, "*shape"] | Numbers, *, cutoffs: tuple[float, ...] = NSCLC_TPS_CUTOFFS
) -> np.ndarray:
    """Category label of each TPS (%): ``"<1%"``, ``"1-49%"``, ``">=50%"`` with the default
    NSCLC cut-offs (a score equal to a cut-off belongs to the upper category), or
    ``"<c1%"``, ``"c1-c2%"``, …, ``">=ck%"`` for other ``cutoffs``. NaN scores get ``""``.

    Returns:
        An array of strings of the shape of ``tps``.
    """
    t = np.asarray(tps, dtype=float)
    labels = np.asarray(category_labels(cutoffs=cutoffs))
    idx = np.searchsorted(np.asarray(cutoffs, float), np.nan_to_num(t, nan=0.0), side="right")
    return np.where(np.isnan(t), "", labels[idx])


def category_labels(*, cutoffs: tuple[float, ...] = NSCLC_TPS_CUTOFFS) -> tuple[str, ...]:
    """Labels of the TPS categories that ``cutoffs`` (%) define, lowest first
    (``("<1%", "1-49%", ">=50%")`` for the NSCLC cut-offs)."""
    c = [f"{x:g}" for x in cutoffs]
    if not c:
        return ("all",)
    mid = [f"{lo}-{float(hi) - 1:g}%" for lo, hi in itertools.pairwise(c)]
    return (f"<{c[0]}%", *mid, f">={c[-1]}%")


def pdl1_positive(
    tps: Real[NPArrayLike, "*shape"] | Numbers, *, cutoff: float = MELANOMA_PDL1_POSITIVE_TPS
) -> Bool[np.ndarray, "*shape"]:
    """PD-L1 positive as KEYNOTE-006 (melanoma) and KEYNOTE-010 (NSCLC) define it: TPS
    (%) ≥ ``cutoff`` (default 1 %)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(np.asarray(tps, dtype=float) >= cutoff)


@dataclasses.dataclass(frozen=True)
class TPSDistribution:
    """A published PD-L1 TPS distribution: the shares of a screening cohort in categories.

    Attributes:
        name: short name, e.g. ``"KEYNOTE-024 screening"``.
        indication: e.g. ``"advanced NSCLC"``.
        cutoffs: category boundaries (TPS, %), increasing, inside (0, 100).
        shares: fraction of patients per category (``len(cutoffs) + 1`` values, sum 1):
            ``[0, c1)``, ``[c1, c2)``, …, ``[ck, 100]``.
        n: patients with an evaluable sample behind the shares.
        source: the publication.

    Within a category the published data give no shape: :func:`sample_tps` draws uniformly
    (an **assumption**).
    """

    name: str
    indication: str
    cutoffs: tuple[float, ...]
    shares: tuple[float, ...]
    n: int
    source: str

    def __post_init__(self) -> None:
        c, s = np.asarray(self.cutoffs, float), np.asarray(self.shares, float)
        if s.size != c.size + 1 or np.any(s < 0) or abs(float(s.sum()) - 1.0) > 1e-9:
            raise ValueError("TPSDistribution needs len(cutoffs) + 1 shares >= 0 summing to 1")
        if c.size and (np.any(np.diff(c) <= 0) or c[0] <= 0 or c[-1] >= 100):
            raise ValueError("TPSDistribution cutoffs must increase strictly inside (0, 100) %")

    def share_at_least(self, cutoff: float) -> float:
        """Fraction of the cohort with TPS ≥ ``cutoff`` (%), ``cutoff`` one of the cut-offs."""
        i = list(self.cutoffs).index(float(cutoff))
        return float(np.sum(self.shares[i + 1 :]))


#: KEYNOTE-024's screening (Reck et al. 2016, N Engl J Med 375:1823): of 1,653 patients with
#: advanced NSCLC and an evaluable sample (22C3), 500 (30.2 %) had TPS ≥ 50 % and 646 (39.1 %)
#: TPS 1–49 %, so 507 (30.7 %) TPS < 1 %.
KEYNOTE024_SCREENING = TPSDistribution(
    name="KEYNOTE-024 screening",
    indication="advanced NSCLC, previously untreated",
    cutoffs=NSCLC_TPS_CUTOFFS,
    shares=(507 / 1653, 646 / 1653, 500 / 1653),
    n=1653,
    source="Reck et al. 2016, N Engl J Med 375:1823 (KEYNOTE-024 screening); counts as "
    "tabulated by Huang et al., Mod Pathol 2021 (doi 10.1038/s41379-020-00664-y), Table 2",
)

#: KEYNOTE-010's PD-L1-positive patients (previously treated advanced NSCLC), from the trial's
#: positivity rates as tabulated by Huang et al. (Mod Pathol 2021, Table 2): 344 of 1,007 TPS
#: 1–49 % and 230 of 1,007 TPS ≥ 50 %, restricted here to TPS ≥ 1 % (KEYNOTE-010 enrolled
#: TPS ≥ 1 % only): 230 / 574 = 40.1 % TPS ≥ 50 %. What the 1,007 are (screened samples) and
#: the enrolled shares are **to check** (docs/science.md §8b).
KEYNOTE010_SCREENED = TPSDistribution(
    name="KEYNOTE-010 TPS >= 1 %",
    indication="advanced NSCLC, PD-L1 TPS ≥ 1 %, previously treated",
    cutoffs=NSCLC_TPS_CUTOFFS,
    shares=(0.0, 344 / 574, 230 / 574),
    n=574,
    source="Herbst et al. 2016, Lancet 387:1540 (KEYNOTE-010); positivity rates 344/1007 "
    "(TPS 1-49 %) and 230/1007 (TPS >= 50 %) as tabulated by Huang et al., Mod Pathol 2021, "
    "Table 2, restricted to TPS >= 1 %",
)

#: KEYNOTE-042's enrolled (randomized) patients by TPS (Mok et al. 2019, Lancet 393:1819): 1,274
#: patients with TPS ≥ 1 %, of whom 599 had TPS ≥ 50 % and 818 TPS ≥ 20 % (so 219 TPS 20–49 %
#: and 456 TPS 1–19 %); no patient had TPS < 1 % (an eligibility criterion). The trial's
#: enrolled mix, not a screening cohort: the trial reported its primary end points in the
#: cumulative strata TPS ≥ 50 %, ≥ 20 % and ≥ 1 % (docs/science.md §8: 599 and 818 to check).
KEYNOTE042_ENROLLED = TPSDistribution(
    name="KEYNOTE-042 enrolled",
    indication="advanced NSCLC, PD-L1 TPS ≥ 1 %, previously untreated",
    cutoffs=(1.0, 20.0, 50.0),
    shares=(0.0, 456 / 1274, 219 / 1274, 599 / 1274),
    n=1274,
    source="Mok et al. 2019, Lancet 393:1819 (KEYNOTE-042; 599 TPS >= 50 %, 818 TPS >= 20 % "
    "of 1,274)",
)

#: KEYNOTE-006 (advanced melanoma): 80.6 % of 833 patients had PD-L1-positive tumors (≥ 1 % of
#: tumor cells with membranous staining; Carlino et al. 2018, Eur J Cancer 101:236). The
#: patients with unknown status (about 2 %) are counted as negative here (to check).
KEYNOTE006_PDL1 = TPSDistribution(
    name="KEYNOTE-006 PD-L1 status",
    indication="advanced melanoma",
    cutoffs=(MELANOMA_PDL1_POSITIVE_TPS,),
    shares=(1.0 - 0.806, 0.806),
    n=833,
    source="Carlino et al. 2018, Eur J Cancer 101:236 (KEYNOTE-006, PD-L1 ≥ 1 % of tumor cells)",
)


def sample_tps(
    distribution: TPSDistribution, n: int, *, rng: np.random.Generator
) -> Float[np.ndarray, " n"]:
    """``n`` per-patient TPS (%) drawn from ``distribution``: a category by its share, then
    a score uniform within it (``[0, c1)``, …, ``[ck, 100]``; an **assumption**).

    ``rng`` is explicit (``np.random.default_rng(seed)``), so a population built from the
    draws is reproducible. Map the draws to the model with :func:`L_from_tps`.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}")
    edges = np.array([0.0, *distribution.cutoffs, 100.0])
    cat = rng.choice(len(distribution.shares), size=n, p=np.asarray(distribution.shares))
    u = rng.random(n)
    return np.asarray(edges[cat] + u * (edges[cat + 1] - edges[cat]), dtype=float)

"""Prediction intervals from re-selected virtual populations (calibrate._uncertainty)."""

import dataclasses

import numpy as np

from tumorimmune.calibrate import reselection_intervals
from tumorimmune.calibrate._uncertainty import MAX_RESAMPLE_FACTOR

DAYS = np.array([0.0, 84.0, 126.0, 168.0, 210.0])
#: one constructed SLD series per read-out class (CR, PR, SD, PD at 84 / 126 / 168)
SERIES = {
    "CR": [40, 0, 0, 0, 0],
    "PR": [40, 20, 20, 20, 20],
    "SD": [40, 42, 44, 44, 44],
    "PD84": [40, 60, 70, 80, 90],
    "PD126": [40, 44, 60, 70, 80],
    "PD168": [40, 44, 45, 60, 70],
}


@dataclasses.dataclass
class T:
    arm: str
    name: str
    kind: str
    value: float
    n: int | None = None
    day: float | None = None
    lo: float | None = None
    hi: float | None = None
    source: str = ""
    fitted: bool = True
    subgroup: str | None = None
    cutoff_day: float | None = None


def _cohort(counts: dict[str, int]):
    diam = np.concatenate([np.tile(SERIES[k], (v, 1)) for k, v in counts.items()]).astype(float)
    from tumorimmune.response import best_overall_response, pfs

    br = best_overall_response(diam)
    days, event = pfs(diam, DAYS, follow_up=210.0)
    return diam[None], {"best_response": br[None], "pfs_days": days[None], "pfs_event": event[None]}


def test_interval_is_calibration_plus_trial_sampling():
    # a cohort that meets its targets: ORR 30 %, CR 5 %, 6-month PFS 40 %, median PFS 126 d
    counts = {"CR": 250, "PR": 1250, "SD": 500, "PD84": 2400, "PD126": 150, "PD168": 450}
    diam, read = _cohort(counts)
    n = 200
    targets = [
        T("A", "ORR", "orr", 0.30, n=n),
        T("A", "CR", "cr", 0.05, n=n),
        T("A", "PFS6", "pfs_at", 0.40, n=n, day=182.6),
        T("A", "mPFS", "median_pfs", 126.0),
    ]
    iv = reselection_intervals(
        targets, ["A"], read, None, diameters=diam, scan_days=DAYS, n_draws=400, seed=1
    )
    assert iv is not None
    lo, hi = iv[0]
    orr = (counts["CR"] + counts["PR"]) / sum(counts.values())
    assert lo < orr < hi
    binomial = 2 * 1.96 * np.sqrt(orr * (1 - orr) / n)
    # both sources of the same size: about sqrt(2) times one binomial interval
    assert 1.15 * binomial < hi - lo < 1.75 * binomial


def test_no_calibration_arm_gives_none():
    diam, read = _cohort({"CR": 10, "PD84": 10})
    targets = [T("A", "ORR", "orr", 0.5, n=20, fitted=False)]
    assert reselection_intervals(targets, ["A"], read, None, diameters=diam, scan_days=DAYS) is None


def test_calibration_arm_is_the_one_with_all_four_class_targets():
    from tumorimmune.calibrate import calibration_arm

    full = [
        T("A", "ORR", "orr", 0.30, n=200),
        T("A", "CR", "cr", 0.05, n=200),
        T("A", "PFS6", "pfs_at", 0.40, n=200, day=182.6),
        T("A", "mPFS", "median_pfs", 126.0),
    ]
    chemo = [T("B", "ORR", "orr", 0.28, n=150), T("B", "PFS6", "pfs_at", 0.5, n=150, day=182.6)]
    assert calibration_arm(full) == "A"
    assert calibration_arm([*full, *chemo]) == "A"  # B is fitted, but on two kinds only
    assert calibration_arm(chemo) == "B"  # a lone arm, as before (its intervals then need all four)
    both = [*full, *(T("B", t.name, t.kind, t.value, n=t.n, day=t.day) for t in full)]
    assert calibration_arm(both) is None


def test_a_subgroup_absent_from_the_population_gets_no_interval_not_a_huge_resample():
    # before: a trial of n / max(share, 1e-6) patients was resampled, 2e8 here (24 GB, killed)
    counts = {"CR": 250, "PR": 1250, "SD": 500, "PD84": 2400, "PD126": 150, "PD168": 450}
    diam, read = _cohort(counts)
    L = np.linspace(0.0, 0.9, diam.shape[1])
    targets = [
        T("A", "ORR", "orr", 0.30, n=200),
        T("A", "CR", "cr", 0.05, n=200),
        T("A", "PFS6", "pfs_at", 0.40, n=200, day=182.6),
        T("A", "mPFS", "median_pfs", 126.0),
        T("A", "ORR, L >= 2", "orr", 0.4, n=200, subgroup="L >= 2", fitted=False),
        T("A", "ORR, L >= 0.45", "orr", 0.3, n=200, subgroup="L >= 0.45", fitted=False),
        # 0.6 % of the virtual patients: a trial of 200 would need 36,000 of them
        T("A", "ORR, L >= 0.895", "orr", 0.3, n=200, subgroup="L >= 0.895", fitted=False),
    ]
    iv = reselection_intervals(
        targets, ["A"], read, {"L": L}, diameters=diam, scan_days=DAYS, n_draws=50, seed=1
    )
    assert iv is not None
    assert np.all(np.isfinite(iv[0])) and np.all(np.isfinite(iv[5]))
    assert np.all(np.isnan(iv[4]))  # nobody has L >= 2: no interval
    assert 0 < np.mean(L >= 0.895) < 1 / MAX_RESAMPLE_FACTOR
    assert np.all(np.isnan(iv[6]))  # under 1 % of the virtual patients: no interval


def test_class_then_patient_draw_is_the_weighted_draw():
    """_resample draws patient i with probability p[c_i] / n_{c_i} (chi-square against it)."""
    from scipy import stats

    from tumorimmune.calibrate._uncertainty import _resample

    rng = np.random.default_rng(5)
    classes = np.array([0, 2, 2, -1, 0, 2, 3, 3, 3, 3, 0, 2])  # class 1 absent, one not ok
    ok = classes >= 0
    k = 4
    p = np.array([0.5, 0.2, 0.2, 0.1])
    counts = np.bincount(classes[ok], minlength=k)
    members = np.argsort(np.where(ok, classes, k), kind="stable")
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cdf = np.cumsum(np.where(counts > 0, p, 0.0))
    idx = _resample(rng, cdf, counts, members, start, 200_000)
    w = np.where(
        ok,
        np.where(counts[np.clip(classes, 0, k - 1)] > 0, p[np.clip(classes, 0, k - 1)], 0)
        / np.maximum(counts[np.clip(classes, 0, k - 1)], 1),
        0.0,
    )
    w /= w.sum()
    seen = np.bincount(idx, minlength=classes.size)
    assert seen[~ok].sum() == 0
    assert stats.chisquare(seen[ok], w[ok] * idx.size).pvalue > 1e-3
    # the draw's law differs detectably from uniform over the patients
    assert stats.chisquare(seen[ok], np.full(ok.sum(), idx.size / ok.sum())).pvalue < 1e-6

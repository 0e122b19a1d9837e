"""Response metrics on hand-made series: expected values are derived by hand in each test."""

import math
import warnings
from statistics import NormalDist

import numpy as np
import pytest
import scipy.stats

from tumorimmune.response import (
    OUTCOME_CODES,
    RESPONSE_CODES,
    Readout,
    best_overall_response,
    best_pct_change,
    cells_from_sum_of_diameters,
    diameter_mm,
    kaplan_meier,
    km_median,
    outcome_class,
    pct_change,
    pfs,
    scan_responses,
    sum_of_diameters_mm,
    wilson_ci,
)

CR, PR, SD, PD, NE = 0, 1, 2, 3, -1
DAYS5 = np.array([0.0, 42.0, 84.0, 126.0, 168.0])  # baseline + every 6 weeks


def test_codes_match_schema():
    assert RESPONSE_CODES == {"NE": -1, "CR": 0, "PR": 1, "SD": 2, "PD": 3}
    assert OUTCOME_CODES == {"failed": -1, "extinct": 0, "controlled": 1, "escaped": 2}


# ------------------------------------------------------------------------------ diameters


def test_diameter_of_1e9_cells():
    # 1e9 cells at 1e9 cells/cm³ = 1 cm³ = 1000 mm³; D = 2·(3·1000/4π)^(1/3)
    expected = 2 * (3000 / (4 * math.pi)) ** (1 / 3)
    assert expected == pytest.approx(12.407, abs=1e-3)
    assert diameter_mm(1e9) == pytest.approx(expected, rel=1e-14)


def test_diameter_scaling_and_density():
    d = diameter_mm(np.array([[0.0, 1e9, 8e9], [np.nan, 1e6, 1e12]]))
    assert d.shape == (2, 3) and d.dtype == np.float64
    assert d[0, 0] == 0.0 and np.isnan(d[1, 0])
    assert d[0, 2] == pytest.approx(2 * d[0, 1], rel=1e-14)  # 8× volume → 2× diameter
    assert d[1, 2] == pytest.approx(10 * d[0, 1], rel=1e-14)  # 1000× volume → 10× diameter
    # halving the density doubles the volume: D × 2^(1/3)
    assert diameter_mm(1e9, readout=Readout(cells_per_cm3=5e8)) == pytest.approx(
        2 ** (1 / 3) * d[0, 1]
    )
    # sphere volume recovered from the diameter
    vol_mm3 = math.pi / 6 * diameter_mm(3.7e10) ** 3
    assert vol_mm3 == pytest.approx(3.7e10 / 1e9 * 1000, rel=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_diameter_bad_density(bad):
    with pytest.raises(ValueError, match="cells_per_cm3"):
        diameter_mm(1e9, readout=Readout(cells_per_cm3=bad))


def test_diameter_negative_cells():
    with pytest.raises(ValueError, match=r"cells must be >= 0.*-5\.0"):
        diameter_mm([1.0, -5.0])


# ------------------------------------------------------- sum of diameters of target lesions


def test_sum_of_diameters_of_equal_spheres_by_hand():
    # 3e9 cells in 3 lesions at 1e9 cells/cm³: three 1-cm³ spheres of D = 2·(3·1000/4π)^(1/3)
    one_cm3 = 2 * (3000 / (4 * math.pi)) ** (1 / 3)
    assert sum_of_diameters_mm(
        3e9, readout=Readout(n_lesions=3, detection_limit_mm=0)
    ) == pytest.approx(3 * one_cm3, rel=1e-14)
    # one 3-cm³ sphere would measure only 3^(1/3)·D
    assert diameter_mm(3e9) == pytest.approx(3 ** (1 / 3) * one_cm3, rel=1e-14)
    # 5 lesions of 2e9 cells at 5e8 cells/cm³: five 4-cm³ spheres, D = 2·(3·4000/4π)^(1/3)
    sld = sum_of_diameters_mm(
        1e10, readout=Readout(n_lesions=5, cells_per_cm3=5e8, detection_limit_mm=0)
    )
    assert sld == pytest.approx(5 * 2 * (3 * 4000 / (4 * math.pi)) ** (1 / 3), rel=1e-14)
    # defaults: 3 lesions, 5 mm detection limit, 1e9 cells/cm³
    assert sum_of_diameters_mm(3e9) == sum_of_diameters_mm(
        3e9, readout=Readout(n_lesions=3, cells_per_cm3=1e9, detection_limit_mm=5.0)
    )


def test_sum_of_diameters_with_one_lesion_and_no_limit_is_the_single_sphere():
    rng = np.random.default_rng(1)
    cells = np.concatenate([[0.0, np.nan], 10 ** rng.uniform(0, 12, 200)]).reshape(2, 101)
    out = sum_of_diameters_mm(cells, readout=Readout(n_lesions=1, detection_limit_mm=0.0))
    np.testing.assert_array_equal(out, diameter_mm(cells))  # bit for bit: the old read-out


def test_sum_of_diameters_per_patient_lesion_counts():
    cells = np.array([[6e9, 3e9, 0.0], [6e9, 3e9, 0.0]])
    k = np.array([[1], [2]])  # per patient, (N, 1) against (N, n_scans)
    out = sum_of_diameters_mm(cells, readout=Readout(n_lesions=k, detection_limit_mm=0))
    np.testing.assert_allclose(out[0], diameter_mm(cells[0]), rtol=1e-14)
    np.testing.assert_allclose(out[1], 2 * diameter_mm(cells[1] / 2), rtol=1e-14)
    # at fixed total cells the SLD grows as k^(2/3)
    assert out[1, 0] / out[0, 0] == pytest.approx(2 ** (2 / 3), rel=1e-14)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_cells_from_sum_of_diameters_inverts_exactly(k):
    rng = np.random.default_rng(k)
    cells = 10 ** rng.uniform(3, 12, 500)
    sld = sum_of_diameters_mm(
        cells, readout=Readout(n_lesions=k, cells_per_cm3=3e8, detection_limit_mm=0)
    )
    back = cells_from_sum_of_diameters(sld, readout=Readout(n_lesions=k, cells_per_cm3=3e8))
    np.testing.assert_allclose(back, cells, rtol=1e-13)
    sld2 = sum_of_diameters_mm(
        back, readout=Readout(n_lesions=k, cells_per_cm3=3e8, detection_limit_mm=0)
    )
    np.testing.assert_allclose(sld2, sld, rtol=1e-13)
    assert cells_from_sum_of_diameters(0.0, readout=Readout(n_lesions=k)) == 0.0


def test_one_sphere_reading_of_a_sum_of_diameters_is_k_squared_too_large():
    # the same SLD of 90 mm: k lesions of 90/k mm hold k·(90/k)³ vs one sphere of 90 mm
    for k in (2, 3, 5):
        one = cells_from_sum_of_diameters(90.0, readout=Readout(n_lesions=1))
        assert one / cells_from_sum_of_diameters(
            90.0, readout=Readout(n_lesions=k)
        ) == pytest.approx(k**2)
    # volume of three lesions of 30 mm = 3·(π/6)·30³ mm³
    assert cells_from_sum_of_diameters(90.0, readout=Readout(n_lesions=3)) == pytest.approx(
        3 * math.pi / 6 * 30.0**3 * 1e6, rel=1e-14
    )


def test_detection_limit_makes_small_lesions_disappear():
    # per-lesion diameters 20, 6, 5 (exactly the limit: still seen), just below 5, 0
    d = np.array([20.0, 6.0, 5.0, np.nextafter(5.0, 0.0), 0.0])
    cells = cells_from_sum_of_diameters(3 * d, readout=Readout(n_lesions=3))
    limit = diameter_mm(cells[2] / 3)  # the lesion diameter the read-out computes for 5 mm
    sld = sum_of_diameters_mm(cells, readout=Readout(n_lesions=3, detection_limit_mm=limit))
    assert sld[2] == 3 * limit and sld[2] == pytest.approx(15.0, rel=1e-14)  # at the limit
    np.testing.assert_array_equal(sld[3:], [0.0, 0.0])  # below: disappeared
    np.testing.assert_allclose(sld[:2], [60.0, 18.0], rtol=1e-14)
    # just below the computed diameter: the same lesion is seen
    assert sum_of_diameters_mm(
        cells[2], readout=Readout(n_lesions=3, detection_limit_mm=np.nextafter(limit, 0))
    )
    assert (
        sum_of_diameters_mm(
            cells[2], readout=Readout(n_lesions=3, detection_limit_mm=np.nextafter(limit, 99))
        )
        == 0
    )


def test_cr_when_every_lesion_falls_below_the_detection_limit():
    # 3 lesions of 20 mm shrink to 10, 4.9 (< 5 mm: all disappeared → CR at that scan), then
    # regrow to 6 mm each (SLD 18 over a nadir of 0: +18 mm → PD)
    lesion = np.array([20.0, 10.0, 4.9, 6.0])
    cells = cells_from_sum_of_diameters(3 * lesion, readout=Readout(n_lesions=3))
    sld = sum_of_diameters_mm(cells, readout=Readout(n_lesions=3, detection_limit_mm=5.0))
    np.testing.assert_allclose(sld, [60.0, 30.0, 0.0, 18.0], rtol=1e-13)
    np.testing.assert_array_equal(scan_responses(sld), [PR, CR, PD])
    assert best_overall_response(sld) == CR
    assert best_pct_change(sld) == -100.0
    days, event = pfs(sld, DAYS5[:4], follow_up=126.0)
    assert event and days == 126.0
    # old rule (no detection limit): 4.9-mm lesions are measured (SLD 14.7), CR needs
    # extinction; regrowth to 18 mm is +3.3 mm over the nadir: not PD, still <= 0.7·60: PR
    old = sum_of_diameters_mm(cells, readout=Readout(n_lesions=3, detection_limit_mm=0.0))
    np.testing.assert_allclose(old, [60.0, 30.0, 14.7, 18.0], rtol=1e-13)
    np.testing.assert_array_equal(scan_responses(old), [PR, PR, PR])
    assert best_overall_response(old) == PR
    extinct = np.append(cells[:3], 0.0)
    assert (
        scan_responses(sum_of_diameters_mm(extinct, readout=Readout(detection_limit_mm=0.0)))[-1]
        == CR
    )


def test_detection_limit_boundary_is_not_cr():
    # lesions shrink exactly to the limit: seen (SLD = 3·limit), a PR, not a CR
    cells0 = cells_from_sum_of_diameters(60.0, readout=Readout(n_lesions=3))
    cells1 = cells_from_sum_of_diameters(15.0, readout=Readout(n_lesions=3))
    limit = diameter_mm(cells1 / 3)
    sld = sum_of_diameters_mm(
        np.array([cells0, cells1]), readout=Readout(n_lesions=3, detection_limit_mm=limit)
    )
    assert sld[1] > 0 and best_overall_response(sld) == PR
    sld = sum_of_diameters_mm(
        np.array([cells0, cells1]),
        readout=Readout(n_lesions=3, detection_limit_mm=np.nextafter(limit, 99)),
    )
    assert sld[1] == 0 and best_overall_response(sld) == CR


@pytest.mark.parametrize("bad", [0, -1, 2.5, float("nan"), float("inf")])
def test_sum_of_diameters_bad_lesion_count(bad):
    with pytest.raises(ValueError, match="n_lesions must be integers >= 1"):
        sum_of_diameters_mm(1e9, readout=Readout(n_lesions=bad))
    with pytest.raises(ValueError, match="n_lesions must be integers >= 1"):
        cells_from_sum_of_diameters(10.0, readout=Readout(n_lesions=bad))


def test_sum_of_diameters_bad_shapes_and_limits():
    with pytest.raises(ValueError, match=r"n_lesions of shape \(3,\) does not broadcast.*\(N, 1\)"):
        sum_of_diameters_mm(np.ones((3, 4)), readout=Readout(n_lesions=[1, 2, 3]))
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="detection_limit_mm must be a finite number >= 0"):
            sum_of_diameters_mm(1e9, readout=Readout(detection_limit_mm=bad))
    with pytest.raises(ValueError, match=r"sld_mm must be >= 0.*-3\.0"):
        cells_from_sum_of_diameters([1.0, -3.0])
    with pytest.raises(ValueError, match="cells_per_cm3"):
        cells_from_sum_of_diameters(1.0, readout=Readout(cells_per_cm3=0.0))


# ------------------------------------------------------------------------------ % change


def test_pct_change_by_hand():
    d = np.array([[20.0, 10.0, 30.0, 0.0], [0.0, 1.0, 2.0, 3.0], [8.0, np.nan, 4.0, 8.0]])
    out = pct_change(d)
    np.testing.assert_allclose(out[0], [0.0, -50.0, 50.0, -100.0])
    assert np.all(np.isnan(out[1]))  # zero baseline: change undefined
    assert out[2, 0] == 0.0 and np.isnan(out[2, 1]) and out[2, 2] == -50.0


def test_pct_change_keeps_leading_axes():
    rng = np.random.default_rng(0)
    d = rng.uniform(1, 50, size=(2, 3, 6))
    out = pct_change(d)
    assert out.shape == (2, 3, 6)
    np.testing.assert_allclose(out[1, 2], 100 * (d[1, 2] / d[1, 2, 0] - 1))


def test_best_pct_change_by_hand():
    d = np.array(
        [
            [20.0, 19.0, 15.0, 30.0],  # best is scan 2: (15 − 20)/20 = −25 %; PD at scan 3
            [10.0, 11.0, 12.0, 13.0],  # only grows (< 5 mm): best is scan 1, +10 %, no PD
            [10.0, 0.0, 0.0, 5.0],  # disappears: −100 % (regrowth by 5 mm is PD, after it)
            [10.0, 9.0, np.nan, 5.0],  # failed solve
            [0.0, 0.0, 1.0, 2.0],  # zero baseline
            [40.0, 50.0, 20.0, 10.0],  # PD at scan 1 (+25 %, +10 mm), −75 % only after it
            [40.0, 30.0, 40.0, 4.0],  # −25 %, PD at scan 2 (+33 % and +10 mm over 30), −90 %
        ]
    )
    out = best_pct_change(d)
    np.testing.assert_allclose(out[:3], [-25.0, 10.0, -100.0])
    assert np.isnan(out[3]) and np.isnan(out[4])
    # progression ends the read-out: the PD scan itself counts, later shrinkage does not
    np.testing.assert_allclose(out[5:], [25.0, -25.0])
    every = best_pct_change(d, until_progression=False)
    np.testing.assert_allclose(every[[0, 1, 2, 5, 6]], [-25.0, 10.0, -100.0, -75.0, -90.0])
    # looser PD thresholds move the cut: with +50 % over the nadir, row 5 never progresses
    np.testing.assert_allclose(best_pct_change(d, pd_increase_pct=50.0)[5], -75.0)


def test_best_pct_change_agrees_with_best_response():
    # a PD best response has a best change > 0; a responder's best change is <= −30 %
    rng = np.random.default_rng(7)
    d = 30.0 * np.exp(np.cumsum(rng.normal(0.0, 0.35, (4000, 9)), axis=-1))
    d[:, 0] = 30.0
    best = best_pct_change(d)
    bor = best_overall_response(d)
    assert np.all(best[bor == 3] > 0) and (bor == 3).sum() > 100
    assert np.all(best[bor <= 1] <= -30) and (bor <= 1).sum() > 100
    every = best_pct_change(d, until_progression=False)
    assert np.sum(every[bor == 3] <= -30) > 10  # the defect of reading past progression


@pytest.mark.parametrize("shape", [(), (4, 1), (1,)])
@pytest.mark.usefixtures("unchecked")  # a scalar / an unknown literal on purpose
def test_best_pct_change_needs_two_scans(shape):
    with pytest.raises(ValueError, match="diam"):
        best_pct_change(np.ones(shape))


def test_negative_diameter_rejected():
    with pytest.raises(ValueError, match=r"diam must be >= 0.*-2\.0"):
        best_overall_response([[10.0, 5.0], [3.0, -2.0]])


# ------------------------------------------------------------------------------ RECIST 1.1


def test_cr_then_regrowth_pd_relative_to_nadir():
    # 30 → 15 (−50 %: PR) → 0 (CR) → 4 (nadir 0, +4 mm < 5: not PD; 4 <= 21: PR)
    #    → 6 (nadir 0, +6 mm >= 5 and >= 1.2·0: PD)
    d = np.array([30.0, 15.0, 0.0, 4.0, 6.0])
    np.testing.assert_array_equal(scan_responses(d), [PR, CR, PR, PD])
    assert best_overall_response(d) == CR
    days, event = pfs(d, DAYS5, follow_up=200.0)
    assert event and days == 168.0
    # unconfirmed by default; confirmed: CR at scan 2 is followed by PR → PR
    assert best_overall_response(d, confirm=True) == PR
    # EORTC FAQ reading: any reappearance after CR is PD (scan 3)
    np.testing.assert_array_equal(scan_responses(d, pd_on_reappearance=True), [PR, CR, PD, PD])
    days, event = pfs(d, DAYS5, follow_up=200.0, pd_on_reappearance=True)
    assert event and days == 126.0


def test_pd_is_relative_to_nadir_not_baseline():
    # 50 → 30 (−40 %: PR) → 36: still −28 % from baseline, but +20 % (exactly) and +6 mm over
    # the nadir 30: PD. Best response stays PR (read before progression).
    d = np.array([50.0, 30.0, 36.0, 20.0, 10.0])
    np.testing.assert_array_equal(scan_responses(d), [PR, PD, PR, PR])
    assert best_overall_response(d) == PR
    days, event = pfs(d, DAYS5, follow_up=168.0)
    assert event and days == 84.0
    # just below the 20 % line (35.9 < 36): not PD; −28.2 % from baseline: SD
    d2 = np.array([50.0, 30.0, 35.9])
    np.testing.assert_array_equal(scan_responses(d2), [PR, SD])


def test_pd_at_first_scan_ends_assessment():
    # 20 → 26 (+30 %, +6 mm): PD at the first scan; later shrinkage does not count
    d = np.array([20.0, 26.0, 10.0, 0.0, 0.0])
    assert best_overall_response(d) == PD
    assert best_overall_response(d, confirm=True) == PD
    days, event = pfs(d, DAYS5, follow_up=365.0)
    assert event and days == 42.0
    # the waterfall value stops at progression too (+30 %); read past it, it would be −100 %
    assert best_pct_change(d) == 30.0
    assert best_pct_change(d, until_progression=False) == -100.0


def test_five_mm_rule_blocks_small_lesion_progression():
    # 10 → 14 → 14.5 → 14.9: +49 % over the nadir but +4.9 mm < 5 mm: never PD, SD
    small = np.array([10.0, 14.0, 14.5, 14.9, 14.9])
    np.testing.assert_array_equal(scan_responses(small), [SD, SD, SD, SD])
    assert best_overall_response(small) == SD
    days, event = pfs(small, DAYS5, follow_up=365.0)
    assert not event and days == 168.0  # censored at the last scan
    # same relative growth on a 40 mm lesion: +16 mm → PD at scan 1
    big = small * 4
    assert best_overall_response(big) == PD
    # lowering the absolute rule to 4 mm lets the small lesion progress at 14.0 (+4 mm)
    assert best_overall_response(small, min_increase_mm=4.0) == PD


def test_stable_disease_and_pr_boundary():
    # 40 → 35 (−12.5 %) → 38 (+8.6 % over nadir 35) → 41 (+17 %): SD throughout
    sd = np.array([40.0, 35.0, 38.0, 41.0])
    np.testing.assert_array_equal(scan_responses(sd), [SD, SD, SD])
    assert best_overall_response(sd) == SD
    # exactly −30 % is PR ("at least a 30 % decrease"); −29 % is not
    assert best_overall_response([10.0, 7.0]) == PR
    assert best_overall_response([10.0, 7.1]) == SD
    # SD then PD: best response SD
    assert best_overall_response([40.0, 35.0, 45.0]) == SD


def test_cr_threshold_option():
    d = np.array([20.0, 3.0, 2.0])  # below 5 mm counts as disappeared when asked
    assert best_overall_response(d) == PR
    assert best_overall_response(d, cr_diameter_mm=5.0) == CR


def test_confirmation_rules():
    # PR at scan 1 confirmed by PR at scan 2
    assert best_overall_response([30.0, 20.0, 20.0, 25.0], confirm=True) == PR
    # PR only at the last scan: unconfirmed → SD
    assert best_overall_response([30.0, 25.0, 20.0], confirm=True) == SD
    # CR confirmed by CR
    assert best_overall_response([30.0, 0.0, 0.0], confirm=True) == CR
    # PR followed by PD: unconfirmed → SD (RECIST: SD if its minimum duration is met)
    assert best_overall_response([30.0, 20.0, 26.0], confirm=True) == SD


def test_failed_and_unmeasurable_rows():
    d = np.array(
        [
            [30.0, 15.0, 0.0],
            [np.nan, np.nan, np.nan],  # failed solve
            [30.0, 15.0, np.nan],  # failed mid-way
            [0.0, 0.0, 0.0],  # no disease at baseline
            [30.0, np.inf, 1.0],  # blown up
        ]
    )
    np.testing.assert_array_equal(best_overall_response(d), [CR, NE, NE, NE, NE])
    assert best_overall_response(d).dtype == np.int8
    np.testing.assert_array_equal(scan_responses(d)[1:], np.full((4, 2), NE))
    days, event = pfs(d, [0.0, 42.0, 84.0], follow_up=84.0)
    assert days[0] == 84.0 and not event[0]
    assert np.all(np.isnan(days[1:])) and not np.any(event[1:])


def test_empty_cohort():
    d = np.zeros((0, 5))
    assert best_overall_response(d).shape == (0,)
    days, event = pfs(d, DAYS5, follow_up=168.0)
    assert days.shape == (0,) and event.shape == (0,)


def _reference_bor(d, min_mm=5.0):
    """Plain-Python RECIST 1.1 (unconfirmed), written from the rule text, one series."""
    if any(not math.isfinite(x) for x in d) or d[0] <= 0:
        return NE
    best = None
    nadir = d[0]
    for x in d[1:]:
        if x >= 1.2 * nadir and x - nadir >= min_mm:
            return PD if best is None else best
        r = CR if x == 0 else (PR if x <= 0.7 * d[0] else SD)
        best = r if best is None else min(best, r)
        nadir = min(nadir, x)
    return best


def test_vectorized_matches_reference_loop():
    rng = np.random.default_rng(42)
    # random walks in log-diameter, some hitting 0, some NaN; shape (arm=3, patient=40, scan=7)
    steps = rng.normal(0, 0.3, size=(3, 40, 7))
    d = 20 * np.exp(np.cumsum(steps, axis=-1))
    d[..., 0] = rng.uniform(5, 40, size=(3, 40))
    d[rng.uniform(size=d.shape) < 0.05] = 0.0
    d[0, 0, 3] = np.nan
    bor = best_overall_response(d)
    assert bor.shape == (3, 40)
    expected = np.array([[_reference_bor(list(row)) for row in arm] for arm in d])
    np.testing.assert_array_equal(bor, expected)
    assert {CR, PR, SD, PD, NE} <= set(bor.ravel().tolist())  # every branch exercised


# ------------------------------------------------------------------------------ PFS


def test_pfs_follow_up_and_censoring():
    d = np.array([[20.0, 20.0, 20.0, 20.0, 30.0], [20.0, 20.0, 26.0, 20.0, 20.0]])
    # follow-up ends at day 150: the PD at day 168 is not seen; censored at the last scan
    # before follow-up (day 126) or at follow-up itself
    days, event = pfs(d, DAYS5, follow_up=150.0)
    np.testing.assert_array_equal(days, [126.0, 84.0])
    np.testing.assert_array_equal(event, [False, True])
    days, event = pfs(d, DAYS5, follow_up=150.0, censor_at="follow_up")
    np.testing.assert_array_equal(days, [150.0, 84.0])
    days, event = pfs(d, DAYS5, follow_up=365.0)
    np.testing.assert_array_equal(days, [168.0, 84.0])
    np.testing.assert_array_equal(event, [True, True])


@pytest.mark.parametrize(
    ("scan_days", "match"),
    [
        ([0.0, 42.0, 42.0, 126.0, 168.0], "strictly increasing"),
        ([0.0, 84.0, 42.0, 126.0, 168.0], "strictly increasing"),
        ([0.0, 42.0, 84.0], "one day per scan"),
        ([0.0, 42.0, np.nan, 126.0, 168.0], "finite"),
    ],
)
def test_pfs_bad_scan_days(scan_days, match):
    with pytest.raises(ValueError, match=f"scan_days must be.*{match}"):
        pfs(np.ones((2, 5)), scan_days, follow_up=200.0)


@pytest.mark.usefixtures("unchecked")  # a scalar / an unknown literal on purpose
def test_pfs_bad_options():
    with pytest.raises(ValueError, match="follow_up"):
        pfs(np.ones(5), DAYS5, follow_up=10.0)
    with pytest.raises(ValueError, match="censor_at"):
        pfs(np.ones(5), DAYS5, follow_up=200.0, censor_at="death")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_increase_mm"):
        pfs(np.ones(5), DAYS5, follow_up=200.0, min_increase_mm=-1.0)


# ------------------------------------------------------------------------------ outcome


def test_outcome_class():
    final = np.array([0.0, 0.5, 1.0, 8.2e6, 2.5e8, 4.47e8, np.nan])
    out = outcome_class(final, escape_cells=2.5e8)
    np.testing.assert_array_equal(out, [0, 0, 1, 1, 2, 2, -1])
    assert out.dtype == np.int8
    # per-patient thresholds (e.g. half of each patient's carrying capacity 1/b)
    b = np.array([2e-9, 2e-8])
    np.testing.assert_array_equal(outcome_class([3e8, 3e8], escape_cells=0.5 / b), [2, 2])
    np.testing.assert_array_equal(outcome_class([2e8, 2e7], escape_cells=0.5 / b), [1, 1])


def test_outcome_class_bad_input():
    with pytest.raises(ValueError, match="escape_cells"):
        outcome_class([1e6], escape_cells=0.5)
    with pytest.raises(ValueError, match="final_cells"):
        outcome_class([-1.0], escape_cells=1e8)


# ------------------------------------------------------------------------------ Wilson CI


def _wilson_direct(k, n, conf=0.95):
    z = NormalDist().inv_cdf(0.5 + conf / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_5_of_10():
    # centre = 0.5; half-width = 1.96/(1 + 1.96²/10)·sqrt(0.025 + 1.96²/400) = 0.2634
    lo, hi = wilson_ci(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)


def test_wilson_published_values():
    # Newcombe (1998) Stat Med 17:857, Table II, method 3 (score interval, no correction)
    lo, hi = wilson_ci([81, 15, 0, 1], [263, 148, 20, 29])
    np.testing.assert_allclose(lo, [0.2553, 0.0624, 0.0, 0.0061], atol=1e-4)
    np.testing.assert_allclose(hi, [0.3662, 0.1605, 0.1611, 0.1718], atol=1e-4)


def test_wilson_against_formula_and_scipy():
    n = np.array([1, 7, 10, 33, 250, 10_000])[:, None]
    k = np.array([0, 1, 3, 5, 7])[None, :] * n // 7
    for conf in (0.9, 0.95, 0.99):
        lo, hi = wilson_ci(k, n, confidence=conf)
        assert lo.shape == hi.shape == (6, 5)
        for i in range(6):
            for j in range(5):
                ki, ni = int(k[i, j]), int(n[i, 0])
                ref = scipy.stats.binomtest(ki, ni).proportion_ci(conf, method="wilson")
                assert lo[i, j] == pytest.approx(ref.low, abs=1e-12)
                assert hi[i, j] == pytest.approx(ref.high, abs=1e-12)
                dlo, dhi = _wilson_direct(ki, ni, conf)
                assert lo[i, j] == pytest.approx(max(dlo, 0.0), abs=1e-12)
                assert hi[i, j] == pytest.approx(min(dhi, 1.0), abs=1e-12)


def test_wilson_edge_cases():
    lo, hi = wilson_ci([0, 3], [0, 3])
    assert np.isnan(lo[0]) and np.isnan(hi[0])
    assert hi[1] == 1.0 and lo[1] < 1.0
    with pytest.raises(ValueError, match="k must be <= n"):
        wilson_ci(4, 3)
    with pytest.raises(ValueError, match="k must be non-negative integers"):
        wilson_ci(1.5, 3)
    with pytest.raises(ValueError, match="confidence"):
        wilson_ci(1, 3, confidence=95)


# ------------------------------------------------------------------------------ Kaplan–Meier

T6 = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0])
E6 = np.array([True, True, False, True, False, True])


def test_kaplan_meier_by_hand():
    km = kaplan_meier(T6, E6)
    # t=1: 6 at risk, 1 event → 5/6; t=2: 5 at risk, 1 event (the censoring at 2 comes after)
    # → 4/6; t=3: 3 at risk, 1 event → 4/9; t=4: censoring; t=5: 1 at risk, 1 event → 0
    np.testing.assert_allclose(km.time, [0, 1, 2, 3, 4, 5])
    np.testing.assert_allclose(km.survival, [1, 5 / 6, 4 / 6, 4 / 9, 4 / 9, 0], rtol=1e-14)
    np.testing.assert_array_equal(km.at_risk, [6, 6, 5, 3, 2, 1])
    np.testing.assert_array_equal(km.events, [0, 1, 1, 1, 0, 1])
    # Greenwood at t=3: 1/(6·5) + 1/(5·4) + 1/(3·2) = 1/4; se of log(−log S) = 0.5/|log(4/9)|
    se = 0.5 / abs(math.log(4 / 9))
    z = NormalDist().inv_cdf(0.975)
    assert km.lower[3] == pytest.approx((4 / 9) ** math.exp(z * se), rel=1e-12)
    assert km.upper[3] == pytest.approx((4 / 9) ** math.exp(-z * se), rel=1e-12)
    assert km.lower[0] == km.upper[0] == 1.0
    assert np.isnan(km.lower[-1]) and np.isnan(km.upper[-1])


def test_kaplan_meier_against_scipy():
    rng = np.random.default_rng(7)
    event_t = np.round(rng.exponential(200, size=300), -1)  # rounded: many ties
    censor_t = np.round(rng.uniform(0, 500, size=300), -1)
    times = np.minimum(event_t, censor_t)
    events = event_t <= censor_t
    km = kaplan_meier(times, events, confidence=0.9)
    res = scipy.stats.ecdf(scipy.stats.CensoredData(uncensored=times[events], right=times[~events]))
    np.testing.assert_allclose(km.survival, res.sf.evaluate(km.time), rtol=1e-12)
    with warnings.catch_warnings():  # scipy warns that the band is undefined where S = 0
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = res.sf.confidence_interval(0.9, method="log-log")
    ok = (km.survival < 1) & (km.survival > 0)
    np.testing.assert_allclose(km.lower[ok], ci.low.evaluate(km.time[ok]), rtol=1e-10)
    np.testing.assert_allclose(km.upper[ok], ci.high.evaluate(km.time[ok]), rtol=1e-10)


def test_kaplan_meier_drops_failed_and_validates():
    km = kaplan_meier(np.append(T6, np.nan), np.append(E6, True))
    np.testing.assert_allclose(km.survival, kaplan_meier(T6, E6).survival)
    with pytest.raises(ValueError, match="times must be finite and >= 0"):
        kaplan_meier([1.0, -2.0], [True, True])
    with pytest.raises(ValueError, match="1-D of equal length"):
        kaplan_meier([1.0, 2.0], [True])
    with pytest.raises(ValueError, match="events must be booleans"):
        kaplan_meier([1.0, 2.0], [1, 2])


def test_km_median_by_hand():
    # S drops from 2/3 to 4/9 at t=3: median 3
    med, lo, hi = km_median(T6, E6)
    assert med == 3.0
    # interval from the bands: lower band 0.27 <= 0.5 already at t=1; upper band stays 0.78
    # until S = 0 at t=5
    assert (lo, hi) == (1.0, 5.0)
    # S = 0.5 exactly on [2, 3): midpoint rule (R's survfit) gives 2.5
    assert km_median([1.0, 2.0, 3.0, 4.0], [True] * 4)[0] == 2.5


def test_km_median_not_reached():
    times = np.array([10.0, 20.0, 30.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    events = np.array([True, True, True, False, False, False, False, False])
    med, lo, hi = km_median(times, events)  # S(100) = 5/8 > 0.5
    assert np.isnan(med) and np.isnan(hi) and lo == 10.0
    assert all(np.isnan(km_median([], []))) and all(np.isnan(km_median([np.nan], [True])))


def test_km_median_exponential_cohort():
    # exponential PFS, rate 1/300 per day: median = 300·ln 2 ≈ 208 days; uniform censoring
    rng = np.random.default_rng(3)
    event_t = rng.exponential(300, size=2000)
    censor_t = rng.uniform(100, 900, size=2000)
    med, lo, hi = km_median(np.minimum(event_t, censor_t), event_t <= censor_t)
    assert lo < 300 * math.log(2) < hi
    assert lo < med < hi and hi - lo < 40

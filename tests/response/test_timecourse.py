"""RECIST over time on hand-made trajectories: every expected value is worked out by hand.

Scans every 6 weeks (days 0, 42, 84, 126, 168, 210) and a baseline SLD of 100 mm unless said
otherwise: PR is an SLD <= 70, PD >= 1.2 × nadir and >= nadir + 5 mm.
"""

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune.response import (
    PSEUDO_PROGRESSION_CODES,
    best_overall_response,
    confirmed_best_response,
    duration_of_response,
    increase_then_response,
    irecist_pfs,
    pfs,
    pseudo_progression,
    time_to_response,
    timecourse_readout,
    timecourse_summary,
)

CR, PR, SD, PD, NE = 0, 1, 2, 3, -1
DAYS = np.array([0.0, 42.0, 84.0, 126.0, 168.0, 210.0])


def rows(*series: list[float]) -> np.ndarray:
    return np.asarray(series, dtype=float)


# ------------------------------------------------------------------------ time to response


def test_ttr_first_scan_and_later():
    d = rows(
        [100, 60, 60, 60, 60, 60],  # PR at the first scan: day 42
        [100, 90, 80, 65, 60, 60],  # PR first at day 126 (65 <= 70)
        [100, 90, 90, 90, 90, 90],  # SD throughout: never
        [100, 0, 0, 0, 0, 0],  # CR at day 42
    )
    np.testing.assert_array_equal(time_to_response(d, DAYS), [42.0, 126.0, np.nan, 42.0])


def test_ttr_response_after_pd_does_not_count():
    # PD at day 42 (130 >= 120 and +30 mm), then 60 mm (a "response" after PD): never
    d = rows([100, 130, 60, 60, 60, 60], [100, 70, 90, 60, 60, 60])
    # second: PR at 42 (70 <= 70, exactly at the threshold), PD at 84 (90 >= 84 and +20 mm)
    np.testing.assert_array_equal(time_to_response(d, DAYS), [np.nan, 42.0])


def test_ttr_confirmation_in_time_too_early_and_lost():
    d = rows(
        [100, 60, 60, 60, 60, 60],  # PR at 42 confirmed at 84 (42 days later >= 28)
        [100, 60, 71, 60, 60, 60],  # PR at 42 lost at 84 (71: SD); PR at 126 confirmed at 168
        [100, 90, 90, 90, 90, 60],  # PR only at the last scan: nothing to confirm it
        [100, 60, 71, 60, 80, 80],  # PR at 42 lost, PR at 126 ends in PD (80), never confirmed
    )
    np.testing.assert_array_equal(
        time_to_response(d, DAYS, confirm=True), [42.0, 126.0, np.nan, np.nan]
    )
    np.testing.assert_array_equal(time_to_response(d, DAYS), [42.0, 42.0, 210.0, 42.0])


def test_ttr_confirmation_needs_min_days():
    # scans 14 days apart: a response at day j is confirmed by the first scan >= 28 days later
    days = np.array([0.0, 14.0, 28.0, 42.0, 56.0])
    d = rows(
        [100, 60, 60, 60, 60],  # PR at 14, confirmed at 42 (still PR at 28): 14
        [100, 60, 71, 60, 60],  # PR at 14 lapses at 28 (SD); PR at 42 has no scan >= 70
        [100, 60, 60, 90, 90],  # PR at 14 and 28, PD at 42 (90 >= 72) before 28 days: never
    )
    np.testing.assert_array_equal(time_to_response(d, days, confirm=True), [14.0, np.nan, np.nan])
    # a 14-day window: confirmed by the next scan (28) in rows 1 and 3, at 56 in row 2
    np.testing.assert_array_equal(
        time_to_response(d, days, confirm=True, min_confirm_days=14.0), [14.0, 42.0, 14.0]
    )


def test_ttr_not_evaluable_rows_and_shapes():
    d = rows([100, 60, 60, 60, 60, 60], [100, np.nan, 60, 60, 60, 60], [0, 0, 0, 0, 0, 0])
    out = time_to_response(d, DAYS)
    np.testing.assert_array_equal(out, [42.0, np.nan, np.nan])
    # leading axes (arm, patient) and a single row
    assert time_to_response(np.stack([d, d]), DAYS).shape == (2, 3)
    assert float(time_to_response(d[0], DAYS)) == 42.0


@pytest.mark.usefixtures("unchecked")
def test_bad_input_names_the_argument():
    d = rows([100, 60, 60, 60, 60, 60])
    with pytest.raises(ValueError, match="scan_days"):
        time_to_response(d, DAYS[:-1])
    with pytest.raises(ValueError, match="scan_days"):
        time_to_response(d, DAYS[::-1])
    with pytest.raises(ValueError, match="min_confirm_days"):
        time_to_response(d, DAYS, confirm=True, min_confirm_days=-1.0)
    with pytest.raises(ValueError, match="diam"):
        time_to_response(-d, DAYS)
    with pytest.raises(ValueError, match="diam"):
        time_to_response(d[:, :1], DAYS[:1])
    with pytest.raises(ValueError, match="follow_up"):
        duration_of_response(d, DAYS, follow_up=10.0)
    with pytest.raises(ValueError, match="pr_decrease_pct"):
        confirmed_best_response(d, DAYS, pr_decrease_pct=0.0)
    with pytest.raises(ValueError, match="increase_pct"):
        pseudo_progression(d, DAYS, increase_pct=0.0)
    with pytest.raises(ValueError, match="first_scan_day"):
        increase_then_response(d, DAYS, first_scan_day=-1.0)
    with pytest.raises(ValueError, match="confirm_increase_mm"):
        irecist_pfs(d, DAYS, follow_up=210.0, confirm_increase_mm=-5.0)


# ------------------------------------------------------------------- duration of response


def test_dor_event_censoring_and_non_responders():
    d = rows(
        [100, 60, 50, 50, 70, 70],  # PR at 42; nadir 50, PD at 168 (70 >= 60, +20): 126 days
        [100, 60, 60, 60, 60, 60],  # PR at 42, no PD: censored at the last scan (210): 168
        [100, 90, 90, 90, 90, 90],  # no response
        [100, 130, 60, 60, 60, 60],  # PD before any response
        [100, 60, np.nan, 60, 60, 60],  # not evaluable
    )
    days, event = duration_of_response(d, DAYS, follow_up=210.0)
    np.testing.assert_array_equal(days, [126.0, 168.0, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(event, [True, False, False, False, False])
    # follow-up at day 150: scans after it do not count (no PD seen; censored at day 126)
    days, event = duration_of_response(d, DAYS, follow_up=150.0)
    np.testing.assert_array_equal(days[:2], [84.0, 84.0])
    np.testing.assert_array_equal(event[:2], [False, False])


def test_dor_with_confirmation_starts_at_the_confirmed_response():
    d = rows([100, 60, 71, 60, 60, 80])
    # unconfirmed: from 42; nadir 60 before 210, 80 >= 72 and +20: PD at 210 -> 168 days
    days, event = duration_of_response(d, DAYS, follow_up=210.0)
    assert (days[0], event[0]) == (168.0, True)
    # confirmed: the PR at 42 is lost at 84; PR at 126 confirmed at 168: 210 − 126 = 84
    days, event = duration_of_response(d, DAYS, follow_up=210.0, confirm=True)
    assert (days[0], event[0]) == (84.0, True)


def test_dor_is_pfs_minus_ttr_for_responders():
    rng = np.random.default_rng(1)
    d = 100.0 * np.cumprod(rng.uniform(0.6, 1.3, (400, DAYS.size)), axis=1)
    d[:, 0] = 100.0
    days, event = duration_of_response(d, DAYS, follow_up=210.0)
    ttr = time_to_response(d, DAYS)
    p_days, p_event = pfs(d, DAYS, follow_up=210.0)
    resp = np.isfinite(ttr)
    assert 20 < resp.sum() < 400
    np.testing.assert_array_equal(days[resp], p_days[resp] - ttr[resp])
    np.testing.assert_array_equal(event[resp], p_event[resp])
    assert not np.any(event[~resp]) and np.all(np.isnan(days[~resp]))


# ---------------------------------------------------------------- confirmed best response


def test_confirmed_best_response_by_hand():
    d = rows(
        [100, 0, 0, 0, 0, 0],  # CR confirmed: CR
        [100, 0, 4, 4, 4, 4],  # CR then PR (4 mm: +4 mm over the nadir 0 is not PD): PR
        [100, 60, 80, 90, 90, 90],  # PR not confirmed, stable: SD
        [100, 60, 80, 60, 90, 90],  # PR at 126 followed by 90 = PD over nadir 60: SD
        [100, 130, 60, 60, 60, 60],  # PD at the first scan: PD
        [100, 60, 60, np.nan, 60, 60],  # not evaluable
    )
    np.testing.assert_array_equal(confirmed_best_response(d, DAYS), [CR, PR, SD, SD, PD, NE])
    np.testing.assert_array_equal(best_overall_response(d), [CR, CR, PR, PR, PD, NE])


def test_confirmed_best_response_is_bor_confirm_at_zero_days():
    rng = np.random.default_rng(2)
    d = 100.0 * np.cumprod(rng.uniform(0.5, 1.3, (500, DAYS.size)), axis=1)
    d[:, 0] = 100.0
    d[rng.uniform(size=d.shape) < 0.1] = 0.0
    d[:, 0] = 100.0
    got = confirmed_best_response(d, DAYS, min_confirm_days=0.0)
    np.testing.assert_array_equal(got, best_overall_response(d, confirm=True))
    # a 6-weekly schedule confirms at the next scan for any window up to 42 days
    np.testing.assert_array_equal(confirmed_best_response(d, DAYS), got)
    # a longer window confirms less
    longer = confirmed_best_response(d, DAYS, min_confirm_days=60.0)
    assert np.sum(longer <= PR) < np.sum(got <= PR)


# ---------------------------------------------------------------------- pseudo-progression


def test_pseudo_progression_early_delayed_confirmed():
    d = rows(
        [100, 130, 90, 60, 60, 60],  # +30 % at 42, next 90 < 130: early
        [100, 110, 130, 100, 100, 100],  # +30 % at 84 (nadir 100), next 100: early (84 <= 84)
        [100, 60, 60, 80, 70, 70],  # nadir 60, 80 = +33 % at 126, next 70 < 80: delayed
        [100, 130, 140, 60, 60, 60],  # +30 % at 42, next 140 >= 130 and PD: confirmed -> none
        [100, 90, 90, 90, 90, 130],  # increase at the last scan: cannot be judged -> none
        [100, 60, 60, np.nan, 60, 60],  # not evaluable
        [100, 124, 100, 100, 100, 100],  # +24 % < 25 %: none
    )
    np.testing.assert_array_equal(pseudo_progression(d, DAYS), [1, 1, 2, 0, 0, -1, 0])
    assert PSEUDO_PROGRESSION_CODES == {"NE": -1, "none": 0, "early": 1, "delayed": 2}
    # with week 6 as the last early assessment, the increase at 84 is delayed
    np.testing.assert_array_equal(pseudo_progression(d, DAYS, first_scan_day=42.0)[:2], [1, 2])


def test_pseudo_progression_confirmation_needs_pd_over_the_nadir():
    # 20 -> 26 mm (+30 %, +6 mm: flagged); next 27: larger and RECIST PD over the nadir
    # (27 >= 24 and 27 − 20 >= 5 mm) -> confirmed. Next 25: smaller than the flagged scan ->
    # not confirmed (early). 12 -> 16 mm (+33 % but only 4 mm): no increase at all.
    d = rows([20, 26, 27, 27, 27, 27], [20, 26, 25, 25, 25, 25], [12, 16, 12, 12, 12, 12])
    np.testing.assert_array_equal(pseudo_progression(d, DAYS), [0, 1, 0])


def test_pseudo_progression_one_on_study_scan():
    d = rows([100, 130], [100, np.nan])
    np.testing.assert_array_equal(pseudo_progression(d, DAYS[:2]), [0, -1])


def test_increase_then_response():
    d = rows(
        [100, 125, 60, 60, 60, 60],  # +25 % at 42, then -40 %: yes
        [100, 100, 120, 60, 60, 60],  # +20 % at 84 (early), then -40 %: yes
        [100, 100, 100, 130, 60, 60],  # increase at 126 (not early): no
        [100, 125, 80, 80, 80, 80],  # increase, no response: no
        [100, 60, 125, 125, 125, 125],  # response before the increase only: no
        [100, 125, 60, np.nan, 60, 60],  # not evaluable: no
    )
    np.testing.assert_array_equal(
        increase_then_response(d, DAYS), [True, True, False, False, False, False]
    )


# ------------------------------------------------------------------------------- iRECIST


def test_irecist_pfs_confirmation_reset_and_pending():
    d = rows(
        [100, 130, 140, 140, 140, 140],  # iUPD at 42 (130), 140 >= 135: iCPD, event at 42
        [100, 130, 90, 60, 60, 60],  # iUPD at 42, then 90 (not PD over nadir 100): reset
        [100, 130, 133, 136, 136, 136],  # iUPD 42; 133 pending (< 135); 136 >= 135: event 42
        [100, 130, 90, 130, 140, 140],  # reset at 84; new iUPD at 126 (130 >= 108), 140: 126
        [100, 90, 90, 90, 90, 130],  # iUPD at the last scan, never confirmed: censored 210
        [100, np.nan, 90, 90, 90, 90],  # not evaluable
    )
    days, event = irecist_pfs(d, DAYS, follow_up=210.0)
    np.testing.assert_array_equal(days, [42.0, 210.0, 42.0, 126.0, 210.0, np.nan])
    np.testing.assert_array_equal(event, [True, False, True, True, False, False])
    # RECIST PFS of the same rows: the first PD, at 42 for the first four
    p_days, _ = pfs(d, DAYS, follow_up=210.0)
    np.testing.assert_array_equal(p_days[:4], [42.0, 42.0, 42.0, 42.0])
    # follow-up at 100 days: the confirmation at 126 of row 4 is not seen, row 3 is (84)
    days, event = irecist_pfs(d, DAYS, follow_up=100.0)
    np.testing.assert_array_equal(days[:4], [42.0, 84.0, 84.0, 84.0])
    np.testing.assert_array_equal(event[:4], [True, False, False, False])


# --------------------------------------------------------------------- sweep read-out, summary


def test_timecourse_readout_fields():
    d = rows([100, 60, 60, 60, 60, 60], [100, 130, 90, 60, 60, 60])
    out = timecourse_readout(d, DAYS, follow_up=210.0)
    assert set(out) == {
        "ttr_days",
        "dor_days",
        "dor_event",
        "confirmed_response",
        "pseudo_progression",
    }
    np.testing.assert_array_equal(out["ttr_days"], [42.0, np.nan])
    np.testing.assert_array_equal(out["confirmed_response"], [PR, PD])
    np.testing.assert_array_equal(out["pseudo_progression"], [0, 1])
    assert out["dor_event"].dtype == bool and out["confirmed_response"].dtype == np.int8


def test_timecourse_summary_by_hand():
    # one arm: responders at 42 (DoR 100, event), 42 (200, censored), 126 (50, event),
    # a non-responder; pseudo-progression: one early, one delayed of 4 evaluable (+1 NE)
    ttr = np.array([[42.0, 42.0, 126.0, np.nan, np.nan]])
    dor = np.array([[100.0, 200.0, 50.0, np.nan, np.nan]])
    ev = np.array([[True, False, True, False, False]])
    pp = np.array([[0, 1, 2, 0, -1]], dtype=np.int8)
    days = np.arange(0.0, 800.0, 42.0)
    s = timecourse_summary(ttr, dor, ev, pp, scan_days=days, follow_up=800.0)
    assert s["n_responders"][0] == 3
    assert s["median_ttr_days"][0] == 42.0
    np.testing.assert_allclose(s["ttr_first_scan"], [2 / 3])
    # KM: S = 2/3 from 50, 1/3 from 100, censored at 200: median 100
    assert s["median_dor_days"][0] == 100.0
    # at 1 and 2 years (> 200): S = 1/3; 3 years (1095.75) is beyond the longest possible
    # response (follow-up 800 − first scan 42 = 758 days): NaN
    np.testing.assert_allclose(s["response_ongoing_1y"], [1 / 3])
    np.testing.assert_allclose(s["response_ongoing_2y"], [1 / 3])
    assert np.isnan(s["response_ongoing_3y"][0])
    s = timecourse_summary(ttr, dor, ev, pp, scan_days=days, follow_up=700.0)
    assert np.isnan(s["response_ongoing_2y"][0])  # 730.5 > 700 − 42
    np.testing.assert_allclose(s["pseudo_progression_early"], [0.25])
    np.testing.assert_allclose(s["pseudo_progression_delayed"], [0.25])
    # no responders: NaN; one on-study scan: no pseudo-progression rate
    s = timecourse_summary(
        ttr[:, 3:], dor[:, 3:], ev[:, 3:], pp[:, 3:], scan_days=[0.0, 42.0], follow_up=42.0
    )
    assert s["n_responders"][0] == 0
    assert np.isnan(s["median_ttr_days"][0]) and np.isnan(s["median_dor_days"][0])
    assert np.isnan(s["pseudo_progression_early"][0])


# ------------------------------------------------------------------------ published endpoints


def test_endpoints_median_ttr_and_pseudo_progression():
    from tumorimmune.response import Endpoint, evaluate_endpoints

    # 9 evaluable patients (one failed solve, bor -1, left out): TTR 42 ×5, 84 ×3, never ×1
    bor = np.array([1] * 8 + [2, -1])
    ttr = np.array([42.0] * 5 + [84.0] * 3 + [np.nan, 42.0])
    pp = np.array([1, 0, 0, 2, 0, 0, 0, 0, 0, -1], dtype=np.int8)
    r = {
        "bor": bor,
        "pfs_days": np.full(10, 100.0),
        "pfs_event": np.zeros(10, bool),
        "ttr_days": ttr,
        "pseudo_progression": pp,
    }
    med, pseudo = evaluate_endpoints(
        r,
        [
            Endpoint("TTR", "median_ttr", 84.0),
            Endpoint("pseudo-progression", "pseudo_progression", 0.07, n=327),
        ],
    )
    # median of 8 responders (42 ×5, 84 ×3) = 42; published 84 ± 21 does not cover it
    assert med["simulated"] == 42.0 and med["unit"] == "days" and med["within"] is False
    assert (med["target_lo"], med["target_hi"]) == (63.0, 105.0)
    # binomial(8, 1/2) 2.5 % quantile is 1: the interval is (x_(1), x_(8)) = (42, 84)
    assert (med["simulated_lo"], med["simulated_hi"]) == (42.0, 84.0)
    assert pseudo["simulated"] == pytest.approx(2 / 9) and pseudo["unit"] == "fraction"
    with pytest.raises(ValueError, match="ttr_days"):
        evaluate_endpoints({k: r[k] for k in ("bor", "pfs_days", "pfs_event")}, [med_ep()])


def med_ep():
    from tumorimmune.response import Endpoint

    return Endpoint("TTR", "median_ttr", 84.0)


def test_pseudo_progression_needs_an_absolute_increase_after_a_complete_response():
    from tumorimmune.response import pseudo_progression

    days = np.array([0.0, 84.0, 126.0, 168.0, 210.0])
    cr = np.array([[40.0, 0.0, 0.0, 0.0, 0.0]])  # complete response, stays: nothing flagged
    swell = np.array([[40.0, 52.0, 30.0, 20.0, 10.0]])  # +30 % at week 12, then response
    assert pseudo_progression(cr, days).tolist() == [0]
    assert pseudo_progression(swell, days).tolist() == [1]

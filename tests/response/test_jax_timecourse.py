"""RECIST over time on the device (jax_timecourse_readout) is the NumPy reference, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune.response import jax_timecourse_readout, timecourse_readout

SCANS = np.array([0.0, 42, 84, 126, 168, 210, 252, 336, 420, 504, 588, 672])


def _diameters(n: int, seed: int) -> np.ndarray:
    """Sums of diameters (mm) with responses, relapses, pseudo-progressions, CRs, PD at the
    first scan, plateaus at thresholds, failed (NaN) and zero-baseline rows."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(10, 150, (n, 1))
    walk = np.cumsum(rng.normal(0.0, 0.18, (n, SCANS.size - 1)), axis=-1)
    d = base * np.exp(np.concatenate([np.zeros((n, 1)), walk], axis=-1))
    d[rng.random((n, SCANS.size)) < 0.08] = 0.0  # lesions below the detection limit
    d = np.round(d, rng.integers(0, 2))  # ties and exact thresholds
    d[0] = [50, 35, 35, 36, 50, 60, 35, 35, 0, 0, 0, 10]  # exact 30 % / 20 % boundaries
    d[1] = [40, 52, 30, 28, 20, 20, 21, 30, 40, 45, 50, 60]  # increase then response
    d[2, 4] = np.nan
    d[3, 0] = 0.0
    return d


@pytest.mark.parametrize("confirm", [False, True])
@pytest.mark.parametrize("gap", [0.0, 28.0, 100.0])
@pytest.mark.parametrize("follow_up", [672.0, 400.0, 42.0])
def test_device_timecourse_is_the_numpy_reference_bit_for_bit(confirm, gap, follow_up):
    d = np.stack([_diameters(3000, 1), _diameters(3000, 2)])  # (arm, patient, scan)
    want = timecourse_readout(d, SCANS, follow_up=follow_up, confirm=confirm, min_confirm_days=gap)
    got = jax_timecourse_readout(
        d, SCANS, follow_up=follow_up, confirm=confirm, min_confirm_days=gap
    )
    assert sorted(got) == sorted(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape == (2, 3000), k
        np.testing.assert_array_equal(got[k], v, err_msg=k)
    # the cases are exercised: responders, progressions, pseudo-progressions, not evaluable
    assert np.isfinite(want["ttr_days"]).mean() > 0.05
    assert want["dor_event"].any() or follow_up == 42.0  # one on-study scan: no PD after
    assert (want["pseudo_progression"] > 0).any() or follow_up == 42.0
    assert 4 <= (want["confirmed_response"] == -1).sum() < 0.2 * want["ttr_days"].size


def test_two_scans_only():
    d = np.array([[30.0, 10.0], [30.0, 40.0], [0.0, 1.0]])
    want = timecourse_readout(d, SCANS[:2], follow_up=42.0)
    got = jax_timecourse_readout(d, SCANS[:2], follow_up=42.0)
    for k, v in want.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)


def test_follow_up_before_the_first_scan_is_an_error():
    with pytest.raises(ValueError, match="follow_up"):
        jax_timecourse_readout(np.ones((2, 3)), SCANS[:3], follow_up=10.0)

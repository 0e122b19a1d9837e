"""``jax_readout`` (jax.numpy, for the device) against the NumPy reference of
``tumorimmune.response``: bit-identical from the same sums of diameters, on random and
edge-case inputs (NaN rows, detection limit, extinct tumors, ties at the RECIST thresholds)."""

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune import response as r

SCANS = np.array([0.0, 42.0, 84.0, 126.0, 168.0])


def _reference(cells, *, n_lesions, limit, scan_days, follow_up, final, escape):
    d = r.sum_of_diameters_mm(
        cells, readout=r.Readout(n_lesions=n_lesions, detection_limit_mm=limit)
    )
    days, event = r.pfs(d, scan_days, follow_up=follow_up)
    return {
        "diameter_mm": d,
        "pct_change": r.pct_change(d),
        "best_pct_change": r.best_pct_change(d),
        "best_response": r.best_overall_response(d),
        "pfs_days": days,
        "pfs_event": event,
        "outcome": r.outcome_class(final, escape_cells=escape),
    }


def _cohort(seed: int, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Tumor cells (arm, patient, scan) spanning growth, shrinkage, disappearance (below the
    detection limit), extinction (0) and failed rows (NaN), and per-patient lesion counts."""
    rng = np.random.default_rng(seed)
    base = 10 ** rng.uniform(7, 11, (2, n, 1))
    cells = base * np.exp(np.cumsum(rng.normal(0, 1.2, (2, n, SCANS.size)), axis=-1))
    cells[..., 0] = base[..., 0]
    cells[rng.random(cells.shape) < 0.05] = 0.0  # extinct at some scans
    cells[:, rng.random(n) < 0.03, 2] = np.nan  # failed solves
    cells[0, :5, 0] = 0.0  # zero baseline: not evaluable
    lesions = rng.integers(1, 6, (n, 1)).astype(float)
    return cells, lesions


def _assert_identical(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k, v in want.items():
        g = np.asarray(got[k])
        assert g.dtype == v.dtype and g.shape == v.shape, k
        np.testing.assert_array_equal(g, v, err_msg=k)  # NaN == NaN, exact otherwise


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("limit", [0.0, 5.0])
def test_identical_to_numpy_reference_from_the_same_diameters(seed, limit):
    cells, lesions = _cohort(seed)
    final = cells[..., -1]
    escape = np.array([[3e10], [np.finfo(np.float64).max]])  # one arm without escape
    want = _reference(
        cells,
        n_lesions=lesions,
        limit=limit,
        scan_days=SCANS,
        follow_up=170.0,
        final=final,
        escape=escape,
    )
    assert {-1, 0, 1, 2, 3} <= set(np.unique(want["best_response"]).tolist())
    assert want["pfs_event"].any() and (~want["pfs_event"]).any()
    got = r.jax_readout(
        cells,
        scan_days=SCANS,
        follow_up=170.0,
        final_cells=final,
        escape_cells=escape,
        readout=r.Readout(n_lesions=lesions, detection_limit_mm=limit),
        diameters=want["diameter_mm"],
    )
    _assert_identical(got, want)


def test_ties_at_the_thresholds_and_follow_up_between_scans():
    """Exact ties: -30 % (PR), +20 % over the nadir with exactly +5 mm (PD), SLD 0 (CR),
    +20 % but under 5 mm (not PD); a scan after follow-up is ignored by PFS only."""
    d = np.array(
        [
            [100.0, 70.0, 84.0, 84.0, 90.0],  # PR at -30 %, PD at 70 → 84 (+20 %, +14 mm)
            [25.0, 20.0, 25.0, 25.0, 25.0],  # SD, then +25 % and +5 mm exactly: PD
            [20.0, 20.0, 24.0, 24.0, 24.0],  # +20 % but +4 mm: no PD
            [30.0, 0.0, 0.0, 0.0, 6.0],  # CR, then regrowth +6 mm over a nadir of 0: PD
            [30.0, 21.0, np.nan, 21.0, 21.0],  # failed: not evaluable
            [0.0, 0.0, 0.0, 0.0, 0.0],  # zero baseline: not evaluable
            [30.0, 40.0, 50.0, 60.0, np.nan],  # NaN after follow-up: PFS evaluable, BOR not
        ]
    )
    final = np.array([0.0, 0.5, 1.0, 2e10, np.nan, 0.0, 5e10])
    follow_up = 150.0  # scans at 0..126 count; 168 is after follow-up
    days, event = r.pfs(d, SCANS, follow_up=follow_up)
    want = {
        "diameter_mm": d,
        "pct_change": r.pct_change(d),
        "best_pct_change": r.best_pct_change(d),
        "best_response": r.best_overall_response(d),
        "pfs_days": days,
        "pfs_event": event,
        "outcome": r.outcome_class(final, escape_cells=2e10),
    }
    np.testing.assert_array_equal(want["best_response"], [1, 2, 2, 0, -1, -1, -1])
    np.testing.assert_array_equal(want["outcome"], [0, 0, 1, 2, -1, 0, 2])
    assert days[6] == 42.0 and event[6]  # the NaN at day 168 is after follow-up
    got = r.jax_readout(
        np.zeros_like(d),
        scan_days=SCANS,
        follow_up=follow_up,
        final_cells=final,
        escape_cells=2e10,
        diameters=d,
    )
    _assert_identical(got, want)


def test_diameters_on_the_device_agree_to_a_few_ulp():
    """Without given diameters the device computes them with XLA's cbrt: within 4 ulp of the
    C library's, so every response code agrees away from exact ties."""
    cells, lesions = _cohort(2)
    final = cells[..., -1]
    want = _reference(
        cells,
        n_lesions=lesions,
        limit=5.0,
        scan_days=SCANS,
        follow_up=168.0,
        final=final,
        escape=1e11,
    )
    got = r.jax_readout(
        cells,
        scan_days=SCANS,
        follow_up=168.0,
        final_cells=final,
        escape_cells=1e11,
        readout=r.Readout(n_lesions=lesions),
    )
    d, dw = np.asarray(got["diameter_mm"]), want["diameter_mm"]
    np.testing.assert_array_equal(np.isnan(d), np.isnan(dw))
    np.testing.assert_array_equal(d == 0, dw == 0)
    fin = np.isfinite(dw) & (dw > 0)
    ulp = np.abs(d[fin] - dw[fin]) / np.spacing(dw[fin])
    assert ulp.max() <= 4
    for k in ("best_response", "pfs_event", "outcome"):
        np.testing.assert_array_equal(np.asarray(got[k]), want[k], err_msg=k)
    np.testing.assert_array_equal(np.asarray(got["pfs_days"]), want["pfs_days"])

"""The engine's on-device reduction of a solution (arm_series) is the NumPy path, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune.model import ClaretTGI, TumorImmunePD1
from tumorimmune.solvers import EXTINCTION_CELLS, tumor_cells
from tumorimmune.sweeps._device import arm_series


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("model", [TumorImmunePD1(), ClaretTGI()], ids=lambda m: type(m).__name__)
def test_arm_series_is_the_numpy_path_bit_for_bit(model, dtype):
    rng = np.random.default_rng(0)
    n, n_t, s = 64, 40, len(model.state_names)
    ys = (10 ** rng.uniform(-1, 11, (n, n_t, s))).astype(dtype)
    ys[2, 10:, :] = 0.1 * EXTINCTION_CELLS  # goes extinct, then regrows: absorbing
    ys[2, 20:, :] = 1e9
    ys[5, :, :] *= -1  # negative states are clipped
    ys[6, 7, 0] = np.nan
    status = np.zeros(n, np.int32)
    status[9] = 3  # a failed solve
    scan_idx = np.array([0, 5, 12, 30])
    grid_idx = np.arange(0, n_t, 3)
    want = np.array(tumor_cells(model.burden(ys)), dtype=np.float64)
    want[status != 0] = np.nan
    at_scans, final, at_grid = arm_series(model, ys, status, scan_idx=scan_idx, grid_idx=grid_idx)
    np.testing.assert_array_equal(at_scans, want[:, scan_idx])
    np.testing.assert_array_equal(final, want[:, -1])
    np.testing.assert_array_equal(np.asarray(at_grid), want[:, grid_idx])
    assert np.isnan(want[9]).all()
    if isinstance(model, TumorImmunePD1):  # states in cells: reduced on the device
        assert np.all(want[2, 10:20] == 0.0) and np.all(want[2, 20:] == 0.0)
        assert not isinstance(at_grid, np.ndarray)

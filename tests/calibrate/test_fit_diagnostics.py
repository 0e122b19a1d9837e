"""Fit diagnostics (tumorimmune.calibrate._fit._diagnose): estimates at a bound,
non-identifiable parameters, poor fits and data above the carrying capacity are flagged, and
only clean fits are ``fit_ok`` (before: every such fit was reported "converged")."""

from __future__ import annotations

import types

import numpy as np
import pytest
import xarray as xr

import tumorimmune as ti
from tumorimmune.calibrate._fit import _condition, _diagnose

# `_diagnose` is given a SimpleNamespace standing in for the fitting problem (only the fields it
# reads): not a `_Problem`, so the run-time type checks are off here.
pytestmark = pytest.mark.usefixtures("unchecked")


def _dataset(estimate, ci_lo, ci_hi, residual_sd, observed, hessian_ok=True):
    P = len(estimate)
    return xr.Dataset(
        {
            "estimate": (("patient", "param"), np.asarray(estimate, float)),
            "ci_lo": (("patient", "param"), np.asarray(ci_lo, float)),
            "ci_hi": (("patient", "param"), np.asarray(ci_hi, float)),
            "residual_sd": ("patient", np.asarray(residual_sd, float)),
            "observed": (("patient", "obs"), np.asarray(observed, float)),
            "converged": ("patient", np.ones(P, bool)),
            "hessian_ok": ("patient", np.full(P, hessian_ok)),
        },
        coords={"patient": [f"p{i}" for i in range(P)], "param": ["a", "n"]},
    )


LO = np.array([[0.018, 1.1e-8]] * 3)
HI = np.array([[1.8, 1.1e-6]] * 3)


def _problem(P=3):
    return types.SimpleNamespace(lo=LO[:P], hi=HI[:P], noise="lognormal", model=ti.Kuznetsov1994())


def test_clean_fit_is_ok_and_each_defect_is_flagged():
    cap = 1.0 / ti.Kuznetsov1994().b  # 5e8 cells
    ds = _dataset(
        estimate=[[0.18, 1.1e-7], [1.7999, 1.1e-7], [0.18, 1.1e-7]],
        ci_lo=[[0.15, 0.9e-7], [0.5, 0.9e-7], [0.0181, 1.1e-8]],
        ci_hi=[[0.21, 1.3e-7], [1.8, 1.3e-7], [1.79, 1.09e-6]],
        residual_sd=[0.1, 0.2, 2.7],
        observed=[[1e7, 2e7], [1e7, 2e7], [1e7, 2 * cap]],
    )
    out = _diagnose(ds, _problem(), np.array([10.0, 10.0, 10.0]))  # type: ignore[arg-type]
    np.testing.assert_array_equal(out["fit_ok"].values, [True, False, False])
    np.testing.assert_array_equal(out["at_bound"].values, [[0, 0], [1, 0], [0, 0]])
    np.testing.assert_array_equal(out["identifiable"].values, [[1, 1], [1, 1], [0, 0]])
    np.testing.assert_array_equal(out["poor_fit"].values, [False, False, True])
    np.testing.assert_array_equal(out["above_capacity"].values, [False, False, True])
    assert out["flags"].values[0] == ""
    assert out["flags"].values[1] == "at a bound: a"
    flags = out["flags"].values[2]
    assert "not identifiable: a, n" in flags and "poor fit (residual SD 2.7)" in flags
    assert "carrying capacity 1/b = 5e+08 cells" in flags


def test_singular_hessian_is_not_identifiable():
    ds = _dataset([[0.18, 1.1e-7]], [[0.15, 0.9e-7]], [[0.21, 1.3e-7]], [0.1], [[1e7, 2e7]])
    out = _diagnose(ds, _problem(1), np.array([np.inf]))  # type: ignore[arg-type]
    assert not out["fit_ok"].values[0] and not out["identifiable"].values.any()
    assert _condition(np.array([[1.0, 1.0], [1.0, 1.0]])) == np.inf
    assert np.isclose(_condition(np.diag([1.0, 1e-3])), 1e3)


def test_fitted_b_sets_the_capacity():
    ds = _dataset([[0.18, 1e-10]], [[0.15, 0.9e-10]], [[0.21, 1.1e-10]], [0.1], [[1e7, 2e9]])
    ds = ds.assign_coords(param=["a", "b"])
    lo, hi = np.array([[0.018, 1e-11]]), np.array([[1.8, 1e-9]])
    pb = types.SimpleNamespace(lo=lo, hi=hi, noise="lognormal", model=ti.Kuznetsov1994())
    out = _diagnose(ds, pb, np.array([10.0]))  # type: ignore[arg-type]
    assert out.attrs["capacity_cells"] == 1e10 and not out["above_capacity"].values[0]


def test_capacity_is_also_given_in_the_data_unit():
    cap = 1.0 / ti.Kuznetsov1994().b
    ds = _dataset([[0.18, 1.1e-7]], [[0.15, 0.9e-7]], [[0.21, 1.3e-7]], [0.1], [[1e7, 2 * cap]])
    ds.attrs.update(unit="mm", cells_per_cm3=1e9)
    out = _diagnose(ds, _problem(1), np.array([10.0]))  # type: ignore[arg-type]
    # 5e8 cells at 1e9 cells/cm³ = 500 mm³ in 3 equal lesions (the loader's default): the sum
    # of their diameters is 3·(6·(500/3)/π)^(1/3) mm
    d = 3 * (6 * (500 / 3) / np.pi) ** (1 / 3)
    assert f"({d:.3g} mm)" in str(out["flags"].values[0])


def test_cells_to_unit_inverts_to_cells():
    from tumorimmune.calibrate import to_cells
    from tumorimmune.calibrate._figure import cells_to_unit
    from tumorimmune.response import Readout

    sizes = np.array([0.5, 12.0, 80.0])
    for unit in ("mm", "mm3", "cells"):
        back = cells_to_unit(
            to_cells(sizes, unit, readout=Readout(cells_per_cm3=2e9)),
            unit,
            readout=Readout(cells_per_cm3=2e9),
        )
        np.testing.assert_allclose(back, sizes, rtol=1e-6)

"""simulate(): input validation, failure flagging, precision."""

import numpy as np
import pytest
from jaxtyping import TypeCheckError

import tumorimmune as ti
from tumorimmune.model import Kuznetsov1994, TumorImmunePD1

T = np.linspace(0.0, 365.0, 13)
Y0 = {"E": 3.2e5, "T": 5e6}


@pytest.mark.parametrize(
    "model,y0,t,match",
    [
        (Kuznetsov1994(), {"E": 1.0, "X": 1.0, "T": 1.0}, T, "unknown state 'X'"),
        (Kuznetsov1994(), {"E": 1.0}, T, "missing state 'T'"),
        (Kuznetsov1994(a=-0.1), Y0, T, "parameter 'a'.*-0.1"),
        (Kuznetsov1994(a=float("nan")), Y0, T, "parameter 'a'"),
        (Kuznetsov1994(a=np.array([0.1, np.inf])), Y0, T, "parameter 'a'.*patient 1"),
        (TumorImmunePD1(L=1.5), Y0, T, "parameter 'L'.*1.5"),
        (Kuznetsov1994(), {"E": -1.0, "T": 1.0}, T, r"y0\['E'\]"),
        (Kuznetsov1994(), {"E": 1.0, "T": float("nan")}, T, r"y0\['T'\]"),
        (Kuznetsov1994(), Y0, np.array([0.0, 5.0, 5.0]), "strictly increasing"),
        (Kuznetsov1994(), Y0, np.array([-1.0, 5.0]), "non-negative"),
        (Kuznetsov1994(), Y0, np.array([0.0]), "at least two"),
        (Kuznetsov1994(a=np.ones(3)), {"E": np.ones(2), "T": 1.0}, T, "share one length"),
    ],
)
def test_bad_input_raises_value_error_naming_the_field(model, y0, t, match):
    with pytest.raises(ValueError, match=match):
        ti.simulate(model, y0, t)


def test_unknown_parameter_in_replace():
    with pytest.raises(ValueError, match="unknown parameter 'alpha'"):
        Kuznetsov1994().replace(alpha=1.0)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'rk4'"):
        ti.simulate(Kuznetsov1994(), Y0, T, backend="rk4")


def test_bad_dtype_and_tolerances():
    # ValueError from simulate's own check; TypeCheckError under the jaxtyping/beartype hook
    with pytest.raises((ValueError, TypeCheckError), match="dtype"):
        ti.simulate(Kuznetsov1994(), Y0, T, dtype="float16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rtol"):
        ti.simulate(Kuznetsov1994(), Y0, T, rtol=0.0)


def test_regimen_requires_drug_model():
    with pytest.raises(ValueError, match="no drug compartment"):
        ti.simulate(Kuznetsov1994(), Y0, T, regimen=ti.model.PEMBROLIZUMAB_200MG_Q3W)


@pytest.mark.parametrize("backend", ["diffrax", "fused"])
def test_failed_patient_is_flagged_not_fatal(backend):
    # patient 1 grows so fast that it needs far more steps than allowed
    model = Kuznetsov1994(a=np.array([0.18, 500.0, 0.2]))  # a = 500/day: stiff, ~66k steps
    ds = ti.simulate(model, {"E": 3.2e5, "T": 5e6}, T, max_steps=2000, backend=backend)
    status = ds["status"].values
    assert status[1] != 0 and status[0] == 0 and status[2] == 0
    assert np.all(np.isnan(ds["T"].values[1]))
    assert np.all(np.isfinite(ds["T"].values[[0, 2]]))
    assert ds.attrs["n_failed"] == 1
    ok = ti.simulate(Kuznetsov1994(a=0.2), {"E": 3.2e5, "T": 5e6}, T, backend=backend)
    np.testing.assert_allclose(ds["T"].values[2], ok["T"].values, rtol=1e-6)


def test_float32_agrees_with_float64():
    # float32 (rtol 1e-5) vs float64 (rtol 1e-8): documented accuracy 1e-3 relative.
    reg = ti.model.PEMBROLIZUMAB_200MG_Q3W
    m = TumorImmunePD1(L=np.array([0.2, 0.6, 1.0]))
    y0 = {"E": 3.2e5, "T": np.array([2e6, 5e6, 2e7])}
    d64 = ti.simulate(m, y0, T, regimen=reg)
    d32 = ti.simulate(m, y0, T, regimen=reg, dtype="float32")
    assert d32["T"].dtype == np.float32 and d64["T"].dtype == np.float64
    for v in ("T", "E", "C"):
        np.testing.assert_allclose(d32[v].values, d64[v].values, rtol=1e-3, atol=1e-3, err_msg=v)


def test_dataset_metadata():
    ds = ti.simulate(TumorImmunePD1(), Y0, T, regimen=ti.model.PEMBROLIZUMAB_200MG_Q3W)
    assert ds["C"].attrs["units"] == "µg/mL" and ds["T"].attrs["units"] == "cells"
    assert ds["time"].attrs["units"] == "days"
    assert ds.attrs["regimen"] == "pembrolizumab 200 mg q3w"
    assert ds.attrs["dose_times"][:3] == [0.0, 21.0, 42.0]

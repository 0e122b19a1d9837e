"""Input checks of ``tumorimmune.simulate``: clear errors instead of IndexError/AttributeError,
and a regimen preset given by name."""

from __future__ import annotations

import numpy as np
import pytest

import tumorimmune as ti

T = np.arange(0.0, 43.0, 7.0)


def test_empty_arrays_are_refused_naming_the_input():
    with pytest.raises(ValueError, match=r"y0\['E'\] is an empty array"):
        ti.simulate(ti.Kuznetsov1994(), {"E": np.array([]), "T": np.array([])}, T)
    with pytest.raises(ValueError, match="parameter 'a' is an empty array"):
        ti.simulate(ti.Kuznetsov1994(a=np.zeros(0)), {"E": 3.2e5, "T": 5e6}, T)


def test_regimen_by_name_equals_the_preset():
    m = ti.TumorImmunePD1()
    by_name = ti.simulate(m, {"E": 3.2e5, "T": 5e6}, T, regimen="pembrolizumab_200mg_q3w")
    preset = ti.simulate(m, {"E": 3.2e5, "T": 5e6}, T, regimen=ti.model.PEMBROLIZUMAB_200MG_Q3W)
    np.testing.assert_array_equal(by_name["C"].values, preset["C"].values)
    assert by_name["C"].sel(time=21).values > 10  # dosed: antibody on board


def test_bad_regimen_is_a_clear_error():
    m = ti.TumorImmunePD1()
    with pytest.raises(ValueError, match="unknown regimen 'pembro'"):
        ti.simulate(m, {"E": 3.2e5, "T": 5e6}, T, regimen="pembro")  # type: ignore[arg-type]
    # simulate's own check, or the jaxtyping/beartype hook's (a TypeError naming it too)
    msg = r"regimen must be a tumorimmune Regimen|parameter 'regimen'"
    with pytest.raises(TypeError, match=msg):
        ti.simulate(m, {"E": 3.2e5, "T": 5e6}, T, regimen=200.0)  # type: ignore[arg-type]

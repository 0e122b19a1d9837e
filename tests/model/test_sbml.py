"""SBML import (``from_sbml``, via sbmltoodejax) against the built-in models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sbmltoodejax", reason="optional dependency: pip install tumorimmune[sbml]")
pytest.importorskip("libsbml", reason="optional dependency: pip install tumorimmune[sbml]")

from tumorimmune import simulate
from tumorimmune.model import (
    Kuznetsov1994,
    Nikolopoulou2018,
    from_sbml,
)

DATA = Path(__file__).parents[1] / "data"
KUZNETSOV = DATA / "kuznetsov1994.xml"  # written by hand from the paper (make_kuznetsov_sbml.py)
NIKOLOPOULOU = DATA / "nikolopoulou2018.xml"  # written by make_nikolopoulou_sbml.py


def test_kuznetsov_sbml_reproduces_builtin_model():
    K = from_sbml(KUZNETSOV)
    assert K.state_names == ("E", "T") and K.tumor_state == "T" and K.effector_state == "E"
    m = K()
    builtin = Kuznetsov1994()
    for k in ("s", "p", "g", "m", "d", "a", "b", "n"):
        assert getattr(m, k) == getattr(builtin, k)
    t = np.linspace(0.0, 300.0, 31)
    y0 = {"E": 3.2e5, "T": 1e6}
    kw = {"backend": "diffrax", "rtol": 1e-10, "atol": 1e-6}
    a, b = simulate(m, y0, t, **kw), simulate(builtin, y0, t, **kw)
    for k in ("E", "T"):
        np.testing.assert_allclose(a[k].values, b[k].values, rtol=1e-9)
    # per-patient parameters work as for any model (a batch of 3)
    ab = simulate(m.replace(a=np.array([0.1, 0.18, 0.3])), y0, t, **kw)
    np.testing.assert_allclose(ab["T"].values[1], b["T"].values, rtol=1e-9)


def test_nikolopoulou_sbml_matches_builtin_model():
    N = from_sbml(NIKOLOPOULOU, tumor="C", effector="Tc", rename={"T": "Tc"},
                  tumor_cells_per_unit=1e9)  # fmt: skip
    m = N()
    t = np.linspace(0.0, 200.0, 21)
    kw = {"backend": "diffrax", "rtol": 1e-10, "atol": 1e-14}
    a = simulate(m, {}, t, **kw)
    b = simulate(Nikolopoulou2018(), {"C": 0.3968, "Tc": 0.006}, t, **kw)
    for k in ("C", "Tc"):
        np.testing.assert_allclose(a[k].values, b[k].values, rtol=1e-8)
    np.testing.assert_allclose(m.tumor_cells(2.0), 2e9)


def test_sbml_state_named_T_must_be_the_tumor():
    with pytest.raises(ValueError, match=r"state 'T'.*rename"):
        from_sbml(NIKOLOPOULOU, tumor="C")


def test_unreadable_sbml_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<sbml>not really</sbml>")
    with pytest.raises(ValueError, match="cannot read SBML file"):
        from_sbml(bad)


def test_fast_backends_run_or_refuse_sbml_models():
    m = from_sbml(KUZNETSOV)()
    t = np.array([0.0, 20.0, 40.0])
    y0 = {"E": 3.2e5, "T": 1e6}
    ref = simulate(m, y0, t, backend="diffrax")
    fused = simulate(m, y0, t, backend="fused")
    np.testing.assert_allclose(fused["T"].values, ref["T"].values, rtol=1e-6)
    # the generated code multiplies a stoichiometric matrix: not an elementwise operation
    with pytest.raises(NotImplementedError, match=r"pallas backend cannot run.*'dot_general'"):
        simulate(m, y0, t, backend="pallas")

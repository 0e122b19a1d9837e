"""Backend option objects and the tolerance object: names and objects agree, knobs reach the
backends, bad knobs give one-line errors; the one segment builder of ``Schedule``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import tumorimmune as ti
from tumorimmune.calibrate import TrialArm, simulate_arm
from tumorimmune.model import PEMBROLIZUMAB_200MG_Q3W, Kuznetsov1994, TumorImmunePD1
from tumorimmune.solvers import (
    MAX_STEPS,
    Auto,
    Diffrax,
    Fused,
    Pallas,
    Schedule,
    Tolerances,
    as_backend,
    get_backend,
)

T = np.array([0.0, 21.0, 42.0, 84.0])
Y0 = {"E": np.array([3.2e5, 1e6, 5e5]), "T": np.array([5e6, 1e7, 2e6])}


def _one_line_error(exc: type[Exception], fn, *args, **kwargs) -> str:
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(("name", "obj"), [("fused", Fused()), ("diffrax", Diffrax())])
def test_name_and_object_give_identical_results(name, obj):
    reg = "pembrolizumab_200mg_q3w"
    a = ti.simulate(TumorImmunePD1(), Y0, T, backend=name, regimen=reg)
    b = ti.simulate(TumorImmunePD1(), Y0, T, backend=obj, regimen=reg)
    np.testing.assert_array_equal(a["T"].values, b["T"].values)
    assert a.attrs["backend"] == b.attrs["backend"] == name
    assert a.attrs["dtype"] == "float64" and a.attrs["max_steps"] == MAX_STEPS


def test_fused_tuning_does_not_change_results_and_reaches_the_engine(monkeypatch):
    reg = "pembrolizumab_200mg_q3w"
    a = ti.simulate(TumorImmunePD1(), Y0, T, backend="fused", regimen=reg)
    b = ti.simulate(TumorImmunePD1(), Y0, T, backend=Fused(lanes=2, chunk_size=2), regimen=reg)
    # lanes/pools: the same solution (to round-off: 2 lanes differ in the last bits, ~3e-15)
    np.testing.assert_allclose(a["T"].values, b["T"].values, rtol=1e-12)
    from tumorimmune.solvers import _fused

    seen: dict = {}
    real = _fused.solve_fused

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(_fused, "solve_fused", spy)
    ti.simulate(
        TumorImmunePD1(), Y0, T, backend=Fused(lanes=2, refill_every=3, unroll=2, n_threads=1)
    )
    assert (seen["lanes"], seen["refill_every"], seen["unroll"], seen["n_threads"]) == (2, 3, 2, 1)
    assert seen["dtype"] == "float64" and seen["max_steps"] == MAX_STEPS


def test_dtype_defaults_and_auto_resolution():
    assert Fused().default_dtype == Diffrax().default_dtype == "float64"
    assert Pallas().default_dtype == "float32"  # a direct call: the kernel's fast path
    assert Fused().dtype is None  # in simulate: float64 unless the object names one
    assert get_backend("auto") == Fused()  # CPU here; Pallas on a GPU
    assert get_backend(Auto(dtype="float32"), TumorImmunePD1()) == Fused(dtype="float32")
    assert get_backend(Fused(lanes=8)) == Fused(lanes=8)
    assert as_backend("FUSED", lanes=8) == Fused(lanes=8)
    ds = ti.simulate(TumorImmunePD1(), Y0, T, backend=Fused(dtype="float32"))
    assert ds.attrs["dtype"] == "float32" and ds["T"].dtype == np.float32
    assert ds.attrs["rtol"] == 1e-5  # float32 defaults


def test_bad_options_give_one_line_errors(unchecked):
    """Ill-typed knobs (1.5 lanes) are passed on purpose: the library's own error."""
    msg = _one_line_error(ValueError, Fused, lanes=0)
    assert "Fused.lanes must be a positive integer; got 0" in msg
    assert "Fused.unroll" in _one_line_error(ValueError, Fused, unroll=1.5)
    assert "power of two" in _one_line_error(ValueError, Pallas, block=100)
    assert "'stop' or 'thread'" in _one_line_error(ValueError, Pallas, sync="warp")
    assert "Diffrax.dtype" in _one_line_error(ValueError, Diffrax, dtype="float16")
    msg = _one_line_error(ValueError, as_backend, "fused", block=64)
    assert "'fused' has no option 'block'" in msg and "lanes" in msg
    msg = _one_line_error(ValueError, get_backend, "rk4")
    assert "'rk4'" in msg and "['auto', 'diffrax', 'fused', 'pallas']" in msg
    assert "backend must be" in _one_line_error(TypeError, get_backend, 3)
    assert "Tolerances.rtol" in _one_line_error(ValueError, Tolerances, rtol=-1.0)
    assert "Tolerances.max_steps" in _one_line_error(ValueError, Tolerances, max_steps=0)
    msg = _one_line_error(
        ValueError, ti.simulate, Kuznetsov1994(), Y0, T, rtol=1e-6, tolerances=Tolerances()
    )
    assert "rtol" in msg and "not both" in msg
    with pytest.raises(dataclasses.FrozenInstanceError):
        Fused().lanes = 4  # type: ignore[misc]


def test_backends_are_abstract_or_final():
    """Equinox's abstract/final pattern, as for the models: ``AbstractBackend`` (and a backend
    that leaves ``_run``, the contract, undefined) cannot be instantiated; concrete backends
    cannot be subclassed; the option objects compare, hash, replace and pickle as values."""
    import pickle
    from typing import ClassVar

    from tumorimmune.solvers import AbstractBackend

    with pytest.raises(TypeError, match="abstract"):
        AbstractBackend()  # type: ignore[abstract]

    class AbstractHalf(AbstractBackend):  # abstract bases may leave the contract undefined
        pass

    class Half(AbstractHalf):
        name: ClassVar[str] = "half"

    with pytest.raises(TypeError, match="_run"):
        Half()  # type: ignore[abstract]
    with pytest.raises(TypeError, match="must define name"):

        class Nameless(AbstractBackend):
            def _run(self, model, y0, schedule, doses, **kw):
                raise AssertionError

    for cls in (Auto, Diffrax, Fused, Pallas):
        assert getattr(cls, "__final__", False), cls  # typing.final: pyright sees it too
        with pytest.raises(TypeError, match=f"cannot subclass {cls.__name__}: concrete"):
            type("Sub", (cls,), {})
    b = Fused(lanes=4)
    assert pickle.loads(pickle.dumps(b)) == b and hash(b) == hash(Fused(lanes=4))
    assert dataclasses.replace(b, n_threads=1) == Fused(lanes=4, n_threads=1) != b


def test_tolerances_object_is_the_keywords_and_reaches_every_backend():
    m = TumorImmunePD1()
    a = ti.simulate(m, Y0, T, rtol=1e-6, atol=1e-4, backend="diffrax")
    b = ti.simulate(m, Y0, T, tolerances=Tolerances(rtol=1e-6, atol=1e-4), backend="diffrax")
    np.testing.assert_array_equal(a["T"].values, b["T"].values)
    assert b.attrs["rtol"] == 1e-6
    for backend in (Diffrax(), Fused()):  # 5 steps cannot reach day 84: flagged, not fatal
        ds = ti.simulate(m, Y0, T, tolerances=Tolerances(max_steps=5), backend=backend)
        assert np.all(ds["status"].values == 1) and ds.attrs["n_failed"] == 3, backend
    assert Tolerances().resolve("float32") == (1e-5, 1e-3, MAX_STEPS)
    assert Tolerances(rtol=1e-7).resolve("float64") == (1e-7, 1e-6, MAX_STEPS)


def test_solve_accepts_objects_and_tolerances():
    import jax

    m = TumorImmunePD1()
    y0 = {"E": 3.2e5, "T": 5e6}
    with jax.enable_x64(True):
        a = ti.solve(m, y0, T, dosing=PEMBROLIZUMAB_200MG_Q3W, backend="fused")
        b = ti.solve(m, y0, T, dosing=PEMBROLIZUMAB_200MG_Q3W, backend=Fused(lanes=4))
        np.testing.assert_array_equal(np.asarray(a.ys), np.asarray(b.ys))
        bad = ti.solve(m, y0, T, tolerances=Tolerances(max_steps=5))
        assert int(bad.status) != 0 and np.isnan(np.asarray(bad.ys)).all()
        with pytest.raises(ValueError, match="not both"):
            ti.solve(m, y0, T, max_steps=5, tolerances=Tolerances())


def test_calibration_takes_a_tolerance_object():
    arm = TrialArm(TumorImmunePD1(), PEMBROLIZUMAB_200MG_Q3W, scan_days=(0.0, 42.0, 84.0), E0=3.2e5)
    import jax

    with jax.enable_x64(True):
        _, ok = simulate_arm(arm, {}, np.array([5e6, 1e7]))
        starved = dataclasses.replace(arm, tolerances=Tolerances(max_steps=5))
        _, failed = simulate_arm(starved, {}, np.array([5e6, 1e7]))
    assert np.all(np.asarray(ok) == 0) and np.all(np.asarray(failed) != 0)
    with pytest.raises(TypeError, match="Tolerances"):
        TrialArm(TumorImmunePD1(), None, tolerances=1e-6)  # type: ignore[arg-type]
    import pandas as pd

    from tumorimmune.calibrate import fit_patients, load_measurements

    data = load_measurements(
        pd.DataFrame({"patient": ["a"] * 3, "day": [0.0, 7.0, 14.0], "value": [1e9, 2e9, 3e9]}),
        unit="cells",
    )
    with pytest.raises(TypeError, match="rtol"):  # one way: tolerances=Tolerances(rtol=...)
        fit_patients(data, Kuznetsov1994(), ["a"], rtol=1e-6, tolerances=Tolerances())  # type: ignore[call-arg]


def test_segment_builder():
    """Segments between doses; a dose at t0 opens segment 0; doses at or after t1 dropped."""
    s = Schedule(ts=np.array([0.0, 10.0, 30.0]), dose_times=np.array([0.0, 7.0, 21.0]))
    starts, ends, dose = s.dose_segments(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    np.testing.assert_array_equal(starts, [0.0, 7.0, 21.0])
    np.testing.assert_array_equal(ends, [7.0, 21.0, 30.0])
    np.testing.assert_array_equal(dose, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    s2, table = Schedule.from_doses(
        [0.0, 30.0], [[0.0, 14.0], [14.0, 30.0], []], [[1, 2], [3, 9], []]
    )
    np.testing.assert_array_equal(s2.dose_times, [0.0, 14.0])  # day 30 = t1: not given
    np.testing.assert_array_equal(table, [[1.0, 2.0], [0.0, 3.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match=r"doses must have shape \(N, 3\)"):
        s.dose_segments(np.ones((2, 2)))
    # a trial arm's segments are the schedule's (regimen from day 0)
    arm = TrialArm(TumorImmunePD1(), PEMBROLIZUMAB_200MG_Q3W, scan_days=(0.0, 42.0, 84.0))
    starts, ends, dose = arm.segments()
    np.testing.assert_array_equal(starts, [0.0, 21.0, 42.0, 63.0])
    np.testing.assert_array_equal(ends, [21.0, 42.0, 63.0, 84.0])
    np.testing.assert_array_equal(dose, 200.0)

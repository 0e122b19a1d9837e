"""The correctness side of ``benchmarks/vs_alternatives``: its hand-written right-hand sides
are the package's models, its reference is accurate, and its accuracy check separates accurate
from inaccurate runs. The numbalsoda / libRoadRunner tests need the ``bench`` extra (skipped
without it)."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks run as ``python -m benchmarks.<name>.run``
    sys.path.insert(0, str(ROOT))

from benchmarks._common import cohorts  # noqa: E402
from benchmarks.vs_alternatives import run as va  # noqa: E402


def _pd1_cohort(n: int):
    """PD-1 cohort with every optional term of the field switched on (time-varying clearance,
    saturating kill, PD-L1-independent blockade, Imax < 1, escape variants, infiltrate,
    effector ceiling)."""
    c = cohorts.pd1(n, seed=3)
    m = c.model.replace(
        CL_emax=np.full(n, -0.3),
        CL_T50=np.full(n, 60.0),
        CL_gamma=np.full(n, 2.5),
        t_dose0=np.full(n, 0.0),
        h_kill=np.full(n, 1e-3),
        f_indep=np.full(n, 0.3),
        Imax=np.full(n, 0.96),
        k_R=np.full(n, 0.2),
        kappa=np.full(n, 0.5),
        k_clear=np.full(n, 0.05),
        b_E=np.full(n, 1e-9),
    )
    y0 = c.y0.copy()
    y0[:, 4] = 0.01 * y0[:, 1]  # escape variants at baseline
    return cohorts.Cohort(c.name, m, y0, c.schedule, c.doses)


def _field(key: str):
    f = va.FIELDS[key][0]
    return getattr(f, "py_func", f)  # the Python source of the njit function


@pytest.mark.parametrize("key", ["kuznetsov", "pd1"])
def test_fields_match_model_vector_fields(key):
    """The numba right-hand sides equal ``Model.vector_field`` (float64) at random states and
    times, and freeze a tumor below one cell (the package's extinction rule)."""
    c = _pd1_cohort(6) if key == "pd1" else cohorts.kuznetsov(6, seed=3)
    field, names = _field(key), va.FIELDS[key][1]
    P = va.param_matrix(c, names)
    rng = np.random.default_rng(0)
    S = c.y0.shape[1]
    with jax.enable_x64(True):
        for i in range(c.n):
            m = c.model.replace(**{k: np.asarray(getattr(c.model, k))[i] for k in names})
            for _ in range(4):
                y = np.array([10 ** rng.uniform(4, 8), 10 ** rng.uniform(3, 8.5), 0, 0, 0, 0][:S])
                if S == 6:
                    y[2:4] = rng.uniform(0, 300, 2)
                    y[4:] = 10 ** rng.uniform(3, 7.5, 2)  # escape variants, infiltrate
                t = rng.uniform(0, 365)
                want = np.asarray(m.vector_field(t, jax.numpy.asarray(y), None))
                got = np.empty(S)
                field(t, y, got, P[i])
                np.testing.assert_allclose(got, want, rtol=1e-12)
                y[1] = 0.4  # below one cell: counts as 0, derivative 0
                field(t, y, got, P[i])
                y[1] = 0.0
                want = np.asarray(m.vector_field(t, jax.numpy.asarray(y), None))
                assert got[1] == 0.0
                np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
                if S == 6:  # escape variants below one cell: derivative 0, as in the model
                    y[4] = 0.4
                    field(t, y, got, P[i])
                    want = np.asarray(m.vector_field(t, jax.numpy.asarray(y), None))
                    assert got[4] == 0.0 == want[4]
                    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_plan_covers_every_output_once():
    """Segments start at the doses, and every output time after t0 is reported exactly once,
    at its own time."""
    for c in (cohorts.pd1(2), cohorts.kuznetsov(2)):
        sch = c.schedule
        plan = va.Plan.of(sch)
        starts, _, dose = sch.segments()
        assert [te[0] for te in plan.teval] == list(starts)
        np.testing.assert_array_equal(plan.dose, dose)
        outs = np.concatenate(plan.out)
        assert sorted(outs[outs >= 0]) == list(range(1, len(sch.ts)))
        for te, out in zip(plan.teval, plan.out, strict=True):
            assert out[0] == -1 and np.all(np.diff(te) > 0)
            np.testing.assert_array_equal(te[out >= 0], sch.ts[out[out >= 0]])


def test_reference_and_accuracy_check():
    """The SciPy reference agrees with the fused engine at a tight tolerance, and the 3e-5 bar
    rejects a run at rtol 1e-3 (so the check can fail)."""
    from tumorimmune.solvers import solve_fused

    c = _pd1_cohort(4)
    ref, failed = va.reference(c)
    assert failed == 0
    errs = {}
    for rtol in (1e-9, 1e-3):
        ys, status, _ = solve_fused(c.model, c.y0, c.schedule, c.doses, rtol=rtol, atol=1e-9)
        assert np.all(status == 0)
        errs[rtol] = cohorts.max_rel_error_T(va.report_extinct(ys), ref)
    assert errs[1e-9] < 1e-7
    assert errs[1e-3] > va.T_TOL


@pytest.mark.slow
def test_numbalsoda_loop_passes_and_fails_the_check():
    """numbalsoda DOP853 and LSODA loops meet 3e-5 at rtol 1e-6 (PD-1 with doses, Kuznetsov);
    DOP853 at rtol 1e-2 on the oscillating Kuznetsov cohort does not."""
    pytest.importorskip("numbalsoda")
    pd1, kuz = _pd1_cohort(4), cohorts.kuznetsov(8, seed=3)
    refs = {id(c): va.reference(c)[0] for c in (pd1, kuz)}
    cases = [(pd1, "dop853", 1e-6, True), (pd1, "lsoda", 1e-6, True)]
    cases += [(kuz, "dop853", 1e-6, True), (kuz, "dop853", 1e-2, False)]
    for c, eng, rtol, ok in cases:
        ys, status = va.PREPARE[eng](c, rtol)()
        assert np.all(status == 0)
        err = cohorts.max_rel_error_T(ys, refs[id(c)])
        assert (err <= va.T_TOL) == ok, (c.name, eng, rtol, err)


@pytest.mark.slow
def test_roadrunner_loop_applies_doses():
    """The libRoadRunner loop on the SBML PD-1 model (doses set between segments) matches the
    reference; without the doses the antibody (A1) would stay 0."""
    pytest.importorskip("roadrunner")
    pytest.importorskip("libsbml")
    c = _pd1_cohort(3)
    ref, _ = va.reference(c)
    ys, status = va.PREPARE["roadrunner"](c, 1e-9)()
    assert np.all(status == 0)
    assert np.all(ys[:, 1:, 2] > 1.0)  # mg of antibody at every scan after day 0
    assert cohorts.max_rel_error_T(ys, ref) <= va.T_TOL
    np.testing.assert_allclose(ys[:, 1:, 2], ref[:, 1:, 2], rtol=1e-4)

"""Fused ensemble engine: agreement with SciPy, closed-form PK, diffrax; dosing, failures."""

from __future__ import annotations

import itertools
from typing import Any

import jax
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tumorimmune.model import (
    PEMBROLIZUMAB_200MG_Q3W,
    Kuznetsov1994,
    Regimen,
    TumorImmunePD1,
    get_regimen,
    two_compartment_bolus,
)
from tumorimmune.solvers import (
    BACKENDS,
    Schedule,
    get_backend,
    make_schedule,
    prepare_batch,
    set_dose_clock,
    solve_diffrax,
    solve_fused,
    solve_fused_groups,
)

SCANS = np.append(np.arange(0.0, 365.0, 42.0), 365.0)  # baseline + every 6 weeks, one year


def kuznetsov_rhs(p: dict[str, float]):
    """Independent NumPy right-hand side of Kuznetsov (1994) for SciPy."""

    def rhs(t, y):
        E, T = max(y[0], 0.0), max(y[1], 0.0)
        dE = p["s"] + p["p"] * E * T / (p["g"] + T) - p["m"] * E * T - p["d"] * E
        dT = p["a"] * T * (1 - p["b"] * T) - p["n"] * E * T
        return [dE, dT]

    return rhs


def pd1_rhs(p: dict[str, float]):
    """Independent NumPy right-hand side of the PD-1 model (constant clearance) for SciPy."""

    def rhs(t, y):
        E, T, A1, A2, R, D = (max(v, 0.0) for v in y)
        ro = (A1 / p["V1"]) / (A1 / p["V1"] + p["EC50"])
        n = p["n"] * (1 + p["eps_n"] * p["L"] * ro)
        m = p["m"] * (1 - p["eps_m"] * p["L"] * ro)
        recruit = p["p"] * E * T / (p["g"] + T) * (1 - p["b_E"] * E)
        dE = p["s"] + recruit - m * E * T - p["d"] * E
        room = 1 - p["b"] * (T + R)
        dT = p["a"] * T * room - n * E * T
        dR = (p["a"] * room - p["k_R"] * n * E) * R if R >= 1.0 else 0.0
        dD = p["kappa"] * n * E * (T + p["k_R"] * R) - p["k_clear"] * D
        dA1 = -(p["CL"] + p["Q"]) / p["V1"] * A1 + p["Q"] / p["V2"] * A2
        dA2 = p["Q"] / p["V1"] * A1 - p["Q"] / p["V2"] * A2
        return [dE, dT, dA1, dA2, dR, dD]

    return rhs


def scipy_reference(rhs, y0, ts, dose_times=(), dose=0.0, dosing_state=-1):
    """DOP853 at rtol 1e-10, restarted at every dose; outputs pre-dose at dose times."""
    y = np.array(y0, float)
    out = np.empty((len(ts), len(y)))
    out[0] = y
    cuts = [ts[0], *[d for d in dose_times if ts[0] < d < ts[-1]], ts[-1]]
    for s, e in itertools.pairwise(cuts):
        if s in dose_times and dosing_state >= 0:
            y[dosing_state] += dose
        inside = (ts > s) & (ts <= e)
        t_eval = np.unique(np.append(ts[inside], e))
        sol = solve_ivp(rhs, (s, e), y, method="DOP853", rtol=1e-10, atol=1e-10, t_eval=t_eval)
        assert sol.success
        out[inside] = sol.y.T[np.searchsorted(t_eval, ts[inside])]
        y = sol.y[:, -1].copy()
    return out


def pd1_cohort(n: int, seed: int):
    rng = np.random.default_rng(seed)
    model = TumorImmunePD1(
        a=0.18 * rng.lognormal(0.0, 0.15, n),
        s=1.3e4 * rng.lognormal(0.0, 0.3, n),
        L=rng.uniform(0.0, 1.0, n),
        eps_n=rng.uniform(0.0, 2.0, n),
    )
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": rng.lognormal(np.log(5e6), 0.5, n)})
    schedule, doses = make_schedule(batched, SCANS, PEMBROLIZUMAB_200MG_Q3W)
    assert doses is not None
    return batched, y0, schedule, doses


def test_kuznetsov_matches_scipy_dop853():
    rng = np.random.default_rng(1)
    n = 4
    model = Kuznetsov1994(a=0.18 * rng.lognormal(0, 0.2, n), s=1.3e4 * rng.lognormal(0, 0.3, n))
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": 5e6})
    ts = np.linspace(0.0, 200.0, 11)
    schedule = Schedule(ts=ts, dose_times=np.zeros(0))
    ys, status, steps = solve_fused(
        batched, y0, schedule, np.zeros((n, 0)), rtol=1e-8, atol=1e-6, dtype="float64"
    )
    assert np.all(status == 0) and np.all(steps > 10)
    for i in range(n):
        p = {k: float(np.asarray(v)[i]) for k, v in batched.parameters().items()}
        ref = scipy_reference(kuznetsov_rhs(p), y0[i], ts)
        np.testing.assert_allclose(ys[i], ref, rtol=1e-5, atol=1e-3)


def test_pd1_with_dosing_matches_scipy_dop853():
    batched, y0, schedule, doses = pd1_cohort(3, seed=2)
    ys, status, _ = solve_fused(batched, y0, schedule, doses, rtol=1e-8, atol=1e-6)
    assert np.all(status == 0)
    for i in range(3):
        p = {k: float(np.asarray(v)[i]) for k, v in batched.parameters().items()}
        ref = scipy_reference(
            pd1_rhs(p), y0[i], SCANS, list(schedule.dose_times), 200.0, schedule.dosing_state
        )
        np.testing.assert_allclose(ys[i], ref, rtol=1e-5, atol=1e-3)


def test_pk_matches_closed_form_bolus_exactly_at_dose_days():
    """Outputs on dose days are pre-dose troughs; a dose at t0 is applied at the start."""
    n = 2
    model = TumorImmunePD1(CL=np.array([0.22, 0.3]), V1=np.array([3.48, 4.0]))
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": 5e6})
    ts = np.array([0.0, 0.5, 10.0, 21.0, 30.0, 42.0, 42.25, 63.0, 100.0])
    regimen = Regimen(dose=200.0, interval=21.0, drug="pembrolizumab")
    schedule, doses = make_schedule(batched, ts, regimen)
    assert doses is not None
    ys, status, _ = solve_fused(batched, y0, schedule, doses, rtol=1e-10, atol=1e-9)
    assert np.all(status == 0)
    for i in range(n):
        p = {k: float(np.asarray(v)[i]) for k, v in batched.parameters().items()}
        exact = np.array(
            [
                two_compartment_bolus(
                    np.array([t]),
                    schedule.dose_times[schedule.dose_times < t],
                    doses[i, schedule.dose_times < t],
                    CL=p["CL"],
                    V1=p["V1"],
                    Q=p["Q"],
                    V2=p["V2"],
                )[0]
                for t in ts
            ]
        )
        conc = ys[i, :, 2] / p["V1"]
        assert conc[0] == 0.0 and conc[3] < conc[2]  # day 0 and day 21 are pre-dose
        np.testing.assert_allclose(conc, exact, rtol=1e-6, atol=1e-9)


def test_agrees_with_diffrax_on_random_pd1_cohort():
    batched, y0, schedule, doses = pd1_cohort(48, seed=3)
    kw: dict[str, Any] = dict(rtol=1e-8, atol=1e-6, dtype="float64")
    yf, sf, nf = solve_fused(batched, y0, schedule, doses, lanes=16, **kw)
    yd, sd, nd = solve_diffrax(batched, y0, schedule, doses, **kw)
    assert np.all(sf == 0) and np.all(sd == 0)
    Tf, Td = yf[..., 1], yd[..., 1]
    alive = np.all(Td > 10.0, axis=1)  # extinction is handled at different places
    assert alive.sum() > 10
    np.testing.assert_allclose(Tf[alive], Td[alive], rtol=2e-5)
    np.testing.assert_allclose(yf[..., 2:], yd[..., 2:], rtol=1e-6, atol=1e-6)
    # same number of steps up to the restarts of diffrax at every dose
    assert 0.5 < nf.mean() / nd.mean() < 1.5
    # response classes (RECIST 1.1 on the scan series) agree for every patient
    from tumorimmune.response import best_overall_response, diameter_mm

    def classes(ys):
        T = np.where(np.maximum.accumulate(ys[..., 1] < 1.0, axis=1), 0.0, ys[..., 1])
        return best_overall_response(diameter_mm(T))

    np.testing.assert_array_equal(classes(yf), classes(yd))


def test_extinction_is_absorbing():
    model = Kuznetsov1994()
    batched, y0, _ = prepare_batch(model, {"E": np.array([1e7, 3.2e5]), "T": np.array([10, 5e6])})
    ts = np.array([0.0, 5.0, 50.0, 365.0])
    schedule = Schedule(ts=ts, dose_times=np.zeros(0))
    ys, status, _ = solve_fused(batched, y0, schedule, np.zeros((2, 0)), rtol=1e-8, atol=1e-6)
    assert np.all(status == 0)
    assert np.all(ys[0, 1:, 1] == 0.0)  # killed within days, never regrows
    assert np.all(ys[1, :, 1] > 1e5)


def test_lanes_threads_and_chunks_do_not_change_results():
    batched, y0, schedule, doses = pd1_cohort(37, seed=4)
    kw: dict[str, Any] = dict(rtol=1e-6, atol=1e-6)
    ref = solve_fused(batched, y0, schedule, doses, chunk_size=37, lanes=37, n_threads=1, **kw)
    opts: dict[str, Any]
    for opts in (
        dict(chunk_size=37, lanes=5, n_threads=1, refill_every=3),
        dict(chunk_size=8, lanes=3, n_threads=2),
        dict(chunk_size=37, lanes=6, n_threads=1, refill_every=4, unroll=3),
    ):
        ys, status, steps = solve_fused(batched, y0, schedule, doses, **opts, **kw)
        # per-patient arithmetic is the same; only XLA's vectorisation (rounding) may differ
        np.testing.assert_allclose(ys, ref[0], rtol=1e-10)
        np.testing.assert_array_equal(status, ref[1])
        assert np.max(np.abs(steps - ref[2])) <= 2


def test_failures_are_flagged_per_patient():
    rng = np.random.default_rng(5)
    n = 24
    model = Kuznetsov1994(a=0.18 * rng.lognormal(0, 0.4, n), s=1.3e4 * rng.lognormal(0, 0.5, n))
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": 5e6})
    schedule = Schedule(ts=np.array([0.0, 100.0, 365.0]), dose_times=np.zeros(0))
    no_doses = np.zeros((n, 0))
    ys, status, steps = solve_fused(batched, y0, schedule, no_doses, rtol=1e-6, atol=1e-6)
    assert np.all(status == 0) and steps.min() < steps.max()
    limit = int(np.median(steps))
    ys2, status2, _ = solve_fused(
        batched, y0, schedule, no_doses, rtol=1e-6, atol=1e-6, max_steps=limit
    )
    slow = steps >= limit
    np.testing.assert_array_equal(status2 != 0, slow)
    assert np.all(status2[slow] == 1)
    assert np.all(np.isnan(ys2[slow]))
    np.testing.assert_allclose(ys2[~slow], ys[~slow], rtol=1e-12)

    # a vector field that blows up (g = -T0: division by zero) fails alone
    bad = batched.replace(
        g=np.where(np.arange(n) == 3, -5e6, np.asarray(batched.parameters()["g"]))
    )
    ys3, status3, _ = solve_fused(bad, y0, schedule, no_doses, rtol=1e-6, atol=1e-6)
    assert status3[3] != 0 and np.all(np.isnan(ys3[3]))
    assert np.all(status3[np.arange(n) != 3] == 0)
    np.testing.assert_allclose(ys3[np.arange(n) != 3], ys[np.arange(n) != 3], rtol=1e-12)


def test_float32_accuracy():
    """float32 at rtol 1e-5: tumor sizes within about 1e-3 relative of float64 (measured ~1e-4)."""
    batched, y0, schedule, doses = pd1_cohort(32, seed=6)
    y64, s64, _ = solve_fused(batched, y0, schedule, doses, rtol=1e-10, atol=1e-8)
    y32, s32, _ = solve_fused(batched, y0, schedule, doses, rtol=1e-5, atol=1e-3, dtype="float32")
    assert y32.dtype == np.float32 and np.all(s32 == 0) and np.all(s64 == 0)
    alive = np.all(y64[..., 1] > 1e3, axis=1)
    rel = np.abs(y32[alive, :, 1] - y64[alive, :, 1]) / y64[alive, :, 1]
    assert rel.max() < 2e-3


def test_backend_registry():
    """Names give the option objects; ``auto`` resolves per model and platform (CPU here)."""
    from tumorimmune.solvers import Auto, Diffrax, Fused, Pallas

    assert get_backend("fused") == Fused()
    assert get_backend("diffrax") == Diffrax()
    assert get_backend("auto", TumorImmunePD1()) == Fused()
    assert get_backend("AUTO") == Fused()  # on CPU; the Pallas kernel on a GPU
    assert get_backend("pallas") == Pallas()
    assert get_backend(Auto(dtype="float32")) == Fused(dtype="float32")
    assert set(BACKENDS) == {"auto", "diffrax", "fused", "pallas"}
    with pytest.raises(ValueError, match="'rk4'"):
        get_backend("rk4")


def test_bad_options_raise():
    batched, y0, schedule, doses = pd1_cohort(2, seed=7)
    with pytest.raises(ValueError, match="dtype"):
        solve_fused(batched, y0, schedule, doses, rtol=1e-6, atol=1e-6, dtype="float16")
    with pytest.raises(ValueError, match="lanes"):
        solve_fused(batched, y0, schedule, doses, rtol=1e-6, atol=1e-6, lanes=0)
    with pytest.raises(ValueError, match="y0"):
        solve_fused(batched, y0[:, :2], schedule, doses, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cpu_compiler_options_keep_results_bitwise(dtype, monkeypatch):
    """The CPU pool loop is compiled with its own XLA options (512-bit vectors); they may only
    change speed: every output, status and step count is bitwise that of XLA's defaults.
    Nivolumab exercises pow/exp (time-varying clearance); 37 lanes, a remainder of every
    vector width."""
    from tumorimmune.model import NIVOLUMAB_240MG_Q2W
    from tumorimmune.solvers import _fused

    assert _fused._CPU_COMPILER_OPTIONS  # else this test compares a function with itself
    rng = np.random.default_rng(8)
    n = 48
    model = TumorImmunePD1.with_drug(
        "nivolumab", iiv_z={"CL": rng.normal(size=n)}, a=0.18 * rng.lognormal(0, 0.2, n),
        L=rng.random(n),
    )  # fmt: skip
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": 5e6})
    schedule, doses = make_schedule(batched, SCANS, NIVOLUMAB_240MG_Q2W)
    assert doses is not None
    rtol, atol = (1e-8, 1e-6) if dtype == "float64" else (1e-5, 1e-3)
    kw: dict[str, Any] = dict(rtol=rtol, atol=atol, dtype=dtype, lanes=37, n_threads=1)
    tuned = solve_fused(batched, y0, schedule, doses, **kw)
    monkeypatch.setattr(_fused, "_solve_pool_cpu", _fused._solve_pool)  # XLA's defaults
    plain = solve_fused(batched, y0, schedule, doses, **kw)
    assert np.all(tuned[1] == 0)
    for a, b in zip(tuned, plain, strict=True):
        np.testing.assert_array_equal(a, b)


def _arm(regimen: Regimen | None, n: int, seed: int, drug: str = "pembrolizumab"):
    """A PD-1 batch of ``n`` patients with ``regimen`` (None: untreated): the inputs of
    :func:`solve_fused` as one group of :func:`solve_fused_groups`."""
    rng = np.random.default_rng(seed)
    model = TumorImmunePD1.with_drug(drug, weight=rng.uniform(50.0, 100.0, n)).replace(
        a=0.18 * rng.lognormal(0.0, 0.15, n), L=rng.uniform(0.0, 1.0, n)
    )
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": rng.lognormal(np.log(5e8), 1.0, n)})
    batched = set_dose_clock(batched, regimen)
    schedule, doses = make_schedule(batched, SCANS, regimen)
    return batched, y0, schedule, np.zeros((n, 0)) if doses is None else doses


def _empty(group):
    model, y0, schedule, doses = group
    return jax.tree_util.tree_map(lambda x: x[:0], model), y0[:0], schedule, doses[:0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_groups_are_bitwise_the_separate_solves(dtype):
    """Arms with different dose schedules (none, q3w flat, q2w per kg, and an empty one) solved
    as one cohort: every patient's numbers are bit-for-bit those of its arm solved alone, with
    lanes and pools that mix the arms."""
    q2w = Regimen(drug="pembrolizumab", dose=10.0, unit="mg/kg", interval=14)
    groups = [
        _arm(None, 13, seed=1),
        _arm(PEMBROLIZUMAB_200MG_Q3W, 29, seed=2),
        _empty(_arm(q2w, 3, seed=3)),
        _arm(q2w, 22, seed=4),
    ]
    assert len({g[2].dose_times.size for g in groups}) == 3  # three stop-table lengths
    kw: dict[str, Any] = dict(rtol=1e-6, atol=1e-6, dtype=dtype, refill_every=2)
    opts: dict[str, Any]
    for opts in (
        dict(chunk_size=64, lanes=8, n_threads=1),
        dict(chunk_size=20, lanes=8, n_threads=2),
        dict(chunk_size=64, lanes=64, n_threads=1),  # one lane per patient (GPU layout)
        dict(chunk_size=64, lanes=8, n_threads=1, max_steps=40),  # some untreated fail
    ):
        together = solve_fused_groups(groups, **kw, **opts)
        assert len(together) == len(groups)
        steps = {"max_steps": opts["max_steps"]} if "max_steps" in opts else {}
        for g, (alone, got) in enumerate(zip(
            (solve_fused(*grp, **kw, **steps, chunk_size=64, lanes=8) for grp in groups),
            together, strict=True,
        )):  # fmt: skip
            for name, a, b in zip(("ys", "status", "num_steps"), alone, got, strict=True):
                assert a.shape == b.shape, (g, name)
                assert np.array_equal(a, b, equal_nan=True), (g, name, opts)
        if steps:  # failures stay with their patients (NaN rows, status 1)
            status = np.concatenate([t[1] for t in together])
            assert 0 < np.sum(status == 1) < status.size
        else:
            # the untreated arm gets no antibody from the others; the q2w arm has some
            assert np.all(together[0][0][..., 2:] == 0.0)
            assert np.all(together[3][0][:, 1:, 2] > 0)


def test_groups_bad_input_raises():
    a = _arm(None, 4, seed=1)
    b = _arm(PEMBROLIZUMAB_200MG_Q3W, 4, seed=2)
    kw: dict[str, Any] = dict(rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="groups is empty"):
        solve_fused_groups([], **kw)
    other_ts = Schedule(ts=SCANS[:-1], dose_times=b[2].dose_times, dosing_state=2)
    with pytest.raises(ValueError, match="output times differ"):
        solve_fused_groups([a, (b[0], b[1], other_ts, b[3][:, : other_ts.dose_times.size])], **kw)
    with pytest.raises(ValueError, match="does not have the structure"):
        nivo = _arm(get_regimen("nivolumab_240mg_q2w"), 4, 5, drug="nivolumab")
        solve_fused_groups([b, nivo], **kw)
    kuz, y0k, _ = prepare_batch(Kuznetsov1994(), {"E": np.full(4, 3.2e5), "T": 1e6})
    with pytest.raises(ValueError, match="does not have the structure"):
        solve_fused_groups(
            [a, (kuz, y0k, Schedule(ts=SCANS, dose_times=np.zeros(0)), np.zeros((4, 0)))], **kw
        )
    wrong = Schedule(ts=SCANS, dose_times=b[2].dose_times, dosing_state=3)
    with pytest.raises(ValueError, match="dose different states"):
        solve_fused_groups([b, (b[0], b[1], wrong, b[3])], **kw)
    with pytest.raises(ValueError, match=r"y0 must have shape \(N, 6\)"):
        solve_fused_groups([a, (b[0], b[1][:, :2], b[2], b[3])], **kw)

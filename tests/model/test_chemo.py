"""Chemotherapy comparator (Claret-form kill with resistance) of TumorImmunePD1: against the
closed form, an independent SciPy solve, every backend, and its defaults (off)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import tumorimmune as ti
from tumorimmune.model import (
    CHEMO_FIELDS,
    DOCETAXEL,
    PLATINUM_DOUBLET,
    Chemotherapy,
    ClaretTGI,
    Kuznetsov1994,
    TumorImmunePD1,
    get_chemo,
    supports_chemo,
)

#: Output days: through the four cycles (end day 84 is an output time) and the regrowth.
DAYS = np.array([0.0, 7.0, 21.0, 42.0, 63.0, 84.0, 100.0, 150.0, 200.0])
K, LAM = 0.05, 0.02  # 1/day


def _no_immune(**params):
    """No effectors ever (s = 0, E0 = 0): the tumor sees only growth and chemotherapy."""
    return TumorImmunePD1(s=0.0, **params)


def _claret(t, y0, *, a, k, lam, start, end):
    """Claret et al. (2009) closed form with exponential growth and the kill on [start, end)."""
    tau = np.clip(np.minimum(t, end) - start, 0.0, None)
    return y0 * np.exp(a * t - k * (1.0 - np.exp(-lam * tau)) / lam)


@pytest.mark.parametrize("backend", ["diffrax", "fused"])
def test_exponential_growth_equals_claret_closed_form(backend):
    a = 0.01
    model = _no_immune(a=a, b=0.0).with_chemo("platinum_doublet", k_chemo=K, lam_chemo=LAM)
    assert model.chemo_start == 0.0 and model.chemo_end == 84.0
    out = ti.simulate(model, {"E": 0.0, "T": 1e9}, DAYS, rtol=1e-11, atol=1e-6, backend=backend)
    assert int(out["status"]) == 0
    want = _claret(DAYS, 1e9, a=a, k=K, lam=LAM, start=0.0, end=84.0)
    np.testing.assert_allclose(out["T"].values, want, rtol=1e-8)
    np.testing.assert_allclose(out["burden"].values, want, rtol=1e-8)  # R = D = 0
    # the same as the package's ClaretTGI closed form while on treatment (K_L = a, K_D·E = k)
    on = DAYS <= 84.0
    with jax.enable_x64(True):
        tgi = ClaretTGI(KL=a, KD=K, lam=LAM, exposure=1.0).closed_form(DAYS[on], 1e9)
    np.testing.assert_allclose(out["T"].values[on], np.asarray(tgi), rtol=1e-8)
    # shrinks on chemotherapy, regrows after (a > 0)
    T = out["T"].values
    assert T[3] < T[0] and T[-1] > T[5]


def _scipy_reference(model, y0, days):
    """The same equations written out by hand (NumPy), solved by SciPy's Radau piece by piece
    between the switch days of the kill (rtol 1e-11)."""
    a, b, k, lam = (float(getattr(model, n)) for n in ("a", "b", "k_chemo", "lam_chemo"))
    t0, t1 = float(model.chemo_start), float(model.chemo_end)

    def rhs(t, y, on):
        T, R = y
        c = k * np.exp(-lam * (t - t0)) if on else 0.0
        room = 1.0 - b * (T + R)
        return [a * T * room - c * T, (a * room - c) * R]

    edges = [0.0, t0, t1, float(days[-1])]
    y = np.asarray(y0, dtype=float)
    out = [y[None, :]] if days[0] == 0.0 else []
    for j in range(3):
        lo, hi = edges[j], edges[j + 1]
        if hi <= lo:
            continue
        sel = days[(days > lo) & (days <= hi)]
        t_eval = np.union1d(sel, [hi])
        sol = solve_ivp(
            rhs, (lo, hi), y, method="Radau", rtol=1e-11, atol=1e-3, t_eval=t_eval, args=(j == 1,)
        )
        assert sol.success
        out.append(sol.y.T[np.isin(t_eval, sel)])
        y = sol.y[:, -1]
    return np.concatenate(out)


@pytest.mark.parametrize("backend", ["diffrax", "fused"])
def test_logistic_growth_and_escape_variants_match_scipy(backend):
    """Logistic growth (shared carrying capacity), escape variants R killed like T, a
    chemotherapy starting on day 10 for 6 cycles: an independent SciPy solve agrees."""
    model = _no_immune(a=0.05, b=2e-11, f_R=0.2).with_chemo(
        "platinum_doublet", cycles=6, start_day=10.0, k_chemo=0.08, lam_chemo=0.01
    )
    assert model.chemo_end == 10.0 + 6 * 21.0
    days = np.array([0.0, 5.0, 10.0, 30.0, 80.0, 136.0, 150.0, 250.0, 400.0])
    out = ti.simulate(model, {"E": 0.0, "T": 1e10}, days, rtol=1e-11, atol=1e-6, backend=backend)
    assert int(out["status"]) == 0
    ref = _scipy_reference(model, [0.8e10, 0.2e10], days)
    np.testing.assert_allclose(out["T"].values, ref[:, 0], rtol=1e-7)
    np.testing.assert_allclose(out["R"].values, ref[:, 1], rtol=1e-7)
    assert np.all(out["D"].values == 0.0)  # no infiltrate from chemotherapy kill
    T = out["T"].values
    assert T[3] < T[2] and T[-1] > T[5]  # kill from day 10, regrowth after day 136


def test_per_patient_chemo_parameters_batch():
    """Array-valued k_chemo / lam_chemo / chemo_end (one per patient) batch like any field."""
    k = np.array([0.0, 0.03, 0.06])
    model = _no_immune(a=0.01, b=0.0).with_chemo(
        "platinum_doublet", k_chemo=k, lam_chemo=np.array([0.02, 0.02, 0.0]),
        chemo_end=np.array([84.0, 126.0, 84.0]),
    )  # fmt: skip
    out = ti.simulate(model, {"E": 0.0, "T": 1e9}, DAYS, rtol=1e-11, atol=1e-6)
    for i, (ki, li, ei) in enumerate([(0.0, 0.02, 84.0), (0.03, 0.02, 126.0), (0.06, 0.0, 84.0)]):
        lam = max(li, 1e-300)
        tau = np.clip(np.minimum(DAYS, ei), 0.0, None)
        decay = ki * tau if li == 0 else ki * (1.0 - np.exp(-lam * tau)) / lam
        np.testing.assert_allclose(out["T"].values[i], 1e9 * np.exp(0.01 * DAYS - decay), rtol=1e-8)


def test_chemo_with_pembrolizumab_adds_kill():
    """Chemo on top of the antibody (e.g. KEYNOTE-189): smaller tumors than the antibody alone."""
    base = TumorImmunePD1(a=0.05, b=2e-11)
    y0 = {"E": 3.2e5, "T": 1e10}
    ab = ti.simulate(base, y0, DAYS, regimen="pembrolizumab_200mg_q3w")
    both = ti.simulate(base.with_chemo(), y0, DAYS, regimen="pembrolizumab_200mg_q3w")
    assert np.all(both["T"].values[1:] < ab["T"].values[1:])
    assert both["RO"].values.max() > 0.9


def test_default_is_off_and_bitwise_unchanged():
    """k_chemo = 0 (the default): the vector field is bitwise the one without the term, for
    any schedule fields, and the E–T equations are still exactly Kuznetsov (1994)."""
    rng = np.random.default_rng(0)
    k = Kuznetsov1994(a=0.25)
    plain = TumorImmunePD1(a=0.25)
    moved = TumorImmunePD1(a=0.25, lam_chemo=0.3, chemo_start=0.0, chemo_end=1e4)
    assert plain.k_chemo == 0.0
    for E, Tc in rng.uniform(1e3, 1e9, size=(10, 2)):
        y = jnp.array([E, Tc, 1.0, 2.0, 1e6, 3.0])
        f0 = np.asarray(plain.vector_field(5.0, y, None))
        np.testing.assert_array_equal(np.asarray(moved.vector_field(5.0, y, None)), f0)
        fk = np.asarray(k.vector_field(3.0, jnp.array([E, Tc]), None))
        fp = np.asarray(plain.vector_field(3.0, jnp.array([E, Tc, 0.0, 0.0, 0.0, 0.0]), None))
        np.testing.assert_array_equal(fp[:2], fk)


def test_kill_window_and_targets():
    model = TumorImmunePD1(k_chemo=0.1, lam_chemo=0.05, chemo_start=10.0, chemo_end=31.0)
    kill = [float(model.chemo_kill(t)) for t in (0.0, 9.99, 10.0, 20.0, 30.99, 31.0, 100.0)]
    assert kill[0] == kill[1] == 0.0 and kill[5] == kill[6] == 0.0
    assert kill[2] == pytest.approx(0.1) and kill[3] == pytest.approx(0.1 * np.exp(-0.5))
    with jax.enable_x64(True):
        y = jnp.array([1e5, 1e8, 0.0, 0.0, 1e6, 5.0])
        on = np.asarray(model.vector_field(20.0, y, None))
        off = np.asarray(model.replace(k_chemo=0.0).vector_field(20.0, y, None))
    c = 0.1 * np.exp(-0.5)
    np.testing.assert_allclose(off[1] - on[1], c * 1e8, rtol=1e-9)  # T
    np.testing.assert_allclose(off[4] - on[4], c * 1e6, rtol=1e-9)  # R: regardless of escape
    np.testing.assert_array_equal(on[[0, 2, 3, 5]], off[[0, 2, 3, 5]])  # E, antibody, D


def test_pallas_kernel_accepts_the_chemo_term():
    from tumorimmune.solvers._pallas import check_supported

    model = TumorImmunePD1().with_chemo()
    jaxpr = jax.make_jaxpr(model.vector_field)(1.0, jnp.ones(6), None)
    check_supported(jaxpr.jaxpr, "TumorImmunePD1")  # raises on an unsupported operation


def test_pallas_interpret_matches_fused_with_chemo():
    from tumorimmune.solvers import make_schedule, prepare_batch, solve_fused
    from tumorimmune.solvers._pallas import solve_pallas

    n = 4
    model = TumorImmunePD1(a=0.05, b=2e-11).with_chemo(k_chemo=np.linspace(0.02, 0.08, n), cycles=5)
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": 1e10})
    days = np.array([0.0, 42.0, 105.0, 200.0])
    schedule, doses = make_schedule(batched, days, None)
    doses = np.zeros((n, 0))
    ref = solve_fused(batched, y0, schedule, doses, rtol=1e-8, atol=1e-6)
    out = solve_pallas(batched, y0, schedule, doses, rtol=1e-8, atol=1e-6, dtype="float64", block=4)
    assert np.all(out[1] == 0)
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-9)


def test_presets_and_errors():
    assert get_chemo("Platinum_Doublet") is PLATINUM_DOUBLET
    assert (PLATINUM_DOUBLET.min_cycles, PLATINUM_DOUBLET.max_cycles) == (4, 6)
    assert PLATINUM_DOUBLET.with_schedule(cycles=6).end_day == 126.0
    assert PLATINUM_DOUBLET.label == "platinum_doublet × 4 q3w"
    assert supports_chemo(TumorImmunePD1) and not supports_chemo(Kuznetsov1994)
    assert set(CHEMO_FIELDS) <= set(TumorImmunePD1.parameter_names())
    assert TumorImmunePD1.parameter_units()["k_chemo"] == "1/day"
    with pytest.raises(ValueError, match="unknown chemotherapy 'folfox'"):
        get_chemo("folfox")
    with pytest.raises(ValueError, match=r"cycles must be an integer in 4\.\.6; got 7"):
        TumorImmunePD1().with_chemo("platinum_doublet", cycles=7)
    with pytest.raises(ValueError, match="k_chemo must be finite and >= 0"):
        Chemotherapy(name="x", k_chemo=-1.0, lam_chemo=0.0)
    with pytest.raises(ValueError, match="parameter 'k_chemo'"):
        TumorImmunePD1(k_chemo=-0.1).validate()


def test_docetaxel_preset_schedule_and_closed_form():
    """Docetaxel 75 mg/m² q3w (KEYNOTE-010's comparator): 6 cycles by default (1–35 allowed),
    the kill stops at day 126, and the tumor follows Claret's closed form through and after."""
    assert get_chemo("Docetaxel") is DOCETAXEL and DOCETAXEL.label == "docetaxel × 6 q3w"
    assert DOCETAXEL.end_day == 126.0 and DOCETAXEL.with_schedule(cycles=35).end_day == 735.0
    with pytest.raises(ValueError, match=r"1\.\.35"):
        DOCETAXEL.with_schedule(cycles=36)
    a, days = 0.01, np.array([0.0, 21.0, 63.0, 126.0, 150.0, 250.0])
    model = _no_immune(a=a, b=0.0).with_chemo("docetaxel", k_chemo=K, lam_chemo=LAM)
    assert (model.chemo_start, model.chemo_end) == (0.0, 126.0)
    out = ti.simulate(model, {"E": 0.0, "T": 1e9}, days, rtol=1e-11, atol=1e-6, backend="diffrax")
    want = _claret(days, 1e9, a=a, k=K, lam=LAM, start=0.0, end=126.0)
    np.testing.assert_allclose(out["T"].values, want, rtol=1e-8)

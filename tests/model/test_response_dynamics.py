"""Escape variants, lesion infiltrate and effector ceiling of TumorImmunePD1 (science.md §2b).

Each term against a closed form (effectors held constant, so the kill rate is constant), and
the reduction to the model without them.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tumorimmune as ti
from tumorimmune.model import PEMBROLIZUMAB_200MG_Q3W, TumorImmunePD1
from tumorimmune.solvers import Tolerances

jax.config.update("jax_enable_x64", True)


def _old_field(m: Any, t: float, y: np.ndarray) -> np.ndarray:
    """The §2 model written out independently (no escape variants, infiltrate or ceiling)."""
    E, T, A1, A2 = y
    C = A1 / m.V1
    RO = m.Imax * C / (C + m.EC50)
    B = RO * (m.f_indep + (1 - m.f_indep) * m.L)
    n_eff = m.n * (1 + m.eps_n * B)
    m_eff = m.m * (1 - m.eps_m * B)
    kill = n_eff * E / (1 + m.h_kill * n_eff * E)
    dE = m.s + m.p * E * T / (m.g + T) - m_eff * E * T - m.d * E
    dT = m.a * T * (1 - m.b * T) - kill * T
    cl = m.CL  # CL_emax = 0 below: constant clearance
    dA1 = -cl / m.V1 * A1 - m.Q / m.V1 * A1 + m.Q / m.V2 * A2
    dA2 = m.Q / m.V1 * A1 - m.Q / m.V2 * A2
    return np.array([dE, dT, dA1, dA2])


def test_terms_off_reduce_to_the_model_of_section_2():
    m = TumorImmunePD1(
        a=0.02,
        b=2e-13,
        s=800.0,
        m=3e-12,
        d=0.01,
        g=1e9,
        h_kill=10.0,
        f_indep=0.3,
        L=0.6,
        eps_n=3.0,
        eps_m=0.95,
        CL_emax=0.0,
    )
    rng = np.random.default_rng(1)
    for _ in range(20):
        y4 = rng.uniform([1e3, 1e8, 0.0, 0.0], [1e8, 1e12, 500.0, 300.0])
        dy = np.asarray(m.vector_field(3.0, jnp.asarray([*y4, 0.0, 0.0])))
        np.testing.assert_allclose(dy[:4], _old_field(m, 3.0, y4), rtol=1e-13)
        assert dy[4] == 0.0 and dy[5] == 0.0  # R and D stay 0


def _constant_kill_model(**kw) -> tuple[TumorImmunePD1, float, float]:
    """Effectors held at E0 (s = d·E0, no recruitment or exhaustion), no drug: constant kill."""
    E0 = 2e6
    m = TumorImmunePD1(s=0.01 * E0, d=0.01, p=0.0, m=0.0, h_kill=5.0, **kw)
    nE = float(np.asarray(m.n)) * E0
    k = nE / (1 + float(np.asarray(m.h_kill)) * nE)
    return m, E0, k


def test_infiltrate_has_its_closed_form():
    m, E0, k = _constant_kill_model(a=0.0, b=0.0, kappa=2.5, k_clear=0.03)
    T0 = 1e10
    t = np.linspace(0, 200, 41)
    ds = ti.simulate(m, {"E": E0, "T": T0}, t, tolerances=Tolerances(rtol=1e-11, atol=1e-6))
    T = T0 * np.exp(-k * t)
    D = 2.5 * k * T0 * (np.exp(-k * t) - np.exp(-0.03 * t)) / (0.03 - k)
    np.testing.assert_allclose(ds["T"].values, T, rtol=1e-7)
    np.testing.assert_allclose(ds["D"].values, D, rtol=1e-7, atol=1.0)
    np.testing.assert_allclose(ds["burden"].values, T + D, rtol=1e-7)
    # the lesion swells first (kappa > 1), then shrinks below baseline
    assert ds["burden"].values[4] > T0 > ds["burden"].values[-1]


@pytest.mark.parametrize("k_R", [0.0, 0.4])
def test_escape_variants_have_their_closed_form(k_R):
    m, E0, k = _constant_kill_model(a=0.02, b=0.0, f_R=1e-3, k_R=k_R)
    T0 = 1e10
    t = np.linspace(0, 400, 41)
    ds = ti.simulate(m, {"E": E0, "T": T0}, t, tolerances=Tolerances(rtol=1e-11, atol=1e-6))
    # the sensitive cells go extinct (below one cell: 0), as every tumor state does
    T = (1 - 1e-3) * T0 * np.exp((0.02 - k) * t)
    np.testing.assert_allclose(ds["T"].values, np.where(T < 1.0, 0.0, T), rtol=1e-7, atol=1.0)
    np.testing.assert_allclose(ds["R"].values, 1e-3 * T0 * np.exp((0.02 - k_R * k) * t), rtol=1e-7)
    if k_R == 0.0:  # a controlled tumor relapses: the burden has a nadir, then regrows
        b = ds["burden"].values
        j = int(np.argmin(b))
        assert 0 < j < len(t) - 1 and b[-1] > 10 * b[j]


def test_baseline_split_and_explicit_R():
    m = TumorImmunePD1(f_R=0.2)
    got = m.baseline_state({"E": 1.0, "T": 100.0})
    assert got["T"] == pytest.approx(80.0) and got["R"] == pytest.approx(20.0)
    assert m.baseline_state({"E": 1.0, "T": 100.0, "R": 5.0}) == {"E": 1.0, "T": 100.0, "R": 5.0}
    ds = ti.simulate(m, {"E": 1e5, "T": 1e9}, np.array([0.0, 1.0]))
    assert float(ds["R"].values[0]) == pytest.approx(2e8)
    assert float(ds["burden"].values[0]) == pytest.approx(1e9)


def test_escape_variants_below_one_cell_are_extinct():
    m = TumorImmunePD1(a=0.05, b=0.0, f_R=1e-12)
    dy = np.asarray(m.vector_field(0.0, jnp.asarray([1e5, 1e10, 0.0, 0.0, 0.5, 0.0])))
    assert dy[4] == 0.0


def test_effector_ceiling_bounds_the_effectors():
    # strong recruitment, no exhaustion: without a ceiling effectors grow without bound
    kw: dict[str, Any] = dict(a=0.02, b=2e-13, s=1000.0, p=0.1245, g=1e9, d=0.01, m=1e-14)
    kw["h_kill"] = 50.0
    t = np.linspace(0, 1095, 50)
    y0 = {"E": 1e5, "T": 1e11}
    free = ti.simulate(TumorImmunePD1.with_drug(**kw), y0, t, regimen=PEMBROLIZUMAB_200MG_Q3W)
    capped = ti.simulate(
        TumorImmunePD1.with_drug(b_E=1e-10, **kw), y0, t, regimen=PEMBROLIZUMAB_200MG_Q3W
    )
    assert np.nanmax(free["E"].values) > 1e12
    assert np.nanmax(capped["E"].values) <= 1e10 + 1000.0 / 0.01

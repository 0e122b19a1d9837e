"""The shared numerics of the fast backends (``solvers/_tsit5.py``) against diffrax itself."""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from tumorimmune.model import Kuznetsov1994
from tumorimmune.solvers._diffrax import rms_norm
from tumorimmune.solvers._tsit5 import ERROR_ORDER, initial_step, trial


def _kuznetsov():
    model = Kuznetsov1994()

    def one(t, y, args):
        return model.vector_field(t, y, None)

    def lanes(t, ys):  # the core's convention: lists of per-state arrays
        out = one(t, jnp.stack(ys), None)
        return [out[i] for i in range(out.shape[0])]

    return one, lanes


def test_trial_step_matches_diffrax_tsit5_step():
    """One Tsit5 step (solution, FSAL derivative, error estimate) equals ``diffrax.Tsit5``'s."""
    one, lanes = _kuznetsov()
    with jax.enable_x64(True):
        term = diffrax.ODETerm(one)
        y0 = jnp.array([3.2e5, 5e6])
        t0, h = jnp.asarray(0.0), jnp.asarray(0.7)
        solver = diffrax.Tsit5()
        state = solver.init(term, t0, t0 + h, y0, None)
        y1, err, _, _, _ = solver.step(term, t0, t0 + h, y0, None, state, False)
        k1 = lanes(t0, list(y0))
        y1_ours, k7, err_ours = trial(lanes, t0, list(y0), k1, h, t0 + h)
        np.testing.assert_allclose(np.stack(y1_ours), y1, rtol=1e-14)
        np.testing.assert_allclose(np.stack(k7), one(t0 + h, y1, None), rtol=1e-13)
        np.testing.assert_allclose(np.stack(err_ours), err, rtol=1e-8)
        assert np.all(np.abs(np.stack(err_ours)) > 0)  # a real error estimate, not 0


def test_initial_step_is_diffrax_algorithm():
    """Hairer's initial step equals diffrax's ``_select_initial_step`` (same error order)."""
    from diffrax._step_size_controller.pid import _select_initial_step

    one, lanes = _kuznetsov()
    rtol, atol = 1e-6, 1e-6
    with jax.enable_x64(True):
        y0 = jnp.array([3.2e5, 5e6])
        t = jnp.zeros(())
        term = diffrax.ODETerm(one)
        ref = _select_initial_step(
            term, t, y0, None, lambda terms, t, y, args: terms.vf(t, y, args),
            ERROR_ORDER, rtol, atol, rms_norm,
        )  # fmt: skip
        dt0 = initial_step(lanes, t, list(y0), lanes(t, list(y0)), rtol, atol)
        assert 0 < float(dt0) < 100.0
        np.testing.assert_allclose(float(dt0), float(ref), rtol=1e-13)

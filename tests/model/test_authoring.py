"""The model-authoring API: parameters with units/bounds, import paths, drug models, and the
fast backends running a user model or refusing it with the missing operation named."""

from __future__ import annotations

import math
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import ArrayLike, Float

from tumorimmune import simulate
from tumorimmune.model import (
    DrugModel,
    Kuznetsov1994,
    Model,
    Regimen,
    TumorImmunePD1,
    get_model,
    is_drug_model,
    parameter,
)


class Decay(Model):
    """Two independent decays written with a reduction (``jnp.sum``) — not elementwise."""

    k: Float[ArrayLike, "*N"] = parameter(0.1, unit="1/day", bounds=(0.0, 5.0))
    state_names: ClassVar[tuple[str, ...]] = ("X", "Y")
    tumor_state: ClassVar[str | None] = "X"

    def vector_field(self, t, y, args=None):
        total = jnp.sum(y)  # reduce_sum: the pallas kernel cannot evaluate it
        return -jnp.asarray(self.k) * y * total / total


class ReshapedDecay(Model):
    """dX/dt = −k·X, dY/dt = −2k·Y, assembled with reshape + concatenate."""

    k: Float[ArrayLike, "*N"] = parameter(0.1, unit="1/day")
    state_names: ClassVar[tuple[str, ...]] = ("X", "Y")
    tumor_state: ClassVar[str | None] = "X"

    def vector_field(self, t, y, args=None):
        dx = jnp.reshape(-jnp.asarray(self.k) * y[0], (1,))
        return jnp.concatenate([dx, jnp.atleast_1d(-2.0 * self.k * y[1])])


class OneCompartmentDrug(DrugModel):
    """A drug amount D (mg) cleared at rate ``ke``; a tumor killed in proportion to D."""

    ke: Float[ArrayLike, "*N"] = parameter(0.2, unit="1/day")
    kill: Float[ArrayLike, "*N"] = parameter(1e-3, unit="1/(mg·day)")
    state_names: ClassVar[tuple[str, ...]] = ("T", "D")
    dosing_compartment: ClassVar[str] = "D"
    effector_state: ClassVar[str | None] = None

    def vector_field(self, t, y, args=None):
        return jnp.stack([-jnp.asarray(self.kill) * y[1] * y[0], -jnp.asarray(self.ke) * y[1]])


def test_parameter_declares_units_and_bounds():
    assert Decay.parameter_units() == {"k": "1/day"}
    assert Decay.bounds("k") == (0.0, 5.0)
    assert Kuznetsov1994.bounds("a") == (0.0, math.inf)
    with pytest.raises(ValueError, match=r"parameter 'k' of Decay must be finite and in \[0.0, 5"):
        Decay(k=6.0).validate()
    with pytest.raises(ValueError, match="low <= high"):
        parameter(1.0, bounds=(2.0, 1.0))


def test_get_model_by_import_path_and_errors():
    assert get_model(f"{__name__}:Decay") is Decay
    assert get_model("tumorimmune.model:Kuznetsov1994") is Kuznetsov1994
    assert get_model("depillis2005").__name__ == "DePillis2005"
    with pytest.raises(ValueError, match="cannot import module 'nowhere_xyz'"):
        get_model("nowhere_xyz:Model")
    with pytest.raises(ValueError, match="has no attribute 'Missing'"):
        get_model(f"{__name__}:Missing")
    with pytest.raises(ValueError, match="is not a tumorimmune Model subclass"):
        get_model(f"{__name__}:parameter")
    with pytest.raises(ValueError, match="known models: Kuznetsov1994, TumorImmunePD1"):
        get_model("Kuznetsov")


def test_unsupported_primitive_runs_in_fused_and_is_refused_by_pallas():
    model = Decay(k=np.array([0.1, 0.3]))
    t = np.array([0.0, 5.0, 10.0])
    y0 = {"X": 2.0, "Y": 3.0}
    exact = np.exp(-np.array([0.1, 0.3])[:, None] * t)
    for backend in ("diffrax", "fused"):
        ds = simulate(model, y0, t, backend=backend, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ds["X"].values, 2.0 * exact, rtol=1e-7)
    with pytest.raises(NotImplementedError, match=r"cannot run Decay.*'reduce_sum'.*'fused'"):
        simulate(model, y0, t, backend="pallas")


def test_pallas_evaluates_scalar_reshape_as_one_state():
    # before the fix, a scalar reshaped to (1,) was concatenated as the rows of its block
    model = ReshapedDecay(k=np.array([0.1, 0.2]))
    t = np.array([0.0, 3.0])
    ds = simulate(model, {"X": 1.0, "Y": 1.0}, t, backend="pallas", rtol=1e-10, atol=1e-12)
    k = np.array([0.1, 0.2])
    np.testing.assert_allclose(ds["X"].values[:, -1], np.exp(-3 * k), rtol=1e-7)
    np.testing.assert_allclose(ds["Y"].values[:, -1], np.exp(-6 * k), rtol=1e-7)


def test_drug_model_receives_regimen_boluses():
    assert is_drug_model(OneCompartmentDrug) and is_drug_model(TumorImmunePD1)
    assert not is_drug_model(Kuznetsov1994) and OneCompartmentDrug.dosing_state == 1
    m = OneCompartmentDrug.with_drug("pembrolizumab", ke=0.1)  # PK not in the model: ignored
    reg = Regimen(dose=2.0, unit="mg/kg", interval=7.0)
    t = np.array([0.0, 3.0, 7.0, 10.0])
    ds = simulate(m, {"T": 1e6}, t, regimen=reg, backend="diffrax", rtol=1e-10, atol=1e-9)
    dose = 2.0 * 70.0  # mg/kg × default weight
    D = dose * np.exp(-0.1 * np.array([0.0, 3.0, 7.0]))  # pre-dose values at day 0 and 7
    np.testing.assert_allclose(ds["D"].values[1:3], D[1:], rtol=1e-8)
    np.testing.assert_allclose(ds["D"].values[3], (D[2] + dose) * np.exp(-0.3), rtol=1e-8)


def test_drug_model_needs_a_real_compartment():
    with pytest.raises(TypeError, match="dosing_compartment = 'Z' is not a state"):

        class Bad(DrugModel):  # pyright: ignore[reportUnusedClass]
            state_names: ClassVar[tuple[str, ...]] = ("T",)
            dosing_compartment: ClassVar[str] = "Z"


def test_gradient_through_a_published_model_matches_closed_form():
    import jax

    from tumorimmune.model import ClaretTGI
    from tumorimmune.solvers import solve_patient

    t = jnp.array([0.0, 100.0])

    def final_sld(kd):
        m = ClaretTGI(KL=0.004, KD=kd, lam=0.02, exposure=1.0)
        ys, _, _ = solve_patient(m, jnp.array([60.0]), t, jnp.array([0.0]), jnp.array([100.0]),
                                 jnp.array([0.0]), rtol=1e-10, atol=1e-10)  # fmt: skip
        return ys[-1, 0]

    with jax.enable_x64(True):
        g = float(jax.grad(final_sld)(jnp.asarray(0.03)))
    # d/dK_D of Y0·exp(K_L t − K_D (1 − e^{−λt})/λ) = −Y(t)·(1 − e^{−λt})/λ
    w = (1 - np.exp(-0.02 * 100.0)) / 0.02
    exact = -60.0 * np.exp(0.004 * 100.0 - 0.03 * w) * w
    np.testing.assert_allclose(g, exact, rtol=1e-6)

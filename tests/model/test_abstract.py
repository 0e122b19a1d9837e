"""Explicit model capabilities: equinox's abstract/final pattern for models.

Abstract classes (named ``Abstract...``) declare what a model must define; concrete models are
final; "accepts a regimen" is ``isinstance(model, AbstractDrugModel)``, never duck typing.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import ArrayLike, Real

from tumorimmune import simulate
from tumorimmune.model import (
    NIVOLUMAB,
    AbstractDrugModel,
    AbstractKuznetsov,
    AbstractModel,
    ClaretTGI,
    DePillis2005,
    DrugModel,
    Kuznetsov1994,
    Model,
    Nikolopoulou2018,
    Regimen,
    TumorImmunePD1,
    get_model,
    individual_pk,
    is_drug_model,
    parameter,
)

BUILTIN = (Kuznetsov1994, TumorImmunePD1, DePillis2005, Nikolopoulou2018, ClaretTGI)


class Growth(Model):
    """dT/dt = r·T."""

    r: Real[ArrayLike, "*#N"] = parameter(0.1, unit="1/day")
    state_names: ClassVar[tuple[str, ...]] = ("T",)

    def vector_field(self, t, y, args=None):
        return jnp.asarray(self.r) * y


class PKDrug(DrugModel):
    """One-compartment antibody (fields named as the drug presets' PK) killing a tumor."""

    CL: Real[ArrayLike, "*#N"] = parameter(0.2, unit="L/day")
    V1: Real[ArrayLike, "*#N"] = parameter(3.0, unit="L")
    kill: Real[ArrayLike, "*#N"] = parameter(1e-3, unit="1/(µg/mL·day)")
    state_names: ClassVar[tuple[str, ...]] = ("T", "A")
    dosing_compartment: ClassVar[str] = "A"
    effector_state: ClassVar[str | None] = None

    def vector_field(self, t, y, args=None):
        C = y[1] / jnp.asarray(self.V1)
        k = jnp.asarray(self.CL) / jnp.asarray(self.V1)
        return jnp.stack([-jnp.asarray(self.kill) * C * y[0], -k * y[1]])


@pytest.mark.parametrize("cls", [*BUILTIN, Growth, PKDrug], ids=lambda c: c.__name__)
def test_concrete_models_are_final(cls):
    with pytest.raises(TypeError, match=f"cannot subclass {cls.__name__}: concrete models are"):

        class Tweaked(cls):  # pyright: ignore[reportUnusedClass]
            pass


def test_pd1_shares_kuznetsov_through_an_abstract_base():
    assert not issubclass(TumorImmunePD1, Kuznetsov1994)
    assert issubclass(TumorImmunePD1, AbstractKuznetsov) and issubclass(
        Kuznetsov1994, AbstractKuznetsov
    )
    # the E–T fields and their defaults are declared once, for both
    assert TumorImmunePD1.parameter_names()[:8] == Kuznetsov1994.parameter_names()
    for name in Kuznetsov1994.parameter_names():
        assert getattr(TumorImmunePD1(), name) == getattr(Kuznetsov1994(), name)


def test_model_without_vector_field_is_refused_at_class_creation():
    with pytest.raises(TypeError, match=r"model NoField must define vector_field\(self, t, y"):

        class NoField(Model):  # pyright: ignore[reportUnusedClass]
            k: Real[ArrayLike, "*#N"] = 0.1
            state_names: ClassVar[tuple[str, ...]] = ("T",)

    with pytest.raises(TypeError, match="model NoStates must define state_names"):

        class NoStates(Model):  # pyright: ignore[reportUnusedClass]
            def vector_field(self, t, y, args=None):
                return -y

    with pytest.raises(TypeError, match="model NoDose must define dosing_compartment"):

        class NoDose(DrugModel):  # pyright: ignore[reportUnusedClass]
            state_names: ClassVar[tuple[str, ...]] = ("T",)

            def vector_field(self, t, y, args=None):
                return -y


def test_abstract_bases_may_be_partial_but_not_instantiated():
    class AbstractDecay(AbstractModel):
        k: Real[ArrayLike, "*#N"] = 0.1

        def vector_field(self, t, y, args=None):
            return -jnp.asarray(self.k) * y

    class Decay1(AbstractDecay):
        state_names: ClassVar[tuple[str, ...]] = ("X",)

    assert float(Decay1(k=0.5).vector_field(0.0, jnp.array([2.0]), None)[0]) == -1.0
    with pytest.raises(ValueError, match="is an abstract base class; name a concrete model"):
        get_model("tumorimmune.model:AbstractKuznetsov")
    for abstract in (AbstractModel, AbstractDrugModel, AbstractKuznetsov, AbstractDecay):
        with pytest.raises(TypeError, match="abstract"):
            abstract()  # pyright: ignore[reportAbstractUsage]


def test_is_drug_model_is_an_isinstance_check():
    class Lookalike(Model):
        """Has the old duck-typed marks of a drug model, but is not an AbstractDrugModel."""

        state_names: ClassVar[tuple[str, ...]] = ("T", "D")
        dosing_state: ClassVar[int] = 1

        @classmethod
        def with_drug(cls, drug="pembrolizumab", **params):
            return cls()

        def vector_field(self, t, y, args=None):
            return -y

    assert not is_drug_model(Lookalike) and not is_drug_model(Lookalike())
    with pytest.raises(ValueError, match="regimen given but Lookalike has no drug compartment"):
        t = np.array([0.0, 7.0])
        simulate(Lookalike(), {"T": 1.0, "D": 0.0}, t, regimen="pembrolizumab_200mg_q3w")
    for cls in BUILTIN:
        assert is_drug_model(cls) == issubclass(cls, AbstractDrugModel) == (cls is TumorImmunePD1)
        assert is_drug_model(cls()) == isinstance(cls(), AbstractDrugModel)
    assert DrugModel is AbstractDrugModel and Model is AbstractModel


def test_with_drug_has_one_signature_for_every_drug_model():
    # the sweep engine calls cls.with_drug(drug, weight=..., iiv_z=..., **params) for any
    # drug model; a user model receives the PK fields it has (individual PK of the patient)
    w = np.array([60.0, 90.0])
    z = {"CL": np.array([0.0, 1.0])}
    m = PKDrug.with_drug("nivolumab", weight=w, iiv_z=z, kill=2e-3)
    pk = individual_pk(NIVOLUMAB, weight=w, iiv_z=z)
    np.testing.assert_allclose(m.CL, pk["CL"], rtol=1e-15)
    np.testing.assert_allclose(m.V1, pk["V1"], rtol=1e-15)
    np.testing.assert_array_equal(m.weight, w)
    assert m.drug == "nivolumab" and m.kill == 2e-3 and PKDrug.dosing_state == 1
    p = TumorImmunePD1.with_drug("nivolumab", weight=w, iiv_z=z)
    np.testing.assert_allclose(p.CL, m.CL, rtol=1e-15)  # the same PK function for both
    # the drug the model holds is checked against the regimen's drug
    reg = Regimen(dose=3.0, unit="mg/kg", interval=14.0, drug="pembrolizumab")
    with pytest.raises(ValueError, match=r"regimen\.drug='pembrolizumab' but the model holds"):
        simulate(m, {"T": 1e6}, np.array([0.0, 14.0]), regimen=reg)


def test_sweep_spec_checks_bounds_declared_with_parameter():
    from tumorimmune.sweeps import validate_spec

    spec = {
        "name": "bounds",
        "model": "DePillis2005",
        "follow_up_days": 84,
        "scan_interval_days": 42,
        "parameters": {"lam": 20.0},  # parameter(2.09, bounds=(1e-6, 10.0))
        "initial": {"E0": 1e5, "T0": 1e7},
        "sampling": {"cohort_size": 4},
        "arms": [{"name": "control"}],
    }
    with pytest.raises(ValueError, match=r"parameters\.lam: 20(\.0)? is outside the bounds"):
        validate_spec(spec)

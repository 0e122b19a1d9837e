"""Claret et al. (2009) tumor growth inhibition (TGI) model for tumor-size data."""

from __future__ import annotations

import math
from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from ._base import Model, nonneg, parameter

#: Cell density used to convert the sum of longest diameters to cells (the sweeps' default
#: ``response.cells_per_cm3``): a sphere of diameter SLD holding 1e9 cells per cm³.
CELLS_PER_CM3 = 1e9


class ClaretTGI(Model):
    r"""Tumor growth inhibition model of Claret et al. (2009, *J Clin Oncol* 27:4103).

    .. math::
        dY/dt = K_L\,Y - K_D\,e^{-\lambda t}\,E\,Y

    ``Y`` (state ``"SLD"``) is the sum of longest diameters (mm), ``K_L`` the tumor growth
    rate, ``K_D`` the drug-induced decay rate per unit exposure, ``λ`` the rate at which
    resistance develops (time measured from the start of treatment) and ``E`` the drug
    exposure, constant here (e.g. 1 on treatment, 0 off; a daily dose or AUC in Claret's
    capecitabine fits). Closed form, the test oracle::

        Y(t) = Y0 · exp(K_L·t − K_D·E·(1 − e^{−λt})/λ)

    Defaults are **illustrative** (tumor-size half-life of about 2 months on treatment,
    regrowth after about 5 months), meant to be fitted to tumor-size data. For the sweeps
    the SLD is read as the diameter of one sphere at :data:`CELLS_PER_CM3`, so that the
    sweeps' diameters (``response.cells_per_cm3 = 1e9``) equal the SLD.
    """

    KL: Real[ArrayLike, "*#N"] = parameter(0.003, unit="1/day", description="growth rate")
    KD: Real[ArrayLike, "*#N"] = parameter(
        0.02, unit="1/(day·exposure)", description="drug-induced decay rate"
    )
    lam: Real[ArrayLike, "*#N"] = parameter(
        0.01, unit="1/day", bounds=(1e-12, math.inf), description="resistance rate λ"
    )
    exposure: Real[ArrayLike, "*#N"] = parameter(1.0, unit="exposure", description="E")

    state_names: ClassVar[tuple[str, ...]] = ("SLD",)
    state_units: ClassVar[dict[str, str]] = {"SLD": "mm"}
    tumor_state: ClassVar[str | None] = "SLD"
    effector_state: ClassVar[str | None] = None

    def tumor_cells(self, x):
        """Cells of a sphere of diameter ``x`` mm at :data:`CELLS_PER_CM3`."""
        return CELLS_PER_CM3 * (math.pi / 6.0) * (x / 10.0) ** 3

    def tumor_size(self, cells):
        """Diameter (mm) of a sphere of ``cells`` cells at :data:`CELLS_PER_CM3`."""
        return 10.0 * (6.0 * cells / (math.pi * CELLS_PER_CM3)) ** (1.0 / 3.0)

    def closed_form(self, t: ArrayLike, y0: ArrayLike) -> Array:
        """``Y(t)`` from ``Y(0) = y0`` (mm), exact."""
        t = jnp.asarray(t)
        decay = self.KD * self.exposure * (1.0 - jnp.exp(-(self.lam * t))) / self.lam
        return jnp.asarray(y0 * jnp.exp(self.KL * t - decay))

    def vector_field(
        self, t: Real[ArrayLike, ""], y: Float[Array, " 1"], args: object = None
    ) -> Float[Array, " 1"]:
        Y = nonneg(y[0])
        kill = self.KD * jnp.exp(-jnp.asarray(self.lam * t)) * self.exposure
        dY = self.KL * Y - kill * Y
        return jnp.stack([dY])

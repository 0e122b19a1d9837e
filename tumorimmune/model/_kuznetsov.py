"""Kuznetsov, Makalkin, Taylor & Perelson (1994) effector–tumor model.

Reference: V. A. Kuznetsov, I. A. Makalkin, M. A. Taylor, A. S. Perelson, "Nonlinear dynamics of
immunogenic tumors: parameter estimation and global bifurcation analysis", Bull. Math. Biol.
56:295–321 (1994); BioModels BIOMD0000000762. Values: ``docs/science.md`` §1.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from ._base import AbstractModel, nonneg


class AbstractKuznetsov(AbstractModel):
    """Abstract base of the models built on Kuznetsov et al. (1994): the eight E–T fields
    (defaults: the published values, see :class:`Kuznetsov1994`) and their rates.

    Shared by :class:`Kuznetsov1994` and :class:`~tumorimmune.model.TumorImmunePD1`, which
    define ``state_names`` and ``vector_field``.
    """

    s: Real[ArrayLike, "*#N"] = 1.3e4
    p: Real[ArrayLike, "*#N"] = 0.1245
    g: Real[ArrayLike, "*#N"] = 2.019e7
    m: Real[ArrayLike, "*#N"] = 3.422e-10
    d: Real[ArrayLike, "*#N"] = 0.0412
    a: Real[ArrayLike, "*#N"] = 0.18
    b: Real[ArrayLike, "*#N"] = 2.0e-9
    n: Real[ArrayLike, "*#N"] = 1.101e-7

    def carrying_capacity(self) -> np.ndarray:
        """Tumor carrying capacity ``1/b`` (cells), as NumPy float64."""
        return np.asarray(1.0 / np.asarray(self.b, dtype=float))

    def rates(
        self, E: Float[Array, ""], T: Float[Array, ""], n: ArrayLike, m: ArrayLike
    ) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """dE/dt and dT/dt for per-encounter rates ``n``, ``m`` (one patient, cells/day)."""
        dE = self.s + self.p * E * T / (self.g + T) - m * E * T - self.d * E
        dT = self.a * T * (1.0 - self.b * T) - n * E * T
        return jnp.asarray(dE), jnp.asarray(dT)


class Kuznetsov1994(AbstractKuznetsov):
    r"""Effector (E) – tumor (T) model of Kuznetsov et al. (1994), dimensional (cells, days).

    .. math::
        dE/dt = s + p E T/(g + T) - m E T - d E, \qquad dT/dt = a T (1 - b T) - n E T

    States ``("E", "T")`` in cells. Defaults are the published BCL1-lymphoma values (mouse):

    ========  ============  ===============  ==============================================
    field     default       unit             meaning
    ========  ============  ===============  ==============================================
    ``s``     1.3e4         cells/day        normal effector influx
    ``p``     0.1245        1/day            maximal tumor-induced effector recruitment
    ``g``     2.019e7       cells            tumor size of half-maximal recruitment
    ``m``     3.422e-10     1/(cell·day)     effector inactivation per tumor encounter
    ``d``     0.0412        1/day            effector death rate
    ``a``     0.18          1/day            maximal tumor growth rate
    ``b``     2.0e-9        1/cell           inverse carrying capacity (1/b = 5e8 cells)
    ``n``     1.101e-7      1/(cell·day)     tumor kill per effector encounter
    ========  ============  ===============  ==============================================

    Each field may be a scalar or a 1-D array of per-patient values. Final: models built on
    it derive from :class:`AbstractKuznetsov`.
    """

    state_names: ClassVar[tuple[str, ...]] = ("E", "T")
    state_units: ClassVar[dict[str, str]] = {"E": "cells", "T": "cells"}

    def vector_field(
        self, t: Real[ArrayLike, ""], y: Float[Array, " 2"], args: object = None
    ) -> Float[Array, " 2"]:
        """Right-hand side for one patient; negative round-off in ``y`` is clipped to 0."""
        E = nonneg(y[0])
        T = nonneg(y[1])
        dE, dT = self.rates(E, T, self.n, self.m)
        return jnp.stack([dE, dT])

    # ------------------------------------------------------------ nondimensional form
    @classmethod
    def from_nondimensional(
        cls,
        *,
        sigma: float,
        rho: float,
        eta: float,
        mu: float,
        delta: float,
        alpha: float,
        beta: float,
        n: float = 1.101e-7,
        E0: float = 1e6,
        T0: float = 1e6,
    ) -> Kuznetsov1994:
        """Dimensional model from the nondimensional parameters (inverse of ``nondimensional``).

        ``n`` (1/(cell·day)) fixes the time scale τ = n·T0·t; E0, T0 are the cell scales.
        """
        k = n * T0
        return cls(
            s=sigma * k * E0,
            p=rho * k,
            g=eta * T0,
            m=mu * n,
            d=delta * k,
            a=alpha * k,
            b=beta / T0,
            n=n,
        )

    def nondimensional(self, E0: float = 1e6, T0: float = 1e6) -> dict[str, Array]:
        """Nondimensional parameters (σ, ρ, η, μ, δ, α, β) with scales E0, T0 (cells).

        Time scale τ = n·T0·t. With the defaults: σ=0.1181, ρ=1.131, η=20.19, μ=0.00311,
        δ=0.3743, α=1.636, β=2e-3 (docs/science.md §1).
        """
        k = jnp.asarray(self.n) * T0
        return {
            "sigma": jnp.asarray(self.s) / (k * E0),
            "rho": jnp.asarray(self.p) / k,
            "eta": jnp.asarray(self.g) / T0,
            "mu": jnp.asarray(self.m) / jnp.asarray(self.n),
            "delta": jnp.asarray(self.d) / k,
            "alpha": jnp.asarray(self.a) / k,
            "beta": jnp.asarray(self.b) * T0,
        }

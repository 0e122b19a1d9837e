"""de Pillis, Radunskaya & Wiseman (2005): tumor, NK and CD8⁺ T cells (docs/models.md)."""

from __future__ import annotations

import math
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from ._base import Model, nonneg, parameter


class DePillis2005(Model):
    r"""Cell-mediated immune response to tumor growth (de Pillis et al. 2005, *Cancer Res*
    65:7950; BioModels MODEL1907260001).

    .. math::
        dT/dt &= aT(1 - bT) - cNT - DT, \qquad
        DT = d\,\frac{(L/T)^\lambda}{s + (L/T)^\lambda}\,T \\
        dN/dt &= \sigma - fN + \frac{gT^2}{h + T^2}N - pNT \\
        dL/dt &= -mL + j\frac{(DT)^2}{k + (DT)^2}L - qLT + rNT

    States ``("T", "N", "L")``: tumor cells, NK cells, tumor-specific CD8⁺ T cells (cells).
    Defaults: the **human** parameter set (patient 9 of Dudley et al. 2002, fitted in de Pillis
    et al. 2005; values as tabulated again in de Pillis et al. 2006, *J Theor Biol* 238:841,
    Table 1). ``DT`` is evaluated as ``d·L^λ·T/(s·T^λ + L^λ)`` (0 when ``L = 0``).
    """

    a: Real[ArrayLike, "*#N"] = parameter(4.31e-1, unit="1/day", description="tumor growth rate")
    b: Real[ArrayLike, "*#N"] = parameter(
        1.02e-9, unit="1/cell", bounds=(1e-30, math.inf), description="inverse capacity"
    )
    c: Real[ArrayLike, "*#N"] = parameter(
        6.41e-11, unit="1/(cell·day)", description="NK kill of tumor"
    )
    d: Real[ArrayLike, "*#N"] = parameter(2.34, unit="1/day", description="max CD8⁺ kill")
    lam: Real[ArrayLike, "*#N"] = parameter(
        2.09, unit="1", bounds=(1e-6, 10.0), description="CD8⁺ kill exponent λ"
    )
    s: Real[ArrayLike, "*#N"] = parameter(
        8.39e-2, unit="1", bounds=(1e-30, math.inf), description="(L/T)^λ of half-max kill"
    )
    sigma: Real[ArrayLike, "*#N"] = parameter(1.3e4, unit="cells/day", description="NK source")
    f: Real[ArrayLike, "*#N"] = parameter(4.12e-2, unit="1/day", description="NK death rate")
    g: Real[ArrayLike, "*#N"] = parameter(1.25e-2, unit="1/day", description="NK recruitment")
    h: Real[ArrayLike, "*#N"] = parameter(2.02e7, unit="cells²", description="NK recruit. T²")
    p: Real[ArrayLike, "*#N"] = parameter(
        3.42e-6, unit="1/(cell·day)", description="NK inactivation by tumor"
    )
    m: Real[ArrayLike, "*#N"] = parameter(2.04e-1, unit="1/day", description="CD8⁺ death rate")
    j: Real[ArrayLike, "*#N"] = parameter(2.49e-2, unit="1/day", description="CD8⁺ recruitment")
    k: Real[ArrayLike, "*#N"] = parameter(3.66e7, unit="cells²", description="CD8⁺ recruit. half")
    q: Real[ArrayLike, "*#N"] = parameter(
        1.42e-6, unit="1/(cell·day)", description="CD8⁺ inactivation by tumor"
    )
    r: Real[ArrayLike, "*#N"] = parameter(
        1.1e-7, unit="1/(cell·day)", description="CD8⁺ activation by NK-lysed tumor"
    )

    state_names: ClassVar[tuple[str, ...]] = ("T", "N", "L")
    state_units: ClassVar[dict[str, str]] = {"T": "cells", "N": "cells", "L": "cells"}
    effector_state: ClassVar[str | None] = "L"
    #: NK cells start near their tumor-free level σ/f ≈ 3.2e5 unless given.
    initial_state: ClassVar[dict[str, float]] = {"N": 3.2e5}

    def carrying_capacity(self) -> np.ndarray:
        """Tumor carrying capacity ``1/b`` (cells)."""
        return 1.0 / np.asarray(self.b, dtype=float)

    def cd8_kill(self, T: Array, L: Array) -> Array:
        """CD8⁺ kill ``D·T`` (cells/day), ``d·L^λ·T/(s·T^λ + L^λ)``; 0 when ``L = 0``."""
        Ll = jnp.where(L > 0, L, 1.0) ** self.lam
        Tl = jnp.where(T > 0, T, 0.0) ** self.lam
        return jnp.where(L > 0, self.d * Ll * T / (self.s * Tl + Ll), 0.0)

    def nk_equilibrium(self) -> Array:
        """NK level of the tumor-free equilibrium, ``σ/f`` (cells)."""
        return jnp.asarray(self.sigma / self.f)

    def vector_field(
        self, t: Real[ArrayLike, ""], y: Float[Array, " 3"], args: object = None
    ) -> Float[Array, " 3"]:
        T = nonneg(y[0])
        N = nonneg(y[1])
        L = nonneg(y[2])
        DT = self.cd8_kill(T, L)
        dT = self.a * T * (1.0 - self.b * T) - self.c * N * T - DT
        dN = self.sigma - self.f * N + self.g * T**2 / (self.h + T**2) * N - self.p * N * T
        dL = -(self.m * L) + self.j * DT**2 / (self.k + DT**2) * L - self.q * L * T + self.r * N * T
        return jnp.stack([dT, dN, dL])

"""Nikolopoulou et al. (2018): tumor–T cell dynamics with PD-1/PD-L1 and anti-PD-1."""

from __future__ import annotations

import math
from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from ._base import Model, nonneg, parameter

#: Cells per unit of the cancer-cell state ``C`` and the T-cell state ``Tc`` (g/cm³) for the
#: sweeps' readouts and ``E0``/``T0`` (given in cells): 1 g ≈ 1e9 cells, in a reference volume
#: of 1 cm³ (an **assumption** of this project; docs/models.md).
CELLS_PER_UNIT = 1e9


class Nikolopoulou2018(Model):
    r"""Tumour–immune dynamics with an immune checkpoint inhibitor (Nikolopoulou, Johnson,
    Harris, Nagy, Stites & Kuang 2018, *Lett. Biomath.* 5:S137; BioModels MODEL1908270001).

    .. math::
        dC/dt &= \lambda_C C (1 - C/C_K) - \eta T C \\
        dT/dt &= \Big(\lambda_{TI_{12}} T_N \frac{I_{12}}{K_{I_{12}} + I_{12}}
                 + \lambda_{TI_2} T \frac{I_2}{K_{I_2} + I_2}\Big)
                 \frac{1}{1 + Q/K_{TQ}} - d_T T \\
        dA/dt &= \gamma_A - \mu_{PA} P A - d_A A

    with PD-1 ``P = (ρ_P − γA)·T``, PD-L1 ``L = ρ_L (T + ε_C C)`` and the PD-1/PD-L1 complex
    at quasi-steady state ``Q = σ·P·L`` (the BioModels encoding). States ``("C", "Tc", "A")``:
    cancer cells and activated T cells (densities, g/cm³ as in the paper's Friedman-type
    units) and anti-PD-1 (g/cm³). ``gamma_A`` is the continuous anti-PD-1 input (0: untreated;
    the paper's treatment scenarios switch it on). Defaults: the paper's values as encoded in
    MODEL1908270001. The tumor-free equilibrium ``(0, T₀*)`` is stable iff
    ``λ_C < η·T₀*`` (tested in ``tests/model/test_published.py``).
    """

    lambda_C: Real[ArrayLike, "*#N"] = parameter(0.425, unit="1/day", description="growth")
    C_K: Real[ArrayLike, "*#N"] = parameter(
        0.8725, unit="g/cm³", bounds=(1e-30, math.inf), description="cancer capacity"
    )
    eta: Real[ArrayLike, "*#N"] = parameter(57.5, unit="cm³/(g·day)", description="T-cell kill")
    lambda_TI_12: Real[ArrayLike, "*#N"] = parameter(
        8.81, unit="1/day", description="T-cell activation by IL-12"
    )
    T_N: Real[ArrayLike, "*#N"] = parameter(6e-4, unit="g/cm³", description="naive T cells")
    I_12: Real[ArrayLike, "*#N"] = parameter(1.5e-10, unit="g/cm³", description="IL-12")
    K_I_12: Real[ArrayLike, "*#N"] = parameter(1.5e-10, unit="g/cm³", description="IL-12 half")
    lambda_TI_2: Real[ArrayLike, "*#N"] = parameter(
        0.5, unit="1/day", description="T-cell proliferation by IL-2"
    )
    I_2: Real[ArrayLike, "*#N"] = parameter(2.37e-11, unit="g/cm³", description="IL-2")
    K_I_2: Real[ArrayLike, "*#N"] = parameter(2.37e-11, unit="g/cm³", description="IL-2 half")
    K_TQ: Real[ArrayLike, "*#N"] = parameter(
        1.365e-18, unit="(g/cm³)²", bounds=(1e-300, math.inf), description="Q inhibition"
    )
    rho_L: Real[ArrayLike, "*#N"] = parameter(1.1615e-6, unit="1", description="PD-L1/cell")
    rho_P: Real[ArrayLike, "*#N"] = parameter(5.84e-7, unit="1", description="PD-1 per T cell")
    epsilon_C: Real[ArrayLike, "*#N"] = parameter(50.5, unit="1", description="PD-L1 on C")
    d_T: Real[ArrayLike, "*#N"] = parameter(0.025, unit="1/day", description="T-cell death")
    mu_PA: Real[ArrayLike, "*#N"] = parameter(
        1.05954e8, unit="cm³/(g·day)", description="anti-PD-1 used by PD-1 blocking"
    )
    gamma_A: Real[ArrayLike, "*#N"] = parameter(
        0.0, unit="g/(cm³·day)", description="anti-PD-1 input"
    )
    d_A: Real[ArrayLike, "*#N"] = parameter(0.7115, unit="1/day", description="anti-PD-1 decay")
    gamma: Real[ArrayLike, "*#N"] = parameter(10.0, unit="cm³/g", description="PD-1 blocking")
    sigma: Real[ArrayLike, "*#N"] = parameter(0.002, unit="cm³/g", description="P-L binding")

    state_names: ClassVar[tuple[str, ...]] = ("C", "Tc", "A")
    state_units: ClassVar[dict[str, str]] = {"C": "g/cm³", "Tc": "g/cm³", "A": "g/cm³"}
    observable_units: ClassVar[dict[str, str]] = {"Q": "(g/cm³)²"}
    initial_state: ClassVar[dict[str, float]] = {"A": 0.0}
    tumor_state: ClassVar[str | None] = "C"
    effector_state: ClassVar[str | None] = "Tc"

    def tumor_cells(self, x):
        return x * CELLS_PER_UNIT

    def tumor_size(self, cells):
        return cells / CELLS_PER_UNIT

    def effector_size(self, cells):
        """T-cell density (g/cm³) of ``cells`` T cells (:data:`CELLS_PER_UNIT` per g/cm³):
        the default ``E0 = 3.2e5`` cells is 3.2e-4 g/cm³, next to the naive density ``T_N``
        6e-4 and the BioModels initial value 0.006 g/cm³ (6e6 cells)."""
        return cells / CELLS_PER_UNIT

    def carrying_capacity(self):
        """``C_K`` in cells (:data:`CELLS_PER_UNIT` per g/cm³)."""
        import numpy as np

        return np.asarray(self.C_K, dtype=float) * CELLS_PER_UNIT

    def complex(self, C: Array, T: Array, A: Array) -> Array:
        """PD-1/PD-L1 complex ``Q = σ·(ρ_P − γA)·T·ρ_L·(T + ε_C·C)``."""
        P = (self.rho_P - self.gamma * A) * T
        return jnp.asarray(self.sigma * P * self.rho_L * (T + self.epsilon_C * C))

    def vector_field(
        self, t: Real[ArrayLike, ""], y: Float[Array, " 3"], args: object = None
    ) -> Float[Array, " 3"]:
        C = nonneg(y[0])
        T = nonneg(y[1])
        A = nonneg(y[2])
        Q = self.complex(C, T, A)
        inhibit = 1.0 / (1.0 + Q / self.K_TQ)
        act12 = self.lambda_TI_12 * self.T_N * self.I_12 / (self.K_I_12 + self.I_12)
        act2 = self.lambda_TI_2 * T * self.I_2 / (self.K_I_2 + self.I_2)
        dC = self.lambda_C * C * (1.0 - C / self.C_K) - self.eta * T * C
        dT = (act12 + act2) * inhibit - self.d_T * T
        dA = self.gamma_A - self.mu_PA * (self.rho_P - self.gamma * A) * T * A - self.d_A * A
        return jnp.stack([dC, dT, dA])

    def observables(
        self, t: Real[ArrayLike, "*#T"], y: Float[Array, "*#T 3"]
    ) -> dict[str, Float[Array, "*#T"]]:
        return {"Q": self.complex(nonneg(y[..., 0]), nonneg(y[..., 1]), nonneg(y[..., 2]))}

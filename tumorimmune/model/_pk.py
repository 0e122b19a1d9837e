"""Two-compartment linear pharmacokinetics of anti-PD-1 antibodies (science.md §3).

Amounts ``A1`` (central) and ``A2`` (peripheral) in mg, concentration ``C = A1/V1`` in
mg/L = µg/mL::

    dA1/dt = -(CL/V1)·A1 - (Q/V1)·A1 + (Q/V2)·A2 + dosing
    dA2/dt =  (Q/V1)·A1 - (Q/V2)·A2

Nivolumab's clearance falls over time, ``CL(t) = CL·exp(Emax·t^γ/(T50^γ + t^γ))`` (Bajaj et al.
2017); the presets set ``Emax = 0`` for drugs with constant clearance.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


@dataclasses.dataclass(frozen=True)
class Drug:
    """Population-typical PK parameters of an antibody (70–80 kg adult).

    Attributes:
        name: drug name.
        CL: clearance, L/day. V1: central volume, L. Q: intercompartmental clearance, L/day.
        V2: peripheral volume, L. CL_emax, CL_T50 (days), CL_gamma: time-varying clearance
        (``Emax = 0`` means constant). source: citation.
        weight_ref: reference body weight of the covariate model, kg.
        weight_exp_cl, weight_exp_v: allometric exponents on (CL, Q) and (V1, V2).
        omega2_cl, omega2_v: inter-individual lognormal variances on (CL, Q) and (V1, V2).
    """

    name: str
    CL: float
    V1: float
    Q: float
    V2: float
    source: str
    CL_emax: float = 0.0
    CL_T50: float = 1.0
    CL_gamma: float = 1.0
    weight_ref: float = 70.0
    weight_exp_cl: float = 0.0
    weight_exp_v: float = 0.0
    omega2_cl: float = 0.0
    omega2_v: float = 0.0

    def pk_parameters(self) -> dict[str, float]:
        """The model fields this drug sets: CL, V1, Q, V2, CL_emax, CL_T50, CL_gamma."""
        return {
            "CL": self.CL,
            "V1": self.V1,
            "Q": self.Q,
            "V2": self.V2,
            "CL_emax": self.CL_emax,
            "CL_T50": self.CL_T50,
            "CL_gamma": self.CL_gamma,
        }


#: Pembrolizumab, Ahamadi et al. 2017, CPT:PSP 6:49, Table 3 (reference weight 76.8 kg).
PEMBROLIZUMAB = Drug(
    name="pembrolizumab",
    CL=0.22,
    V1=3.48,
    Q=0.795,
    V2=4.06,
    source="Ahamadi et al. 2017, CPT Pharmacometrics Syst. Pharmacol. 6:49 (Table 3)",
    weight_ref=76.8,
    weight_exp_cl=0.595,
    weight_exp_v=0.489,
    omega2_cl=0.134,
    omega2_v=0.0417,
)

#: Nivolumab, Bajaj et al. 2017, CPT:PSP 6:58 (CL 9.40e-3 L/h, Q 0.0321 L/h; time-varying CL).
NIVOLUMAB = Drug(
    name="nivolumab",
    CL=0.2256,
    V1=3.63,
    Q=0.770,
    V2=2.78,
    source="Bajaj et al. 2017, CPT Pharmacometrics Syst. Pharmacol. 6:58",
    CL_emax=-0.295,
    CL_T50=58.75,
    CL_gamma=3.15,
)

DRUGS: dict[str, Drug] = {d.name: d for d in (PEMBROLIZUMAB, NIVOLUMAB)}


def get_drug(name: str) -> Drug:
    """Look up a drug preset by (case-insensitive) name."""
    try:
        return DRUGS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown drug {name!r}; known drugs: {sorted(DRUGS)}") from None


def clearance(
    t: Float[ArrayLike, "..."],
    CL: Float[ArrayLike, "..."],
    CL_emax: Float[ArrayLike, "..."],
    CL_T50: Float[ArrayLike, "..."],
    CL_gamma: Float[ArrayLike, "..."],
) -> Float[Array, "..."]:
    """Clearance at time ``t`` (days since first dose), L/day; constant when ``CL_emax = 0``."""
    t = jnp.maximum(jnp.asarray(t), 0.0)
    if isinstance(CL_emax, (int, float)) and CL_emax == 0:  # known constant: skip pow and exp
        return jnp.asarray(CL * jnp.ones_like(t))
    tg = t**CL_gamma
    return jnp.asarray(CL * jnp.exp(CL_emax * tg / (CL_T50**CL_gamma + tg)))


def two_compartment_bolus(
    t: Float[ArrayLike, " n"],
    dose_times: Float[ArrayLike, " k"],
    doses: Float[ArrayLike, " k"],
    *,
    CL: float,
    V1: float,
    Q: float,
    V2: float,
) -> np.ndarray:
    """Closed-form central concentration (µg/mL) for repeated IV bolus doses (mg), constant CL.

    Superposes ``C(t) = Σ_k D_k [A e^{-α(t-t_k)} + B e^{-β(t-t_k)}]`` over doses given at or
    before ``t`` with ``α, β`` the roots of ``λ² - (k10 + k12 + k21) λ + k10 k21 = 0`` and
    ``A = (α - k21)/(V1 (α - β))``, ``B = (k21 - β)/(V1 (α - β))``. NumPy, float64: the test
    oracle for the ODE solution. At a dose time the post-dose value is returned.
    """
    t = np.asarray(t, dtype=float)
    k10, k12, k21 = CL / V1, Q / V1, Q / V2
    ssum = k10 + k12 + k21
    disc = np.sqrt(ssum**2 - 4 * k10 * k21)
    alpha, beta = (ssum + disc) / 2, (ssum - disc) / 2
    A = (alpha - k21) / (V1 * (alpha - beta))
    B = (k21 - beta) / (V1 * (alpha - beta))
    out = np.zeros_like(t)
    for tk, dk in zip(np.asarray(dose_times, float), np.asarray(doses, float), strict=True):
        dt = t - tk
        on = dt >= 0
        out[on] += dk * (A * np.exp(-alpha * dt[on]) + B * np.exp(-beta * dt[on]))
    return out

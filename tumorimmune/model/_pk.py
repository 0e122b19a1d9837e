"""Two-compartment linear pharmacokinetics of anti-PD-1 antibodies (docs/science.md,
"Pharmacokinetics").

Amounts ``A1`` (central) and ``A2`` (peripheral) in mg, concentration ``C = A1/V1`` in
mg/L = µg/mL::

    dA1/dt = -(CL(t)/V1)·A1 - (Q/V1)·A1 + (Q/V2)·A2 + dosing
    dA2/dt =  (Q/V1)·A1 - (Q/V2)·A2

Nivolumab's clearance falls with time since the first dose,
``CL(t) = CL·exp(Emax·t^γ/(T50^γ + t^γ))`` (Bajaj et al. 2017); the presets set ``Emax = 0``
for drugs with constant clearance.

Individual PK (:func:`individual_pk`) = typical value × body-weight power model × the
published covariate effects × ``exp(η)`` (``η`` additive on ``CL_emax``), with
``η = L·z``, ``z`` independent standard normals and ``L Lᵀ = Ω`` the published
inter-individual covariance. ``simulate`` (through :meth:`TumorImmunePD1.with_drug`) and the
sweep engine both use this one function.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Literal

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

#: Model fields a drug preset sets (the typical PK).
PK_PARAMETERS: tuple[str, ...] = ("CL", "V1", "Q", "V2", "CL_emax", "CL_T50", "CL_gamma")
#: Parameters with inter-individual variability, in the order of ``Drug.iiv_loadings``:
#: log-normal on CL, V1, Q, V2 (``P_i = P·exp(η)``), additive on CL_emax (Bajaj et al. 2017).
IIV_PARAMETERS: tuple[str, ...] = ("CL", "V1", "Q", "V2", "CL_emax")
_SCALED: tuple[str, ...] = ("CL", "V1", "Q", "V2")

#: Patient covariates understood by :func:`individual_pk` (besides ``weight``, kg), with their
#: meaning. A covariate that is not in a drug's final model has no effect on that drug.
COVARIATES: dict[str, str] = {
    "female": "sex, 1 = female, 0 = male",
    "ecog": "ECOG performance status 0-4 (the models distinguish 0 from >= 1)",
    "egfr": "estimated glomerular filtration rate, mL/min/1.73 m²",
    "asian": "1 = Asian race, 0 = other",
    "albumin": "serum albumin, g/L",
    "sld": "baseline sum of longest diameters of target lesions (RECIST), mm",
    "nsclc": "1 = non-small-cell lung cancer, 0 = melanoma or other tumor",
    "prior_ipilimumab": "1 = previously treated with ipilimumab, 0 = naive",
}
_CATEGORICAL = {"female": 1, "asian": 1, "nsclc": 1, "prior_ipilimumab": 1, "ecog": 4}


@dataclasses.dataclass(frozen=True)
class CovariateEffect:
    """Effect of one patient covariate on one PK parameter.

    ``form``: ``"power"``: factor ``(x/reference)^coef`` (continuous covariates);
    ``"exp"``: ``exp(coef)`` when ``x != reference`` else 1; ``"linear"``: ``1 + coef`` when
    ``x != reference`` else 1 (categorical covariates; ``ecog`` is 0 vs >= 1).
    """

    covariate: str
    parameter: str
    form: Literal["power", "exp", "linear"]
    coef: float
    reference: float

    def __post_init__(self) -> None:
        if self.covariate not in COVARIATES:
            raise ValueError(
                f"CovariateEffect.covariate must be one of {sorted(COVARIATES)}; "
                f"got {self.covariate!r}"
            )
        if self.parameter not in _SCALED:
            raise ValueError(
                f"CovariateEffect.parameter must be one of {list(_SCALED)}; got {self.parameter!r}"
            )
        if self.form not in ("power", "exp", "linear"):
            raise ValueError(
                f"CovariateEffect.form must be 'power', 'exp' or 'linear'; got {self.form!r}"
            )
        if self.form == "power" and not self.reference > 0:
            raise ValueError(f"a power effect needs a positive reference; got {self.reference!r}")

    def factor(self, x: Real[ArrayLike, "*#N"]) -> Float[np.ndarray, "*#N"]:
        """Multiplicative factor on the parameter for covariate values ``x`` (scalar or (N,))."""
        x = np.asarray(x, dtype=float)
        if self.form == "power":
            return np.asarray((x / self.reference) ** self.coef)
        off = np.asarray(x != self.reference, dtype=float)
        if self.form == "exp":
            return np.asarray(np.exp(self.coef * off))
        return np.asarray(1.0 + self.coef * off)


@dataclasses.dataclass(frozen=True)
class Drug:
    """Population PK model of an antibody: typical values, covariate model and variability.

    Attributes:
        name: drug name.
        CL: typical clearance of the reference patient (L/day).
        V1: typical central volume (L).
        Q: typical intercompartmental clearance (L/day).
        V2: typical peripheral volume (L).
        source: citation.
        CL_emax: maximal change of clearance,
            ``CL(t) = CL·exp(CL_emax·t^γ/(T50^γ + t^γ))`` (``0``: constant clearance).
        CL_T50: days to half the change of clearance.
        CL_gamma: Hill exponent γ of the change of clearance.
        weight_ref: body weight of the reference patient, kg.
        weight_exp: allometric exponent per parameter (``"CL"``, ``"V1"``, ``"Q"``, ``"V2"``;
            missing: 0, no weight effect): ``P = P_ref·(weight/weight_ref)^exp``.
        omega2: variance of the random effect per parameter of ``IIV_PARAMETERS`` (log scale
            for CL, V1, Q, V2; additive for CL_emax; missing: 0).
        omega_cov: covariances ``{(p, q): cov}``; a shared random effect (one η on two
            parameters) is a covariance equal to both variances.
        covariates: the other covariate effects of the final model (see
            :class:`CovariateEffect`); their references define the reference patient.
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
    weight_exp: Mapping[str, float] = dataclasses.field(default_factory=dict)
    omega2: Mapping[str, float] = dataclasses.field(default_factory=dict)
    omega_cov: Mapping[tuple[str, str], float] = dataclasses.field(default_factory=dict)
    covariates: tuple[CovariateEffect, ...] = ()

    def __post_init__(self) -> None:
        bad = sorted(set(self.weight_exp) - set(_SCALED))
        if bad:
            raise ValueError(f"Drug.weight_exp keys must be among {list(_SCALED)}; got {bad}")
        bad = sorted(set(self.omega2) - set(IIV_PARAMETERS))
        if bad:
            raise ValueError(f"Drug.omega2 keys must be among {list(IIV_PARAMETERS)}; got {bad}")
        for pair in self.omega_cov:
            if len(pair) != 2 or not set(pair) <= set(IIV_PARAMETERS):
                raise ValueError(
                    f"Drug.omega_cov keys must be pairs of {list(IIV_PARAMETERS)}; got {pair!r}"
                )
        refs: dict[str, float] = {}
        for eff in self.covariates:
            if refs.setdefault(eff.covariate, eff.reference) != eff.reference:
                raise ValueError(
                    f"Drug {self.name!r}: covariate {eff.covariate!r} has two references "
                    f"({refs[eff.covariate]} and {eff.reference})"
                )
        self.iiv_loadings()  # Ω must be a covariance matrix

    def pk_parameters(self) -> dict[str, float]:
        """Typical PK of the reference patient: the model fields of ``PK_PARAMETERS``."""
        return {k: float(getattr(self, k)) for k in PK_PARAMETERS}

    def reference_covariates(self) -> dict[str, float]:
        """The reference patient: ``weight`` (kg) and each covariate of the model."""
        return {"weight": self.weight_ref, **{e.covariate: e.reference for e in self.covariates}}

    def omega_matrix(self) -> Float[np.ndarray, "5 5"]:
        """Inter-individual covariance Ω over ``IIV_PARAMETERS``."""
        idx = {k: i for i, k in enumerate(IIV_PARAMETERS)}
        om = np.diag([float(self.omega2.get(k, 0.0)) for k in IIV_PARAMETERS])
        for (p, q), c in self.omega_cov.items():
            om[idx[p], idx[q]] = om[idx[q], idx[p]] = float(c)
        return om

    def iiv_loadings(self) -> Float[np.ndarray, "5 5"]:
        """Lower-triangular ``L`` with ``L Lᵀ = Ω``: ``η = L z`` for standard normals ``z``.

        Cholesky factorization that accepts a semi-definite Ω (shared random effects, zero
        variances): a dependent parameter gets a zero column.
        """
        om = self.omega_matrix()
        n = len(om)
        tol = 1e-12 * max(float(np.max(np.abs(om))), 1.0)
        low = np.zeros_like(om)
        for j in range(n):
            d = om[j, j] - low[j, :j] @ low[j, :j]
            if d < -tol:
                raise ValueError(f"Drug {self.name!r}: Ω is not positive semi-definite")
            low[j, j] = math.sqrt(d) if d > tol else 0.0
            for i in range(j + 1, n):
                r = om[i, j] - low[i, :j] @ low[j, :j]
                if low[j, j] > 0:
                    low[i, j] = r / low[j, j]
                elif abs(r) > tol:
                    raise ValueError(f"Drug {self.name!r}: Ω is not positive semi-definite")
        return low


#: Pembrolizumab, Ahamadi et al. 2017, CPT:PSP 6:49, Table 3. Reference patient: 76.8 kg male,
#: albumin 39.6 g/L, baseline sum of diameters 89.6 mm, eGFR 88.47 mL/min/1.73 m², melanoma,
#: ECOG 0, ipilimumab-naive. One η shared by CL and Q, one by V1 and V2.
PEMBROLIZUMAB = Drug(
    name="pembrolizumab",
    CL=0.22,
    V1=3.48,
    Q=0.795,
    V2=4.06,
    source="Ahamadi et al. 2017, CPT Pharmacometrics Syst. Pharmacol. 6:49 (Table 3)",
    weight_ref=76.8,
    weight_exp={"CL": 0.595, "Q": 0.595, "V1": 0.489, "V2": 0.489},
    omega2={"CL": 0.134, "Q": 0.134, "V1": 0.0417, "V2": 0.0417},
    omega_cov={("CL", "Q"): 0.134, ("V1", "V2"): 0.0417},
    covariates=(
        CovariateEffect("albumin", "CL", "power", -0.907, 39.6),
        CovariateEffect("sld", "CL", "power", 0.0872, 89.6),
        CovariateEffect("egfr", "CL", "power", 0.135, 88.47),
        CovariateEffect("female", "CL", "linear", -0.152, 0.0),
        CovariateEffect("nsclc", "CL", "linear", 0.145, 0.0),
        CovariateEffect("ecog", "CL", "linear", -0.0739, 0.0),  # Table 3 sign (see docs/science.md)
        CovariateEffect("prior_ipilimumab", "CL", "linear", 0.140, 0.0),
        CovariateEffect("albumin", "V1", "power", -0.208, 39.6),
        CovariateEffect("female", "V1", "linear", -0.134, 0.0),
        CovariateEffect("prior_ipilimumab", "V1", "linear", 0.0736, 0.0),
    ),
)

#: Nivolumab, Bajaj et al. 2017, CPT:PSP 6:58, Table 1 (CL 9.40 mL/h, Q 32.1 mL/h, T50
#: 1.41e3 h converted to days). Reference patient: white female, 80 kg, eGFR 90 mL/min/1.73 m²,
#: ECOG 0. Weight acts on CL and V1 only; Q has no random effect; η on Emax is additive.
NIVOLUMAB = Drug(
    name="nivolumab",
    CL=9.40e-3 * 24,
    V1=3.63,
    Q=32.1e-3 * 24,
    V2=2.78,
    source="Bajaj et al. 2017, CPT Pharmacometrics Syst. Pharmacol. 6:58 (Table 1)",
    CL_emax=-0.295,
    CL_T50=1410.0 / 24,
    CL_gamma=3.15,
    weight_ref=80.0,
    weight_exp={"CL": 0.566, "V1": 0.597},
    omega2={"CL": 0.123, "V1": 0.123, "V2": 0.258, "CL_emax": 0.0719},
    omega_cov={("CL", "V1"): 0.0432},
    covariates=(
        CovariateEffect("egfr", "CL", "power", 0.186, 90.0),
        CovariateEffect("female", "CL", "exp", 0.165, 1.0),  # male: exp(0.165)
        CovariateEffect("ecog", "CL", "exp", 0.172, 0.0),
        CovariateEffect("asian", "CL", "exp", -0.125, 0.0),
        CovariateEffect("female", "V1", "exp", 0.152, 1.0),
    ),
)

DRUGS: dict[str, Drug] = {d.name: d for d in (PEMBROLIZUMAB, NIVOLUMAB)}


def get_drug(name: str) -> Drug:
    """Look up a drug preset by (case-insensitive) name."""
    try:
        return DRUGS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown drug {name!r}; known drugs: {sorted(DRUGS)}") from None


def individual_pk(
    drug: Drug,
    *,
    weight: Float[ArrayLike, "*N"] | None = None,
    covariates: Mapping[str, ArrayLike] | None = None,
    iiv_z: Mapping[str, ArrayLike] | None = None,
) -> dict[str, Float[np.ndarray, "*N"] | float]:
    """Individual PK parameters of one patient or N patients (NumPy, float64).

    ``P_i = P_typ · (weight/weight_ref)^exp_P · Π covariate factors · exp(η_P)`` for
    P in (CL, V1, Q, V2), ``CL_emax,i = CL_emax + η_Emax``, with ``η = L z``
    (``L = drug.iiv_loadings()``). The one function from patient traits to PK, used by
    :meth:`TumorImmunePD1.with_drug` (hence ``simulate``) and by the sweep engine.

    Args:
        drug: the population PK model.
        weight: body weight, kg (scalar or shape (N,)); ``None``: the reference weight.
        covariates: patient covariates by name (see ``COVARIATES``); missing ones take the
            drug's reference value, those outside the drug's final model have no effect.
        iiv_z: independent standard-normal draws by name of ``IIV_PARAMETERS`` (missing: 0);
            ``None``: no inter-individual variability (the typical patient).

    Returns:
        ``{field: value}`` for the fields of ``PK_PARAMETERS``: arrays of the common shape
        of the inputs, or floats when every input is a scalar.

    Raises:
        ValueError: unknown covariate or random-effect name, non-positive weight or
            continuous covariate, categorical covariate outside its levels.
    """
    cov = dict(covariates or {})
    if "weight" in cov:
        raise ValueError("give the body weight as individual_pk(weight=...), not in covariates")
    unknown = sorted(set(cov) - set(COVARIATES))
    if unknown:
        raise ValueError(f"unknown covariate {unknown[0]!r}; allowed: {sorted(COVARIATES)}")
    w = np.asarray(drug.weight_ref if weight is None else weight, dtype=float)
    if np.any(~np.isfinite(w) | (w <= 0)):
        raise ValueError(f"weight must be positive and finite (kg); got {weight!r}")
    values = {k: np.asarray(v, dtype=float) for k, v in drug.pk_parameters().items()}
    for k, e in drug.weight_exp.items():
        values[k] = values[k] * (w / drug.weight_ref) ** e
    checked = {k: _check_covariate(k, v) for k, v in cov.items()}
    for eff in drug.covariates:
        x = checked.get(eff.covariate, np.asarray(eff.reference, dtype=float))
        values[eff.parameter] = values[eff.parameter] * eff.factor(x)
    if iiv_z is not None:
        unknown = sorted(set(iiv_z) - set(IIV_PARAMETERS))
        if unknown:
            raise ValueError(
                f"unknown random effect {unknown[0]!r}; allowed: {list(IIV_PARAMETERS)}"
            )
        z = np.broadcast_arrays(*[np.asarray(iiv_z.get(k, 0.0), float) for k in IIV_PARAMETERS])
        eta = np.einsum("ij,j...->i...", drug.iiv_loadings(), np.stack(z))
        for i, k in enumerate(IIV_PARAMETERS):
            if k == "CL_emax":
                values[k] = values[k] + eta[i]
            else:
                values[k] = values[k] * np.exp(eta[i])
    shape = np.broadcast_shapes(*(v.shape for v in values.values()))
    if shape == ():
        return {k: float(v) for k, v in values.items()}
    return {k: np.broadcast_to(v, shape).copy() for k, v in values.items()}


def _check_covariate(name: str, value: ArrayLike) -> np.ndarray:
    x = np.asarray(value, dtype=float)
    top = _CATEGORICAL.get(name)
    if top is not None:
        if np.any((x != np.round(x)) | (x < 0) | (x > top)):
            raise ValueError(f"covariate {name!r} must be an integer in 0..{top}; got {value!r}")
    elif np.any(~np.isfinite(x) | (x <= 0)):
        raise ValueError(f"covariate {name!r} must be positive and finite; got {value!r}")
    return x


def clearance(
    t: Float[ArrayLike, "..."],
    CL: Float[ArrayLike, "..."],
    CL_emax: Float[ArrayLike, "..."],
    CL_T50: Float[ArrayLike, "..."],
    CL_gamma: Float[ArrayLike, "..."],
    *,
    t_dose0: Float[ArrayLike, "..."] = 0.0,
) -> Float[Array, "..."]:
    """Clearance at simulation day ``t``, L/day; constant when ``CL_emax = 0``.

    The clock of the time-varying part is the time since the first dose,
    ``max(t - t_dose0, 0)`` (days; Bajaj et al. 2017): before the first dose ``CL(t) = CL``.
    """
    t = jnp.maximum(jnp.asarray(t) - t_dose0, 0.0)
    if isinstance(CL_emax, (int, float)) and CL_emax == 0:  # known constant: skip pow and exp
        return jnp.asarray(CL * jnp.ones_like(t))
    tg = t**CL_gamma
    return jnp.asarray(CL * jnp.exp(CL_emax * tg / (CL_T50**CL_gamma + tg)))


def two_compartment_bolus(
    t: Real[ArrayLike, " n"] | Sequence[float],
    dose_times: Real[ArrayLike, " k"] | Sequence[float],
    doses: Real[ArrayLike, " k"] | Sequence[float],
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

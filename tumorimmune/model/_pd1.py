"""Kuznetsov (1994) plus anti-PD-1 blockade — this project's model (docs/science.md §2, §3).

**Assumption** (stated in docs/science.md §2): the published per-encounter rates ``n`` (kill) and
``m`` (effector inactivation) already include PD-1 engagement by tumor PD-L1; blockade relieves
it in proportion to the receptor occupancy ``RO`` and (partly) the patient's PD-L1 expression
``L``::

    B     = RO·(f_indep + (1 − f_indep)·L)           (blockade acting on this patient)
    n_eff = n·(1 + eps_n·B),   m_eff = m·(1 − eps_m·B),   RO = Imax·C/(C + EC50)
    kill  = n_eff·E/(1 + h_kill·n_eff·E)              (per tumor cell, ≤ 1/h_kill)

with ``C = A1/V1`` the serum antibody concentration from two-compartment PK. With the defaults
``Imax = 1``, ``f_indep = 0`` and ``h_kill = 0`` this is exactly the first form of the model
(``n_eff = n·(1 + eps_n·L·RO)``, mass-action kill); the clinical parameterization
(:func:`clinical_melanoma_parameters`) switches the three on.

Response dynamics (docs/science.md §2b; every term off by default, so the model above is
reproduced exactly):

* **acquired resistance** — a fraction ``f_R`` of the baseline lesion are immune-escape
  variants ``R`` (antigen, B2M or JAK1/2 loss); they grow like the sensitive cells (shared
  carrying capacity) and are killed at ``k_R`` times the sensitive kill rate, so a controlled
  tumor relapses once they have regrown;
* **infiltrate** — every killed tumor cell leaves ``kappa`` cell-volume equivalents of immune
  infiltrate, oedema and debris ``D`` in the lesion, cleared at ``k_clear`` per day; the imaged
  lesion is ``T + R + D`` (:meth:`TumorImmunePD1.burden`), so fast early killing swells a lesion
  before it shrinks (pseudo-progression);
* **effector ceiling** — tumor-driven recruitment is damped by ``1 − b_E·E``: effectors stay
  below ``1/b_E`` cells.

Chemotherapy (docs/science.md §3c; off by default, ``k_chemo = 0``): the Claret et al. (2009)
exposure-driven kill with resistance, ``k_chemo·exp(−lam_chemo·(t − chemo_start))`` per tumor
cell on ``chemo_start <= t < chemo_end`` (:mod:`tumorimmune.model._chemo`), acting on the
sensitive cells ``T`` and the escape variants ``R`` alike. Immune effects of chemotherapy are
not modelled.

Sources and assumptions: ``docs/science.md`` §2, §2b and §6.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer
from jaxtyping import Array, ArrayLike, Float, Real

from ._base import AbstractDrugModel, nonneg, parameter
from ._chemo import PLATINUM_DOUBLET, Chemotherapy, get_chemo
from ._kuznetsov import AbstractKuznetsov
from ._pk import PEMBROLIZUMAB, Drug, clearance, get_drug, individual_pk


class TumorImmunePD1(AbstractDrugModel, AbstractKuznetsov):
    """Kuznetsov (1994) effector–tumor model with anti-PD-1 antibody and receptor occupancy.

    States ``("E", "T", "A1", "A2", "R", "D")``: effectors and sensitive tumor cells (cells),
    antibody amount in the central and peripheral compartment (mg), immune-escape tumor cells
    and lesion infiltrate (cell-volume equivalents). The imaged lesion burden is
    ``T + R + D`` (:meth:`burden`). Observables: ``C = A1/V1`` (µg/mL) and
    ``RO = C/(C + EC50)``. The eight Kuznetsov fields keep their published defaults (see
    :class:`Kuznetsov1994`). With no drug (``A1 = A2 = 0``) or ``eps_n = eps_m = 0`` the E–T
    equations are exactly Kuznetsov (1994).

    Blockade fields (all defaults are **assumptions** of this project, to be calibrated):

    ============  ========  =======  ====================================================
    field         default   unit     meaning
    ============  ========  =======  ====================================================
    ``L``         1.0       —        tumor PD-L1 expression, in [0, 1] (patient trait)
    ``f_indep``   0.0       —        share of the blockade effect independent of PD-L1
                                     (0: effect ∝ L; clinical preset 0.3)
    ``Imax``      1.0       —        maximal occupancy effect (Elassaiss-Schaap et al. 2017:
                                     0.961 for pembrolizumab)
    ``h_kill``    0.0       day      handling time of effector kill: per-cell kill rate
                                     saturates at 1/h_kill (0: mass action, Kuznetsov)
    ``eps_n``     1.0       —        max. relative increase of kill rate n under blockade
    ``eps_m``     0.5       —        max. relative decrease of inactivation m, in [0, 1]
    ``EC50``      0.5       µg/mL    concentration of half-maximal PD-1 occupancy; keeps
                                     RO > 0.9 at clinical troughs (> 4.5 µg/mL), cf.
                                     > 70 % occupancy for months (Brahmer et al. 2010)
    ============  ========  =======  ====================================================

    Response-dynamics fields (docs/science.md §2b; all off by default; **assumptions** with the
    clinical values chosen in docs/science.md §6):

    ============  ========  ============  ===============================================
    field         default   unit          meaning
    ============  ========  ============  ===============================================
    ``f_R``       0.0       —             escape-variant fraction of the baseline tumor
    ``k_R``       0.0       —             kill of ``R`` relative to sensitive cells
    ``kappa``     0.0       cells/cell    infiltrate/debris volume per killed tumor cell
    ``k_clear``   0.05      1/day         clearance of the infiltrate ``D``
    ``b_E``       0.0       1/cell        inverse effector ceiling (recruitment · (1 − b_E·E))
    ============  ========  ============  ===============================================

    Chemotherapy fields (docs/science.md §3c; off by default; use :meth:`with_chemo`). The
    kill acts on ``T`` and ``R`` (chemotherapy kills regardless of immune escape), not on the
    infiltrate ``D`` (not tumor cells), and a chemo-killed cell leaves no infiltrate: Claret's
    form describes the measured lesion, dead cells included. Immune effects of chemotherapy
    (lymphodepletion, immunogenic cell death) are **not modelled**: effectors ``E`` do not
    see it.

    ===============  ========  =======  ================================================
    field            default   unit     meaning
    ===============  ========  =======  ================================================
    ``k_chemo``      0.0       1/day    per-cell kill at the first cycle (0: no chemo)
    ``lam_chemo``    0.02      1/day    resistance rate λ of the kill (assumption)
    ``chemo_start``  0.0       day      first day of chemotherapy
    ``chemo_end``    84.0      day      end of the last cycle (4 cycles × 21 days)
    ===============  ========  =======  ================================================

    PK fields (defaults: typical pembrolizumab, Ahamadi et al. 2017; use :meth:`with_drug`):
    ``CL`` (L/day), ``V1`` (L), ``Q`` (L/day), ``V2`` (L): the patient's individual PK;
    time-varying clearance ``CL(t) = CL·exp(CL_emax·τ^CL_gamma/(CL_T50^CL_gamma + τ^CL_gamma))``
    with ``τ = max(t − t_dose0, 0)`` the days since the first dose (``t_dose0``, days; set from
    the regimen's ``start_day`` by ``simulate`` and the sweeps). ``weight`` (kg) sets mg/kg
    doses; the PK fields are *not* rescaled by it here: :meth:`with_drug` derives them from
    weight and covariates. ``drug`` (static) names the drug whose PK the fields hold.
    """

    L: Real[ArrayLike, "*#N"] = 1.0
    f_indep: Real[ArrayLike, "*#N"] = 0.0
    Imax: Real[ArrayLike, "*#N"] = 1.0
    h_kill: Real[ArrayLike, "*#N"] = 0.0
    eps_n: Real[ArrayLike, "*#N"] = 1.0
    eps_m: Real[ArrayLike, "*#N"] = 0.5
    EC50: Real[ArrayLike, "*#N"] = 0.5
    CL: Real[ArrayLike, "*#N"] = PEMBROLIZUMAB.CL
    V1: Real[ArrayLike, "*#N"] = PEMBROLIZUMAB.V1
    Q: Real[ArrayLike, "*#N"] = PEMBROLIZUMAB.Q
    V2: Real[ArrayLike, "*#N"] = PEMBROLIZUMAB.V2
    CL_emax: Real[ArrayLike, "*#N"] = PEMBROLIZUMAB.CL_emax
    CL_T50: Real[ArrayLike, "*#N"] = PEMBROLIZUMAB.CL_T50
    CL_gamma: Real[ArrayLike, "*#N"] = PEMBROLIZUMAB.CL_gamma
    t_dose0: Real[ArrayLike, "*#N"] = 0.0
    f_R: Real[ArrayLike, "*#N"] = 0.0
    k_R: Real[ArrayLike, "*#N"] = 0.0
    kappa: Real[ArrayLike, "*#N"] = 0.0
    k_clear: Real[ArrayLike, "*#N"] = 0.05
    b_E: Real[ArrayLike, "*#N"] = 0.0
    k_chemo: Real[ArrayLike, "*#N"] = parameter(
        0.0,
        unit="1/day",
        description="chemotherapy kill rate per tumor cell at the first cycle (Claret et al. "
        "2009 K_D·exposure); 0: no chemotherapy",
    )
    lam_chemo: Real[ArrayLike, "*#N"] = parameter(
        PLATINUM_DOUBLET.lam_chemo,
        unit="1/day",
        description="resistance rate λ of the chemotherapy kill (Claret et al. 2009); "
        "assumption to be calibrated",
    )
    chemo_start: Real[ArrayLike, "*#N"] = parameter(
        PLATINUM_DOUBLET.start_day, unit="day", description="first day of chemotherapy"
    )
    chemo_end: Real[ArrayLike, "*#N"] = parameter(
        PLATINUM_DOUBLET.end_day,
        unit="day",
        description="end of the last chemotherapy cycle (start + cycles · cycle length)",
    )
    drug: str | None = eqx.field(default=PEMBROLIZUMAB.name, static=True)

    state_names: ClassVar[tuple[str, ...]] = ("E", "T", "A1", "A2", "R", "D")
    state_units: ClassVar[dict[str, str]] = {
        "E": "cells",
        "T": "cells",
        "A1": "mg",
        "A2": "mg",
        "R": "cells",
        "D": "cells",
    }
    observable_units: ClassVar[dict[str, str]] = {"C": "µg/mL", "RO": "1", "burden": "cells"}
    initial_state: ClassVar[dict[str, float]] = {"R": 0.0, "D": 0.0}
    parameter_bounds: ClassVar[dict[str, tuple[float, float]]] = {
        "L": (0.0, 1.0),
        "f_indep": (0.0, 1.0),
        "Imax": (0.0, 1.0),
        "eps_m": (0.0, 1.0),
        "CL_emax": (-10.0, 10.0),
        "V1": (1e-9, float("inf")),
        "V2": (1e-9, float("inf")),
        "EC50": (1e-12, float("inf")),
        "CL_T50": (1e-9, float("inf")),
        "t_dose0": (0.0, float("inf")),
        "k_R": (0.0, 1.0),
        "f_R": (0.0, 1.0),
    }
    dosing_compartment: ClassVar[str] = "A1"  # dosing_state 2

    @classmethod
    def with_drug(
        cls,
        drug: str | Drug = PEMBROLIZUMAB,
        *,
        weight: Real[ArrayLike, "*#N"] | None = None,
        covariates: Mapping[str, ArrayLike] | None = None,
        iiv_z: Mapping[str, ArrayLike] | None = None,
        **params: ArrayLike,
    ) -> TumorImmunePD1:
        """Model with a drug's individual PK (``"pembrolizumab"``, ``"nivolumab"`` or a Drug).

        The PK fields come from :func:`~tumorimmune.model.individual_pk`: the drug's typical
        PK scaled to ``weight`` (kg; ``None``: the drug's reference weight, 76.8 kg for
        pembrolizumab, 80 kg for nivolumab) with the published allometric exponents, times
        the effects of ``covariates`` (e.g. ``{"female": 0, "ecog": 1}``; missing: the
        reference patient) and of the random effects ``iiv_z`` (standard normals by
        parameter; ``None``: typical). The model's ``weight`` field (mg/kg doses) is the
        same ``weight``. PK fields given in ``params`` override the derived ones.
        """
        d = get_drug(drug) if isinstance(drug, str) else drug
        w = d.weight_ref if weight is None else weight
        pk = individual_pk(d, weight=w, covariates=covariates, iiv_z=iiv_z)
        fields = {**pk, "weight": w, **params}
        return cls(drug=d.name, **fields)  # type: ignore[arg-type]

    def with_chemo(
        self,
        chemo: str | Chemotherapy = PLATINUM_DOUBLET,
        *,
        cycles: int | None = None,
        start_day: float | None = None,
        **params: Real[ArrayLike, "*#N"],
    ) -> TumorImmunePD1:
        """This model on a chemotherapy (a preset name such as ``"platinum_doublet"``, or a
        :class:`~tumorimmune.model.Chemotherapy`).

        ``cycles`` (within the preset's range, 4–6 for a platinum doublet) and ``start_day``
        (days) override the preset's schedule; ``params`` set any field, e.g. a per-patient
        ``k_chemo`` or ``lam_chemo`` (1/day; default: the preset's typical values, which are
        **assumptions** to be calibrated). Antibody dosing is unaffected (give a regimen to
        ``simulate`` for chemo plus anti-PD-1).
        """
        c = get_chemo(chemo) if isinstance(chemo, str) else chemo
        c = c.with_schedule(cycles=cycles, start_day=start_day)
        return self.replace(**{**c.parameters(), **params})

    def chemo_off(self) -> bool:
        """True when ``k_chemo`` is known to be 0 when the vector field is traced (a concrete
        value, not a traced per-patient one): then the chemotherapy term is left out of the
        program altogether, so that a model without chemotherapy compiles to the same
        program, with the same bits, as before the term existed."""
        k = self.k_chemo
        if isinstance(k, Tracer):
            return False
        return bool(np.all(np.asarray(k) == 0.0))

    def chemo_kill(self, t: Real[ArrayLike, ""]) -> Array:
        """Chemotherapy kill per tumor cell per day at time ``t`` (days):
        ``k_chemo·exp(−lam_chemo·(t − chemo_start))`` on ``[chemo_start, chemo_end)``, else 0.

        Elementwise ``jnp.where`` (no branching on ``t``): every backend traces it.
        """
        t = jnp.asarray(t)
        tau = t - jnp.asarray(self.chemo_start)
        on = (tau >= 0.0) & (t < jnp.asarray(self.chemo_end))
        decay = jnp.exp(-(self.lam_chemo * jnp.where(on, tau, 0.0)))
        return jnp.asarray(jnp.where(on, self.k_chemo * decay, 0.0))

    def occupancy(self, C: Array) -> Array:
        """PD-1 receptor occupancy (target engagement) for concentration ``C`` (µg/mL)."""
        return jnp.asarray(self.Imax * C / (C + self.EC50))

    def blockade(self, C: Array) -> Array:
        """Blockade acting on this patient's tumor: ``RO·(f_indep + (1 − f_indep)·L)``."""
        return self.occupancy(C) * (self.f_indep + (1.0 - self.f_indep) * self.L)

    def kill_rate(self, E: Array, n_eff: ArrayLike) -> Array:
        """Tumor cells killed per tumor cell per day, ``n_eff·E/(1 + h_kill·n_eff·E)``."""
        nE = n_eff * E
        return jnp.asarray(nE / (1.0 + self.h_kill * nE))

    def quasi_steady_effectors(self, T: ArrayLike) -> Array:
        """Untreated effector level that balances tumor ``T`` (cells) on the E-nullcline.

        ``E* = s/(d + m·T − p·T/(g + T))``; ``inf`` where the denominator is not positive
        (untreated effectors would expand without bound: not a steady state). Used as the
        pre-treatment effector level of clinical patients, whose tumors have grown for
        months before the baseline scan (an **assumption**, docs/science.md §6). The effector
        ceiling ``b_E`` is left out: where a steady state exists it lies far below the ceiling
        (``b_E·E* ≪ 1`` for the clinical values), and without one the tumor is not plausible.
        """
        T = jnp.asarray(T)
        den = self.d + self.m * T - self.p * T / (self.g + T)
        return jnp.asarray(jnp.where(den > 0, self.s / jnp.where(den > 0, den, 1.0), jnp.inf))

    def baseline_state(self, y0: dict[str, Any]) -> dict[str, Any]:
        """Split a given baseline tumor ``T`` into sensitive ``(1 − f_R)·T`` and escape
        variants ``R = f_R·T`` (unless ``R`` is given)."""
        if "T" not in y0 or "R" in y0:
            return y0
        T = y0["T"]
        return {**y0, "T": T * (1.0 - self.f_R), "R": T * self.f_R}

    def burden(self, y: Any) -> Any:
        """Imaged lesion burden ``T + R + D`` (cells) from states ``y`` (last axis: states).

        Works on NumPy and JAX arrays; the sweeps read RECIST on it.
        """
        return y[..., 1] + y[..., 4] + y[..., 5]

    def vector_field(
        self, t: Real[ArrayLike, ""], y: Float[Array, " 6"], args: object = None
    ) -> Float[Array, " 6"]:
        E = nonneg(y[0])
        T = nonneg(y[1])
        A1 = nonneg(y[2])
        A2 = nonneg(y[3])
        R = nonneg(y[4])
        D = nonneg(y[5])
        C = A1 / self.V1
        block = self.blockade(C)
        n_eff = self.n * (1.0 + self.eps_n * block)
        m_eff = self.m * (1.0 - self.eps_m * block)
        recruit = self.p * E * T / (self.g + T) * (1.0 - self.b_E * E)
        dE = self.s + recruit - m_eff * E * T - self.d * E
        room = 1.0 - self.b * (T + R)
        kill = self.kill_rate(E, n_eff)
        if self.chemo_off():  # the program of a model without chemotherapy, as before it
            dT = self.a * T * room - kill * T
            # escape variants below one cell are extinct (as T: docs/science.md §2b)
            dR = jnp.where(R >= 1.0, (self.a * room - self.k_R * kill) * R, 0.0)
        else:
            chemo = self.chemo_kill(t)  # 0 outside [chemo_start, chemo_end)
            dT = self.a * T * room - kill * T - chemo * T
            dR = jnp.where(R >= 1.0, (self.a * room - self.k_R * kill - chemo) * R, 0.0)
        dD = self.kappa * kill * (T + self.k_R * R) - self.k_clear * D
        cl = clearance(t, self.CL, self.CL_emax, self.CL_T50, self.CL_gamma, t_dose0=self.t_dose0)
        k12A1 = self.Q / self.V1 * A1
        k21A2 = self.Q / self.V2 * A2
        dA1 = -cl / self.V1 * A1 - k12A1 + k21A2
        dA2 = k12A1 - k21A2
        return jnp.stack([dE, dT, dA1, dA2, dR, dD])

    def observables(
        self, t: Real[ArrayLike, "*#T"], y: Float[Array, "*#T 6"]
    ) -> dict[str, Float[Array, "*#T"]]:
        C = nonneg(y[..., 2]) / self.V1
        return {"C": C, "RO": self.occupancy(C), "burden": self.burden(nonneg(y))}

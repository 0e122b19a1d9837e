"""Regimen optimisation: choose dose and interval by gradient to maximise a soft endpoint.

The decision variables are mapped to the feasible set by a smooth reparameterisation, so that
every iterate is feasible: ``interval = lo + (hi − lo)·σ(u₁)`` and ``dose = dose_lo +
(cap(interval) − dose_lo)·σ(u₀)`` with ``cap(interval) = min(dose_hi, max_dose_rate·interval)``
— the drug-amount (dose-intensity) constraint ``dose/interval <= max_dose_rate``. The objective
is maximised with optax (:func:`tumorimmune.calibrate.minimize`, L-BFGS or Adam), gradients by
``jax.grad`` through :func:`tumorimmune.solve` (dose times built with ``jnp``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._solve import Dosing, solve
from ..model import Regimen, TumorImmunePD1, get_drug
from ..response import Readout, soft_endpoints

Objective = Callable[[Float[Array, ""], Float[Array, ""]], Float[Array, ""]]
_READOUT = Readout()


@dataclasses.dataclass(frozen=True)
class RegimenOptimum:
    """Result of :func:`maximize_regimen` / :func:`optimize_regimen`.

    Attributes:
        dose: optimal dose per administration (in ``unit``).
        interval: optimal dosing interval, days.
        value: objective (soft endpoint) at the optimum.
        start_value: objective at the starting regimen.
        n_iter: optimiser iterations.
        converged: a stopping criterion was met.
        unit: ``"mg"`` or ``"mg/kg"``.
        drug: the drug whose PK the optimum was computed with.
    """

    dose: float
    interval: float
    value: float
    start_value: float
    n_iter: int
    converged: bool
    unit: str = "mg/kg"
    drug: str = "pembrolizumab"

    @property
    def dose_rate(self) -> float:
        """``dose/interval`` (``unit`` per day)."""
        return self.dose / self.interval

    def regimen(self, name: str | None = None) -> Regimen:
        """The optimum as a :class:`~tumorimmune.model.Regimen` (for hard re-simulation)."""
        return Regimen(
            dose=self.dose,
            interval=self.interval,
            unit=self.unit,
            drug=self.drug,
            name=name or f"optimised {self.dose:.3g} {self.unit} q{self.interval:.3g}d",
        )


def _check_bounds(name: str, b: tuple[float, float]) -> tuple[float, float]:
    lo, hi = float(b[0]), float(b[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"{name} must be (lo, hi) with 0 < lo < hi; got {b!r}")
    return lo, hi


def regimen_from_params(
    u: Float[Array, " 2"],
    *,
    dose_bounds: tuple[float, float],
    interval_bounds: tuple[float, float],
    max_dose_rate: float | None = None,
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """``(dose, interval)`` of unconstrained parameters ``u`` (always feasible, smooth)."""
    (dlo, dhi), (ilo, ihi) = dose_bounds, interval_bounds
    interval = ilo + (ihi - ilo) * jax.nn.sigmoid(u[1])
    cap = dhi if max_dose_rate is None else jnp.minimum(dhi, max_dose_rate * interval)
    dose = dlo + (cap - dlo) * jax.nn.sigmoid(u[0])
    return dose, interval


def _params_from_regimen(dose: float, interval: float, dose_bounds, interval_bounds, rate):
    (dlo, dhi), (ilo, ihi) = dose_bounds, interval_bounds
    logit = lambda p: math.log(p) - math.log1p(-p)  # noqa: E731
    fi = min(max((interval - ilo) / (ihi - ilo), 1e-3), 1 - 1e-3)
    cap = dhi if rate is None else min(dhi, rate * interval)
    fd = min(max((dose - dlo) / (cap - dlo), 1e-3), 1 - 1e-3)
    return jnp.asarray([logit(fd), logit(fi)])


def maximize_regimen(
    objective: Objective,
    *,
    dose_bounds: tuple[float, float],
    interval_bounds: tuple[float, float],
    max_dose_rate: float | None = None,
    start: tuple[float, float] | None = None,
    method: Literal["lbfgs", "adam"] = "lbfgs",
    max_iter: int = 50,
    learning_rate: float = 0.3,
    unit: str = "mg/kg",
    drug: str = "pembrolizumab",
) -> RegimenOptimum:
    """Maximise ``objective(dose, interval)`` over the feasible regimens by gradient (optax).

    Args:
        objective: differentiable scalar function of ``(dose, interval)`` (JAX scalars).
        dose_bounds: ``(lo, hi)`` dose per administration (in ``unit``).
        interval_bounds: ``(lo, hi)`` days between doses.
        max_dose_rate: drug-amount constraint ``dose/interval <= max_dose_rate`` (unit per
            day; e.g. 2 mg/kg per 21 days = 0.0952), or ``None``.
        start: starting ``(dose, interval)`` (default: the middle of the feasible box).
        method: optimiser, ``"lbfgs"`` or ``"adam"`` (see
            :func:`tumorimmune.calibrate.minimize`).
        max_iter: optimiser iterations.
        learning_rate: Adam's learning rate (unused by L-BFGS).

    Raises:
        ValueError: bad bounds, or a constraint that leaves no feasible dose.
    """
    from ..calibrate import minimize, optimizer_for

    db = _check_bounds("dose_bounds", dose_bounds)
    ib = _check_bounds("interval_bounds", interval_bounds)
    if max_dose_rate is not None and not (max_dose_rate * ib[0] > db[0]):
        raise ValueError(
            f"max_dose_rate={max_dose_rate!r} allows no dose >= {db[0]} at interval {ib[0]} days"
        )
    if start is None:
        cap = db[1] if max_dose_rate is None else min(db[1], max_dose_rate * sum(ib) / 2)
        start = ((db[0] + cap) / 2, sum(ib) / 2)
    u0 = _params_from_regimen(float(start[0]), float(start[1]), db, ib, max_dose_rate)

    def loss(u: Array) -> Array:
        dose, interval = regimen_from_params(
            u, dose_bounds=db, interval_bounds=ib, max_dose_rate=max_dose_rate
        )
        return -objective(dose, interval)

    res = minimize(loss, u0, optimizer=optimizer_for(method, learning_rate), max_iter=max_iter)
    dose, interval = regimen_from_params(
        res.x, dose_bounds=db, interval_bounds=ib, max_dose_rate=max_dose_rate
    )
    return RegimenOptimum(
        dose=float(dose),
        interval=float(interval),
        value=-float(res.value),
        start_value=-float(loss(u0)),
        n_iter=int(res.n_iter),
        converged=bool(res.converged),
        unit=unit,
        drug=drug,
    )


def population_model(
    table: Mapping[str, ArrayLike],
    fixed: Mapping[str, float],
    *,
    drug: str = "pembrolizumab",
    weight_scaling: bool = True,
) -> TumorImmunePD1:
    """Batched :class:`TumorImmunePD1` of a population table (JAX arrays, traceable).

    Per-patient columns (all but ``T0``, ``E0``) override ``fixed``; the drug's typical PK is
    scaled allometrically by ``weight`` when ``weight_scaling`` (as the sweep engine with
    ``[pk] weight_scaling = true`` and no PK variability).
    """
    d = get_drug(drug)
    params = {**fixed, **{k: v for k, v in table.items() if k not in ("T0", "E0", "u_death")}}
    weight = params.pop("weight", None)
    if (
        weight_scaling and weight is not None
    ):  # the drug's allometric PK model at each patient's weight (one function)
        return TumorImmunePD1.with_drug(d, weight=np.asarray(weight, float), **params)
    model = TumorImmunePD1.with_drug(d, **params)
    return model if weight is None else model.replace(weight=weight)  # type: ignore[return-value]


def regimen_endpoint(
    table: Mapping[str, ArrayLike],
    fixed: Mapping[str, float],
    scan_days: Sequence[float],
    *,
    endpoint: Literal["orr", "dcr", "pfs_at"] = "orr",
    readout: Readout = _READOUT,
    landmark: float = 182.6,
    unit: str = "mg/kg",
    min_interval: float = 14.0,
    drug: str = "pembrolizumab",
    rtol: float = 1e-6,
    atol: float = 1e-4,
    adjoint: Literal["checkpoint", "backsolve"] = "checkpoint",
) -> Objective:
    """Soft endpoint of a population as a differentiable function of ``(dose, interval)``.

    Doses start at day 0 and repeat every ``interval`` days up to the last scan; ``unit``
    ``"mg/kg"`` scales by each patient's ``weight``. ``min_interval`` (days) fixes the static
    maximal number of doses. ``readout``: the relaxed read-out
    (:class:`~tumorimmune.response.Readout`, its ``temperature`` in percentage points; see
    :func:`~tumorimmune.response.soft_endpoints`). Run under ``jax.enable_x64`` for float64.
    """
    if endpoint not in ("orr", "dcr", "pfs_at"):
        raise ValueError(f"endpoint must be 'orr', 'dcr' or 'pfs_at'; got {endpoint!r}")
    if unit not in ("mg", "mg/kg"):
        raise ValueError(f"unit must be 'mg' or 'mg/kg'; got {unit!r}")
    model = population_model(table, fixed, drug=drug)
    days = jnp.asarray(scan_days, float)
    y0 = {"E": jnp.asarray(table["E0"]), "T": jnp.asarray(table["T0"])}
    n_max = int(np.floor(float(days[-1] - days[0]) / min_interval)) + 1
    weight = jnp.asarray(model.weight)

    @jax.jit
    def objective(dose: Array, interval: Array) -> Array:
        amount = dose * weight if unit == "mg/kg" else dose * jnp.ones_like(weight)
        dosing = Dosing(dose=amount, interval=interval, start=0.0, n_max=n_max)
        sol = solve(model, y0, days, dosing=dosing, rtol=rtol, atol=atol, adjoint=adjoint)
        cells = jnp.where(sol.status[:, None] == 0, model.burden(sol.ys), jnp.nan)
        ends = soft_endpoints(cells, days, landmark=landmark, readout=readout)
        return ends[endpoint]

    return objective


def optimize_regimen(
    table: Mapping[str, ArrayLike],
    *,
    fixed: Mapping[str, float] | None = None,
    scan_days: Sequence[float] = (0.0, 84.0, 126.0, 168.0, 210.0, 252.0, 294.0, 336.0),
    endpoint: Literal["orr", "dcr", "pfs_at"] = "orr",
    dose_bounds: tuple[float, float] = (1.0, 10.0),
    interval_bounds: tuple[float, float] = (14.0, 42.0),
    max_dose_rate: float | None = 2.0 / 21.0,
    unit: str = "mg/kg",
    readout: Readout = _READOUT,
    landmark: float = 182.6,
    start: tuple[float, float] | None = None,
    method: Literal["lbfgs", "adam"] = "lbfgs",
    max_iter: int = 30,
    rtol: float = 1e-6,
    atol: float = 1e-4,
    adjoint: Literal["checkpoint", "backsolve"] = "checkpoint",
) -> RegimenOptimum:
    """Dose and interval maximising a soft endpoint of a virtual population (pembrolizumab).

    Args:
        table: per-patient columns (``a``, ``m``, ``s``, ``h_kill``, ``L``, ``weight``, ``T0``,
            ``E0``; as :func:`tumorimmune.calibrate.load_population`), shape ``(N,)`` each.
        fixed: population-level parameters (default
            :data:`tumorimmune.calibrate.CLINICAL_FIXED`).
        scan_days: scan days, scan 0 = baseline at day 0 (default KEYNOTE-006 to week 48).
        endpoint: ``"orr"``, ``"dcr"`` or ``"pfs_at"`` (progression-free at ``landmark``).
        dose_bounds: dose per administration (``unit``); default 1–10 mg/kg, the range of
            KEYNOTE-001.
        interval_bounds: days; default q2w–q6w (the labelled intervals).
        max_dose_rate: drug-amount constraint, ``unit``/day (default 2 mg/kg per 3 weeks,
            the original label's dose intensity); ``None`` for no constraint.
        readout: the relaxed read-out, :class:`~tumorimmune.response.Readout` (its
            ``temperature`` in percentage points; see
            :func:`~tumorimmune.response.soft_readout`).
        rtol: relative solver tolerance for the optimisation (float64).
        atol: absolute solver tolerance (cells, mg).

    Returns:
        :class:`RegimenOptimum`; verify it with a hard re-simulation (``simulate`` or a sweep).
    """
    from ..calibrate import CLINICAL_FIXED

    with jax.enable_x64(True):
        objective = regimen_endpoint(
            table,
            CLINICAL_FIXED if fixed is None else fixed,
            scan_days,
            endpoint=endpoint,
            readout=readout,
            landmark=landmark,
            unit=unit,
            min_interval=float(interval_bounds[0]),
            rtol=rtol,
            atol=atol,
            adjoint=adjoint,
        )
        return maximize_regimen(
            objective,
            dose_bounds=dose_bounds,
            interval_bounds=interval_bounds,
            max_dose_rate=max_dose_rate,
            start=start,
            method=method,
            max_iter=max_iter,
            unit=unit,
        )

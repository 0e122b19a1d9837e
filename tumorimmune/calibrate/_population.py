"""Virtual populations and trial arms: parameter distributions, clinical targets, simulation.

Pure-JAX pieces (differentiable): drawing a population from standard-normal draws
(reparameterisation) and simulating an arm to tumor cells at scan days; the relaxed RECIST
read-out used by :func:`~tumorimmune.calibrate.calibrate_soft` is
:func:`tumorimmune.response.soft_response`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..model import AbstractDrugModel, Model, Regimen
from ..response import Readout, best_overall_response, sum_of_diameters_mm, wilson_ci
from ..solvers import Schedule, Tolerances, solve_patient

_READOUT = Readout()


@dataclasses.dataclass(frozen=True)
class Dist:
    """Population distribution of one parameter.

    ``kind="lognormal"``: ``p = median·exp(spread·z)``; ``"logitnormal"``: ``p =
    sigmoid(logit(median) + spread·z)`` (for parameters in (0, 1), e.g. PD-L1 ``L``);
    ``"fixed"``: ``p = median``. ``z ~ N(0, 1)``; ``spread`` is the SD on the log / logit
    scale.
    """

    kind: Literal["lognormal", "logitnormal", "fixed"]
    median: float
    spread: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("lognormal", "logitnormal", "fixed"):
            raise ValueError(
                f"Dist.kind must be 'lognormal', 'logitnormal' or 'fixed'; got {self.kind!r}"
            )
        if not (math.isfinite(self.spread) and self.spread >= 0):
            raise ValueError(f"Dist.spread must be >= 0; got {self.spread!r}")
        if self.kind == "lognormal" and not self.median > 0:
            raise ValueError(f"lognormal Dist.median must be > 0; got {self.median!r}")
        if self.kind == "logitnormal" and not 0 < self.median < 1:
            raise ValueError(f"logitnormal Dist.median must be in (0, 1); got {self.median!r}")

    def loc(self) -> float:
        """Location on the transformed (log / logit) scale."""
        if self.kind == "lognormal":
            return math.log(self.median)
        if self.kind == "logitnormal":
            return math.log(self.median) - math.log1p(-self.median)
        return self.median


def draw(kind: str, loc: Array, spread: Array, z: Float[Array, " N"]) -> Float[Array, " N"]:
    """Values ``(N,)`` of a :class:`Dist` from location/spread and standard-normal ``z``."""
    u = loc + spread * z
    if kind == "lognormal":
        return jnp.exp(u)
    if kind == "logitnormal":
        return jax.nn.sigmoid(u)
    return jnp.broadcast_to(loc, z.shape)


@dataclasses.dataclass(frozen=True)
class ClinicalTarget:
    """A published response rate: ``orr`` among ``n`` patients, with its Wilson 95 % CI."""

    name: str
    orr: float
    n: int
    source: str

    def ci(self) -> tuple[float, float]:
        """Wilson 95 % interval of the published ORR (responders = round(orr·n))."""
        lo, hi = wilson_ci(round(self.orr * self.n), self.n)
        return float(lo), float(hi)


#: KEYNOTE-006, pembrolizumab 10 mg/kg q2w, melanoma: ORR 33.7 % (94/279); Robert et al. 2015,
#: N Engl J Med 372:2521 (docs/science.md §5).
KEYNOTE006_Q2W = ClinicalTarget(
    "KEYNOTE-006 pembrolizumab 10 mg/kg q2w (melanoma)",
    0.337,
    279,
    "Robert et al. 2015, N Engl J Med 372:2521",
)
#: KEYNOTE-006, pembrolizumab 10 mg/kg q3w: ORR 32.9 % (91/277).
KEYNOTE006_Q3W = ClinicalTarget(
    "KEYNOTE-006 pembrolizumab 10 mg/kg q3w (melanoma)",
    0.329,
    277,
    "Robert et al. 2015, N Engl J Med 372:2521",
)
#: KEYNOTE-024, pembrolizumab 200 mg q3w, NSCLC PD-L1 >= 50 %: ORR 44.8 % (69/154).
KEYNOTE024 = ClinicalTarget(
    "KEYNOTE-024 pembrolizumab 200 mg q3w (NSCLC, PD-L1 >= 50 %)",
    0.448,
    154,
    "Reck et al. 2016, N Engl J Med 375:1823",
)


def rescale_tumor(model: Model, factor: float) -> Model:
    """Kuznetsov-type model with tumor sizes scaled by ``factor`` and identical dynamics.

    With ``T' = factor·T``: ``b' = b/factor``, ``g' = g·factor``, ``m' = m/factor`` (``n``,
    ``s``, ``p``, ``d``, ``a`` unchanged), so every tumor trajectory is the original one times
    ``factor`` and effectors are unchanged. Used to move the mouse-lymphoma parameters
    (carrying capacity 5e8 cells ≈ 0.5 cm³) to clinical lesion sizes — an **assumption**.
    """
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be a positive number; got {factor!r}")
    b, g, m = (np.asarray(getattr(model, k), dtype=float) for k in ("b", "g", "m"))
    return model.replace(b=b / factor, g=g * factor, m=m / factor)


@dataclasses.dataclass(frozen=True)
class TrialArm:
    """One simulated trial arm: model, regimen, scans and baseline effectors.

    Attributes:
        model: model with scalar parameters (the population varies some of them).
        regimen: dosing from day 0 (``None``: untreated arm).
        scan_days: scan days, scan 0 = baseline at day 0 (default: week 12, then every 6
            weeks to one year, as in the first year of KEYNOTE-006).
        E0: baseline effector cells (same for every patient).
        readout: RECIST read-out of the tumor cells, hard and relaxed
            (:class:`~tumorimmune.response.Readout`; **assumptions**: 1e9 cells/cm³, 3 equal
            target lesions, 5 mm detection limit per lesion).
        tolerances: ODE tolerances of :func:`simulate_arm` (float64; defaults 1e-8 / 1e-6,
            :data:`~tumorimmune.solvers.MAX_STEPS`).
    """

    model: Model
    regimen: Regimen | None
    scan_days: tuple[float, ...] = (0.0, 84.0, 126.0, 168.0, 210.0, 252.0, 294.0, 336.0)
    E0: float = 1.73e5
    readout: Readout = dataclasses.field(default_factory=Readout)
    tolerances: Tolerances = dataclasses.field(default_factory=Tolerances)

    def __post_init__(self) -> None:
        if not isinstance(self.tolerances, Tolerances):
            raise TypeError(
                "tolerances must be a tumorimmune.solvers.Tolerances; got "
                f"{type(self.tolerances).__name__}"
            )
        s = np.asarray(self.scan_days, dtype=float)
        if s.ndim != 1 or s.size < 2 or s[0] != 0 or np.any(np.diff(s) <= 0):
            raise ValueError(
                "scan_days must start at 0 (baseline) and increase strictly; got "
                f"{list(self.scan_days)}"
            )
        if not isinstance(self.readout, Readout):
            raise TypeError(
                f"readout must be a tumorimmune.response.Readout; got {type(self.readout).__name__}"
            )
        sum_of_diameters_mm(1e9, readout=self.readout)  # raises on a bad read-out option

    def sld_mm(self, cells: Float[ArrayLike, "*shape"]) -> Float[np.ndarray, "*shape"]:
        """Sum of the target-lesion diameters (mm) of tumor ``cells`` as read in this arm."""
        return sum_of_diameters_mm(np.asarray(cells), readout=self.readout)

    def untreated(self) -> TrialArm:
        """The same arm without drug."""
        return dataclasses.replace(self, regimen=None)

    def segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(start, end, dose_mg)`` of the integration segments (doses for weight 70 kg)."""
        ts = np.asarray(self.scan_days, dtype=float)
        days, mg = np.zeros(0), 0.0
        if self.regimen is not None:
            days = self.regimen.dose_times(0.0, float(ts[-1]))
            m = self.model
            weight = float(np.asarray(m.weight if isinstance(m, AbstractDrugModel) else 70.0))
            mg = float(self.regimen.dose_amount_mg(weight))
        starts, ends, dose = Schedule(ts=ts, dose_times=days).dose_segments(
            np.full((1, len(days)), mg)
        )
        return starts, ends, dose[0]


@eqx.filter_jit
def _arm_cells(
    model: Model,
    values: dict[str, Array],
    T0: Array,
    E0: Array,
    ts: Array,
    segs,
    treated: bool,
    tolerances: Tolerances,
) -> tuple[Array, Array]:
    rtol, atol, max_steps = tolerances.resolve("float64")
    starts, ends, dose = segs
    names = model.state_names

    def one(vals, t0):
        m = dataclasses.replace(model, **vals)  # type: ignore[type-var]
        y0 = m.baseline_state({"E": E0, "T": t0})
        y = jnp.stack([jnp.asarray(y0.get(n, 0.0), ts.dtype) for n in names])
        ys, status, _ = solve_patient(
            m,
            y,
            ts,
            starts,
            ends,
            dose if treated else jnp.zeros_like(dose),
            rtol=rtol,
            atol=atol,
            dosing_state=m.dosing_state if isinstance(m, AbstractDrugModel) else -1,
            tumor_index=names.index("T"),
            max_steps=max_steps,
        )
        return m.burden(ys), status

    return jax.vmap(one)(values, T0)


def simulate_arm(
    arm: TrialArm,
    values: Mapping[str, Float[ArrayLike, " N"]],
    T0: Float[ArrayLike, " N"],
) -> tuple[Float[Array, "N n_scan"], Array]:
    """Tumor cells at the scan days for per-patient parameter ``values`` and baseline ``T0``.

    Pure JAX (call inside ``jax.enable_x64(True)`` for float64); differentiable with
    ``jax.grad`` in ``values`` and ``T0``. Tolerances: ``arm.tolerances``. Returns
    ``(cells (N, n_scan), status (N,))``.
    """
    segs = tuple(jnp.asarray(a, jnp.float64) for a in arm.segments())
    ts = jnp.asarray(arm.scan_days, jnp.float64)
    model = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), arm.model)
    vals = {k: jnp.asarray(v, jnp.float64) for k, v in values.items()}
    return _arm_cells(
        model,
        vals,
        jnp.asarray(T0, jnp.float64),
        jnp.asarray(arm.E0, jnp.float64),
        ts,
        segs,
        arm.regimen is not None,
        arm.tolerances,
    )


def hard_orr(cells: np.ndarray, *, readout: Readout = _READOUT) -> tuple[np.ndarray, dict]:
    """RECIST best overall response per patient and ORR with Wilson 95 % CI (numpy).

    Uses :func:`tumorimmune.sweeps.sum_of_diameters_mm` (per-patient ``n_lesions`` as
    ``(N,)``), :func:`~tumorimmune.sweeps.best_overall_response` (unconfirmed) and
    :func:`~tumorimmune.sweeps.wilson_ci`. Not-evaluable patients (failed solves) are left out
    of N. Pass ``readout=arm.readout`` to read as a :class:`TrialArm` does.
    """
    k = np.asarray(readout.n_lesions)
    sld = sum_of_diameters_mm(
        np.asarray(cells), readout=readout.replace(n_lesions=k[:, None]) if k.ndim == 1 else readout
    )
    bor = best_overall_response(sld)
    ok = bor >= 0
    n = int(ok.sum())
    k = int(np.sum((bor == 0) | (bor == 1)))
    lo, hi = wilson_ci(k, n)
    return bor, {
        "n": n,
        "responders": k,
        "orr": k / n if n else math.nan,
        "lo": float(lo),
        "hi": float(hi),
    }


def standard_normal(n: int, names: Sequence[str], seed: int) -> dict[str, np.ndarray]:
    """Independent standard-normal draws ``(n,)`` per name (common random numbers)."""
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(n) for k in names}

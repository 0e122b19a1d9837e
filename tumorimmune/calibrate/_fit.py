"""Maximum-likelihood fits of model parameters to tumor-size data, with Laplace uncertainty.

Everything runs in float64. Free parameters live in an unconstrained space ``x`` through the
bounded log transform of :mod:`._transform` (``p = exp(log lo + (log hi − log lo)·sigmoid(x))``)
and are optimised with optax (L-BFGS or Adam); each patient's gradient comes from
forward-mode sensitivities of the solve (``diffrax.ForwardMode``, one tangent per free
parameter, behind a ``custom_vjp`` so that ``jax.grad`` works: :func:`_objective`).
Per-patient fits are independent problems run in parallel with ``jax.vmap`` over
patients × starts; with ``shared`` parameters all patients are fitted jointly (one problem,
the solve ``vmap``-ed over patients).

Uncertainty: Laplace approximation — the inverse of the Hessian of the negative
log-likelihood in ``x`` (forward-over-forward ``jax.jacfwd`` through ``diffrax.ForwardMode``:
the checkpointed reverse adjoint cannot be differentiated forward), giving Wald intervals
``x̂ ± 1.96·se`` that are mapped back to parameter units (asymmetric, inside the bounds).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time as _time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import scipy.stats
import xarray as xr
from jaxtyping import Array, ArrayLike, Float

from .._version import __version__
from ..model import AbstractDrugModel, Model, Regimen
from ..response import Readout
from ..solvers import Tolerances, as_tolerances, solve_patient, tumor_state_index
from ._data import TumorData, cells_to_unit, dose_segments
from ._optimize import Minimizer
from ._transform import dlogparam_dx, to_param, to_unconstrained

#: Names of initial states that may be fitted: tumor cells and effector cells at baseline.
INITIAL_STATES: tuple[str, ...] = ("T0", "E0")
#: Baseline effector cells of :func:`fit_patients` when ``E0`` is neither free nor in ``init``.
DEFAULT_E0 = 3.2e5
_Z95 = 1.959963984540054
_LOG_2PI = math.log(2.0 * math.pi)
#: An estimate within this fraction of the log-range of its bounds is flagged "at a bound".
AT_BOUND_FRACTION = 0.01
#: A 95 % interval covering this fraction of the log-range of the bounds: not identifiable.
UNIDENTIFIABLE_FRACTION = 0.9
#: Hessians with a larger condition number are treated as singular (not identifiable).
MAX_CONDITION = 1e12
#: Residual SD above which a fit is flagged poor: log residuals (lognormal noise; 1 = a
#: factor e) or relative residuals (proportional noise).
POOR_FIT_SD = {"lognormal": 1.0, "proportional": 0.5}


@dataclasses.dataclass(frozen=True)
class Noise:
    """Residual model of :func:`fit_patients` for a measurement ``y`` with prediction ``f``.

    Attributes:
        kind: ``"lognormal"`` (``log y = log f + σ ε``, ``y > 0``) or ``"proportional"``
            (``y = f·(1 + σ ε)``).
        sigma: fixed noise level (e.g. for noise-free data), or ``None``: estimated (per
            patient, or shared in a joint fit).
        small_sample: with σ estimated, widen the Laplace intervals as in nonlinear least
            squares (Bates & Watts 1988): covariance × n/(n − p) (σ² from RSS/(n − p)
            instead of the biased RSS/n) and the Student-t quantile with n − p degrees of
            freedom instead of 1.96 (n residuals, p structural parameters). Without it (or
            with σ fixed) the intervals are plain Laplace/Wald ``x̂ ± 1.96·se``.
    """

    kind: Literal["lognormal", "proportional"] = "lognormal"
    sigma: float | None = None
    small_sample: bool = True

    def check(self) -> None:
        """Raise ``ValueError`` on an unknown kind or a non-positive ``sigma``."""
        if self.kind not in ("lognormal", "proportional"):
            raise ValueError(f"noise must be 'lognormal' or 'proportional'; got {self.kind!r}")
        s = self.sigma
        if s is not None and not (math.isfinite(s) and s > 0):
            raise ValueError(f"sigma must be a positive number; got {s!r}")


_NOISE = Noise()


class _Problem(eqx.Module):
    """A fitting problem: arrays are pytree leaves (traced), options static (jit cache key)."""

    model: Model  # scalar float64 fields
    lo: np.ndarray  # (P, k)
    hi: np.ndarray  # (P, k)
    t: np.ndarray  # (P, M)
    y: np.ndarray  # (P, M)
    weight: np.ndarray  # (P, M): 1 where the residual counts
    seg_start: np.ndarray
    seg_end: np.ndarray
    seg_dose: np.ndarray  # (P, n_seg)
    free: tuple[str, ...] = eqx.field(static=True)
    shared: tuple[str, ...] = eqx.field(static=True)
    noise: str = eqx.field(static=True)
    sigma: float | None = eqx.field(static=True)  # fixed sigma, or None (estimated)
    E0: float = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)

    @property
    def k(self) -> int:  # local vector length
        return len(self.free) + (1 if self.sigma is None else 0)


def _check_names(model: Model, free: Sequence[str], shared: Sequence[str]) -> None:
    if len(free) == 0:
        raise ValueError("free must name at least one parameter")
    known = set(model.parameter_names()) | set(INITIAL_STATES)
    for name in free:
        if name not in known:
            raise ValueError(
                f"free parameter {name!r} is not a parameter of {type(model).__name__}; "
                f"known: {sorted(known)}"
            )
    if len(set(free)) != len(free):
        raise ValueError(f"free lists a parameter twice: {list(free)}")
    for name in shared:
        if name not in free:
            raise ValueError(f"shared parameter {name!r} must also be in free {list(free)}")
        if name in INITIAL_STATES:
            raise ValueError(f"shared parameter {name!r}: initial states are per patient")


def _bounds(
    model: Model,
    free: Sequence[str],
    bounds: Mapping[str, tuple[float, float]],
    baseline: np.ndarray,
    E0: float,
) -> tuple[np.ndarray, np.ndarray]:
    for name in bounds:
        if name not in free:
            raise ValueError(f"bounds given for {name!r}, which is not free ({list(free)})")
    P = baseline.shape[0]
    lo = np.zeros((P, len(free)))
    hi = np.zeros((P, len(free)))
    for j, name in enumerate(free):
        m_lo, m_hi = model.parameter_bounds.get(name, (0.0, math.inf))
        if name in bounds:
            b = tuple(float(v) for v in bounds[name])
            if len(b) != 2 or not (0 < b[0] < b[1] < math.inf):
                raise ValueError(
                    f"bounds[{name!r}] must be (lo, hi) with 0 < lo < hi < inf; "
                    f"got {bounds[name]!r}"
                )
            if b[0] < m_lo or b[1] > m_hi:
                raise ValueError(
                    f"bounds[{name!r}] = {b!r} leave the allowed range [{m_lo}, {m_hi}] of "
                    f"{type(model).__name__}.{name}"
                )
            lo[:, j], hi[:, j] = b
            continue
        if name == "T0":
            ref = baseline
        elif name == "E0":
            ref = np.full(P, E0)
        else:
            ref = np.full(P, float(np.asarray(getattr(model, name))))
        if np.any(ref <= 0):
            raise ValueError(
                f"free parameter {name!r} has value {float(np.min(ref))!r} <= 0; give "
                "positive bounds=(lo, hi) for it"
            )
        # model value ÷/× 10, inside the model's allowed range (e.g. PD-L1 L <= 1)
        lo[:, j] = np.maximum(ref / 10.0, m_lo)
        hi[:, j] = np.minimum(ref * 10.0, m_hi)
        if np.any(lo[:, j] >= hi[:, j]) or np.any(lo[:, j] <= 0):
            raise ValueError(f"free parameter {name!r}: give bounds=(lo, hi) explicitly")
    return lo, hi


def _scalar_model(model: Model) -> Model:
    model.validate()
    if model.n_patients() != 1 or any(np.ndim(v) > 0 for v in model.parameters().values()):
        raise ValueError(
            "model for fitting must have scalar parameters (fixed values shared by patients)"
        )
    return jax.tree_util.tree_map(lambda v: np.asarray(v, dtype=np.float64), model)


def _initial_state(model: Model, T0: ArrayLike, E0: ArrayLike) -> Float[Array, " n_states"]:
    """Initial states of ``model``: ``T0`` tumor cells in its tumor state (in that state's
    unit, :meth:`~tumorimmune.model.Model.tumor_size`), ``E0`` effectors in its effector state
    (if it has one), the others from :meth:`~tumorimmune.model.Model.baseline_state` (0 if
    not set there)."""
    if model.tumor_state is None:
        raise ValueError(f"{type(model).__name__} has no tumor state to fit")
    y0: dict[str, Any] = {model.tumor_state: model.tumor_size(jnp.asarray(T0, jnp.float64))}
    if model.effector_state is not None:
        y0[model.effector_state] = jnp.asarray(E0, jnp.float64)
    y0 = model.baseline_state(y0)
    return jnp.stack([jnp.asarray(y0.get(n, 0.0), jnp.float64) for n in model.state_names])


def _predict_tumor(
    pb: _Problem,
    theta: Float[Array, " k"],
    t: Float[Array, " M"],
    y_base: Float[Array, ""],
    dose: Float[Array, " n_seg"],
    *,
    adjoint: diffrax.AbstractAdjoint | None = None,
) -> Float[Array, " M"]:
    """Tumor cells at times ``t`` (days since baseline) for parameter values ``theta``."""
    values = dict(zip(pb.free, theta, strict=True))
    params = {k: v for k, v in values.items() if k not in INITIAL_STATES}
    model = dataclasses.replace(pb.model, **params)  # type: ignore[type-var]
    y0v = _initial_state(model, values.get("T0", y_base), values.get("E0", pb.E0))
    ys, _, _ = solve_patient(
        model,
        y0v,
        t,
        jnp.asarray(pb.seg_start),
        jnp.asarray(pb.seg_end),
        dose,
        rtol=pb.rtol,
        atol=pb.atol,
        dosing_state=model.dosing_state if isinstance(model, AbstractDrugModel) else -1,
        tumor_index=tumor_state_index(model),
        max_steps=pb.max_steps,
        adjoint=adjoint,
    )
    return model.burden(ys)


def _nll(
    pb: _Problem,
    z: Float[Array, " k"],
    t: Array,
    y: Array,
    w: Array,
    lo: Array,
    hi: Array,
    dose: Array,
    *,
    adjoint: diffrax.AbstractAdjoint | None = None,
) -> Float[Array, ""]:
    """Negative log-likelihood of one patient; ``z`` = free parameters in x-space (+ log σ)."""
    nf = len(pb.free)
    theta = to_param(z[:nf], lo, hi)
    log_sigma = z[nf] if pb.sigma is None else jnp.log(pb.sigma)
    f = jnp.maximum(_predict_tumor(pb, theta, t, y[0], dose, adjoint=adjoint), 1.0)
    if pb.noise == "lognormal":
        r = (jnp.log(y) - jnp.log(f)) / jnp.exp(log_sigma)
        terms = 0.5 * r**2 + log_sigma + 0.5 * _LOG_2PI + jnp.log(y)
    else:  # proportional: y = f·(1 + σ ε)
        r = (y - f) / (f * jnp.exp(log_sigma))
        terms = 0.5 * r**2 + log_sigma + jnp.log(f) + 0.5 * _LOG_2PI
    return jnp.sum(w * terms)


@dataclasses.dataclass(frozen=True)
class FitResult:
    """Estimates, uncertainty and goodness of fit of :func:`fit_patients`.

    Attributes:
        dataset: ``xarray.Dataset`` with dims ``patient`` and ``param`` (see
            :func:`fit_patients`).
        data: the fitted :class:`~tumorimmune.calibrate.TumorData`.
    """

    dataset: xr.Dataset
    data: TumorData
    _problem: _Problem = dataclasses.field(repr=False)

    def table(self) -> pd.DataFrame:
        """Long table: one row per patient × parameter (estimate, 95 % CI, SE of log)."""
        ds = self.dataset
        df = (
            ds[["estimate", "ci_lo", "ci_hi", "se_log", "at_bound", "identifiable"]]
            .to_dataframe()
            .reset_index()
            .merge(
                ds[
                    [
                        "sigma",
                        "residual_sd",
                        "aic",
                        "nll",
                        "n_obs",
                        "converged",
                        "poor_fit",
                        "above_capacity",
                        "fit_ok",
                        "flags",
                    ]
                ]
                .to_dataframe()
                .reset_index(),
                on="patient",
            )
        )
        return df

    def predict(self, days: Float[np.ndarray, " n"]) -> Float[np.ndarray, "P n"]:
        """Fitted tumor cells at ``days`` since each patient's baseline, shape (P, n)."""
        pb = self._problem
        d = np.asarray(days, dtype=float)
        if d.ndim != 1 or d[0] != 0 or np.any(np.diff(d) < 0):
            raise ValueError("days must be 1-D, sorted, starting at 0 (the baseline)")
        est = self.dataset["estimate"].values
        t_end = max(float(d[-1]), float(pb.seg_end[-1]))
        data = self.data
        starts, ends, dose = dose_segments(data, t_end)
        pb2 = dataclasses.replace(pb, seg_start=starts, seg_end=ends, seg_dose=dose)
        with jax.enable_x64(True):
            out = _predict_dense(
                pb2, jnp.asarray(est), jnp.asarray(d), jnp.asarray(data.cells[:, 0])
            )
        return np.asarray(out)

    def figure(self, **kwargs: object):
        """Data vs fitted curves per patient (plotly); see :func:`fit_figure`."""
        from ._figure import fit_figure

        return fit_figure(self, **kwargs)  # type: ignore[arg-type]


@eqx.filter_jit
def _predict_dense(pb: _Problem, est: Array, days: Array, y_base: Array) -> Array:
    one = lambda th, yb, ds: _predict_tumor(pb, th, days, yb, ds)  # noqa: E731
    return jax.vmap(one)(est, y_base, jnp.asarray(pb.seg_dose))


def fit_patients(
    data: TumorData,
    model: Model,
    free: Sequence[str],
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    shared: Sequence[str] = (),
    noise: Noise = _NOISE,
    init: Mapping[str, float] | None = None,
    regimen: Regimen | None = None,
    optimizer: Minimizer | optax.GradientTransformation | None = None,
    tolerances: Tolerances | None = None,
) -> FitResult:
    """Fit free model parameters to every patient's tumor sizes by maximum likelihood.

    Model (float64): the tumor state ``T`` (cells) of ``model`` from baseline ``T(0)`` = the
    first measurement (or the free ``"T0"``) and ``E(0) = E0`` (or the free ``"E0"``), with
    the patient's bolus doses (or ``regimen`` from baseline). Noise models for a measurement
    ``y`` (cells) with prediction ``f`` (floored at 1 cell):

    * ``"lognormal"``: ``log y = log f + σ ε``; ``y`` must be > 0;
    * ``"proportional"``: ``y = f·(1 + σ ε)`` (its ``log(σ f)`` normalising term makes the
      MLE slightly biased towards larger ``f`` for a fixed ``σ``; prefer log-normal);

    with ``ε ~ N(0, 1)`` and ``σ`` estimated (per patient, or shared in a joint fit) unless
    given (:class:`Noise`). When ``T0`` is not free the baseline measurement is the initial
    condition and is left out of the likelihood.

    Args:
        data: measurements (:func:`~tumorimmune.calibrate.load_measurements`).
        model: model with scalar parameters; the non-free ones stay fixed.
        free: names of the fitted parameters (model fields, ``"T0"``, ``"E0"``).
        bounds: ``{name: (lo, hi)}`` in model units, ``0 < lo < hi``, inside the model's
            ``parameter_bounds``; default: the model value (the baseline for ``T0``) ÷/× 10,
            clipped to ``parameter_bounds`` (e.g. ``L`` in [0.1, 1]).
        shared: free parameters common to all patients (joint fit); the others are per
            patient. Empty: independent per-patient fits in parallel (``vmap``).
        noise: the residual model and its level, :class:`Noise` (default log-normal, ``σ``
            estimated, small-sample intervals).
        init: starting values of start 0 (default: model values, baseline for ``T0``);
            ``init["E0"]`` is also the baseline effector count when ``E0`` is not free
            (default :data:`DEFAULT_E0`, 3.2e5 cells).
        regimen: dosing from each patient's baseline (instead of the data's dosing records).
        optimizer: :class:`~tumorimmune.calibrate.Minimizer` (optax optimizer, default
            L-BFGS; iteration limit and tolerances; ``n_starts`` starts per problem, start 0
            from ``init``, the others log-uniform within the bounds drawn with ``seed``, the
            best final likelihood wins), or an optax optimizer alone (e.g.
            ``optax.adam(0.05)``) with the other :class:`Minimizer` defaults.
        tolerances: ODE tolerances (float64; default 1e-8 / 1e-6) and step limit per segment
            between doses (:class:`~tumorimmune.solvers.Tolerances`).

    Returns:
        :class:`FitResult` whose ``dataset`` has, per ``(patient, param)``: ``estimate``,
        ``ci_lo``, ``ci_hi`` (95 % Laplace intervals), ``se_log`` (standard error of the log
        estimate, delta method); per ``patient``: ``sigma`` (+ ``sigma_lo``, ``sigma_hi``),
        ``nll``, ``aic`` (per-patient fits; the joint AIC is ``attrs["aic"]``),
        ``residual_sd`` (SD of log residuals or of relative residuals), ``n_obs``, ``n_iter``,
        ``grad_norm``, ``converged``, ``timed_out`` (stopped by the optimizer's time limit),
        ``hessian_ok`` (Hessian positive definite), and the
        data: ``obs_day``, ``observed``, ``fitted`` (patient, obs) in days and cells.
        Diagnostics: ``at_bound`` and ``identifiable`` (patient, param); ``hessian_condition``,
        ``poor_fit``, ``above_capacity`` (a measurement above the model's carrying capacity
        ``1/b``, attribute ``capacity_cells``), ``fit_ok`` (converged and none of these) and
        ``flags`` (the reasons, text) per patient.
    """
    free = tuple(free)
    shared = tuple(shared)
    rtol, atol, max_steps = as_tolerances(tolerances).resolve("float64")
    if not isinstance(optimizer, Minimizer):
        optimizer = Minimizer(optimizer=optimizer)
    noise.check()
    if int(optimizer.n_starts) < 1:
        raise ValueError(f"n_starts must be >= 1; got {optimizer.n_starts!r}")
    init = dict(init or {})
    E0 = float(init.get("E0", DEFAULT_E0))  # fixed, or (free) start and default bounds' centre
    if "E0" not in free:
        init.pop("E0", None)
    if not isinstance(data, TumorData):
        raise TypeError("data must be a TumorData (see load_measurements)")
    base_model = _scalar_model(model)
    _check_names(base_model, free, shared)
    if noise.kind == "lognormal" and np.any(data.cells[data.mask] <= 0):
        i = int(np.flatnonzero(np.any(data.mask & (data.cells <= 0), axis=1))[0])
        raise ValueError(
            f"log-normal noise needs positive sizes; patient {data.patients[i]!r} has a 0 "
            "measurement (use Noise('proportional'))"
        )
    if regimen is not None:
        data = _with_regimen(data, regimen, base_model)
    if data.has_doses and not isinstance(base_model, AbstractDrugModel):
        raise ValueError(
            f"the data has dosing records but {type(base_model).__name__} has no drug "
            "compartment; use TumorImmunePD1"
        )
    lo, hi = _bounds(base_model, free, bounds or {}, data.cells[:, 0], E0)
    t_end = float(np.max(data.t))
    starts, ends, seg_dose = dose_segments(data, t_end)
    weight = data.mask.astype(float)
    if "T0" not in free:
        weight[:, 0] = 0.0
    pb = _Problem(
        model=base_model,
        free=free,
        shared=shared,
        lo=lo,
        hi=hi,
        noise=noise.kind,
        sigma=noise.sigma,
        E0=float(E0),
        t=data.t,
        y=data.cells,
        weight=weight,
        seg_start=starts,
        seg_end=ends,
        seg_dose=seg_dose,
        rtol=float(rtol),
        atol=float(atol),
        max_steps=int(max_steps),
    )
    n_starts, seed = int(optimizer.n_starts), int(optimizer.seed)
    x0 = _starts(pb, base_model, data, init, n_starts, seed, E0)  # (P, S, k)
    opts = dataclasses.replace(optimizer, n_starts=n_starts, seed=seed)
    clock = _time.perf_counter()
    with jax.enable_x64(True):
        if not shared:
            z, info, hess = _fit_independent(pb, jnp.asarray(x0), opts)
        else:
            z, info, hess = _fit_joint(pb, jnp.asarray(x0), opts)
        fitted = _fitted(pb, z)
    wall = _time.perf_counter() - clock
    return FitResult(
        dataset=_package(
            pb, data, np.asarray(z), info, hess, np.asarray(fitted), wall, opts, noise.small_sample
        ),
        data=data,
        _problem=pb,
    )


def _with_regimen(data: TumorData, regimen: Regimen, model: Model) -> TumorData:
    if not isinstance(model, AbstractDrugModel):
        raise ValueError(f"regimen given but {type(model).__name__} has no drug compartment")
    t_end = float(np.max(data.t)) + 1e-9
    days = regimen.dose_times(0.0, t_end)
    mg = float(regimen.dose_amount_mg(np.asarray(model.weight)))
    return dataclasses.replace(
        data,
        dose_days=tuple(days.copy() for _ in range(data.n_patients)),
        dose_mg=tuple(np.full(len(days), mg) for _ in range(data.n_patients)),
    )


def _starts(
    pb: _Problem,
    model: Model,
    data: TumorData,
    init: Mapping[str, float],
    n_starts: int,
    seed: int,
    E0: float,
) -> np.ndarray:
    P, nf = pb.lo.shape
    for name in init:
        if name not in pb.free:
            raise ValueError(f"init given for {name!r}, which is not free ({list(pb.free)})")
    p0 = np.zeros((P, nf))
    for j, name in enumerate(pb.free):
        if name in init:
            p0[:, j] = float(init[name])
        elif name == "T0":
            p0[:, j] = data.cells[:, 0]
        elif name == "E0":
            p0[:, j] = E0
        else:
            p0[:, j] = float(np.asarray(getattr(model, name)))
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.02, 0.98, size=(P, n_starts, nf))
    x = np.log(u) - np.log1p(-u)
    x[:, 0, :] = to_unconstrained(np.clip(p0, pb.lo, pb.hi), pb.lo, pb.hi, margin=1e-3)
    if pb.shared:  # shared parameters start from the same value for every patient
        for j, name in enumerate(pb.free):
            if name in pb.shared:
                x[:, :, j] = x[:1, :, j]
    if pb.sigma is None:
        x = np.concatenate([x, np.full((P, n_starts, 1), math.log(0.2))], axis=-1)
    return x


def _arrays(pb: _Problem) -> tuple[Array, ...]:
    return tuple(jnp.asarray(a) for a in (pb.t, pb.y, pb.weight, pb.lo, pb.hi, pb.seg_dose))


@eqx.filter_jit
def _fitted(pb: _Problem, z: Array) -> Array:
    def one(zz, t, y, w, lo, hi, d):
        return _predict_tumor(pb, to_param(zz[: len(pb.free)], lo, hi), t, y[0], d)

    return jax.vmap(one)(z, *_arrays(pb))


def _forward_gradient(f: Callable[[Array], Array]) -> Callable[[Array], Array]:
    """``f`` whose reverse-mode gradient (``jax.grad``) is computed in forward mode
    (``jax.jacfwd``: one tangent per entry of ``x``, the value computed once beside them)."""

    @jax.custom_vjp
    def g(x: Array) -> Array:
        return f(x)

    def fwd(x: Array) -> tuple[Array, Array]:
        grad, value = jax.jacfwd(lambda q: (v := f(q), v), has_aux=True)(x)
        return value, grad

    def bwd(grad: Array, ct: Array) -> tuple[Array]:
        return (jnp.where(ct == 0, 0.0, ct * grad),)  # no 0·NaN from a failed solve

    g.defvjp(fwd, bwd)
    return g


#: :func:`_nll` compiled as one program: every call site of the optimizer (first point, line
#: search, its zoom) reuses one trace of the ODE solve instead of tracing it again.
_nll_jit = eqx.filter_jit(_nll)


def _objective(
    pb: _Problem, t: Array, y: Array, w: Array, lo: Array, hi: Array, d: Array
) -> Callable[[Array], Array]:
    """One patient's negative log-likelihood as the optimizer minimises it: a function of the
    local vector ``z`` whose gradient comes from forward-mode sensitivities of the ODE solve
    (``diffrax.ForwardMode``; a patient has a few free parameters, and forward mode is then
    cheaper to trace, compile and run than the checkpointed reverse pass; same gradient to
    rounding: tests/calibrate/test_fit.py)."""
    adjoint = diffrax.ForwardMode()
    return _forward_gradient(lambda z: _nll_jit(pb, z, t, y, w, lo, hi, d, adjoint=adjoint))


@eqx.filter_jit
def _run_independent(pb: _Problem, x0: Array, opts: Minimizer):
    def solve_one(z0, t, y, w, lo, hi, d):
        return opts.minimize(_objective(pb, t, y, w, lo, hi, d), z0)

    per_start = jax.vmap(solve_one, in_axes=(0, None, None, None, None, None, None))
    return jax.vmap(per_start)(x0, *_arrays(pb))


def _fit_independent(pb: _Problem, x0: Array, opts: Minimizer):
    res = _run_independent(pb, x0, opts)
    best = jnp.argmin(jnp.where(jnp.isfinite(res.value), res.value, jnp.inf), axis=1)
    pick = lambda a: jnp.take_along_axis(a, best.reshape((-1,) + (1,) * (a.ndim - 1)), 1)[:, 0]  # noqa: E731
    z = pick(res.x)
    info = {
        "nll": pick(res.value),
        "grad_norm": pick(res.grad_norm),
        "n_iter": pick(res.n_iter),
        "converged": pick(res.converged),
        "timed_out": pick(res.timed_out),
        "nll_starts": res.value,
    }
    hess = _local_hessians(pb, z)
    return z, info, hess


@eqx.filter_jit
def _local_hessians(pb: _Problem, z: Array) -> Array:
    fwd = diffrax.ForwardMode()

    def h(zz, t, y, w, lo, hi, d):
        f = lambda q: _nll(pb, q, t, y, w, lo, hi, d, adjoint=fwd)  # noqa: E731
        return jax.jacfwd(jax.jacfwd(f))(zz)

    return jax.vmap(h)(z, *_arrays(pb))


def _joint_index(pb: _Problem, P: int) -> tuple[np.ndarray, int]:
    """Global index of each patient's local vector entries, shape (P, k), and the size."""
    idx = np.zeros((P, pb.k), dtype=np.int64)
    pos = 0
    for j, name in enumerate(pb.free):
        if name in pb.shared:
            idx[:, j] = pos
            pos += 1
    for j, name in enumerate(pb.free):
        if name not in pb.shared:
            idx[:, j] = pos + np.arange(P)
            pos += P
    if pb.sigma is None:
        idx[:, -1] = pos
        pos += 1
    return idx, pos


def _batched_nll(pb: _Problem, z: Array) -> Array:
    return jax.vmap(lambda zz, t, y, w, lo, hi, d: _nll(pb, zz, t, y, w, lo, hi, d))(
        z, *_arrays(pb)
    )


@eqx.filter_jit
def _run_joint(pb: _Problem, g0: Array, jidx: Array, opts: Minimizer):
    def total(g):  # reverse mode through the gather, forward mode inside each patient
        per_patient = jax.vmap(lambda zz, *a: _objective(pb, *a)(zz))
        return jnp.sum(per_patient(g[jidx], *_arrays(pb)))

    return jax.vmap(lambda g: opts.minimize(total, g))(g0)


def _fit_joint(pb: _Problem, x0: Array, opts: Minimizer):
    P = pb.t.shape[0]
    idx, n = _joint_index(pb, P)
    jidx = jnp.asarray(idx)
    S = x0.shape[1]
    g0 = np.zeros((S, n))
    for s in range(S):  # scatter the per-patient starts into the global vector
        g0[s, idx.ravel()] = np.asarray(x0[:, s, :]).ravel()
    res = _run_joint(pb, jnp.asarray(g0), jidx, opts)
    b = int(jnp.argmin(jnp.where(jnp.isfinite(res.value), res.value, jnp.inf)))
    g = res.x[b]
    z = g[jidx]
    local = _local_hessians(pb, z)  # (P, k, k)
    H = np.zeros((n, n))
    for i in range(P):  # the joint Hessian is the sum of the patients' local Hessians
        H[np.ix_(idx[i], idx[i])] += np.asarray(local[i])
    nll_i = np.asarray(eqx.filter_jit(_batched_nll)(pb, z))
    info = {
        "nll": jnp.asarray(nll_i),
        "grad_norm": jnp.full(P, res.grad_norm[b]),
        "n_iter": jnp.full(P, res.n_iter[b]),
        "converged": jnp.full(P, res.converged[b]),
        "timed_out": jnp.full(P, res.timed_out[b]),
        "nll_starts": jnp.broadcast_to(res.value, (P, S)),
        "joint": (H, idx, float(res.value[b])),
    }
    return z, info, local


def _package(
    pb: _Problem,
    data: TumorData,
    z: np.ndarray,
    info: dict,
    hess: Array,
    fitted: np.ndarray,
    wall: float,
    opts: Minimizer,
    small_sample: bool,
) -> xr.Dataset:
    P, nf = pb.lo.shape
    k = pb.k
    if "joint" in info:
        H, idx, total_nll = info["joint"]
        cov_g, ok_g = _inverse(H)
        cov = np.stack([cov_g[np.ix_(idx[i], idx[i])] for i in range(P)])
        ok = np.full(P, ok_g)
    else:
        covs = [_inverse(np.asarray(h)) for h in np.asarray(hess)]
        cov = np.stack([c for c, _ in covs])
        ok = np.array([o for _, o in covs])
        total_nll = float(np.sum(np.asarray(info["nll"])))
    sd = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))  # (P, k)
    xf = z[:, :nf]
    n_res = (pb.weight > 0).sum(axis=1)
    if pb.sigma is None and small_sample:
        # σ estimated: s² = RSS/(n − p) instead of RSS/n, and Student-t with n − p dof
        n_eff = np.full(P, n_res.sum()) if pb.shared else n_res
        p_eff = int(np.max(info["joint"][1])) if pb.shared else nf  # global size − σ
        dof = (n_eff - p_eff).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            inflate = np.where(dof > 0, np.sqrt(n_eff / dof), np.nan)
        quantile = np.where(dof > 0, scipy.stats.t.ppf(0.975, np.maximum(dof, 1.0)), np.nan)
        sd_theta = sd[:, :nf] * inflate[:, None]
    else:
        quantile = np.full(P, _Z95)
        sd_theta = sd[:, :nf]
    with jax.enable_x64(True):
        est = np.asarray(to_param(xf, pb.lo, pb.hi))
        ci_lo = np.asarray(to_param(xf - quantile[:, None] * sd_theta, pb.lo, pb.hi))
        ci_hi = np.asarray(to_param(xf + quantile[:, None] * sd_theta, pb.lo, pb.hi))
        se_log = np.abs(np.asarray(dlogparam_dx(xf, pb.lo, pb.hi))) * sd_theta
    if pb.sigma is None:
        ls, sls = z[:, nf], sd[:, nf]
        sig, sig_lo, sig_hi = np.exp(ls), np.exp(ls - _Z95 * sls), np.exp(ls + _Z95 * sls)
    else:
        sig = sig_lo = sig_hi = np.full(P, pb.sigma)
    w = pb.weight > 0
    f = np.maximum(fitted, 1.0)
    if pb.noise == "lognormal":
        res = np.log(np.maximum(pb.y, 1e-300)) - np.log(f)
    else:
        res = (pb.y - f) / f
    with np.errstate(invalid="ignore", divide="ignore"):
        resid_sd = np.sqrt(np.sum(np.where(w, res, 0.0) ** 2, axis=1) / n_res)
    nll = np.asarray(info["nll"])
    aic = 2.0 * k + 2.0 * nll
    if pb.shared:
        n_global = info["joint"][1].max() + 1
        aic_total = 2.0 * n_global + 2.0 * total_nll
    else:
        aic_total = float(np.sum(aic))
    params = list(pb.free)
    pdims = ("patient", "param")
    ds = xr.Dataset(
        {
            "estimate": (pdims, est),
            "ci_lo": (pdims, ci_lo),
            "ci_hi": (pdims, ci_hi),
            "se_log": (pdims, se_log),
            "lower_bound": (pdims, pb.lo),
            "upper_bound": (pdims, pb.hi),
            "sigma": ("patient", sig),
            "sigma_lo": ("patient", sig_lo),
            "sigma_hi": ("patient", sig_hi),
            "nll": ("patient", nll),
            "aic": ("patient", aic),
            "residual_sd": ("patient", resid_sd),
            "n_obs": ("patient", n_res.astype(np.int64)),
            "n_iter": ("patient", np.asarray(info["n_iter"]).astype(np.int64)),
            "grad_norm": ("patient", np.asarray(info["grad_norm"])),
            "converged": ("patient", np.asarray(info["converged"]).astype(bool)),
            "timed_out": ("patient", np.asarray(info["timed_out"]).astype(bool)),
            "hessian_ok": ("patient", ok),
            "nll_starts": (("patient", "start"), np.asarray(info["nll_starts"])),
            "obs_day": (("patient", "obs"), np.where(data.mask, data.t, np.nan)),
            "observed": (("patient", "obs"), np.where(data.mask, data.cells, np.nan)),
            "fitted": (("patient", "obs"), np.where(data.mask, fitted, np.nan)),
            "baseline_day": ("patient", data.baseline_day),
        },
        coords={"patient": [str(p) for p in data.patients], "param": params},
    )
    ds["estimate"].attrs["description"] = "maximum-likelihood estimate, model units"
    ds["ci_lo"].attrs["description"] = "95 % Laplace interval, lower end (model units)"
    ds["ci_hi"].attrs["description"] = "95 % Laplace interval, upper end (model units)"
    ds["obs_day"].attrs["units"] = "days"  # not CF "days since ...": not a calendar time
    ds["obs_day"].attrs["description"] = "days since the patient's baseline measurement"
    ds["observed"].attrs["units"] = "cells"
    ds["fitted"].attrs["units"] = "cells"
    ds["residual_sd"].attrs["description"] = (
        "SD of log residuals" if pb.noise == "lognormal" else "SD of relative residuals"
    )
    ds.attrs.update(
        model=type(pb.model).__name__,
        free=json.dumps(list(pb.free)),
        shared=json.dumps(list(pb.shared)),
        noise=pb.noise,
        sigma_fixed=pb.sigma if pb.sigma is not None else "estimated",
        mode="joint" if pb.shared else "per-patient",
        interval_method=(
            "Laplace, Student-t (n-p dof), covariance x n/(n-p)"
            if pb.sigma is None and small_sample
            else "Laplace, normal (1.96)"
        ),
        aic=aic_total,
        nll=total_nll,
        unit=data.unit,
        cells_per_cm3=data.cells_per_cm3,
        n_lesions=data.n_lesions,
        wall_time_s=wall,
        precision="float64",
        options=json.dumps(opts.describe()),
        fixed_parameters=json.dumps(
            {
                k: float(np.asarray(getattr(pb.model, k)))
                for k in pb.model.parameter_names()
                if k not in pb.free
            }
        ),
        E0=pb.E0,
        tumorimmune_version=__version__,
    )
    if "joint" in info:
        cond = np.full(P, _condition(info["joint"][0]))
    else:  # the structural parameters' block (x-space: scaled to the bounds)
        cond = np.array([_condition(h[:nf, :nf]) for h in np.asarray(hess)])
    return _diagnose(ds, pb, cond)


def _condition(H: np.ndarray) -> float:
    H = 0.5 * (np.asarray(H) + np.asarray(H).T)
    if not np.all(np.isfinite(H)):
        return math.inf
    w = np.abs(np.linalg.eigvalsh(H))
    return float(w.max() / w.min()) if w.min() > 0 else math.inf


def _capacity(ds: xr.Dataset, model: Model) -> np.ndarray:
    """Carrying capacity ``1/b`` (cells) per patient, from the fitted ``b`` when it is free."""
    P = ds.sizes["patient"]
    if "b" in ds["param"].values:
        b = ds["estimate"].sel(param="b").values
    elif "b" in model.parameter_names():
        b = np.full(P, float(np.asarray(model.b)))  # type: ignore[attr-defined]
    else:  # pragma: no cover - every model here has a logistic b
        return np.full(P, np.inf)
    with np.errstate(divide="ignore"):
        return 1.0 / b


def _diagnose(ds: xr.Dataset, pb: _Problem, cond: np.ndarray) -> xr.Dataset:
    """Flag estimates at a bound, non-identifiable parameters, poor fits and data above the
    model's carrying capacity; ``fit_ok`` only when none applies and the optimiser converged."""
    log_lo, log_hi = np.log(pb.lo), np.log(pb.hi)
    span = log_hi - log_lo
    frac = (np.log(ds["estimate"].values) - log_lo) / span
    at_bound = (frac < AT_BOUND_FRACTION) | (frac > 1.0 - AT_BOUND_FRACTION)
    width = (np.log(ds["ci_hi"].values) - np.log(ds["ci_lo"].values)) / span
    singular = ~ds["hessian_ok"].values | ~(cond < MAX_CONDITION)
    identifiable = ~(~np.isfinite(width) | (width >= UNIDENTIFIABLE_FRACTION) | singular[:, None])
    poor = ~(ds["residual_sd"].values <= POOR_FIT_SD[pb.noise])
    capacity = _capacity(ds, pb.model)
    above = np.nanmax(ds["observed"].values, axis=1) > capacity
    converged = ds["converged"].values
    params = [str(p) for p in ds["param"].values]
    unit = str(ds.attrs.get("unit", "cells"))
    size = [""] * len(capacity)
    if unit != "cells":  # the capacity in the data's own unit, e.g. " (9.85 mm)"
        readout = Readout(cells_per_cm3=float(ds.attrs.get("cells_per_cm3", 1e9)))
        size = [f" ({float(cells_to_unit(c, unit, readout=readout)):.3g} {unit})" for c in capacity]
    flags = []
    for i in range(ds.sizes["patient"]):
        why = []
        if not converged[i]:
            late = "timed_out" in ds and bool(ds["timed_out"].values[i])
            why.append("not converged (time limit)" if late else "not converged")
        if at_bound[i].any():
            hit = ", ".join(p for p, b in zip(params, at_bound[i], strict=True) if b)
            why.append(f"at a bound: {hit}")
        if not identifiable[i].all():
            bad = ", ".join(p for p, ok in zip(params, identifiable[i], strict=True) if not ok)
            why.append(f"not identifiable: {bad}")
        if poor[i]:
            why.append(f"poor fit (residual SD {ds['residual_sd'].values[i]:.2g})")
        if above[i]:
            why.append(f"data above the carrying capacity 1/b = {capacity[i]:.3g} cells{size[i]}")
        flags.append("; ".join(why))
    pdims = ("patient", "param")
    ds["at_bound"] = (pdims, at_bound)
    ds["identifiable"] = (pdims, identifiable)
    ds["hessian_condition"] = ("patient", cond)
    ds["poor_fit"] = ("patient", poor)
    ds["above_capacity"] = ("patient", above)
    ds["fit_ok"] = ("patient", np.array([not f for f in flags]))
    ds["flags"] = ("patient", np.array(flags, dtype=object))
    ds["at_bound"].attrs["description"] = (
        f"estimate within {AT_BOUND_FRACTION:g} of the log-range of its bounds"
    )
    ds["identifiable"].attrs["description"] = (
        f"Hessian non-singular (condition < {MAX_CONDITION:g}) and 95 % interval narrower than "
        f"{UNIDENTIFIABLE_FRACTION:g} of the log-range of the bounds"
    )
    ds["poor_fit"].attrs["description"] = f"residual SD > {POOR_FIT_SD[pb.noise]:g}"
    ds["above_capacity"].attrs["description"] = "a measurement above 1/b cells"
    ds.attrs["capacity_cells"] = float(np.nanmin(capacity))
    return ds


def _inverse(H: np.ndarray) -> tuple[np.ndarray, bool]:
    """Covariance from a Hessian: inverse if positive definite, else pseudo-inverse (flagged)."""
    H = 0.5 * (H + H.T)
    if not np.all(np.isfinite(H)):
        return np.full_like(H, np.nan), False
    try:
        np.linalg.cholesky(H)
        return np.linalg.inv(H), True
    except np.linalg.LinAlgError:
        return np.linalg.pinv(H), False

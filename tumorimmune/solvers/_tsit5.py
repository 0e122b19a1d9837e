"""Numerics of the fast batch backends: one adaptive Tsit5 step for many patients at once.

Everything here is elementwise over the lanes and written for two layouts of the states
(:data:`States`): one stacked array ``(S, *lanes)`` in the fused XLA loop of :mod:`._fused`
(whole-array operations: XLA fuses them into few loops), or a list of per-state blocks in the
Pallas kernels of :mod:`._pallas`; :func:`each` applies a per-state formula to either. Both
backends run literally the same arithmetic and stay step-for-step identical. The drivers only
decide *which* stop a lane heads for and what happens to outputs; they call:

- :func:`start`: bolus at ``t0``, extinction, FSAL derivative and the initial step
  (:func:`initial_step`, Hairer's algorithm as in diffrax);
- :func:`advance`: one trial step of every active lane (:func:`trial`, :func:`error_norm`),
  accept/reject and the new step size (:func:`adapt`), landing exactly on the lane's next stop
  (output or dose time), the bolus there, extinction, step counting and the status.

Sources (read from the installed diffrax at import, not copied):

- the tableau of ``diffrax.Tsit5`` (Tsitouras 2011; FSAL: the 7th stage is ``f(t + h, y1)``);
- the defaults of ``diffrax.PIDController`` (``safety``, ``factormin``, ``factormax``; an
  integral controller: ``pcoeff = dcoeff = 0``, ``icoeff = 1``);
- status codes ``diffrax.RESULTS``: 0 ``successful``, 1 ``max_steps_reached`` (``max_steps``
  accepted+rejected steps used up in one segment between doses), 10 ``dt_min_reached``, which
  here means *time cannot advance* (``t + dt == t`` in the working precision, e.g. a
  non-finite vector field): the fast backends stop such a patient at once, where diffrax
  would spend its remaining steps and report 1.

Error norm: ``RMS(err / (atol + rtol·max(|y0|, |y1|)))`` summed over the states in a fixed
order (:func:`rms`), so that results do not depend on lane, pool or block sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from ._extinction import EXTINCTION_CELLS

# ---------------------------------------------------------------------------- from diffrax
_TABLEAU = diffrax.Tsit5.tableau
assert _TABLEAU.fsal and len(_TABLEAU.a_lower) == 6  # 7 stages, the last one is f(t + h, y1)
#: Lower triangle of the Runge–Kutta matrix, stages 2..6 (stage 7 is the FSAL evaluation).
A: tuple[tuple[float, ...], ...] = tuple(
    tuple(float(a) for a in row) for row in _TABLEAU.a_lower[:-1]
)
#: Weights of the 5th-order solution (stages 1..6; the FSAL stage has weight 0).
B: tuple[float, ...] = tuple(float(b) for b in _TABLEAU.b_sol[:-1])
#: Weights of the error estimate ``b - b_hat`` (stages 1..7).
E: tuple[float, ...] = tuple(float(e) for e in _TABLEAU.b_error)
#: Nodes of stages 2..6.
C: tuple[float, ...] = tuple(float(c) for c in _TABLEAU.c[:-1])
assert _TABLEAU.b_sol[-1] == 0 and len(B) == 6 and len(E) == 7 and len(C) == 5

_PID = diffrax.PIDController(rtol=0.0, atol=0.0)
assert (_PID.pcoeff, _PID.icoeff, _PID.dcoeff) == (0, 1, 0)  # an integral controller
SAFETY, FACTOR_MIN, FACTOR_MAX = float(_PID.safety), float(_PID.factormin), float(_PID.factormax)
#: Order of the error estimate in the controller's exponent ``-1/ERROR_ORDER`` (Tsit5's
#: order + 1; note that diffrax 0.7 itself uses the solver order, 5).
ERROR_ORDER = 6.0


def _code(item: Any) -> int:
    return int(item._value)


STATUS_OK = _code(diffrax.RESULTS.successful)
STATUS_MAX_STEPS = _code(diffrax.RESULTS.max_steps_reached)
#: Time cannot advance (``t + dt == t``); diffrax's ``dt_min_reached``.
STATUS_DT_MIN = _code(diffrax.RESULTS.dt_min_reached)

# ---------------------------------------------------------------------------- the numerics
#: States of a set of lanes: a stacked array ``(S, *lanes)`` or a list of ``S`` arrays.
States = Any
#: ``f(t, y) -> dy/dt`` on :data:`States` (the same layout in and out).
Field = Callable[[Array, States], States]


def each(fn: Callable[..., Array], *xs: States) -> States:
    """``fn`` applied state by state (``fn`` is elementwise): on lists element by element, on
    stacked arrays at once."""
    if isinstance(xs[0], (list, tuple)):
        return [fn(*v) for v in zip(*xs, strict=True)]
    return fn(*xs)


def _update(y: States, i: int, value: Array) -> States:
    """``y`` with state ``i`` replaced by ``value``."""
    if isinstance(y, (list, tuple)):
        y = list(y)
        y[i] = value
        return y
    return y.at[i].set(value)


class Lanes(eqx.Module):
    """Loop state of a set of lanes (every array has the lane shape, e.g. ``(lanes,)``).

    ``t``, ``dt``: time and proposed step (days); ``y``, ``k1``: state and FSAL derivative per
    state; ``js``: index of the lane's next stop; ``seg``: steps tried in the current segment
    between doses; ``steps``: steps tried in total (accepted + rejected); ``status``: 0 while
    fine, else the failure code; ``refresh``: 1 when the next iteration re-evaluates the FSAL
    derivative (after a bolus) instead of stepping.
    """

    t: Float[Array, "*lanes"]
    dt: Float[Array, "*lanes"]
    y: States
    k1: States
    js: Int[Array, "*lanes"]
    seg: Int[Array, "*lanes"]
    steps: Int[Array, "*lanes"]
    status: Int[Array, "*lanes"]
    refresh: Int[Array, "*lanes"]


def rms(xs: States) -> Array:
    """Root mean square over the states (first index), an explicit left fold.

    A fixed summation order: XLA's CPU reduction emitter associates ``jnp.mean`` differently
    for different array shapes, which made a patient's step sizes depend on the lane count.
    """
    acc = xs[0] * xs[0]
    for i in range(1, len(xs)):
        acc = acc + xs[i] * xs[i]
    return jnp.sqrt(acc / len(xs))


def _finite(x: Array) -> Bool[Array, "*lanes"]:
    """``isfinite`` of a non-negative value from plain comparisons (lowers everywhere)."""
    return (x == x) & (x < jnp.inf)


def extinguish(y: States, tumor_index: int) -> tuple[States, Array | None]:
    """Tumor below :data:`EXTINCTION_CELLS` set to exactly 0; also where that happened now
    (``None`` without a tumor state)."""
    if tumor_index < 0:
        return y, None
    T = y[tumor_index]
    gone = (T < EXTINCTION_CELLS) & (T != 0)
    return _update(y, tumor_index, jnp.where(gone, 0.0, T)), gone


def initial_step(f: Field, t: Array, y: States, k1: States, rtol: Any, atol: Any) -> Array:
    """Hairer's initial step size, the algorithm of diffrax's ``_select_initial_step``."""
    scale = each(lambda v: atol + jnp.abs(v) * rtol, y)
    d0 = rms(each(jnp.divide, y, scale))
    d1 = rms(each(jnp.divide, k1, scale))
    small = (d0 < 1e-5) | (d1 < 1e-5)
    h0 = jnp.where(small, 1e-6, 0.01 * d0 / jnp.where(small, 1.0, d1))
    f1 = f(t + h0, each(lambda v, k: v + h0 * k, y, k1))
    d2 = rms(each(lambda a, b, sc: (a - b) / sc, f1, k1, scale)) / h0
    md = jnp.maximum(d1, d2)
    h1 = jnp.where(
        md <= 1e-15,
        jnp.maximum(1e-6, h0 * 1e-3),
        # x ** (1/order) as exp(log(x)/order): the spelling every backend lowers (Triton too)
        jnp.exp(jnp.log(0.01 / jnp.where(md <= 1e-15, 1.0, md)) / ERROR_ORDER),
    )
    return jnp.minimum(100.0 * h0, h1).astype(t.dtype)


def trial(f: Field, t: Array, y: States, k1: States, h: Array, t1: Array):
    """One Tsit5 trial step of size ``h`` ending at ``t1``: ``(y1, k7, err)`` per state.

    ``k7 = f(t1, y1)`` is the next step's FSAL derivative; ``err`` the embedded error estimate.
    With ``h = 0`` every stage is ``f(t, y)`` (a refresh of the FSAL derivative).
    """

    def combine(coeffs: tuple[float, ...], *, plus_y: bool = True) -> Callable[..., Array]:
        """``[y +] h · Σ coeffs[i] · k_i`` on one state: ``fn([y,] k_1, k_2, ...)``."""

        def fn(*parts: Array) -> Array:
            ks = parts[1:] if plus_y else parts
            step = h * sum(c * k for c, k in zip(coeffs, ks, strict=False))
            return parts[0] + step if plus_y else step

        return fn

    ks = [k1]
    for i, row in enumerate(A):
        ks.append(f(t + C[i] * h, each(combine(row), y, *ks)))
    y1 = each(combine(B), y, *ks)
    k7 = f(t1, y1)
    ks.append(k7)
    err = each(combine(E, plus_y=False), *ks)
    return y1, k7, err


def error_norm(err: States, y: States, y1: States, rtol: Any, atol: Any) -> Array:
    """``RMS(err / (atol + rtol·max(|y|, |y1|)))`` (a NaN ``y1`` counts as ``y``)."""
    return rms(
        each(
            lambda e, a, b: (
                e / (atol + rtol * jnp.maximum(jnp.abs(a), jnp.abs(jnp.where(b != b, a, b))))
            ),
            err,
            y,
            y1,
        )
    )


def adapt(en: Array, h: Array, dt: Array, land: Array, refresh: Array) -> tuple[Array, Array]:
    """``(accept, dt_new)``: the PID controller's decision for error norm ``en``.

    ``factor = safety · en^(-1/ERROR_ORDER)``, clipped to ``[1, factormax]`` after an accepted
    step and to ``[factormin, safety]`` after a rejected one (``factormin`` for a non-finite
    norm). After an accepted step clipped to a stop (``land``) the next step is not smaller
    than the unclipped proposal ``dt``. A ``refresh`` iteration keeps ``dt``.
    """
    finite = _finite(en)
    accept = finite & (en < 1.0) & ~refresh
    fac = SAFETY * jnp.exp(jnp.log(jnp.where(en > 0, en, 1e-30)) * (-1.0 / ERROR_ORDER))
    lo = jnp.where(accept, 1.0, FACTOR_MIN)
    hi = jnp.where(accept, FACTOR_MAX, SAFETY)
    fac = jnp.where(finite, jnp.minimum(jnp.maximum(fac, lo), hi), FACTOR_MIN)
    dt_new = h * fac
    dt_new = jnp.where(land & accept, jnp.maximum(dt_new, dt), dt_new)
    return accept, jnp.where(refresh, dt, dt_new)


def start(
    f: Field, t0: Array, y0: States, dose0: Any, *, rtol: Any, atol: Any, tumor_index: int,
    dosing_state: int,
) -> tuple[States, States, Array]:  # fmt: skip
    """``(y, k1, dt)`` at ``t0``: bolus ``dose0`` added, extinction applied, FSAL derivative
    and initial step size."""
    y = y0
    if dosing_state >= 0:
        y = _update(y, dosing_state, y[dosing_state] + dose0)
    y, _ = extinguish(y, tumor_index)
    k1 = f(t0, y)
    return y, k1, initial_step(f, t0, y, k1, rtol, atol)


def initial_lanes(t: Array, y: States, k1: States, dt: Array, js: Array | None = None) -> Lanes:
    """:class:`Lanes` at the start (``js``: first stop, default 0)."""
    zi = jnp.zeros(t.shape, jnp.int32)
    return Lanes(t, dt, y, k1, zi if js is None else js, zi, zi, zi, zi)


def running(s: Lanes, n_stop: Any) -> Bool[Array, "*lanes"]:
    """Lanes that still have a stop ahead and have not failed."""
    return (s.js < n_stop) & (s.status == STATUS_OK)


def advance(
    f: Field,
    s: Lanes,
    *,
    active: Array,
    stop: Array,
    dose: Array | None,
    last: Array,
    rtol: Any,
    atol: Any,
    max_steps: int,
    tumor_index: int,
    dosing_state: int,
) -> tuple[Lanes, Array, States]:
    """One iteration of every ``active`` lane towards its next stop; ``(state, hit, y_stop)``.

    ``stop``: the time of the lane's next stop (the step is clipped to land on it exactly);
    ``dose``: bolus given there (``None``: none); ``last``: whether that stop is the end of
    follow-up. ``hit``: the lane reached its stop in this iteration, and ``y_stop`` is its
    state there (pre-dose, extinct tumor 0), to be written as an output; ``js`` then points
    to the next stop. A bolus makes the next iteration a refresh of the FSAL derivative and
    starts a new segment of ``max_steps``. A lane fails (``status``) when its segment uses up
    ``max_steps`` or when time cannot advance.
    """
    t, dt, y, k1 = s.t, s.dt, s.y, s.k1
    refresh = s.refresh > 0
    land = (t + dt >= stop) & ~refresh
    h = jnp.where(refresh, 0.0, jnp.where(land, stop - t, dt)).astype(t.dtype)
    t1 = jnp.where(land, stop, t + h).astype(t.dtype)
    y1, k7, err = trial(f, t, y, k1, h, t1)
    en = error_norm(err, y, y1, rtol, atol)
    accept, dt_new = adapt(en, h, dt, land, refresh)
    upd = active & accept
    y_stop, _ = extinguish(y1, tumor_index)  # the field already treats it as 0: k7 stays valid
    hit = upd & land
    y_next = y_stop
    dosed = jnp.zeros_like(hit)
    if dose is not None and dosing_state >= 0:
        dosed = hit & (dose != 0)
        y_next = _update(y_next, dosing_state, y_next[dosing_state] + jnp.where(dosed, dose, 0.0))
    finished = hit & last
    tried = (active & ~refresh).astype(jnp.int32)
    seg = jnp.where(dosed, 0, s.seg + tried)
    too_many = active & ~finished & (seg >= max_steps)
    underflow = active & ~finished & ~too_many & ~(t1 + dt_new > t1)
    status = jnp.where(too_many, STATUS_MAX_STEPS, jnp.where(underflow, STATUS_DT_MIN, s.status))
    keep_k7 = (upd & ~dosed) | (active & refresh)
    new = Lanes(
        t=jnp.where(upd, t1, t).astype(t.dtype),
        dt=jnp.where(active, dt_new, dt).astype(t.dtype),
        y=each(lambda a, b: jnp.where(upd, a, b), y_next, y),
        k1=each(lambda a, b: jnp.where(keep_k7, a, b), k7, k1),
        js=jnp.where(hit, s.js + 1, s.js),
        seg=seg,
        steps=s.steps + tried,
        status=status.astype(jnp.int32),
        refresh=(active & dosed).astype(jnp.int32),
    )
    return new, hit, y_stop

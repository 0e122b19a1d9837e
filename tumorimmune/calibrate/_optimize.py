"""``minimize``: an optax optimizer (default L-BFGS) in a ``lax.while_loop`` (pure JAX: jit- and
vmap-able); ``Minimizer``, the optimizer with its stopping rule and multistart, as
:func:`~tumorimmune.calibrate.fit_patients` takes it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
from jaxtyping import Array, Bool, Float, Int

#: Value returned for a non-finite objective (failed solve), so line searches back off.
_BIG = 1e30


class OptimizeResult(NamedTuple):
    """Outcome of :func:`minimize` (arrays; batched under ``vmap``)."""

    x: Float[Array, " k"]  #: best point found
    value: Float[Array, ""]  #: objective at ``x``
    grad_norm: Float[Array, ""]  #: Euclidean norm of the gradient at ``x``
    n_iter: Int[Array, ""]  #: iterations done
    converged: Bool[Array, ""]  #: a convergence criterion was met before ``max_iter``
    timed_out: Bool[Array, ""]  #: stopped by ``time_limit_s`` (not converged)


#: ``progress(iteration, best_value)``: called from inside the optimisation loop (on the host,
#: once per iteration and member of a ``vmap``), e.g. to print a throttled status line.
Progress = Callable[[int, float], None]


#: Origin of :func:`_clock` (the import of this module), so that float32 keeps milliseconds.
_CLOCK_ORIGIN = time.monotonic()


def _clock(tick: Any) -> np.ndarray:
    """Seconds since :data:`_CLOCK_ORIGIN` (float32, of the shape of ``tick``), on the host.

    float32, not float64: the callback may run on a thread where JAX's x64 mode is off and a
    float64 result would be refused; float32 resolves 0.25 s after a month of uptime."""
    return np.full(np.shape(tick), time.monotonic() - _CLOCK_ORIGIN, dtype=np.float32)


def _now(tick: Array) -> Array:
    # a "pure" callback, as io_callback cannot run in a vmap-ed while_loop: ``tick`` (the
    # iteration, different every time) keeps XLA from hoisting or merging the reads
    return jax.pure_callback(
        _clock, jax.ShapeDtypeStruct(jnp.shape(tick), jnp.float32), tick, vmap_method="expand_dims"
    )


def _report(progress: Progress) -> Callable[[Any, Any], None]:
    def call(it: Any, value: Any) -> None:
        progress(int(it), float(value))

    return call


def _safe(fun: Callable[[Array], Array]) -> Callable[[Array], Array]:
    def f(x: Array) -> Array:
        v = fun(x)
        return jnp.where(jnp.isfinite(v), v, _BIG)

    return f


#: The default optimizer: ``optax.lbfgs()`` with its zoom line search (one object, so that
#: jitted fits reuse their compilations).
LBFGS: optax.GradientTransformationExtraArgs = optax.lbfgs()


def optimizer_for(
    method: Literal["lbfgs", "adam"], learning_rate: float = 0.05
) -> optax.GradientTransformationExtraArgs:
    """The optax optimizer of a method name: :data:`LBFGS` or ``optax.adam(learning_rate)``
    (``learning_rate`` in the units of ``x``; unused by L-BFGS)."""
    if method == "lbfgs":
        return LBFGS
    if method == "adam":
        return optax.with_extra_args_support(optax.adam(learning_rate))
    raise ValueError(f"method must be 'lbfgs' or 'adam'; got {method!r}")


def minimize(
    fun: Callable[[Float[Array, " k"]], Float[Array, ""]],
    x0: Float[Array, " k"],
    *,
    optimizer: optax.GradientTransformation | None = None,
    max_iter: int = 200,
    gtol: float = 1e-6,
    ftol: float = 1e-12,
    time_limit_s: float | None = None,
    progress: Progress | None = None,
) -> OptimizeResult:
    """Minimise a scalar function of a flat vector with optax, gradients by ``jax.grad``.

    Stops when ``‖∇f‖ <= gtol`` or when an iteration changes ``f`` by at most
    ``ftol·max(1, |f|)`` (relative change), or after ``max_iter`` iterations, or (not
    converged, ``timed_out``) at the first iteration that ends ``time_limit_s`` seconds after
    the loop started (wall clock, read on the host). Non-finite
    objective values (failed ODE solves) count as ``1e30``. Pure JAX: may be ``jax.vmap``-ed
    over starts or patients (the loop then runs until every member has stopped).

    Args:
        fun: objective ``f(x)``; must be differentiable with ``jax.grad``.
        x0: starting point, shape (k,).
        optimizer: an optax optimizer (default :data:`LBFGS`, ``optax.lbfgs`` with zoom line
            search; e.g. ``optax.adam(0.05)``, see :func:`optimizer_for`). One whose state
            holds the line search's ``value`` and ``grad`` (as L-BFGS) is not re-evaluated
            after its step.
        max_iter: iteration limit.
        gtol: gradient-norm tolerance.
        ftol: relative-change tolerance (0 disables it).
        time_limit_s: wall-clock limit of the loop (seconds, > 0), ``None``: none. The
            compilation before the loop is not counted.
        progress: :data:`Progress` callback, ``progress(iteration, best value)``.
    """
    if time_limit_s is not None and not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be > 0 seconds; got {time_limit_s!r}")
    f = _safe(fun)
    vg = jax.value_and_grad(f)
    opt = optax.with_extra_args_support(LBFGS if optimizer is None else optimizer)
    line_search = otu.tree_get(opt.init(x0), "value", default=None) is not None

    def cond(c):
        it, done = c[5], c[6]
        return (it < max_iter) & ~done

    def body(c):
        x, state, value, grad, best, it, _, start, _ = c
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        x_new = jnp.asarray(optax.apply_updates(x, updates))
        if line_search:  # the line search already evaluated f and ∇f at x_new
            v_new = otu.tree_get(state, "value")
            g_new = otu.tree_get(state, "grad")
        else:
            v_new, g_new = vg(x_new)
        g_new = jnp.where(jnp.isfinite(g_new), g_new, 0.0)
        gn = jnp.linalg.norm(g_new)
        small_change = jnp.abs(value - v_new) <= ftol * jnp.maximum(1.0, jnp.abs(v_new))
        done = (gn <= gtol) | small_change
        bx, bv, bg = best
        better = v_new <= bv
        best = (
            jnp.where(better, x_new, bx),
            jnp.where(better, v_new, bv),
            jnp.where(better, gn, bg),
        )
        if progress is not None:
            jax.debug.callback(_report(progress), it + 1, best[1])
        late = jnp.asarray(False)
        if time_limit_s is not None:
            late = (_now(it) - start >= time_limit_s) & ~done
        return x_new, state, v_new, g_new, best, it + 1, done | late, start, late

    v0, g0 = vg(x0)
    g0 = jnp.where(jnp.isfinite(g0), g0, 0.0)
    best0 = (x0, v0, jnp.linalg.norm(g0))
    start = _now(jnp.asarray(0)) if time_limit_s is not None else jnp.asarray(0.0, jnp.float32)
    done0 = jnp.linalg.norm(g0) <= gtol
    init = (x0, opt.init(x0), v0, g0, best0, jnp.asarray(0), done0, start, jnp.asarray(False))
    _, _, _, _, (bx, bv, bg), it, done, _, late = jax.lax.while_loop(cond, body, init)
    return OptimizeResult(
        x=bx, value=bv, grad_norm=bg, n_iter=it, converged=done & ~late, timed_out=late
    )


@dataclasses.dataclass(frozen=True)
class Minimizer:
    """How a fit is optimised: the optax optimizer, its stopping rule and the multistart.

    Attributes:
        optimizer: optax optimizer (``None``: :data:`LBFGS`; e.g. ``optax.adam(0.05)``, or
            :func:`optimizer_for`). Reuse one object across fits to reuse their compilations.
        max_iter: iterations per start (see :func:`minimize`).
        gtol: gradient-norm tolerance.
        ftol: relative objective-change tolerance.
        n_starts: starts per problem, >= 1: start 0 from the initial values, the others
            log-uniform within the bounds (drawn with ``seed``); the best final value wins.
        seed: seed of the random starts.
        time_limit_s: wall-clock limit of each optimisation loop (seconds; ``None``: none),
            see :func:`minimize`; starts and patients fitted together share one loop.
        progress: :data:`Progress` callback called from inside the loop (``None``: none).
    """

    optimizer: optax.GradientTransformation | None = None
    max_iter: int = 200
    gtol: float = 1e-6
    ftol: float = 1e-12
    n_starts: int = 4
    seed: int = 0
    time_limit_s: float | None = None
    progress: Progress | None = None

    def minimize(
        self, fun: Callable[[Float[Array, " k"]], Float[Array, ""]], x0: Float[Array, " k"]
    ) -> OptimizeResult:
        """:func:`minimize` with this optimizer and stopping rule (one start)."""
        return minimize(
            fun,
            x0,
            optimizer=self.optimizer,
            max_iter=self.max_iter,
            gtol=self.gtol,
            ftol=self.ftol,
            time_limit_s=self.time_limit_s,
            progress=self.progress,
        )

    def describe(self) -> dict[str, object]:
        """The options as JSON-ready values (the optimizer by its kind)."""
        opt = self.optimizer
        return {
            "optimizer": "lbfgs" if opt is None or opt is LBFGS else "custom optax optimizer",
            "max_iter": int(self.max_iter),
            "gtol": float(self.gtol),
            "ftol": float(self.ftol),
            "n_starts": int(self.n_starts),
            "seed": int(self.seed),
            "time_limit_s": None if self.time_limit_s is None else float(self.time_limit_s),
        }

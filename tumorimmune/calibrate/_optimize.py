"""``minimize``: optax L-BFGS or Adam in a ``lax.while_loop`` (pure JAX: jit- and vmap-able)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
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


def _safe(fun: Callable[[Array], Array]) -> Callable[[Array], Array]:
    def f(x: Array) -> Array:
        v = fun(x)
        return jnp.where(jnp.isfinite(v), v, _BIG)

    return f


def minimize(
    fun: Callable[[Float[Array, " k"]], Float[Array, ""]],
    x0: Float[Array, " k"],
    *,
    method: Literal["lbfgs", "adam"] = "lbfgs",
    max_iter: int = 200,
    gtol: float = 1e-6,
    ftol: float = 1e-12,
    learning_rate: float = 0.05,
) -> OptimizeResult:
    """Minimise a scalar function of a flat vector with optax, gradients by ``jax.grad``.

    Stops when ``‖∇f‖ <= gtol`` or when an iteration changes ``f`` by at most
    ``ftol·max(1, |f|)`` (relative change), or after ``max_iter`` iterations. Non-finite
    objective values (failed ODE solves) count as ``1e30``. Pure JAX: may be ``jax.vmap``-ed
    over starts or patients (the loop then runs until every member has stopped).

    Args:
        fun: objective ``f(x)``; must be differentiable with ``jax.grad``.
        x0: starting point, shape (k,).
        method: ``"lbfgs"`` (``optax.lbfgs`` with zoom line search) or ``"adam"``.
        max_iter: iteration limit.
        gtol: gradient-norm tolerance.
        ftol: relative-change tolerance (0 disables it).
        learning_rate: Adam step size (in the units of ``x``).
    """
    f = _safe(fun)
    vg = jax.value_and_grad(f)
    if method == "lbfgs":
        opt = optax.lbfgs()
    elif method == "adam":
        opt = optax.with_extra_args_support(optax.adam(learning_rate))
    else:
        raise ValueError(f"method must be 'lbfgs' or 'adam'; got {method!r}")

    def cond(c):
        it, done = c[5], c[6]
        return (it < max_iter) & ~done

    def body(c):
        x, state, value, grad, best, it, _ = c
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        x_new = jnp.asarray(optax.apply_updates(x, updates))
        if method == "lbfgs":  # the line search already evaluated f and ∇f at x_new
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
        return x_new, state, v_new, g_new, best, it + 1, done

    v0, g0 = vg(x0)
    g0 = jnp.where(jnp.isfinite(g0), g0, 0.0)
    best0 = (x0, v0, jnp.linalg.norm(g0))
    init = (x0, opt.init(x0), v0, g0, best0, jnp.asarray(0), jnp.linalg.norm(g0) <= gtol)
    _, _, _, _, (bx, bv, bg), it, done = jax.lax.while_loop(cond, body, init)
    return OptimizeResult(x=bx, value=bv, grad_norm=bg, n_iter=it, converged=done)

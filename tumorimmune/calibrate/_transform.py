"""Bounded log transform: ``p = exp(log lo + (log hi − log lo)·sigmoid(x))``, ``x`` in ℝ."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


def to_param(
    x: Float[ArrayLike, "*s"], lo: Float[ArrayLike, "*s"], hi: Float[ArrayLike, "*s"]
) -> Float[Array, "*s"]:
    """Map unconstrained ``x`` to a parameter in ``(lo, hi)``, log-uniformly (``0 < lo < hi``)."""
    llo, lhi = jnp.log(lo), jnp.log(hi)
    return jnp.exp(llo + (lhi - llo) * jax.nn.sigmoid(x))


def to_unconstrained(
    p: Float[ArrayLike, "*s"],
    lo: Float[ArrayLike, "*s"],
    hi: Float[ArrayLike, "*s"],
    *,
    margin: float = 1e-6,
) -> Float[np.ndarray, "*s"]:
    """Inverse of :func:`to_param` (NumPy); values at or beyond a bound are pulled inside by
    ``margin`` (fraction of the log-range)."""
    llo, lhi = np.log(lo), np.log(hi)
    u = (np.log(np.asarray(p, dtype=float)) - llo) / (lhi - llo)
    u = np.clip(u, margin, 1.0 - margin)
    return np.log(u) - np.log1p(-u)


def dlogparam_dx(
    x: Float[ArrayLike, "*s"], lo: Float[ArrayLike, "*s"], hi: Float[ArrayLike, "*s"]
) -> Float[Array, "*s"]:
    """Derivative of ``log p`` with respect to ``x`` (for delta-method standard errors)."""
    s = jax.nn.sigmoid(x)
    return (jnp.log(hi) - jnp.log(lo)) * s * (1.0 - s)

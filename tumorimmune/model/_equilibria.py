"""Equilibria of the Kuznetsov (1994) model and their linear stability."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ._kuznetsov import Kuznetsov1994


@dataclasses.dataclass(frozen=True)
class Equilibrium:
    """A steady state ``(E, T)`` in cells with the Jacobian's eigenvalues (1/day) and type."""

    E: float
    T: float
    eigenvalues: np.ndarray
    kind: str


def _classify(ev: np.ndarray) -> str:
    re = np.real(ev)
    if np.all(re < 0):
        return "stable focus" if np.any(np.abs(np.imag(ev)) > 0) else "stable node"
    if np.all(re > 0):
        return "unstable focus" if np.any(np.abs(np.imag(ev)) > 0) else "unstable node"
    return "saddle"


def kuznetsov_equilibria(model: Kuznetsov1994 | None = None) -> list[Equilibrium]:
    """All non-negative equilibria of a (scalar) Kuznetsov model, sorted by tumor size.

    Candidates come from the cubic in ``T`` obtained by substituting the E-nullcline into the
    T-nullcline; each is then refined by Newton's method on the model's own vector field and
    classified with the Jacobian from ``jax.jacfwd`` (float64).
    """
    model = model or Kuznetsov1994()
    with jax.enable_x64(True):
        p = {k: float(np.asarray(v)) for k, v in model.parameters().items()}
        s, pp, g, m, d, a, b, n = (p[k] for k in "s p g m d a b n".split())

        # T-nullcline (T > 0): E = a(1 - bT)/n. E-nullcline: E = s/(d + mT - pT/(g + T)).
        # => a(1 - bT)(d(g + T) + mT(g + T) - pT) = n s (g + T): cubic in T.
        P = np.polynomial.Polynomial
        lhs = a * P([1.0, -b]) * (d * P([g, 1.0]) + m * P([0.0, g, 1.0]) - pp * P([0.0, 1.0]))
        cubic = lhs - n * s * P([g, 1.0])
        cands = [(s / d, 0.0)]
        for r in cubic.roots():
            if abs(r.imag) < 1e-6 * max(1.0, abs(r.real)) and r.real > 0:
                T = float(r.real)
                cands.append((a * (1 - b * T) / n, T))

        f = lambda y: model.vector_field(0.0, y, None)  # noqa: E731
        jac = jax.jit(jax.jacfwd(f))
        out = []
        for E, T in cands:
            y = jnp.array([E, T], dtype=jnp.float64)
            for _ in range(50):
                step = jnp.linalg.solve(jac(y), f(y))
                y = y - step
                if float(jnp.max(jnp.abs(step) / jnp.maximum(jnp.abs(y), 1.0))) < 1e-14:
                    break
            if float(y[1]) < 0 or float(y[0]) < 0:
                continue
            ev = np.linalg.eigvals(np.asarray(jac(y)))
            out.append(Equilibrium(float(y[0]), float(y[1]), ev, _classify(ev)))
    return sorted(out, key=lambda q: q.T)

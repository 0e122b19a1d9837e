"""The virtual-patient table: grid cells × a cohort of sampled variability in each cell.

Patient ``p`` lies in grid cell ``p // cohort_size`` (cells in C order over the axes as listed in
the spec). Each cell's cohort is drawn from its own generator, seeded by ``(seed, cell)``, so any
block of patients can be generated alone: the table does not depend on the chunk size.
"""

from __future__ import annotations

import warnings

import numpy as np
from jaxtyping import Float, Int
from scipy import special
from scipy.stats import qmc

from ._spec import PK_ETAS, READOUT_NAMES, DistSpec, SweepSpec

_EPS = 1e-12


def _ppf_normal(u: np.ndarray) -> np.ndarray:
    return special.ndtri(u)


def _truncate(u: np.ndarray, lo_z: float | np.ndarray, hi_z: float | np.ndarray) -> np.ndarray:
    """Map uniforms onto the standard-normal quantiles between ``lo_z`` and ``hi_z``."""
    a, b = special.ndtr(lo_z), special.ndtr(hi_z)
    return special.ndtri(a + u * (b - a))


def transform(dist: DistSpec, u: np.ndarray, center: np.ndarray | float) -> np.ndarray:
    """Inverse-CDF transform of uniforms ``u`` in (0, 1) to a parameter's distribution.

    ``center`` (base or grid value) is the median/mean when the spec gives none.
    """
    u = np.clip(u, _EPS, 1 - _EPS)
    center = np.asarray(center, dtype=float)
    if dist.dist == "discrete":
        assert dist.values is not None
        w = np.ones(len(dist.values)) if dist.weights is None else np.asarray(dist.weights)
        cdf = np.cumsum(w) / np.sum(w)
        i = np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)
        return np.asarray(dist.values, dtype=float)[i]
    if dist.dist == "uniform":
        assert dist.low is not None and dist.high is not None
        return dist.low + u * (dist.high - dist.low)
    if dist.dist == "loguniform":
        assert dist.low is not None and dist.high is not None
        return np.exp(np.log(dist.low) + u * (np.log(dist.high) - np.log(dist.low)))
    if dist.dist == "lognormal":
        assert dist.cv is not None
        med = center if dist.median is None else np.asarray(dist.median)
        sigma = np.sqrt(np.log1p(dist.cv**2))
        lo = -np.inf if dist.low is None else (np.log(dist.low) - np.log(med)) / sigma
        hi = np.inf if dist.high is None else (np.log(dist.high) - np.log(med)) / sigma
        z = (
            _truncate(u, lo, hi)
            if (dist.low is not None or dist.high is not None)
            else (_ppf_normal(u))
        )
        return med * np.exp(sigma * z)
    assert dist.sd is not None
    mean = center if dist.mean is None else np.asarray(dist.mean)
    lo = -np.inf if dist.low is None else (dist.low - mean) / dist.sd
    hi = np.inf if dist.high is None else (dist.high - mean) / dist.sd
    z = (
        _truncate(u, lo, hi)
        if (dist.low is not None or dist.high is not None)
        else (_ppf_normal(u))
    )
    return mean + dist.sd * z


def _uniforms(method: str, d: int, n: int, rng: np.random.Generator) -> np.ndarray:
    if d == 0:
        return np.zeros((n, 0))
    if method == "random":
        return rng.random((n, d))
    if method == "lhs":
        return qmc.LatinHypercube(d, rng=rng).random(n)
    with warnings.catch_warnings():  # balance properties need n = 2^m; fine to lose them
        warnings.simplefilter("ignore", UserWarning)
        return qmc.Sobol(d, scramble=True, rng=rng).random(n)


def base_value(spec: SweepSpec, name: str) -> float:
    if name in ("E0", "T0"):
        return float(getattr(spec.initial, name))
    if name in READOUT_NAMES:
        return float(getattr(spec.response, name))
    if name in spec.parameters:
        return float(spec.parameters[name])
    return float(np.asarray(getattr(spec.model_class()(), name)))


def cell_table(spec: SweepSpec, cell: int) -> dict[str, np.ndarray]:
    """Per-patient columns (``cohort_size`` values each) of one grid cell."""
    c = spec.sampling.cohort_size
    axes = spec.axis_values()
    index = np.unravel_index(cell, spec.grid_shape()) if axes else ()
    grid = {k: float(v[i]) for (k, v), i in zip(axes.items(), index, strict=True)}
    var_names = list(spec.variability)
    d = len(var_names) + (len(PK_ETAS) if spec.pk.variability else 0)
    rng = np.random.default_rng([spec.sampling.seed, cell])
    u = _uniforms(spec.sampling.method, d, c, rng)
    out: dict[str, np.ndarray] = {k: np.full(c, v) for k, v in grid.items()}
    for j, name in enumerate(var_names):
        center = grid.get(name, None)
        center = base_value(spec, name) if center is None else center
        out[name] = transform(spec.variability[name], u[:, j], center)
    if spec.population is not None:
        pop = spec.population.table()
        n_vp = len(next(iter(pop.values())))
        # a separate stream, so that adding a population leaves the other columns unchanged
        draw = np.random.default_rng([spec.sampling.seed, cell, 1]).choice(
            n_vp, size=c, replace=c > n_vp
        )
        for name, col in pop.items():
            out[name] = col[draw]
    if spec.pk.variability:
        for j, name in enumerate(PK_ETAS):
            out[name] = _ppf_normal(np.clip(u[:, len(var_names) + j], _EPS, 1 - _EPS))
    out["cell"] = np.full(c, cell, dtype=np.int64)
    return out


def patient_table(
    spec: SweepSpec, start: int = 0, stop: int | None = None
) -> dict[str, Float[np.ndarray, " n"] | Int[np.ndarray, " n"]]:
    """Columns of patients ``start .. stop-1``: every varying parameter and ``cell``.

    Args:
        spec: validated sweep specification.
        start: first patient of the range (default 0).
        stop: end of the patient range, exclusive (default: everyone).

    Returns:
        ``{name: array (stop - start,)}`` for the swept and varied parameters (model units;
        ``E0``/``T0`` in cells; ``eta_CL`` ... ``eta_CL_emax``: standard normals when PK
        varies) and ``cell`` (flat grid-cell index).
    """
    n = spec.n_patients
    stop = n if stop is None else min(stop, n)
    if not 0 <= start <= stop:
        raise ValueError(f"patient range must satisfy 0 <= start <= stop; got {start}, {stop}")
    c = spec.sampling.cohort_size
    pieces: list[dict[str, np.ndarray]] = []
    for cell in range(start // c, (stop - 1) // c + 1 if stop > start else start // c):
        tab = cell_table(spec, cell)
        lo = max(start - cell * c, 0)
        hi = min(stop - cell * c, c)
        pieces.append({k: v[lo:hi] for k, v in tab.items()})
    names = [*spec.varying(), "cell"]
    if not pieces:
        return {k: np.zeros(0, dtype=np.int64 if k == "cell" else float) for k in names}
    return {k: np.concatenate([p[k] for p in pieces]) for k in names}

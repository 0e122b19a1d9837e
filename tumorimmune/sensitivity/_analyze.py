"""Estimators of the sensitivity indices with bootstrap confidence intervals.

* ``sobol``: SALib's Saltelli (2010) first-order and Jansen (1999) total-order estimators (and
  Saltelli 2002 second order); confidence interval ``S ± z·sd`` over bootstrap resamples of the
  base samples (SALib's ``S_conf``). Without second order the same estimators and the same
  resamples (SALib's generator and seed) are evaluated here as one matrix product of resample
  counts, which gives SALib's numbers (to rounding) about 30 times faster: SALib's loop of
  gathers took 5 s per output at n = 16384, D = 6, 200 resamples, 13 times the model solves of
  the PD-1 example (measured, benchmarks/RESULTS.md).
* ``morris``: SALib's elementary effects (Campolongo 2007 μ*, Morris 1991 μ, σ), bootstrap
  confidence interval of μ*; elementary effects are per unit of the parameter's quantile range.
* ``prcc``: partial rank correlation coefficients (Marino et al. 2008) from the inverse of the
  rank correlation matrix; percentile bootstrap confidence interval over resampled points.

Evaluations that failed (non-finite output) are dropped with their whole block (the base sample
of a Sobol' design, the Morris trajectory), which keeps the estimators valid on fewer samples.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr
from jaxtyping import Float
from scipy import stats

from ..sweeps import sensitivity_block_size as block_size


def _problem(d: int) -> dict:
    return {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": [[0.0, 1.0]] * d}


#: Index variables of each method (each also has ``_lo``/``_hi`` bounds unless noted).
INDEX_VARIABLES: dict[str, tuple[str, ...]] = {
    "sobol": ("S1", "ST"),
    "morris": ("mu_star",),
    "prcc": ("prcc",),
}


def _valid_blocks(y: np.ndarray, block: int) -> np.ndarray:
    """Boolean mask of the blocks whose outputs are all finite."""
    return np.all(np.isfinite(y.reshape(-1, block)), axis=1)


def analyze(
    method: str,
    X: Float[np.ndarray, "n_eval d"],
    Y: Float[np.ndarray, " n_eval"],
    *,
    names: Sequence[str] | None = None,
    second_order: bool = False,
    confidence: float = 0.95,
    n_bootstrap: int = 200,
    seed: int = 0,
    num_levels: int = 4,
) -> xr.Dataset:
    """Sensitivity indices of one output ``Y`` evaluated on the design ``X`` (see :func:`sample`).

    Args:
        method: ``"sobol"``, ``"morris"`` or ``"prcc"`` (the method that made ``X``).
        X: design points in the unit hypercube, shape ``(n_eval, d)``.
        Y: model output at each point, shape ``(n_eval,)``; non-finite values mark failures.
        names: parameter names (default ``x0, x1, ...``).
        second_order: sobol: ``X`` holds the second-order rows; compute ``S2``.
        confidence: level of the bootstrap confidence intervals.
        n_bootstrap: bootstrap resamples.
        seed: seed of the bootstrap.
        num_levels: morris grid levels used for ``X``.

    Returns:
        Dataset over dim ``param`` (and ``param2`` for ``S2``): sobol ``S1``, ``ST`` (and
        ``S2``) each with ``_lo``/``_hi``; morris ``mu_star`` (+ ``_lo``/``_hi``), ``mu``,
        ``sigma``; prcc ``prcc`` (+ ``_lo``/``_hi``). Attribute ``n_used``: base samples
        (sobol), trajectories (morris) or points (prcc) left after dropping failures. Indices
        are NaN when the output does not vary or fewer than 2 blocks are left.
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float).ravel()
    d = X.shape[1]
    names = [f"x{i}" for i in range(d)] if names is None else list(names)
    if len(names) != d:
        raise ValueError(f"names: {len(names)} names for {d} columns of X")
    block = block_size(method, d, second_order=second_order)
    if Y.shape[0] != X.shape[0] or Y.shape[0] % block:
        raise ValueError(
            f"Y: {Y.shape[0]} values do not match the design ({X.shape[0]} rows, blocks of {block})"
        )
    keep = _valid_blocks(Y, block)
    rows = np.repeat(keep, block)
    X, Y = X[rows], Y[rows]
    n_used = int(keep.sum())
    degenerate = n_used < 2 or not np.ptp(Y) > 0
    out: dict[str, np.ndarray] = {}
    if method == "sobol":
        out = _sobol(Y, d, second_order, confidence, n_bootstrap, seed, degenerate)
    elif method == "morris":
        out = _morris(X, Y, num_levels, confidence, n_bootstrap, seed, degenerate)
    elif method == "prcc":
        out = _prcc(X, Y, confidence, n_bootstrap, seed, degenerate)
    else:
        raise ValueError(f"method: unknown method {method!r}; allowed: ['morris', 'prcc', 'sobol']")
    data = {k: (("param", "param2") if v.ndim == 2 else ("param",), v) for k, v in out.items()}
    coords: dict[str, list[str]] = {"param": names}
    if any(v.ndim == 2 for v in out.values()):
        coords["param2"] = names
    return xr.Dataset(
        data,
        coords=coords,
        attrs={
            "method": method,
            "n_used": n_used,
            "n_dropped": int((~keep).sum()),
            "confidence": confidence,
            "n_bootstrap": n_bootstrap,
        },
    )


def _nan(d: int, *keys: str) -> dict[str, np.ndarray]:
    return {k: np.full(d, np.nan) for k in keys}


def _sobol(
    Y: np.ndarray,
    d: int,
    second_order: bool,
    confidence: float,
    n_bootstrap: int,
    seed: int,
    degenerate: bool,
) -> dict[str, np.ndarray]:
    keys = ("S1", "S1_lo", "S1_hi", "ST", "ST_lo", "ST_hi")
    if degenerate:
        out = _nan(d, *keys)
        if second_order:
            out.update({k: np.full((d, d), np.nan) for k in ("S2", "S2_lo", "S2_hi")})
        return out
    if not second_order:
        return _sobol_counts(Y, d, confidence, n_bootstrap, seed + 1)
    from SALib.analyze import sobol

    res = sobol.analyze(
        _problem(d),
        Y,
        calc_second_order=second_order,
        num_resamples=n_bootstrap,
        conf_level=confidence,
        seed=seed + 1,  # SALib treats seed 0 as "no seed" (a fresh bootstrap every call)
    )
    out = {}
    for k in ("S1", "ST", *(("S2",) if second_order else ())):
        s, c = np.asarray(res[k], dtype=float), np.asarray(res[f"{k}_conf"], dtype=float)
        out[k], out[f"{k}_lo"], out[f"{k}_hi"] = s, s - c, s + c
    if second_order:  # SALib fills only the upper triangle; make it symmetric
        for k in ("S2", "S2_lo", "S2_hi"):
            m = out[k]
            out[k] = np.where(np.isnan(m), m.T, m)
    return out


def _sobol_counts(
    Y: np.ndarray, d: int, confidence: float, n_bootstrap: int, seed: int
) -> dict[str, np.ndarray]:
    """SALib's ``sobol.analyze`` without second order (same estimators, resamples and CIs):
    resample ``b`` is the count vector ``C[b]`` of how often each base sample is drawn, so every
    resampled mean is one row of ``C @ values``."""
    eps = np.finfo(float).eps
    Y = (Y - Y.mean()) / Y.std()
    step = d + 2
    A, B = Y[0::step], Y[step - 1 :: step]
    AB = np.stack([Y[j + 1 :: step] for j in range(d)], axis=1)  # (N, d)
    n = A.size
    r = np.random.default_rng(seed).integers(n, size=(n, n_bootstrap))  # as SALib draws
    C = np.bincount(
        (r + n * np.arange(n_bootstrap)[None, :]).ravel(), minlength=n * n_bootstrap
    ).reshape(n_bootstrap, n)
    C = C.astype(float)
    # columns: y, y², B (AB_j - A) for each j, (A - AB_j)² for each j
    cols = np.column_stack(
        [A + B, A**2 + B**2, B[:, None] * (AB - A[:, None]), (A[:, None] - AB) ** 2]
    )
    full = np.ones(n) @ cols  # the estimate itself: every base sample once
    boot = C @ cols  # (n_bootstrap, 2 + 2d)

    def indices(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = sums[..., 0] / (2 * n)
        var = sums[..., 1] / (2 * n) - mean**2
        ok = var > eps
        safe = np.where(ok, var, 1.0)[..., None]
        s1 = np.where(ok[..., None], sums[..., 2 : 2 + d] / n / safe, 0.0)
        st = np.where(ok[..., None], 0.5 * sums[..., 2 + d :] / n / safe, 0.0)
        return s1, st

    s1, st = indices(full)
    b1, bt = indices(boot)
    z = stats.norm.ppf(0.5 + confidence / 2)
    c1, ct = z * b1.std(axis=0, ddof=1), z * bt.std(axis=0, ddof=1)
    return {
        "S1": s1,
        "S1_lo": s1 - c1,
        "S1_hi": s1 + c1,
        "ST": st,
        "ST_lo": st - ct,
        "ST_hi": st + ct,
    }


def _morris(
    X: np.ndarray,
    Y: np.ndarray,
    num_levels: int,
    confidence: float,
    n_bootstrap: int,
    seed: int,
    degenerate: bool,
) -> dict[str, np.ndarray]:
    d = X.shape[1]
    if degenerate:
        return _nan(d, "mu_star", "mu_star_lo", "mu_star_hi", "mu", "sigma")
    from SALib.analyze import morris

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = morris.analyze(
            _problem(d),
            X,
            Y,
            num_resamples=n_bootstrap,
            conf_level=confidence,
            num_levels=num_levels,
            seed=seed,
        )
    m, c = np.asarray(res["mu_star"], float), np.asarray(res["mu_star_conf"], float)
    return {
        "mu_star": m,
        "mu_star_lo": m - c,
        "mu_star_hi": m + c,
        "mu": np.asarray(res["mu"], float),
        "sigma": np.asarray(res["sigma"], float),
    }


def _partial_corr(R: np.ndarray) -> np.ndarray:
    """Partial correlation of each of the first ``d`` columns with the last, given the others."""
    with np.errstate(invalid="ignore", divide="ignore"):
        C = np.corrcoef(R, rowvar=False)
        if not np.all(np.isfinite(C)):
            return np.full(R.shape[1] - 1, np.nan)
        P = np.linalg.pinv(C)
        return -P[:-1, -1] / np.sqrt(P[:-1, :-1].diagonal() * P[-1, -1])


def _prcc(
    X: np.ndarray,
    Y: np.ndarray,
    confidence: float,
    n_bootstrap: int,
    seed: int,
    degenerate: bool,
) -> dict[str, np.ndarray]:
    d = X.shape[1]
    if degenerate:
        return _nan(d, "prcc", "prcc_lo", "prcc_hi")
    R = stats.rankdata(np.column_stack([X, Y]), axis=0)
    est = _partial_corr(R)
    rng = np.random.default_rng(seed)
    n = R.shape[0]
    boot = np.array([_partial_corr(R[rng.integers(0, n, n)]) for _ in range(n_bootstrap)])
    alpha = (1 - confidence) / 2
    lo, hi = np.nanquantile(boot, [alpha, 1 - alpha], axis=0)
    return {"prcc": est, "prcc_lo": lo, "prcc_hi": hi}


def convergence_sizes(method: str, n: int) -> list[int]:
    """Base sample sizes of the convergence study: ``n, n/2, n/4, ...`` (ascending), down to
    32 base samples (sobol, prcc) or 4 trajectories (morris), at most 8 sizes."""
    smallest = 4 if method == "morris" else 32
    sizes = [n]
    while sizes[-1] // 2 >= smallest and len(sizes) < 8:
        sizes.append(sizes[-1] // 2)
    return sizes[::-1]


def convergence(
    method: str,
    X: Float[np.ndarray, "n_eval d"],
    Y: Float[np.ndarray, " n_eval"],
    sizes: Sequence[int],
    *,
    names: Sequence[str] | None = None,
    second_order: bool = False,
    confidence: float = 0.95,
    n_bootstrap: int = 200,
    seed: int = 0,
    num_levels: int = 4,
) -> xr.Dataset:
    """:func:`analyze` on the first ``k`` blocks of the design for each ``k`` in ``sizes``.

    Returns the index variables of the method (with ``_lo``/``_hi``) over dims ``(n, param)``,
    coordinate ``n`` = base samples / trajectories / points (second order is left out).
    """
    d = np.asarray(X).shape[1]
    block = block_size(method, d, second_order=second_order)
    parts = []
    for k in sizes:
        res = analyze(
            method,
            X[: k * block],
            Y[: k * block],
            names=names,
            second_order=second_order,
            confidence=confidence,
            n_bootstrap=n_bootstrap,
            seed=seed,
            num_levels=num_levels,
        )
        keep = [v for base in INDEX_VARIABLES[method] for v in (base, f"{base}_lo", f"{base}_hi")]
        parts.append(res[keep])
    return xr.concat(parts, dim="n").assign_coords(n=list(sizes))

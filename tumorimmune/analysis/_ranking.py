"""Who responds: a ranking of the patients' parameters from the trial's own patients (no
extra solves), by given-data first-order sensitivity (RBD-FAST), with bootstrap intervals,
and the correlation of the parameters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ._cohort import arm_list, covariates, responders

#: Outputs :func:`response_ranking` can rank on.
RANKING_OUTPUTS: dict[str, str] = {
    "response": "objective response (CR or PR)",
    "best_pct_change": "best % change in the sum of diameters",
}


def rbd_fast(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    harmonics: int = 10,
    num_resamples: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
) -> xr.Dataset:
    """First-order sensitivity indices of ``Y`` to each column of ``X`` from a given sample.

    RBD-FAST (Tarantola et al. 2006; Plischke 2010; bias-corrected after Tissot & Prieur
    2012), SALib's ``rbd_fast.analyze``: the columns are reordered along a search curve and
    the share of ``Var(Y)`` carried by the first ``harmonics`` Fourier harmonics is
    ``S1 = Var(E[Y | X_i]) / Var(Y)``. It needs no design: any sample works, correlated
    columns included (the index then also carries what a correlated column explains).

    Args:
        X: ``(n, d)`` sample (rows: patients), finite.
        Y: ``(n,)`` output, finite.
        names: column names (default ``x0 .. x{d-1}``).
        harmonics: Fourier harmonics ``M`` (SALib's default 10).
        num_resamples: bootstrap resamples for the interval.
        confidence: level of the interval.
        seed: seed of the bootstrap.

    Returns:
        Dataset on ``param``: ``S1``, ``S1_lo``, ``S1_hi`` (``S1 ∓`` SALib's bootstrap
        half-width).
    """
    from SALib.analyze import rbd_fast as _rbd

    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.shape != (X.shape[0],):
        raise ValueError(f"X must be (n, d) and Y (n,); got {X.shape} and {Y.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
        raise ValueError("X and Y must be finite (drop not-evaluable patients first)")
    d = X.shape[1]
    names = list(names) if names is not None else [f"x{i}" for i in range(d)]
    if len(names) != d:
        raise ValueError(f"{len(names)} names for {d} columns")
    if X.shape[0] < 4 * harmonics:
        raise ValueError(f"RBD-FAST needs at least {4 * harmonics} rows; got {X.shape[0]}")
    if np.var(Y) == 0:
        s1 = half = np.zeros(d)
    else:
        problem = {
            "num_vars": d,
            "names": names,
            "bounds": [[float(c.min()), float(c.max()) + 1e-300] for c in X.T],
        }
        res = _rbd.analyze(
            problem,
            X,
            Y,
            M=harmonics,
            num_resamples=num_resamples,
            conf_level=confidence,
            seed=seed,
        )
        s1, half = np.asarray(res["S1"], float), np.asarray(res["S1_conf"], float)
    return xr.Dataset(
        {"S1": ("param", s1), "S1_lo": ("param", s1 - half), "S1_hi": ("param", s1 + half)},
        coords={"param": names},
        attrs={"method": "RBD-FAST (SALib), first order, given data", "harmonics": harmonics},
    )


def response_ranking(
    ds: xr.Dataset,
    *,
    outputs: Sequence[str] = ("response", "best_pct_change"),
    arms: str | Sequence[str] | None = None,
    parameters: Sequence[str] | None = None,
    num_resamples: int = 100,
    max_patients: int | None = 20_000,
    seed: int = 0,
) -> xr.Dataset:
    """What decides response in this trial: RBD-FAST first-order index of each varying
    patient parameter on each output, per arm, from the trial's own patients.

    Args:
        ds: results of a cohort (``param_*``, ``best_response``, ``best_pct_change``).
        outputs: names of :data:`RANKING_OUTPUTS`.
        arms: arms to rank in (default every arm whose output varies).
        parameters: covariate names (default: every varying parameter, :func:`covariates`).
        num_resamples: bootstrap resamples of the intervals.
        max_patients: rank on at most this many evaluable patients (evenly spaced; ``None``
            for all) — the index's cost grows as ``n log n`` per bootstrap resample.
        seed: bootstrap seed.

    Returns:
        Dataset on ``(arm, output, param)``: ``S1``, ``S1_lo``, ``S1_hi``, ``n`` (patients
        used, on ``(arm, output)``); ``param`` sorted by the mean ``S1`` over the arms of
        the first output. An arm whose output does not vary (e.g. no responder) gives zeros.
    """
    unknown = [o for o in outputs if o not in RANKING_OUTPUTS]
    if unknown:
        raise ValueError(f"unknown ranking output {unknown}; choose from {list(RANKING_OUTPUTS)}")
    cov = covariates(ds, include=tuple(parameters) if parameters is not None else None)
    cov = cov.drop_vars(["baseline_sld_mm"], errors="ignore") if parameters is None else cov
    names = [str(k) for k in cov.data_vars]
    if not names:
        raise ValueError("no patient parameter varies in these results: nothing to rank")
    X_all = np.stack([cov[k].values for k in names], axis=1)
    arm_names = arm_list(ds, arms)
    y_of = {
        "response": responders(ds),
        "best_pct_change": ds["best_pct_change"].where(ds["best_response"] >= 0),
    }
    s1 = np.zeros((len(arm_names), len(outputs), len(names)))
    lo, hi = np.zeros_like(s1), np.zeros_like(s1)
    n_used = np.zeros((len(arm_names), len(outputs)), dtype=np.int64)
    for a, arm in enumerate(arm_names):
        for o, out in enumerate(outputs):
            y = np.asarray(y_of[out].sel(arm=arm).values, dtype=np.float64)
            ok = np.isfinite(y) & np.all(np.isfinite(X_all), axis=1)
            rows = np.flatnonzero(ok)
            if max_patients is not None and rows.size > max_patients:
                rows = rows[np.unique(np.linspace(0, rows.size - 1, max_patients).astype(int))]
            n_used[a, o] = rows.size
            if rows.size < 40:
                continue
            r = rbd_fast(X_all[rows], y[rows], names=names, num_resamples=num_resamples, seed=seed)
            s1[a, o], lo[a, o], hi[a, o] = r["S1"].values, r["S1_lo"].values, r["S1_hi"].values
    order = np.argsort(-s1[:, 0].mean(axis=0), kind="stable")  # by the first output
    dims = ("arm", "output", "param")
    return xr.Dataset(
        {
            "S1": (dims, s1[..., order], {"long_name": "first-order index Var(E[Y|X])/Var(Y)"}),
            "S1_lo": (dims, lo[..., order]),
            "S1_hi": (dims, hi[..., order]),
            "n": (("arm", "output"), n_used),
        },
        coords={"arm": arm_names, "output": list(outputs), "param": [names[i] for i in order]},
        attrs={
            "method": "RBD-FAST (SALib), first order, given data; 95 % bootstrap intervals",
            "num_resamples": num_resamples,
        },
    )


def parameter_correlation(
    ds: xr.Dataset, *, parameters: Sequence[str] | None = None
) -> xr.DataArray:
    """Spearman rank correlation of the varying patient parameters, ``(param, param_2)``.

    A calibrated population (patients kept by their plausibility and the trial's endpoints)
    has parameters correlated by that selection; the first-order indices of
    :func:`response_ranking` then share what correlated parameters explain together.
    """
    from scipy.stats import spearmanr

    cov = covariates(ds, include=tuple(parameters) if parameters is not None else None)
    cov = cov.drop_vars(["baseline_sld_mm"], errors="ignore") if parameters is None else cov
    names = list(cov.data_vars)
    X = np.stack([cov[k].values for k in names], axis=1)
    X = X[np.all(np.isfinite(X), axis=1)]
    if len(names) == 1:
        rho = np.ones((1, 1))
    else:
        rho = np.atleast_2d(np.asarray(spearmanr(X)[0], dtype=np.float64))
    return xr.DataArray(
        rho,
        dims=("param", "param_2"),
        coords={"param": names, "param_2": names},
        name="spearman_rho",
        attrs={"long_name": "Spearman rank correlation"},
    )

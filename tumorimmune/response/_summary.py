"""Per-arm and per-grid-cell summaries of a sweep: ORR, DCR (Wilson 95 % CIs), median PFS."""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float, Int

from ._metrics import km_median, wilson_ci


def arm_summary(
    best_response: Int[np.ndarray, "arm patient"],
    pfs_days: Float[np.ndarray, "arm patient"],
    pfs_event: Bool[np.ndarray, "arm patient"],
) -> dict[str, np.ndarray]:
    """Per-arm counts and rates; failed solves (code -1) are excluded from every denominator.

    Returns ``{name: array (arm,)}``: ``n`` (evaluable patients), ``n_cr``, ``n_pr``, ``n_sd``,
    ``n_pd``, ``n_failed``, ``orr``/``dcr`` with ``_lo``/``_hi`` (Wilson 95 %) and
    ``median_pfs_days`` with ``_lo``/``_hi`` (Kaplan–Meier, Brookmeyer–Crowley; NaN when not
    reached).
    """
    br = np.asarray(best_response)
    counts = {f"n_{k}": np.sum(br == c, axis=1) for c, k in enumerate(("cr", "pr", "sd", "pd"))}
    n = np.sum(br >= 0, axis=1)
    out: dict[str, np.ndarray] = {"n": n, **counts, "n_failed": np.sum(br < 0, axis=1)}
    for name, k in (
        ("orr", counts["n_cr"] + counts["n_pr"]),
        ("dcr", counts["n_cr"] + counts["n_pr"] + counts["n_sd"]),
    ):
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        out[f"{name}_lo"], out[f"{name}_hi"] = wilson_ci(k, n)
    med = np.array(
        [
            km_median(np.asarray(t)[b >= 0], np.asarray(e)[b >= 0])
            for t, e, b in zip(pfs_days, pfs_event, br, strict=True)
        ],
        dtype=float,
    ).reshape(-1, 3)
    out["median_pfs_days"] = med[:, 0]
    out["median_pfs_days_lo"] = med[:, 1]
    out["median_pfs_days_hi"] = med[:, 2]
    return out


def cell_summary(
    best_response: Int[np.ndarray, "arm patient"],
    best_pct_change: Float[np.ndarray, "arm patient"],
    cell: Int[np.ndarray, " patient"],
    grid_shape: tuple[int, ...],
) -> dict[str, np.ndarray]:
    """ORR, DCR and mean best % change per arm and grid cell, shape ``(arm, *grid_shape)``.

    Failed solves are excluded; a cell without evaluable patients gives NaN.
    """
    br = np.asarray(best_response)
    n_cells = int(np.prod(grid_shape, dtype=np.int64))
    out: dict[str, list[np.ndarray]] = {
        "cell_orr": [],
        "cell_dcr": [],
        "cell_mean_best_pct_change": [],
    }
    for a in range(br.shape[0]):
        ok = br[a] >= 0
        n = np.bincount(cell[ok], minlength=n_cells).astype(float)
        resp = np.bincount(cell[ok], weights=(br[a][ok] <= 1), minlength=n_cells)
        dc = np.bincount(cell[ok], weights=(br[a][ok] <= 2), minlength=n_cells)
        bpc = np.asarray(best_pct_change[a], dtype=float)
        fin = ok & np.isfinite(bpc)
        s = np.bincount(cell[fin], weights=bpc[fin], minlength=n_cells)
        m = np.bincount(cell[fin], minlength=n_cells).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["cell_orr"].append(np.where(n > 0, resp / n, np.nan))
            out["cell_dcr"].append(np.where(n > 0, dc / n, np.nan))
            out["cell_mean_best_pct_change"].append(np.where(m > 0, s / m, np.nan))
    return {k: np.stack(v).reshape((br.shape[0], *grid_shape)) for k, v in out.items()}

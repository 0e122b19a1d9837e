"""Sampling designs of the sensitivity methods (SALib / SciPy) and their patient tables.

The row source of a sweep plan with ``[sensitivity]`` (:class:`DesignRows`): its patients are
the design's points. Every design lives in the unit hypercube ``[0, 1]^D``; the cohort's
distributions map it to parameter values by the inverse CDF (``_sampling.transform``). Designs are
deterministic functions of ``(method, D, n, seed, ...)`` and every prefix of ``k`` base samples
(sobol, prcc) or ``k`` trajectories (morris) is itself a design of size ``k``, which is what the
convergence study uses.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import numpy as np
from jaxtyping import Float
from scipy import special

from ._sampling import base_value, patient_columns, transform
from ._spec import PK_ETAS, SweepSpec

_EPS = 1e-12


def _problem(d: int) -> dict:
    return {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": [[0.0, 1.0]] * d}


@functools.lru_cache(maxsize=2)
def _cached(method: str, d: int, n: int, second_order: bool, seed: int, levels: int) -> np.ndarray:
    x = sample(method, d, n, second_order=second_order, seed=seed, num_levels=levels)
    x.flags.writeable = False
    return x


def sample(
    method: str,
    d: int,
    n: int,
    *,
    second_order: bool = False,
    seed: int = 0,
    num_levels: int = 4,
) -> Float[np.ndarray, "n_eval d"]:
    """The design of a sensitivity method in the unit hypercube.

    Args:
        method: ``"sobol"`` (Saltelli 2010 design on a scrambled Sobol' sequence, SALib),
            ``"morris"`` (``n`` random one-at-a-time trajectories on a ``num_levels`` grid,
            SALib) or ``"prcc"`` (``n`` points of a scrambled Sobol' sequence).
        d: number of parameters (sobol: >= 2).
        n: base sample size (sobol: power of 2) or number of Morris trajectories.
        second_order: sobol only: add the rows for second-order indices.
        seed: seed of the scrambling / trajectories.
        num_levels: Morris grid levels.

    Returns:
        Design points, shape ``(n_eval, d)`` in ``[0, 1]``: sobol ``n (d + 2)`` rows
        (``n (2d + 2)`` with ``second_order``) in blocks of one base sample each; morris
        ``n (d + 1)`` rows in blocks of one trajectory each; prcc ``n`` rows.
    """
    if method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(_problem(d), n, calc_second_order=second_order, seed=seed)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(_problem(d), n, num_levels=num_levels, seed=seed)
    if method == "prcc":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # n need not be a power of 2
            from scipy.stats import qmc  # on use (0.6 s of import)

            return qmc.Sobol(d, scramble=True, rng=np.random.default_rng(seed)).random(n)
    raise ValueError(f"method: unknown method {method!r}; allowed: ['morris', 'prcc', 'sobol']")


def block_size(method: str, d: int, *, second_order: bool = False) -> int:
    """Rows of the design per base sample (sobol) or trajectory (morris); 1 for prcc."""
    if method == "sobol":
        return 2 * d + 2 if second_order else d + 2
    if method == "morris":
        return d + 1
    return 1


def spec_design(spec: SweepSpec) -> Float[np.ndarray, "n_eval d"]:
    """The unit-cube design of a spec's ``[sensitivity]`` section (read-only; the last two
    designs are memoized, since every chunk of the run reads rows of it)."""
    sens = spec.sensitivity
    if sens is None:
        raise ValueError("the spec has no [sensitivity] section")
    d = len(sens.names(patient_columns(spec)))
    return _cached(sens.method, d, sens.n, sens.second_order, sens.seed, sens.num_levels)


def design_rows(spec: SweepSpec, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Patient-table rows (every varying column and ``cell`` = 0) of design points ``ids``.

    Parameters in ``[sensitivity] parameters`` take the design's quantiles of their cohort
    distribution (Morris levels ``k/(p-1)`` map to the bin midpoints ``(k + 1/2)/p`` so that
    unbounded distributions stay finite); the other varying columns sit at their median.
    """
    return DesignRows(spec, tuple(patient_columns(spec)))(ids)


@dataclasses.dataclass(frozen=True, eq=False)
class DesignRows:
    """Row source of a sensitivity run: ``rows(ids)`` gives the rows of design points ``ids``
    (:func:`design_rows`)."""

    spec: SweepSpec
    columns: tuple[str, ...]

    def __call__(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        spec = self.spec
        sens = spec.sensitivity
        assert sens is not None
        names = sens.names(list(self.columns))
        ids = np.asarray(ids, dtype=np.int64)
        u_all = spec_design(spec)[ids]
        if sens.method == "morris":
            p = sens.num_levels
            u_all = (u_all * (p - 1) + 0.5) / p
        out: dict[str, np.ndarray] = {}
        for name in self.columns:
            u = u_all[:, names.index(name)] if name in names else np.full(len(ids), 0.5)
            u = np.clip(u, _EPS, 1 - _EPS)
            if name in PK_ETAS:
                out[name] = special.ndtri(u)
            else:
                out[name] = transform(spec.variability[name], u, base_value(spec, name))
        out["cell"] = np.zeros(len(ids), dtype=np.int64)
        return out

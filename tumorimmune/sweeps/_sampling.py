"""The virtual-patient table: grid cells × a cohort of sampled variability in each cell.

Patient ``p`` lies in grid cell ``p // cohort_size`` (cells in C order over the axes as listed in
the spec). Each cell's cohort is drawn from its own generator, seeded by ``(seed, cell)``, so any
block of patients can be generated alone: the table does not depend on the chunk size.

:class:`SampledRows` is the row source of a sweep plan without ``[sensitivity]``
(``_design.DesignRows`` with it): ``rows(ids)`` gives the patient-table rows of patient ids.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from scipy import special

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
    from scipy.stats import qmc  # on use: 0.6 s of import that validating a spec needs not

    if method == "lhs":
        return qmc.LatinHypercube(d, rng=rng).random(n)
    with warnings.catch_warnings():  # balance properties need n = 2^m; fine to lose them
        warnings.simplefilter("ignore", UserWarning)
        return qmc.Sobol(d, scramble=True, rng=rng).random(n)


def patient_columns(spec: SweepSpec) -> list[str]:
    """Per-patient columns, in table order: axes, variability, population, PK etas."""
    names = list(spec.axes)
    names += [k for k in spec.variability if k not in spec.axes]
    if spec.population is not None:
        names += [k for k in spec.population.table() if k not in names]
    if spec.pk.variability:
        names += list(PK_ETAS)
    return names


def base_value(spec: SweepSpec, name: str) -> float:
    """The value of a per-patient column without variability: ``[initial]``, ``[response]``,
    ``[parameters]`` or the model's default."""
    if name in ("E0", "T0"):
        return float(getattr(spec.initial, name))
    if name in READOUT_NAMES:
        return float(getattr(spec.response, name))
    if name in spec.parameters:
        return float(spec.parameters[name])
    from ..model import get_model

    return float(np.asarray(getattr(get_model(spec.model)(), name)))


def cell_table(spec: SweepSpec, cell: int) -> dict[str, np.ndarray]:
    """Per-patient columns (``cohort_size`` values each) of one grid cell."""
    c = spec.sampling.cohort_size
    axes = {k: v.grid() for k, v in spec.axes.items()}
    shape = tuple(v.size for v in spec.axes.values())
    index = np.unravel_index(cell, shape) if axes else ()
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


@dataclasses.dataclass(eq=False)
class SampledRows:
    """Row source of a grid × cohort sweep: ``rows(ids)`` → ``{column: (len(ids),)}`` for the
    per-patient ``columns`` and ``cell`` (grid cells generated once and cached; several
    batches in flight may ask at once)."""

    spec: SweepSpec
    columns: tuple[str, ...]
    _cells: dict[int, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)

    def __call__(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        c = self.spec.sampling.cohort_size
        ids = np.asarray(ids, dtype=np.int64)
        cells = ids // c
        names = [*self.columns, "cell"]
        if not ids.size:
            return {k: np.zeros(0, dtype=np.int64 if k == "cell" else float) for k in names}
        if cells.min() == cells.max():  # one grid cell (e.g. a virtual trial)
            sel = ids - int(cells[0]) * c
            tab = self._cell(int(cells[0]))
            return {k: tab[k][sel] for k in names}
        out: dict[str, list[np.ndarray]] = {k: [] for k in names}
        for cell in np.unique(cells):
            tab = self._cell(int(cell))
            sel = ids[cells == cell] - cell * c
            for k in out:
                out[k].append(tab[k][sel])
        order = np.argsort(np.argsort(cells, kind="stable"), kind="stable")
        return {k: np.concatenate(v)[order] for k, v in out.items()}

    def _cell(self, cell: int) -> dict[str, np.ndarray]:
        tab = self._cells.get(cell)
        if tab is None:
            tab = cell_table(self.spec, cell)
            if len(self._cells) > 64:
                self._cells.clear()
            self._cells[cell] = tab
        return tab

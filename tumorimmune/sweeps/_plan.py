"""What a run *is*: the :class:`SweepPlan` a validated spec resolves to, built once.

The spec is what the user wrote (``_spec``); the plan is everything a run derives from it —
the model class and its states, the arms and their regimens, the backend and tolerances, the
per-patient columns and where the rows come from, the output, scan, hazard-grid and
trajectory times, the sizes, chunking and memory estimate. The engine, the store and the
runner take the plan and read these values from it, never from the spec again.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Literal

import numpy as np
from jaxtyping import Float, Int

from ..model import AbstractModel, Chemotherapy, Regimen, get_model
from ..solvers import AbstractBackend, Tolerances, as_backend
from ._design import DesignRows
from ._sampling import SampledRows, patient_columns
from ._sizing import Sizes, memory_estimate
from ._spec import ArmSpec, SweepSpec
from ._tiers import default_keep, keep_notice, sensitivity_keep

#: ``rows(ids) -> {column: (len(ids),)}``: the patient-table rows of patient ids, every
#: per-patient column of the plan and ``cell`` (``_sampling.SampledRows``,
#: ``_design.DesignRows``).
RowSource = Callable[[np.ndarray], dict[str, np.ndarray]]


def _scan_days(spec: SweepSpec) -> np.ndarray:
    """0 (baseline), then ``scan_days`` up to ``follow_up_days`` if given, else every
    ``scan_interval_days`` up to ``follow_up_days``."""
    if spec.scan_days is not None:
        s = np.asarray(spec.scan_days, dtype=float)
        return np.concatenate([[0.0], s[(s > 0) & (s <= spec.follow_up_days + 1e-9)]])
    n = math.floor(spec.follow_up_days / spec.scan_interval_days + 1e-9)
    return spec.scan_interval_days * np.arange(n + 1, dtype=float)


def _survival_grid(spec: SweepSpec) -> np.ndarray:
    """0, ``grid_days``, ... before ``follow_up_days``; empty without ``[survival]``."""
    if spec.survival is None:
        return np.zeros(0)
    step = spec.survival.grid_days
    n = math.ceil(spec.follow_up_days / step - 1e-9)
    return step * np.arange(max(n, 1), dtype=float)


def _merge_times(ts: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """``ts`` with the days of ``extra`` inserted (sorted; days within 1e-9 of one of ``ts``
    are not added)."""
    i = np.clip(np.searchsorted(ts, extra), 1, ts.size - 1)
    near = np.minimum(np.abs(ts[i - 1] - extra), np.abs(ts[i] - extra)) <= 1e-9
    return np.union1d(ts, extra[~near])


def _output_times(
    scans: np.ndarray, follow_up: float, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(output times, scan indices into them, hazard-grid indices into them): the scans plus
    the end of follow-up, with the hazard grid's days merged in (a grid day within 1e-9 days
    of a scan is read at the scan)."""
    ts = scans if np.isclose(scans[-1], follow_up) else np.append(scans, follow_up)
    if grid.size == 0:
        return ts, np.arange(len(scans)), np.zeros(0, np.int64)
    ts = _merge_times(ts, grid)
    i = np.clip(np.searchsorted(ts, grid), 1, ts.size - 1)
    nearest = np.where(np.abs(ts[i - 1] - grid) <= np.abs(ts[i] - grid), i - 1, i)
    return ts, np.searchsorted(ts, scans), nearest


@dataclasses.dataclass(frozen=True, eq=False)
class SweepPlan:
    """A validated spec resolved into what a run needs (:meth:`from_spec`; immutable).

    Attributes:
        spec: the validated spec (what the user wrote, with defaults).
        model_class: the model (``tumorimmune.model.get_model(spec.model)``).
        arms: the arms, in spec order; ``regimens`` their antibody regimens (``None``: none)
            and ``chemotherapies`` their :class:`~tumorimmune.model.Chemotherapy` (``None``:
            none); an arm with neither is a control.
        columns: per-patient table columns (axes, variability, population, PK etas).
        axes: grid axes ``{parameter: values}`` in spec order; ``grid_shape`` their sizes.
        n_patients: patients (or sensitivity design points) of every arm.
        chunk_size: patients per store chunk; ``n_chunks`` the store's chunks.
        scan_days: scan days including baseline 0, shape ``(n_scans,)``.
        output_times: days a solve returns (scans, end of follow-up, hazard grid);
            ``scan_index`` / ``survival_index`` the scans' / hazard grid's indices into them.
        survival_grid: days of the hazard's time grid (empty without ``[survival]``).
        survival_seed: seed of the deaths (``survival.seed``, else the sampling seed).
        trajectory_patients: patients with stored dense trajectories (evenly spread);
            ``trajectory_times`` their output days.
        tolerances: the solver's :class:`~tumorimmune.solvers.Tolerances`; ``rtol`` and
            ``atol`` resolved for ``precision``.
        sizes: the counts that size the run (``_sizing.Sizes``); ``memory`` the estimate.
        rows: the row source: ``rows(ids)`` gives patient-table rows (sampled grid cells and
            cohorts, a population table, or the sensitivity design's points).
    """

    spec: SweepSpec
    model_class: type[AbstractModel]
    arms: tuple[ArmSpec, ...]
    regimens: tuple[Regimen | None, ...]
    chemotherapies: tuple[Chemotherapy | None, ...]
    columns: tuple[str, ...]
    axes: dict[str, np.ndarray]
    grid_shape: tuple[int, ...]
    n_patients: int
    chunk_size: int
    scan_days: Float[np.ndarray, " n_scans"]
    output_times: Float[np.ndarray, " n_t"]
    scan_index: Int[np.ndarray, " n_scans"]
    survival_grid: Float[np.ndarray, " n_grid"]
    survival_index: Int[np.ndarray, " n_grid"]
    survival_seed: int
    trajectory_patients: Int[np.ndarray, " n_traj"]
    trajectory_times: Float[np.ndarray, " n_traj_t"]
    tolerances: Tolerances
    rtol: float
    atol: float
    sizes: Sizes
    rows: RowSource

    @classmethod
    def from_spec(cls, spec: SweepSpec) -> SweepPlan:
        """The plan of a spec that passed the structural and cross checks
        (``validate_spec``; a plan is also how the validation sizes the run)."""
        model = get_model(spec.model)
        columns = tuple(patient_columns(spec))
        axes = {k: v.grid() for k, v in spec.axes.items()}
        grid_shape = tuple(v.size for v in spec.axes.values())
        n_cells = int(np.prod(grid_shape, dtype=np.int64))
        if spec.sensitivity is not None:  # the design points of the sensitivity analysis
            n = spec.sensitivity.n_evaluations(columns)
            rows: RowSource = DesignRows(spec, columns)
        else:
            n = n_cells * spec.sampling.cohort_size
            rows = SampledRows(spec, columns)
        scans = _scan_days(spec)
        fu = spec.follow_up_days
        grid = _survival_grid(spec)
        ts, scan_index, grid_index = _output_times(scans, fu, grid)
        seed = spec.survival.seed if spec.survival is not None else None
        k = min(spec.n_trajectories, n)
        traj = (
            np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))
            if k
            else np.zeros(0, np.int64)
        )
        traj_t = np.append(np.arange(0.0, fu, spec.trajectory_step_days), fu)
        tol = Tolerances(rtol=spec.rtol, atol=spec.atol, max_steps=spec.max_steps)
        rtol, atol, _ = tol.resolve(spec.precision)
        sizes = Sizes(
            n_patients=n,
            n_cells=n_cells,
            cohort_size=spec.sampling.cohort_size,
            chunk_size=spec.chunk_size,
            n_arms=len(spec.arms),
            n_states=len(model.state_names),
            n_times=len(scans) + 1 + len(grid),
            n_columns=len(columns) + 1,
            n_trajectories=spec.n_trajectories,
            n_trajectory_times=math.floor(fu / spec.trajectory_step_days) + 2,
        )
        return cls(
            spec=spec,
            model_class=model,
            arms=tuple(spec.arms),
            regimens=tuple(arm.regimen_obj() for arm in spec.arms),
            chemotherapies=tuple(arm.chemo_obj() for arm in spec.arms),
            columns=columns,
            axes=axes,
            grid_shape=grid_shape,
            n_patients=n,
            chunk_size=spec.chunk_size,
            scan_days=scans,
            output_times=ts,
            scan_index=scan_index,
            survival_grid=grid,
            survival_index=grid_index,
            survival_seed=int(spec.sampling.seed if seed is None else seed),
            trajectory_patients=traj,
            trajectory_times=traj_t,
            tolerances=tol,
            rtol=rtol,
            atol=atol,
            sizes=sizes,
            rows=rows,
        )

    @classmethod
    def of(cls, spec_or_plan: SweepSpec | SweepPlan) -> SweepPlan:
        """``spec_or_plan`` if it is a plan, else the plan of the (validated) spec."""
        return spec_or_plan if isinstance(spec_or_plan, SweepPlan) else cls.from_spec(spec_or_plan)

    def __repr__(self) -> str:
        spec = self.spec
        grid = " × ".join(f"{k}[{v.size}]" for k, v in self.axes.items()) or "no grid"
        rows = type(self.rows).__name__
        return (
            f"SweepPlan({spec.name!r}: {self.model_class.__name__} ({self.n_states} states), "
            f"{self.n_arms} arms × {self.n_patients:,} patients ({grid}; {rows}), "
            f"{self.n_chunks} chunks of {self.chunk_size:,}, {len(self.scan_days)} scans to "
            f"day {self.scan_days[-1]:g} of {self.follow_up_days:g}, {spec.backend} "
            f"{self.precision} rtol={self.rtol:g} atol={self.atol:g}, "
            f"~{self.memory['chunk'] / 2**20:.0f} MiB per chunk)"
        )

    # ------------------------------------------------------------------ derived counts
    @property
    def n_arms(self) -> int:
        return len(self.arms)

    @property
    def n_cells(self) -> int:
        """Grid cells (1 without axes)."""
        return self.sizes.n_cells

    @property
    def n_chunks(self) -> int:
        """Store chunks: ``ceil(n_patients / chunk_size)``."""
        return -(-self.n_patients // self.chunk_size)

    @property
    def n_states(self) -> int:
        return self.sizes.n_states

    @property
    def precision(self) -> Literal["float32", "float64"]:
        return self.spec.precision

    @property
    def follow_up_days(self) -> float:
        return self.spec.follow_up_days

    @property
    def max_steps(self) -> int:
        return self.tolerances.max_steps

    @property
    def memory(self) -> dict[str, int]:
        """Rough peak host memory (bytes) of the run's stages (``_sizing.memory_estimate``)."""
        return memory_estimate(self.sizes)

    @property
    def keep(self) -> str:
        """The store's tier (``[store] keep``, else by cohort size: ``_tiers.default_keep``)."""
        given = self.spec.store.keep if self.spec.store is not None else None
        if given is not None:
            return given
        sens = self.spec.sensitivity
        minimum = sensitivity_keep(None if sens is None else sens.outputs)
        return default_keep(self.n_patients, self.n_arms, minimum=minimum)

    @property
    def keep_notice(self) -> str | None:
        """One line when the default tier (no ``[store] keep``) drops a tier; else ``None``."""
        if self.spec.store is not None and self.spec.store.keep is not None:
            return None
        return keep_notice(self.keep, self.n_patients, self.n_arms)

    @functools.cached_property
    def backend(self) -> AbstractBackend:
        """The backend object of ``backend`` and ``[solver]``, in ``precision``, resolved
        (``Auto`` → the platform's backend; on first use, since it asks JAX for devices)."""
        spec = self.spec
        opts = spec.solver.options() if spec.solver is not None else {}
        return as_backend(spec.backend, dtype=spec.precision, **opts).resolve()

    def chunk_range(self, i: int) -> tuple[int, int]:
        """Patients ``(start, stop)`` of store chunk ``i``."""
        c = self.chunk_size
        return i * c, min((i + 1) * c, self.n_patients)


def patient_table(
    spec: SweepSpec | SweepPlan, start: int = 0, stop: int | None = None
) -> dict[str, Float[np.ndarray, " n"] | Int[np.ndarray, " n"]]:
    """Columns of patients ``start .. stop-1``: every varying parameter and ``cell``.

    Args:
        spec: validated sweep specification (or its :class:`SweepPlan`).
        start: first patient of the range (default 0).
        stop: end of the patient range, exclusive (default: everyone).

    Returns:
        ``{name: array (stop - start,)}`` for the swept and varied parameters (model units;
        ``E0``/``T0`` in cells; ``eta_CL`` ... ``eta_CL_emax``: standard normals when PK
        varies) and ``cell`` (flat grid-cell index).
    """
    plan = SweepPlan.of(spec)
    n = plan.n_patients
    stop = n if stop is None else min(stop, n)
    if not 0 <= start <= stop:
        raise ValueError(f"patient range must satisfy 0 <= start <= stop; got {start}, {stop}")
    return plan.rows(np.arange(start, stop, dtype=np.int64))

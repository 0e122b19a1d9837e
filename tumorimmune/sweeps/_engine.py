"""Chunked, vectorized integration of patients × arms and their RECIST read-out.

Only what the response needs is kept per patient: the state at scan times and summaries. Dense
trajectories are integrated separately for a small fixed subset of patients. With several local
JAX devices the patient axis of each chunk is sharded across all of them (``jax.sharding``).

Bit-for-bit reproducibility: a patient's numbers do not depend on the chunk size, the padding,
the number of devices or of threads. The cause of the differences seen before was a reduction
across the state vector (the error norm of the step-size controller): XLA's CPU kernels for
``jnp.mean`` / ``jnp.dot`` associate the sum differently for different array shapes (pool
and lane sizes of the fused loop, batch sizes of diffrax), so a patient's step sizes depended
on its neighbours' count. All backends now sum the norm in a fixed order (elementwise only).
Solves still see at least ``MIN_DEVICE_BATCH`` patients per device. Tested on CPU for the
diffrax and fused backends (chunk sizes that do and do not divide N, forced device and thread
counts); results on other platforms or JAX versions may differ in the last bits, so a store is
only resumed with the settings it was started with (``resume_keys``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jaxtyping import Float

from .._simulate import make_schedule, prepare_batch, set_dose_clock
from ..model import AbstractDrugModel, get_drug
from ..model._base import Model
from ..response import (
    best_overall_response,
    best_pct_change,
    outcome_class,
    pct_change,
    pfs,
    sum_of_diameters_mm,
)
from ..solvers import EXTINCTION_CELLS
from ._backends import get_backend
from ._sampling import cell_table
from ._spec import INITIAL_NAMES, PK_ETAS, READOUT_NAMES, ArmSpec, SweepSpec

#: Escape threshold of the outcome class, as a fraction of the carrying capacity 1/b
#: (**assumption**; see ``tumorimmune.response.outcome_class``).
ESCAPE_FRACTION = 0.5
#: Smallest number of patients per device in one solve (smaller batches are padded).
MIN_DEVICE_BATCH = 16


@dataclasses.dataclass
class Engine:
    """Integrates blocks of virtual patients for a spec (all arms, same patients).

    Attributes:
        spec: validated sweep specification.
        backend: resolved backend name; ``solve`` the backend function.
        devices: local JAX devices the patient axis is sharded over.
    """

    spec: SweepSpec
    backend: str
    solve: Callable[..., Any]
    devices: Sequence[Any]
    _cells: dict[int, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)

    @classmethod
    def create(cls, spec: SweepSpec, *, devices: Sequence[Any] | None = None) -> Engine:
        name, fn = get_backend(spec.backend)
        return cls(spec, name, fn, list(devices) if devices is not None else jax.local_devices())

    # -------------------------------------------------------------------------- patients
    @property
    def padded_chunk(self) -> int:
        """Batch size of every solve: the chunk size rounded up to a multiple of the devices,
        with at least ``MIN_DEVICE_BATCH`` patients per device."""
        k = len(self.devices)
        return k * max(-(-self.spec.chunk_size // k), MIN_DEVICE_BATCH)

    def rows(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Patient-table rows for the given patient ids (cells generated once, cached)."""
        if self.spec.sensitivity is not None:  # patients are the sensitivity design's points
            from ..sensitivity._design import design_rows

            return design_rows(self.spec, ids)
        c = self.spec.sampling.cohort_size
        ids = np.asarray(ids, dtype=np.int64)
        cells = ids // c
        out: dict[str, list[np.ndarray]] = {k: [] for k in [*self.spec.varying(), "cell"]}
        for cell in np.unique(cells):
            if int(cell) not in self._cells:
                if len(self._cells) > 64:
                    self._cells.clear()
                self._cells[int(cell)] = cell_table(self.spec, int(cell))
            tab = self._cells[int(cell)]
            sel = ids[cells == cell] - cell * c
            for k in out:
                out[k].append(tab[k][sel])
        order = np.argsort(np.argsort(cells, kind="stable"), kind="stable")
        return {k: np.concatenate(v)[order] for k, v in out.items()}

    def arm_model(self, table: dict[str, np.ndarray], arm: ArmSpec) -> tuple[Model, np.ndarray]:
        """Batched model and initial states ``(n, n_states)`` of the patients in ``table``."""
        spec = self.spec
        n = len(table["cell"])
        cls = spec.model_class()
        params: dict[str, Any] = dict(spec.parameters)
        for k, v in table.items():
            if k not in (*INITIAL_NAMES, *PK_ETAS, *READOUT_NAMES, "cell"):
                params[k] = v
        if issubclass(cls, AbstractDrugModel):
            drug = get_drug(arm.drug_name())
            # Individual PK through the same function as simulate (TumorImmunePD1.with_drug).
            weight = params.pop("weight", cls().weight)
            z = {k.removeprefix("eta_"): table[k] for k in PK_ETAS} if spec.pk.variability else None
            pk_weight = weight if spec.pk.weight_scaling else drug.weight_ref
            model = cls.with_drug(drug, weight=pk_weight, iiv_z=z, **params)
            if not spec.pk.weight_scaling:  # typical-weight PK, the patient's weight for doses
                model = model.replace(weight=weight)
        else:
            model = cls(**params)
        y0: dict[str, Any] = {}
        if cls.tumor_state is not None:  # T0 is in cells; the model's unit may differ
            T0 = np.broadcast_to(table.get("T0", spec.initial.T0), (n,))
            y0[cls.tumor_state] = np.asarray(model.tumor_size(T0), dtype=float)
        if cls.effector_state is not None:
            y0[cls.effector_state] = np.broadcast_to(table.get("E0", spec.initial.E0), (n,))
        batched, y, _ = prepare_batch(model, y0)
        return set_dose_clock(batched, arm.regimen_obj()), y

    # ------------------------------------------------------------------------- solving
    def _solve(
        self, model: Model, y0: np.ndarray, ts: np.ndarray, arm: ArmSpec
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Backend call with the patient axis sharded over the devices."""
        n = y0.shape[0]
        schedule, doses = make_schedule(model, ts, arm.regimen_obj())
        if doses is None:
            doses = np.zeros((n, 0))
        rtol, atol = self.spec.tolerances()
        dtype = self.spec.precision
        kwargs = {"rtol": rtol, "atol": atol, "dtype": dtype, "max_steps": self.spec.max_steps}
        if len(self.devices) > 1:
            # Shard the patient axis over the devices (n is a multiple of their number).
            from jax.sharding import Mesh, NamedSharding, PartitionSpec

            mesh = Mesh(np.asarray(self.devices), ("patient",))
            sharding = NamedSharding(mesh, PartitionSpec("patient"))
            npdt = np.float64 if dtype == "float64" else np.float32
            with jax.enable_x64(dtype == "float64"):
                put = lambda x: jax.device_put(np.asarray(x, npdt), sharding)  # noqa: E731
                ys, status, steps = self.solve(
                    jax.tree_util.tree_map(put, model), put(y0), schedule, doses, **kwargs
                )
                ys, status, steps = np.asarray(ys), np.asarray(status), np.asarray(steps)
        else:
            ys, status, steps = self.solve(model, y0, schedule, doses, **kwargs)
        return np.asarray(ys), np.asarray(status), np.asarray(steps)

    def times(self) -> tuple[np.ndarray, np.ndarray]:
        """(output times, scan indices into them): scans plus the end of follow-up."""
        scans = self.spec.scan_schedule()
        fu = self.spec.follow_up_days
        ts = scans if np.isclose(scans[-1], fu) else np.append(scans, fu)
        return ts, np.arange(len(scans))

    def run_block(
        self, start: int, stop: int, *, on_arm: Callable[[int], None] | None = None
    ) -> dict[str, np.ndarray]:
        """Solve and read out patients ``start .. stop-1`` in every arm.

        ``on_arm(k)`` is called after the ``k``-th arm (1-based) is solved (progress).

        Returns:
            per-patient columns ``param_<name>`` and ``cell`` (patient,), and per arm × patient
            ``tumor_cells``, ``diameter_mm`` (SLD, see ``[response]``), ``pct_change``
            (arm, patient, scan),
            ``best_pct_change``, ``best_response``, ``pfs_days``, ``pfs_event``, ``outcome``,
            ``status``, ``num_steps`` (arm, patient).
        """
        spec = self.spec
        n = stop - start
        width = max(self.padded_chunk, n)
        ids = np.minimum(np.arange(start, start + width), stop - 1)  # pad with the last one
        table = self.rows(ids)
        ts, scan_idx = self.times()
        scan_days = spec.scan_schedule()
        lesions = np.asarray(table.get("n_lesions", spec.response.n_lesions), dtype=float)
        lesions = lesions[:n, None] if lesions.ndim else lesions  # per patient: (n, 1)
        out: dict[str, Any] = {f"param_{k}": table[k][:n] for k in spec.varying()}
        out["cell"] = table["cell"][:n]
        per_arm: dict[str, list[np.ndarray]] = {}
        for arm in spec.arms:
            model, y0 = self.arm_model(table, arm)
            ys, status, steps = self._solve(model, y0, ts, arm)
            ys, status, steps = ys[:n], status[:n], steps[:n]
            iT = model.state_names.index(_tumor_state(model))
            T = np.array(tumor_cells(model.tumor_cells(ys[..., iT])), dtype=np.float64)
            T[status != 0] = np.nan
            cells = T[:, scan_idx]
            diam = sum_of_diameters_mm(
                cells,
                n_lesions=lesions,
                cells_per_cm3=spec.response.cells_per_cm3,
                detection_limit_mm=spec.response.detection_limit_mm,
            )
            days, event = pfs(diam, scan_days, follow_up=spec.follow_up_days)
            cap = np.asarray(model.carrying_capacity(), dtype=float)
            cap = cap[:n] if cap.ndim else cap
            # no carrying capacity (inf): never 'escaped' (use best_response / PFS instead)
            cap = np.where(np.isfinite(cap), cap, np.finfo(np.float64).max)
            fields = {
                "tumor_cells": cells,
                "diameter_mm": diam,
                "pct_change": pct_change(diam),
                "best_pct_change": best_pct_change(diam),
                "best_response": best_overall_response(diam),
                "pfs_days": days,
                "pfs_event": event,
                "outcome": outcome_class(T[:, -1], escape_cells=ESCAPE_FRACTION * cap),
                "status": status.astype(np.int32),
                "num_steps": steps.astype(np.int32),
            }
            for k, v in fields.items():
                per_arm.setdefault(k, []).append(v)
            if on_arm is not None:
                on_arm(len(per_arm["status"]))
        out.update({k: np.stack(v) for k, v in per_arm.items()})
        return out

    # ------------------------------------------------------------------- trajectories
    def trajectory_patients(self) -> np.ndarray:
        """Patients with stored dense trajectories: evenly spread over the population."""
        n = self.spec.n_patients
        k = min(self.spec.n_trajectories, n)
        return (
            np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))
            if k
            else np.zeros(0, np.int64)
        )

    def trajectory_times(self) -> Float[np.ndarray, " n_t"]:
        fu = self.spec.follow_up_days
        ts = np.arange(0.0, fu, self.spec.trajectory_step_days)
        return np.append(ts, fu)

    def run_trajectories(self) -> dict[str, np.ndarray]:
        """Dense trajectories ``traj_<state>`` (arm, traj_patient, time) of a patient subset.

        States ``E``, ``T`` (cells) and, for the PD-1 model, ``C`` (µg/mL) and ``RO``.
        """
        ids = self.trajectory_patients()
        ts = self.trajectory_times()
        if ids.size == 0:
            return {}
        table = self.rows(ids)
        out: dict[str, list[np.ndarray]] = {}
        for arm in self.spec.arms:
            model, y0 = self.arm_model(table, arm)
            ys, status, _ = self._solve_small(model, y0, ts, arm)
            names = model.state_names
            res = {"T": tumor_cells(model.tumor_cells(ys[..., names.index(_tumor_state(model))]))}
            if model.effector_state is not None:
                res["E"] = np.maximum(ys[..., names.index(model.effector_state)], 0.0)
            if "A1" in names:
                with jax.enable_x64(True):
                    obs = jax.vmap(lambda m, y: m.observables(ts, y))(
                        jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), model),
                        np.asarray(ys, np.float64),
                    )
                res["C"] = np.asarray(obs["C"])
                res["RO"] = np.asarray(obs["RO"])
            for k, v in res.items():
                v = np.array(v, dtype=np.float64)
                v[status != 0] = np.nan
                out.setdefault(f"traj_{k}", []).append(v)
        return {k: np.stack(v) for k, v in out.items()}

    def _solve_small(
        self, model: Model, y0: np.ndarray, ts: np.ndarray, arm: ArmSpec
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = len(self.devices)
        n = y0.shape[0]
        pad = k * max(-(-n // k), MIN_DEVICE_BATCH) - n
        if pad:
            idx = np.minimum(np.arange(n + pad), n - 1)
            model = jax.tree_util.tree_map(lambda x: np.asarray(x)[idx], model)
            y0 = y0[idx]
        ys, status, steps = self._solve(model, y0, ts, arm)
        return ys[:n], status[:n], steps[:n]


def _tumor_state(model: Model) -> str:
    if model.tumor_state is None:
        raise ValueError(f"{type(model).__name__} has no tumor_state; sweeps need one")
    return model.tumor_state


def tumor_cells(T: Float[np.ndarray, "n n_t"]) -> Float[np.ndarray, "n n_t"]:
    """Tumor cells with extinction absorbing: 0 from the first time below one cell (NaN kept)."""
    T = np.asarray(T)
    gone = np.maximum.accumulate(np.nan_to_num(T, nan=np.inf) < EXTINCTION_CELLS, axis=-1)
    return np.where(gone, 0.0, np.maximum(T, 0.0)).astype(T.dtype)

"""Chunked, vectorized integration of patients × arms and their RECIST read-out.

Only what the response needs is kept per patient: the state at scan times and summaries. Dense
trajectories are integrated separately for a small fixed subset of patients. With several local
JAX devices the patient axis of each chunk is sharded across all of them (``jax.sharding``).

Batches: the runner hands the engine several store chunks at once (:meth:`Engine.compute`;
:meth:`Engine.chunks_per_batch`: about ``CPU_BATCH_PER_THREAD`` patients per CPU thread,
``ACCELERATOR_BATCH`` per accelerator, bounded by memory), padded to one width for the whole
run, so that every solve is compiled once per process. Arms as a batch axis: with the fused
backend, the arms of a batch are one cohort in which each patient follows its
arm's dose schedule (:func:`tumorimmune.solvers.solve_fused_groups`), so one compiled program
solves every arm that has the same model structure (class, drug) and the same parameters that
are exactly 0 (the program's constants; :meth:`Engine.programs`): the default trial's five
arms are two programs (the untreated and pembrolizumab arms; nivolumab), not five. On one CPU
each program's cohort is cut into one piece per thread, each holding every arm's patients,
and all pieces of a batch run at once on the threads (one fused pool per piece); on several
devices, into one piece per device. The Pallas backend groups the arms the same way into one
kernel per program (:func:`tumorimmune.solvers.solve_pallas_groups`: every block holds one
arm's patients and reads that arm's stop table). Diffrax solves arm by arm (on accelerators
the arms concurrently, so that their programs compile at once). The read-out of all arms
is one compiled jnp program (:func:`tumorimmune.response.jax_readout`) fed with the NumPy
reference's sums of diameters (bit-identical to :mod:`tumorimmune.response`).

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
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import numpy as np
from jaxtyping import Float

from ..model import AbstractDrugModel, Model, get_drug
from ..response import (
    apply_deaths,
    censor_after_death,
    jax_death_days,
    jax_readout,
    jax_timecourse_readout,
    patient_uniforms,
    sum_of_diameters_mm,
)
from ..solvers import (
    Fused,
    make_schedule,
    prepare_batch,
    set_dose_clock,
    shard_solve,
    tumor_cells,
)
from ._device import arm_series, stack_on_device
from ._plan import SweepPlan
from ._sizing import memory_limit_bytes
from ._spec import INITIAL_NAMES, PK_ETAS, READOUT_NAMES, SURVIVAL_NAMES, SweepSpec

#: Escape threshold of the outcome class, as a fraction of the carrying capacity 1/b
#: (**assumption**; see ``tumorimmune.response.outcome_class``).
ESCAPE_FRACTION = 0.5
#: Smallest number of patients per device in one solve (smaller batches are padded).
MIN_DEVICE_BATCH = 16
#: Patients per CPU thread (and arm) in one compute batch: the fused backend's pool of a thread.
CPU_BATCH_PER_THREAD = 1 << 14
#: Patients per accelerator in one compute batch.
ACCELERATOR_BATCH = 1 << 20
#: Fewest patients per thread of the host's elementwise read-out work (:meth:`Engine.compute`).
HOST_SLICE = 1 << 15
#: Batches computed at once on accelerators (:meth:`Engine.batches_in_flight`).
HOST_BATCHES_IN_FLIGHT = 3


@dataclasses.dataclass
class Engine:
    """Integrates blocks of virtual patients of a plan (all arms, same patients).

    Attributes:
        plan: the run's :class:`SweepPlan` (a validated spec resolved).
        backend: resolved backend name; ``solve`` the backend object.
        devices: local JAX devices the patient axis is sharded over.
        threads: CPU threads the fused backend's pools run on (default: the cores).
    """

    plan: SweepPlan
    backend: str
    solve: Any  # the backend option object (tumorimmune.solvers.Fused, ...)
    devices: Sequence[Any]
    threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)

    @classmethod
    def create(cls, plan: SweepPlan | SweepSpec, *, devices: Sequence[Any] | None = None) -> Engine:
        """The engine of a plan (or of a validated spec's plan) on ``devices`` (default: all
        local JAX devices)."""
        plan = SweepPlan.of(plan)
        backend = plan.backend
        devs = list(devices) if devices is not None else jax.local_devices()
        given = backend.n_threads if isinstance(backend, Fused) else None
        threads = given or os.cpu_count() or 1
        return cls(plan, backend.name, backend, devs, threads=threads)

    # -------------------------------------------------------------------------- patients
    @property
    def padded_chunk(self) -> int:
        """Batch size of every solve: the chunk size rounded up to a multiple of the devices,
        with at least ``MIN_DEVICE_BATCH`` patients per device."""
        k = len(self.devices)
        return k * max(-(-self.plan.chunk_size // k), MIN_DEVICE_BATCH)

    def _parts(self) -> int:
        """Pieces each arm's patients are cut into, solved concurrently on the CPU threads
        (the fused backend on one CPU device; else 1: the backend or the sharding spreads
        the work)."""
        cpu = self.devices[0].platform == "cpu"
        return self.threads if self.backend == "fused" and cpu and len(self.devices) == 1 else 1

    def chunks_per_batch(self) -> int:
        """Store chunks solved together in one batch: about ``CPU_BATCH_PER_THREAD`` patients
        per thread on a CPU, ``ACCELERATOR_BATCH`` per accelerator, at most the number of
        chunks and within a quarter of the memory a sweep may plan to use (shared by the
        batches in flight); then evened out
        over the batches (40 chunks at 13 per batch → 4 batches of 10)."""
        plan = self.plan
        n_chunks = plan.n_chunks
        if self.devices[0].platform == "cpu":
            target = CPU_BATCH_PER_THREAD * self._parts()
        else:
            target = ACCELERATOR_BATCH * len(self.devices)
        k = max(1, round(target / plan.chunk_size))
        per_chunk = max(plan.memory["chunk"], 1)
        # a quarter of the memory for the batches in flight
        k = max(
            1, min(k, n_chunks, memory_limit_bytes() // 4 // self.batches_in_flight() // per_chunk)
        )
        # equal batches: the last one is padded to the same width, so keep its padding small
        return -(-n_chunks // -(-n_chunks // k))

    def batches_in_flight(self) -> int:
        """Batches computed at once (:meth:`compute` in threads; results are written in
        order). On accelerators ``HOST_BATCHES_IN_FLIGHT``: the host's share of a batch
        (patients, models, read-out; single-threaded NumPy) then overlaps the device's solve
        of the others and each other. On a CPU 1: the solve already keeps every core busy.
        Results do not depend on it (batches are independent)."""
        if self.devices[0].platform == "cpu":
            return 1
        return HOST_BATCHES_IN_FLIGHT

    def batch_width(self, n: int = 0) -> int:
        """Patients (padded) of every solve of a batch of ``n`` patients: the same for every
        batch of a run (one compiled program per arm), a multiple of the devices and of the
        concurrent pieces, at least ``MIN_DEVICE_BATCH`` per device or piece."""
        full = min(self.chunks_per_batch() * self.plan.chunk_size, self.plan.n_patients)
        k = len(self.devices) * self._parts()
        return k * max(-(-max(n, full) // k), MIN_DEVICE_BATCH)

    def rows(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Patient-table rows for the given patient ids (the plan's row source)."""
        return self.plan.rows(np.asarray(ids, dtype=np.int64))

    def arm_model(self, table: dict[str, np.ndarray], a: int) -> tuple[Model, np.ndarray]:
        """Batched model of arm ``a`` and initial states ``(n, n_states)`` of the patients in
        ``table``."""
        plan = self.plan
        spec = plan.spec
        n = len(table["cell"])
        cls = plan.model_class
        params: dict[str, Any] = dict(spec.parameters)
        for k, v in table.items():
            if k not in (*INITIAL_NAMES, *PK_ETAS, *READOUT_NAMES, *SURVIVAL_NAMES, "cell"):
                params[k] = v
        chemo = plan.chemotherapies[a]
        if chemo is not None:
            # the preset's typical k_chemo/lam_chemo unless the spec or the patients give
            # their own; the schedule is the arm's
            params = {**chemo.parameters(), **params, **chemo.schedule()}
        elif "k_chemo" in params:  # a patient's chemo sensitivity acts only on chemotherapy
            params["k_chemo"] = 0.0
        if issubclass(cls, AbstractDrugModel):
            drug = get_drug(plan.arms[a].drug_name())
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
            E0 = np.broadcast_to(table.get("E0", spec.initial.E0), (n,))
            y0[cls.effector_state] = np.asarray(model.effector_size(E0), dtype=float)
        batched, y, _ = prepare_batch(model, y0)
        return set_dose_clock(batched, plan.regimens[a]), y

    # ------------------------------------------------------------------------- solving
    def _inputs(
        self, model: Model, y0: np.ndarray, ts: np.ndarray, a: int
    ) -> tuple[Model, np.ndarray, Any, np.ndarray]:
        """``(model, y0, schedule, doses)`` of arm ``a``'s batch (doses ``(n, k)`` mg)."""
        schedule, doses = make_schedule(model, ts, self.plan.regimens[a])
        return model, y0, schedule, np.zeros((y0.shape[0], 0)) if doses is None else doses

    def _solve(
        self, model: Model, y0: np.ndarray, ts: np.ndarray, a: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arm ``a``'s backend call, the patient axis sharded over the devices."""
        _, _, schedule, doses = self._inputs(model, y0, ts, a)
        plan = self.plan
        dtype = plan.precision
        kwargs = {"rtol": plan.rtol, "atol": plan.atol, "dtype": dtype, "max_steps": plan.max_steps}
        if len(self.devices) > 1 and self.backend in ("fused", "pallas"):
            ys, status, steps = shard_solve(
                self.solve, model, y0, schedule, doses, devices=self.devices, **kwargs
            )
        elif len(self.devices) > 1:
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

    def programs(self, models: Sequence[Model]) -> list[list[int]]:
        """Arms (indices into ``models``, the arms' batched models) solved together by one
        compiled program of the fused backend (:func:`tumorimmune.solvers.solve_fused_groups`)
        or one Pallas kernel (:func:`tumorimmune.solvers.solve_pallas_groups`): models of the
        same structure (class, drug) and the same parameters exactly 0 for every patient, so
        that every arm keeps the program (and the bits) it would have alone. Diffrax: one arm
        per program."""
        if self.backend not in ("fused", "pallas"):
            return [[a] for a in range(len(models))]
        keys: dict[Any, list[int]] = {}
        for a, model in enumerate(models):
            zeros = frozenset(
                k for k in model.parameter_names() if not np.any(np.asarray(getattr(model, k)))
            )
            keys.setdefault((jax.tree_util.tree_structure(model), zeros), []).append(a)
        return list(keys.values())

    def _solve_arms(
        self,
        table: dict[str, np.ndarray],
        ts: np.ndarray,
        on_solved: Callable[[list[int]], None] | None = None,
    ) -> list[tuple[Model, np.ndarray, np.ndarray, np.ndarray]]:
        """Every arm solved for the patients of ``table``: ``(model, ys, status, steps)``;
        ``on_solved(arms)`` as arms finish (every arm once; those of a program together).

        Fused backend: the arms of a program (:meth:`programs`) are one cohort, each patient
        with its arm's dose schedule (one compiled program for them, lanes shared across arms).
        The cohort is cut into pieces, each holding every arm's patients: one per CPU thread on
        one CPU device (the pieces of all programs run at once on the threads), or one per
        device on several devices (each solved under ``jax.default_device``).
        """
        arms = [(a, *self.arm_model(table, a)) for a in range(self.plan.n_arms)]
        programs = self.programs([m for _, m, _ in arms])
        if all(len(p) == 1 for p in programs) and self._parts() == 1:

            def one(
                arm: int, m: Model, y0: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
                res = self._solve(m, y0, ts, arm)
                if on_solved is not None:
                    on_solved([arm])
                return res

            if len(arms) > 1 and self.devices[0].platform != "cpu":
                # accelerators: the arms' programs compile on the host at once (and queue
                # their solves on the device) instead of one after the other
                with ThreadPoolExecutor(max_workers=len(arms)) as pool:
                    res = list(pool.map(lambda x: one(*x), arms))
                return [(m, *r) for (_, m, _), r in zip(arms, res, strict=True)]
            return [(m, *one(arm, m, y0)) for arm, m, y0 in arms]
        n = len(table["cell"])
        devs = self.devices
        on_devices = len(devs) > 1  # n is a multiple of the devices (batch_width)
        parts = len(devs) if on_devices else min(self._parts(), n)
        inputs = [self._inputs(m, y0, ts, arm) for arm, m, y0 in arms]

        def piece(k: int, p: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
            # every parts-th patient: each piece spans the batch, so parameters that vary in
            # the batch vary in every piece (one program signature for all pieces)
            sl = slice(p, None, parts)
            groups = []
            for a in programs[k]:
                model, y0, schedule, doses = inputs[a]
                sub = jax.tree_util.tree_map(
                    lambda x: np.asarray(x)[sl] if np.ndim(x) else x, model
                )
                groups.append((sub, y0[sl], schedule, doses[sl]))
            solve = self.solve
            plan = self.plan
            kw = {"rtol": plan.rtol, "atol": plan.atol, "dtype": plan.precision}
            if on_devices:
                with jax.default_device(devs[p]):
                    return solve.solve_groups(groups, **kw, max_steps=plan.max_steps)
            if parts > 1:  # one pool per piece on the calling thread
                m = sum(g[1].shape[0] for g in groups)
                solve = dataclasses.replace(solve, n_threads=1, chunk_size=solve.chunk_size or m)
            return solve.solve_groups(groups, **kw, max_steps=plan.max_steps)

        jobs = [(k, p) for k in range(len(programs)) for p in range(parts)]
        left = [parts] * len(programs)  # pieces of each program not solved yet
        lock = threading.Lock()

        def job(k: int, p: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
            res = piece(k, p)
            with lock:
                left[k] -= 1
                finished = left[k] == 0
            if finished and on_solved is not None:
                on_solved(list(programs[k]))
            return res

        if len(jobs) > 1:
            workers = len(jobs) if on_devices else min(self.threads, len(jobs))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                done = list(pool.map(lambda j: job(*j), jobs))
        else:
            done = [job(*jobs[0])]
        out = []
        for a, (_, model, _) in enumerate(arms):
            k = next(i for i, prog in enumerate(programs) if a in prog)
            g = programs[k].index(a)
            res = []
            for r in range(3):  # ys, status, steps: interleave the pieces back
                first = done[jobs.index((k, 0))][g][r]
                full = np.empty((n, *first.shape[1:]), first.dtype)
                for (kk, p), d in zip(jobs, done, strict=True):
                    if kk == k:
                        full[p::parts] = d[g][r]
                res.append(full)
            out.append((model, *res))
        return out

    def times(self) -> tuple[np.ndarray, np.ndarray]:
        """(output times, scan indices into them): the plan's ``output_times`` and
        ``scan_index`` (scans, the end of follow-up and the hazard grid's days)."""
        return self.plan.output_times, self.plan.scan_index

    def survival_times(self) -> tuple[np.ndarray, np.ndarray]:
        """(days of the hazard grid, their indices into the output times); empty without
        ``[survival]``."""
        return self.plan.survival_grid, self.plan.survival_index

    def run_block(
        self, start: int, stop: int, *, on_arm: Callable[[int], None] | None = None
    ) -> dict[str, np.ndarray]:
        """Solve and read out patients ``start .. stop-1`` in every arm (:meth:`compute`).

        ``on_arm(k)`` is called once, with the number of arms, when all arms are solved (they
        are solved together).
        """
        out = self.compute(np.arange(start, stop))
        if on_arm is not None:
            on_arm(self.plan.n_arms)
        return out

    def compute(
        self, ids: np.ndarray, *, on_solved: Callable[[list[int]], None] | None = None
    ) -> dict[str, np.ndarray]:
        """Solve and read out the patients ``ids`` in every arm: one batch; ``on_solved(arms)``
        is called as arms are solved (each arm once, before the read-out).

        The batch is padded to :meth:`batch_width` (the same solve shapes for every batch of a
        run, so each arm's program is compiled once); its arms are solved concurrently
        (:meth:`_solve_arms`), and the RECIST read-out of all arms is one compiled program
        (:func:`tumorimmune.response.jax_readout`; the sums of diameters come from the NumPy
        reference, so that results are bit-identical to it).

        With ``[survival]``: the SLD on the hazard grid gives each patient's death day
        (:func:`tumorimmune.response.jax_death_days` on the batch's device, equal to
        :func:`tumorimmune.response.sample_death_days` to its tolerance; one uniform per patient id
        from :func:`tumorimmune.response.patient_uniforms`, the same in every arm), and **deaths end
        follow-up** (:func:`censor_after_death`, :func:`apply_deaths`): the read-out and the
        time-course read-out see the diameters of the scans after death replaced by the last one on
        or before it, PFS and a responder's DoR end at death (an event) when death comes first, and
        a death before the first post-baseline scan is PD (best and confirmed best response). The
        stored ``tumor_cells`` and ``diameter_mm`` stay the model's.

        Returns:
            per-patient columns ``param_<name>`` and ``cell`` (patient,), and per arm × patient
            ``tumor_cells``, ``diameter_mm`` (SLD, see ``[response]``), ``pct_change``
            (arm, patient, scan),
            ``best_pct_change``, ``best_response``, ``pfs_days``, ``pfs_event``, ``outcome``,
            ``status``, ``num_steps``, RECIST over time from the same diameters as the
            read-out (:func:`tumorimmune.response.timecourse_readout`, ``[response] confirm``
            / ``confirm_days``): ``ttr_days``, ``dor_days``, ``dor_event``,
            ``confirmed_response``, ``pseudo_progression`` (arm, patient); with
            ``[survival]`` also ``os_days`` and ``os_event`` (arm, patient).
        """
        plan = self.plan
        spec = plan.spec
        ids = np.asarray(ids, dtype=np.int64)
        n = ids.size
        width = self.batch_width(n)
        # pad by repeating the batch (not its last patient): a piece made of copies of one
        # patient would turn the fused backend's per-patient parameters into shared ones (a
        # program of another signature, compiled again)
        ids = ids[np.arange(width) % n]
        table = self.rows(ids)
        ts, scan_idx = self.times()
        out: dict[str, Any] = {f"param_{k}": table[k][:n] for k in plan.columns}
        out["cell"] = table["cell"][:n]
        grid, grid_idx = self.survival_times()
        scans, finals, on_grid, caps, status, steps = [], [], [], [], [], []
        # all `width` rows (padded); each arm's solution is reduced on its device to the tumor
        # cells at the scans, at the end of follow-up and on the hazard grid (only the first
        # two are copied to the host) as soon as it is solved
        for model, ys, st, ns in self._solve_arms(table, ts, on_solved):
            _tumor_state(model)
            at_scans, final, at_grid = arm_series(
                model, ys, st, scan_idx=scan_idx, grid_idx=grid_idx
            )
            del ys
            scans.append(at_scans)
            finals.append(final)
            on_grid.append(at_grid)
            cap = np.asarray(model.carrying_capacity(), dtype=float)
            # no carrying capacity (inf): never 'escaped' (use best_response / PFS instead)
            cap = np.where(np.isfinite(cap), cap, np.finfo(np.float64).max)
            caps.append(np.broadcast_to(cap, (width,)))
            status.append(st.astype(np.int32))
            steps.append(ns.astype(np.int32))
        cells = np.stack([np.asarray(c) for c in scans])
        final_cells = np.stack([np.asarray(c) for c in finals])
        lesions = np.asarray(table.get("n_lesions", spec.response.n_lesions), dtype=float)
        lesions = lesions[:, None] if lesions.ndim else lesions  # per patient: (width, 1)

        readout = spec.response.readout()

        def sld(c: np.ndarray) -> np.ndarray:
            return self._by_patients(
                lambda sl: sum_of_diameters_mm(
                    c[:, sl],
                    readout=readout.replace(n_lesions=lesions[sl] if lesions.ndim else lesions),
                ),
                width,
            )

        diam = sld(cells)
        deaths = None
        if spec.survival is not None:
            # on the device, from the cells on the grid (jax_death_days: the NumPy
            # sample_death_days of their sums of diameters, to DEATH_DAY_TOL)
            u = (  # common to the arms: the population's own quantile, else hashed from the id
                np.asarray(table["u_death"])[None, :]
                if "u_death" in table
                else patient_uniforms(plan.survival_seed, ids)[None, :]
            )
            link = spec.survival.link()
            kw = dict(follow_up=spec.follow_up_days, readout=readout.replace(n_lesions=lesions))
            ratios = [a.hazard_ratio for a in plan.arms]
            if all(r is None for r in ratios):  # one link for every arm: one program
                os_days, os_event = jax_death_days(
                    on_grid[0][None] if len(on_grid) == 1 else stack_on_device(on_grid),
                    grid,
                    u,
                    link,
                    **kw,  # type: ignore[arg-type]
                )
            else:  # an arm's own hazard ratio: its own link (the link's scale is static)
                per_arm = [
                    jax_death_days(g[None], grid, u, link.with_hazard_ratio(r or 1.0), **kw)  # type: ignore[arg-type]
                    for g, r in zip(on_grid, ratios, strict=True)
                ]
                os_days = np.concatenate([d for d, _ in per_arm])
                os_event = np.concatenate([e for _, e in per_arm])
            deaths = (os_days, os_event)
        del on_grid
        scan_days = plan.scan_days
        # what the read-outs see: with deaths, the scans after death carry the last diameter
        # on or before it forward (no response or progression is read after death)
        seen = diam if deaths is None else censor_after_death(diam, scan_days, *deaths)
        # on the padded width: the read-out program has one shape for every batch
        read = jax_readout(
            cells,
            scan_days=scan_days,
            follow_up=spec.follow_up_days,
            final_cells=final_cells,
            escape_cells=ESCAPE_FRACTION * np.stack(caps),
            diameters=seen,
        )
        # RECIST over time (TTR, DoR, confirmation, pseudo-progression): one compiled program,
        # bit-identical to the NumPy timecourse_readout, from the same diameters
        timecourse = jax_timecourse_readout(
            seen,
            scan_days,
            follow_up=spec.follow_up_days,
            confirm=spec.response.confirm,
            min_confirm_days=spec.response.confirm_days,
        )
        fields = {
            "tumor_cells": cells,
            **{k: np.asarray(v) for k, v in read.items()},
            **timecourse,
            "status": np.stack(status),
            "num_steps": np.stack(steps),
        }
        if deaths is not None:
            fields["diameter_mm"] = diam  # the model's, not the read-out's
            fields.update(apply_deaths(fields, scan_days, *deaths))
        out.update({k: v[:, :n] for k, v in fields.items()})
        return out

    def _by_patients(self, fn: Callable[[slice], np.ndarray], n: int) -> np.ndarray:
        """``fn`` of (arm, patient, ...) results on slices of the patient axis, on the CPU
        threads at once (elementwise NumPy: the same bits as one call), joined along it."""
        k = min(self.threads, max(n // HOST_SLICE, 1))
        if k <= 1:
            return fn(slice(None))
        edges = np.linspace(0, n, k + 1).astype(int)
        slices = [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]
        with ThreadPoolExecutor(max_workers=k, thread_name_prefix="host") as pool:
            return np.concatenate(list(pool.map(fn, slices)), axis=1)

    # ------------------------------------------------------------------- trajectories
    def trajectory_patients(self) -> np.ndarray:
        """Patients with stored dense trajectories: evenly spread over the population."""
        return self.plan.trajectory_patients

    def trajectory_times(self) -> Float[np.ndarray, " n_t"]:
        return self.plan.trajectory_times

    def run_trajectories(self) -> dict[str, np.ndarray]:
        """Dense trajectories ``traj_<state>`` (arm, traj_patient, time) of a patient subset.

        States ``E``, ``T`` (cells) and, for the PD-1 model, ``C`` (µg/mL) and ``RO``.
        """
        ids = self.trajectory_patients()
        ts = self.trajectory_times()
        if ids.size == 0:
            return {}
        n = ids.size
        k = len(self.devices) * self._parts()
        width = k * max(-(-n // k), MIN_DEVICE_BATCH)
        # padded by repeating the patients (as in compute): all arms in one call per program
        table = self.rows(ids[np.arange(width) % n])
        out: dict[str, list[np.ndarray]] = {}
        first = lambda x: np.asarray(x)[:n] if np.ndim(x) else x  # noqa: E731
        solved = [
            (jax.tree_util.tree_map(first, m), ys[:n], st[:n])
            for m, ys, st, _ in self._solve_arms(table, ts)
        ]
        for model, ys, status in solved:
            names = model.state_names
            _tumor_state(model)
            res = {"T": tumor_cells(model.burden(ys))}
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


def _tumor_state(model: Model) -> str:
    if model.tumor_state is None:
        raise ValueError(f"{type(model).__name__} has no tumor_state; sweeps need one")
    return model.tumor_state

"""``run_sweep``: spec → resumable Zarr store → Dataset, chunk by chunk."""

from __future__ import annotations

import collections
import collections.abc
import functools
import json
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import numpy as np
import xarray as xr

from .._maps import warn_if_near_map_limit
from .._version import __version__
from ..response import (
    AssayColumns,
    arm_summary,
    cell_summary,
    cutoff_readout,
    evaluate_targets,
    os_summary,
    response_by_tps,
    timecourse_summary,
)
from ._engine import Engine
from ._multihost import Processes, barrier, broadcast_text
from ._plan import SweepPlan
from ._plausibility import runaway_warnings
from ._spec import SweepSpec
from ._store import PEAK, StoreLockedError, SweepStore, load
from ._validate import spec_warnings, validate_spec

#: ``progress(done, total, seconds_this_run)`` in **patient × arm solves** (``total`` = patients
#: × arms): first with what the store holds already (0, or the finished chunks of a resumed
#: store), then once per (chunk, arm) as the arm's patients of that chunk are solved (the
#: arms of one compiled program finish together; from a solver thread). A chunk is saved
#: after all its arms are solved.
ProgressCallback = Callable[[int, int, float], None]
#: ``phase(name)``: ``"compiling"`` (before the first batch of this process: its solves
#: include JIT compilation), ``"solving"`` (after it), ``"finalizing"`` (trajectories and
#: summaries).
PhaseCallback = Callable[[str], None]


def package_versions() -> dict[str, str]:
    """Versions of tumorimmune and its numerical dependencies."""
    out = {"tumorimmune": __version__, "python": platform.python_version()}
    for pkg in ("jax", "jaxlib", "diffrax", "equinox", "numpy", "scipy", "xarray", "zarr"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def run_sweep(
    spec: SweepSpec,
    *,
    output: str | Path | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    devices: Sequence[Any] | None = None,
    max_chunks: int | None = None,
    phase: PhaseCallback | None = None,
) -> xr.Dataset | None:
    """Run (or resume) a sweep and return its results.

    Args:
        spec: validated specification (:func:`load_spec`).
        output: store path (default ``spec.output``).
        overwrite: replace a finished store (or start an unfinished one over).
        progress: called with ``(done, total, seconds)`` in patient × arm solves: first with
            those the store holds already, then once per (chunk, arm) solved
            (:data:`ProgressCallback`); ``seconds`` spent in this call.
        devices: JAX devices to shard the patient axis over (default: all local devices).
        max_chunks: stop after this many chunks in this call (the store stays resumable);
            ``None`` runs to the end.
        phase: called with the name of each phase as it starts (:data:`PhaseCallback`).

    Returns:
        The results :class:`xarray.Dataset` (schema: CONTRIBUTING.md), or ``None`` when
        ``max_chunks`` stopped the run early. A store of more than
        :data:`LAZY_RESULTS_PATIENT_ARMS` patients × arms is returned opened lazily (dask
        arrays of the store's chunks, :func:`open`: the values are those of ``load``, read
        when used), a smaller one in memory.

    Results do not depend on the chunk size or the number of threads or devices (fixed-order
    reductions in the solvers; see ``tumorimmune.sweeps._engine``). A store is resumed only
    with the backend, platform and JAX version it was started with (attribute
    ``resume_keys``), so that a resumed store is bit-identical to an uninterrupted run.

    Raises:
        FileExistsError: a finished store at ``output`` and ``overwrite=False``.
        StoreLockedError: another process is writing ``output`` (a ``FileExistsError``).
        ValueError: an unfinished store of a different spec or other settings at ``output``.
        OSError: chunks that stay damaged after recomputing them (not marked complete).
    """
    spec = validate_spec(spec)
    warn_if_near_map_limit()  # before this run compiles its programs
    path = Path(output if output is not None else spec.output)
    # the stored spec names the store it is in (``output`` is not part of the resume key)
    plan = SweepPlan.from_spec(spec.model_copy(update={"output": str(path)}))
    engine = Engine.create(plan, devices=devices)
    dev = engine.devices
    versions = package_versions()
    attrs = {
        "backend": engine.backend,
        "device": f"{len(dev)} × {dev[0].platform}: {dev[0].device_kind}",
        "versions": json.dumps(versions),
        "threads": os.cpu_count() or 1,
        "tumorimmune_version": __version__,
        "warnings": json.dumps(spec_warnings(plan)),  # settings allowed but questionable
    }
    resume_keys = {
        "backend": engine.backend,
        "platform": dev[0].platform,
        "jax": versions.get("jax"),
        "jaxlib": versions.get("jaxlib"),
        "tumorimmune": __version__,
    }
    procs = Processes.current()
    if procs.count > 1:  # one of several processes (jax.distributed): docs/scaling.md
        attrs["processes"] = procs.count
        store = _open_for_process(plan, path, procs, overwrite, attrs, resume_keys)
        try:
            return _run_processes(store, engine, procs, progress, phase, max_chunks)
        finally:
            store.close()
    store = SweepStore.open(plan, path, overwrite=overwrite, attrs=attrs, resume_keys=resume_keys)
    try:
        return _run(store, engine, progress, phase, max_chunks)
    finally:
        store.close()


def _run(
    store: SweepStore,
    engine: Engine,
    progress: ProgressCallback | None,
    phase: PhaseCallback | None,
    max_chunks: int | None,
) -> xr.Dataset | None:
    t_start = time.perf_counter()
    done = store.done()
    finished = sum(stop - start for start, stop in map(store.chunk_range, _indices(done)))
    counter = SolveCounter(store, progress, finished, store.plan.n_patients, t_start)
    ran = 0
    for attempt in range(2):  # second pass: chunks that failed verification
        todo = _indices(~store.done())
        if attempt and not todo:
            break
        if max_chunks is not None:
            todo = todo[: max(max_chunks - ran, 0)]
        with ChunkWriter(store) as writer:
            batches = _batches(todo, engine.chunks_per_batch())
            # written while the next batches solve
            for blocks in _computed(store, engine, batches, phase if ran == 0 else None, counter):
                writer.submit(blocks)
            ran += len(todo)
        if max_chunks is not None and ran >= max_chunks and not np.all(store.done()):
            return None
        store.verify(repair=True)
    if phase is not None:
        phase("finalizing")
    _finalize(store, engine)
    return _results(store.path, engine.plan.n_patients * engine.plan.n_arms)


def _open_for_process(
    plan: SweepPlan,
    path: Path,
    procs: Processes,
    overwrite: bool,
    attrs: dict[str, Any],
    resume_keys: dict[str, Any],
) -> SweepStore:
    """The store for process ``procs.index`` of a multi-process run.

    Process 0 opens it as a single run does (creates or resumes it, takes the writer lock, so
    an unrelated run is refused, checks and repairs the finished chunks); then the others
    attach to it (no lock: process 0 holds it for the group), or raise process 0's error.
    """
    store: SweepStore | None = None
    error: Exception | None = None
    msg = ""
    if procs.index == 0:
        try:
            store = SweepStore.open(
                plan, path, overwrite=overwrite, attrs=attrs, resume_keys=resume_keys
            )
            msg = f"ok\n{store.path}"
        except Exception as err:  # every process must hear of it, then raise it
            error = err
            msg = f"{type(err).__name__}\n{err}"
    kind, text = broadcast_text(msg).split("\n", 1)
    if error is not None:
        raise error
    if kind != "ok":
        raise _ERRORS.get(kind, RuntimeError)(f"{text} (process 0)")
    return store if store is not None else SweepStore.attach(plan, text)


#: Errors of process 0 raised again, as the same type, by the other processes.
_ERRORS: dict[str, type[Exception]] = {
    e.__name__: e
    for e in (
        StoreLockedError,
        FileExistsError,
        FileNotFoundError,
        PermissionError,
        ValueError,
        OSError,
    )
}


def _run_share(
    store: SweepStore,
    engine: Engine,
    chunks: list[int],
    progress: ProgressCallback | None,
    phase: PhaseCallback | None,
    max_chunks: int | None,
) -> bool:
    """Integrate and write ``chunks`` (this process's share), then recompute those that fail
    verification once; ``progress`` counts the share's patient × arm solves. ``False``:
    ``max_chunks`` stopped it."""
    total = sum(stop - start for start, stop in map(store.chunk_range, chunks))
    counter = SolveCounter(store, progress, 0, total, time.perf_counter())
    ran = 0
    todo = list(chunks)
    for _ in range(2):
        if max_chunks is not None and len(todo) > max_chunks - ran:
            todo, stopped = todo[: max(max_chunks - ran, 0)], True
        else:
            stopped = False
        # the same batches as a one-process run (several chunks per solve, one padded width)
        batches = _batches(todo, engine.chunks_per_batch())
        for blocks in _computed(store, engine, batches, phase if ran == 0 else None, counter):
            store.write_chunks(blocks)
            ran += len(blocks)
        if stopped:
            return False
        todo = store.verify(repair=True, chunks=chunks)
        if not todo:
            break
    return True


def _run_processes(
    store: SweepStore,
    engine: Engine,
    procs: Processes,
    progress: ProgressCallback | None,
    phase: PhaseCallback | None,
    max_chunks: int | None,
) -> xr.Dataset | None:
    """Process ``procs.index`` of a multi-process run: its chunks (``Processes.mine``), a
    barrier, then process 0 finalizes (any chunk still missing is computed by it, unless
    ``max_chunks`` stopped the run early) and tells the others the outcome."""
    mine = procs.mine(_indices(~store.done()))
    _run_share(store, engine, mine, progress, phase, max_chunks)
    barrier("chunks written")
    outcome, error = "", None
    if procs.index == 0:
        try:
            store.verify(repair=True)
            missing = _indices(~store.done())
            if missing and max_chunks is None:  # e.g. a chunk another process left damaged
                _run_share(store, engine, missing, None, phase, None)
            if _indices(~store.done()):
                outcome = "partial\n"
            else:
                if phase is not None:
                    phase("finalizing")
                _finalize(store, engine)
                outcome = f"complete\n{store.path}"
        except Exception as err:
            error = err
            outcome = f"{type(err).__name__}\n{err}"
    kind, text = broadcast_text(outcome).split("\n", 1)
    if error is not None:
        raise error
    if kind == "partial":
        return None
    if kind != "complete":
        raise _ERRORS.get(kind, RuntimeError)(f"{text} (process 0)")
    return _results(text, engine.plan.n_patients * engine.plan.n_arms)


#: Patients × arms beyond which :func:`run_sweep` returns its results opened lazily (at 10^6
#: × 3 arms the per-patient read-out alone is about 0.5 GB in memory).
LAZY_RESULTS_PATIENT_ARMS = 1_000_000


def _results(path: str | Path, patient_arms: int) -> xr.Dataset:
    """The finished store's results: in memory, or lazily when large."""
    return load(path, lazy=patient_arms > LAZY_RESULTS_PATIENT_ARMS)


def _batches(todo: list[int], size: int) -> list[list[int]]:
    """Chunk iteration: the store chunks to compute, ``size`` at a time (one batch each)."""
    return [todo[i : i + size] for i in range(0, len(todo), size)]


def _computed(
    store: SweepStore,
    engine: Engine,
    batches: list[list[int]],
    phase: PhaseCallback | None,
    counter: SolveCounter | None = None,
) -> Iterator[list[tuple[int, dict[str, np.ndarray], float]]]:
    """The batches' blocks (:func:`_compute_batch`), in order. The first batch is computed
    alone (it compiles every program: phase ``"compiling"``, then ``"solving"``); then up to
    :meth:`Engine.batches_in_flight` batches are computed at once in threads, so that on an
    accelerator the host's work on one batch overlaps the others' (at most that many
    batches' results are held besides the one being written)."""
    if not batches:
        return
    if phase is not None:
        phase("compiling")
    yield _compute_batch(store, engine, batches[0], counter)
    if phase is not None:
        phase("solving")
    k = engine.batches_in_flight()
    if k <= 1 or len(batches) <= 2:
        for chunks in batches[1:]:
            yield _compute_batch(store, engine, chunks, counter)
        return
    with ThreadPoolExecutor(max_workers=k, thread_name_prefix="batch") as pool:
        pending: collections.deque[Future[list[tuple[int, dict[str, np.ndarray], float]]]]
        pending = collections.deque()
        try:
            for chunks in batches[1:]:
                pending.append(pool.submit(_compute_batch, store, engine, chunks, counter))
                if len(pending) >= k:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # an error (or a closed generator): do not start the batches still queued
            for f in pending:
                f.cancel()


def _compute_batch(
    store: SweepStore, engine: Engine, chunks: list[int], counter: SolveCounter | None = None
) -> list[tuple[int, dict[str, np.ndarray], float]]:
    """Chunk compute: solve the patients of ``chunks`` together (one batch) and cut the
    results into one block per store chunk: ``(chunk, block, seconds)``; a chunk's seconds
    are its share of the batch's. ``counter`` hears of each arm as it is solved."""
    ranges = [store.chunk_range(i) for i in chunks]
    ids = np.concatenate([np.arange(a, b) for a, b in ranges])
    t0 = time.perf_counter()
    on_solved = None if counter is None else functools.partial(counter.solved, chunks)
    block = engine.compute(ids, on_solved=on_solved)
    seconds = time.perf_counter() - t0
    out = []
    lo = 0
    for i, (a, b) in zip(chunks, ranges, strict=True):
        sl = slice(lo, lo + b - a)
        part = {k: v[sl] if v.ndim == 1 else v[:, sl] for k, v in block.items()}
        out.append((i, part, seconds * (b - a) / ids.size))
        lo += b - a
    return out


class SolveCounter:
    """Progress in patient × arm solves (:data:`ProgressCallback`): reports what is done
    already when made, then one call per (chunk, arm) solved (thread-safe: the batches of an
    accelerator are computed in threads)."""

    def __init__(
        self,
        store: SweepStore,
        progress: ProgressCallback | None,
        finished: int,
        patients: int,
        t_start: float,
    ):
        self.store = store
        self.progress = progress
        arms = store.plan.n_arms
        self.done, self.total = finished * arms, patients * arms
        self.t_start = t_start
        self._lock = threading.Lock()
        if progress is not None:
            progress(self.done, self.total, 0.0)

    def solved(self, chunks: Sequence[int], arms: Sequence[int]) -> None:
        """The patients of ``chunks`` are solved in ``arms`` (indices)."""
        if self.progress is None:
            return
        with self._lock:
            for i in chunks:
                start, stop = self.store.chunk_range(i)
                for _ in arms:
                    # chunks recomputed after a failed verification count again: capped
                    self.done = min(self.done + stop - start, self.total)
                    self.progress(self.done, self.total, time.perf_counter() - self.t_start)


class ChunkWriter:
    """Writes the finished chunks of each batch to the store on one background thread, in
    order, so that the next batch is solved meanwhile.

    A chunk counts as done only when :meth:`SweepStore.write_chunks` has returned (data
    written, read back, checksum stored, flag set), as without the thread. An error of a write
    is raised by the next :meth:`submit` or on leaving the ``with`` block.
    """

    def __init__(self, store: SweepStore):
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zarr-writer")
        self._pending: list[Future[None]] = []

    def _write(self, blocks: list[tuple[int, dict[str, np.ndarray], float]]) -> None:
        self.store.write_chunks(blocks)

    def _check(self, *, wait: bool) -> None:
        keep = []
        for f in self._pending:
            if wait or f.done():
                f.result()  # raises the write's error
            else:
                keep.append(f)
        self._pending = keep

    def submit(self, blocks: list[tuple[int, dict[str, np.ndarray], float]]) -> None:
        """Queue one batch's chunks ``(index, block, seconds)`` for writing, once the batch
        before it is written: one write in flight while the next batch solves, so that
        finished results do not pile up in memory when writing is the slower part (and a
        Ctrl-C stops the run within one batch)."""
        self._check(wait=False)
        while self._pending:
            self._pending.pop(0).result()  # raises the write's error
        self._pending.append(self._pool.submit(self._write, blocks))

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        cancel = exc[0] is not None
        try:
            if not cancel:
                self._check(wait=True)
        except BaseException:  # e.g. Ctrl-C while waiting: write nothing more
            cancel = True
            raise
        finally:
            self._pool.shutdown(wait=True, cancel_futures=cancel)


def clinical_attrs(
    plan: SweepPlan | SweepSpec,
    best_response: np.ndarray,
    pfs_days: np.ndarray,
    pfs_event: np.ndarray,
    params: Mapping[str, np.ndarray] | None = None,
    *,
    readout: Mapping[str, np.ndarray] | None = None,
) -> dict[str, str]:
    """``calibration`` (targets vs simulated, JSON) and ``caveats`` (JSON list) attributes.

    ``readout``: further stored variables (arm, patient) for the targets that need them
    (:data:`tumorimmune.response._endpoints.NEEDS`): ``ttr_days`` and ``pseudo_progression``
    for ``median_ttr`` / ``pseudo_progression``, ``os_days`` and ``os_event`` (with
    ``[survival]``) for ``os_at`` / ``median_os``, ``diameters`` (the model's sums of
    diameters) for targets read at a ``cutoff_day``."""
    plan = SweepPlan.of(plan)
    names = [a.name for a in plan.spec.arms]
    cols = AssayColumns(params)
    strata = None
    if "tps" in cols:  # per-patient PD-L1: objective response by the trials' TPS categories
        tps = np.asarray(cols["tps"], float)
        if tps.shape == (np.asarray(best_response).shape[-1],):
            strata = response_by_tps(best_response, tps, arms=names, **_tps_cutoffs(plan))
    tc = dict(readout or {})
    diameters = tc.pop("diameters", None)
    return _clinical_attrs(
        plan,
        names,
        best_response,
        pfs_days,
        pfs_event,
        params,
        readout=tc,
        strata=strata,
        diameters=None if diameters is None else np.asarray(diameters),
        intervals=diameters is not None,
    )


def _tps_cutoffs(plan: SweepPlan) -> dict[str, tuple[float, ...]]:
    """``response_by_tps``'s ``cutoffs`` from ``[report] tps_cutoffs`` (none: its default)."""
    report = plan.spec.report
    cuts = None if report is None else report.tps_cutoffs
    return {} if cuts is None else {"cutoffs": tuple(float(c) for c in cuts)}


def _clinical_attrs(
    plan: SweepPlan,
    arms: Sequence[str],
    best_response: np.ndarray,
    pfs_days: np.ndarray,
    pfs_event: np.ndarray,
    params: Mapping[str, np.ndarray] | None,
    *,
    readout: Mapping[str, np.ndarray | None],
    strata: list[dict[str, object]] | None,
    diameters: np.ndarray | None = None,
    at_cutoff: Mapping[float, Mapping[str, np.ndarray]] | None = None,
    intervals: bool,
) -> dict[str, str]:
    """:func:`clinical_attrs` of the arrays ``(arm, patient)`` of the named ``arms`` (those
    the targets name, or all), the PD-L1 ``strata`` rows computed already, the targets'
    read-outs at their cut-off days from ``diameters`` or ``at_cutoff`` (computed already,
    :func:`~tumorimmune.response.evaluate_targets`) and, with ``intervals``, their
    prediction intervals."""
    spec = plan.spec
    out: dict[str, str] = {}
    caveats = list(spec.caveats)
    entry = None if spec.population is None else spec.population.entry()
    if entry is not None and entry.caveat() not in caveats:  # the population's indication
        caveats.append(entry.caveat())
    if caveats:
        out["caveats"] = json.dumps(caveats)
    if strata is not None:
        out["pdl1_strata"] = json.dumps(strata)
    if spec.targets:
        tc = readout
        rows = evaluate_targets(
            spec.targets,
            list(arms),
            best_response,
            pfs_days,
            pfs_event,
            params,
            os_days=tc.get("os_days"),
            os_event=tc.get("os_event"),
            ttr_days=tc.get("ttr_days"),
            pseudo_progression=tc.get("pseudo_progression"),
            diameters=diameters,
            scan_days=plan.scan_days,
            at_cutoff=at_cutoff,
        )
        if intervals:
            from ..calibrate import reselection_intervals

            read = {"best_response": best_response, "pfs_days": pfs_days}
            read["pfs_event"] = pfs_event
            read.update({k: v for k, v in tc.items() if v is not None})
            found = reselection_intervals(
                spec.targets,
                list(arms),
                read,
                params,
                diameters=diameters,
                scan_days=plan.scan_days,
                seed=spec.sampling.seed,
                at_cutoff=at_cutoff,
            )
            for r, iv in zip(rows, found or [], strict=False):
                r["prediction_lo"], r["prediction_hi"] = iv
        for r in rows:
            sub = f" [{r['subgroup']}]" if r.get("subgroup") else ""
            r["name"] = f"{r['arm']}: {r['name']}{sub}"
        out["calibration"] = json.dumps(
            {
                "targets": rows,
                "caveats": [],
                "notes": "Fitted rows were calibration targets; held-out rows are predictions. "
                "Caveats: see the box at the top of the page.",
            },
            default=lambda o: o.item() if isinstance(o, np.generic) else str(o),
        )
    return out


class _Columns(Mapping[str, np.ndarray]):
    """The store's per-patient parameter columns ``{name: param_<name>}``, each read when
    first asked for."""

    def __init__(self, store: SweepStore, names: Sequence[str]):
        self._store, self._names, self._read = store, list(names), {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._names:
            raise KeyError(key)
        if key not in self._read:
            self._read[key] = self._store.read(f"param_{key}")
        return self._read[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _indices(mask: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


#: Patients of the diameters read at once when the targets' read-outs at their cut-off days
#: are computed (:func:`_at_cutoff`; whole store chunks): bounds that step's memory.
FINALIZE_WINDOW_PATIENTS = 1 << 18


class _ArmReader:
    """One arm's values of the store's per-patient arrays (of the store, else of its scratch
    group): what the finalisation holds at a time, instead of every arm's."""

    def __init__(self, store: SweepStore):
        self.store = store
        self._sg = store._scratch()  # None while it is removed: everything is written then

    def array(self, name: str) -> Any:
        g = self.store.group
        if name not in g and self._sg is not None and name in self._sg:
            return self._sg[name]
        return g[name]

    def arm(self, name: str, a: int) -> np.ndarray:
        """``name[a]``: ``(patient,)`` or ``(patient, scan)``."""
        return np.asarray(self.array(name)[a])

    def column(self, name: str) -> np.ndarray:
        """A ``(patient,)`` array."""
        return np.asarray(self.array(name)[...])


class _Peaks(collections.abc.Sequence):
    """The largest tumor after baseline of each arm's patients, ``(patient,)`` per arm, read
    when asked for (``_plausibility.runaway_warnings`` takes one arm at a time): the stored
    peaks of a tier without the scans, else the stored scans read one store chunk at a time."""

    def __init__(self, store: SweepStore, reader: _ArmReader):
        self.store, self.reader = store, reader

    def __len__(self) -> int:
        return self.store.plan.n_arms

    def __getitem__(self, a: Any) -> Any:
        if not isinstance(a, int):
            raise TypeError("one arm at a time")
        plan = self.store.plan
        if "tumor_cells" not in self.store.group:  # a tier without the scans: the peaks
            return self.reader.arm(PEAK, a)
        cells = self.store.group["tumor_cells"]
        peak = np.full(plan.n_patients, np.nan)
        for i in range(plan.n_chunks):
            lo, hi = plan.chunk_range(i)
            block = np.asarray(cells[a, lo:hi, 1:], dtype=float)  # type: ignore[index]
            with np.errstate(all="ignore"):
                block = np.where(np.isfinite(block), block, -np.inf)  # failed: NaN
                peak[lo:hi] = np.max(block, axis=1, initial=-np.inf)
        return peak


def _runaways(store: SweepStore, traj: Mapping[str, np.ndarray]) -> list[str]:
    """Runaway states (``_plausibility.runaway_warnings``) from each arm's peaks after
    baseline (:class:`_Peaks`) and the stored effector trajectories."""
    effectors = traj.get("traj_E")
    effectors = None if effectors is None else np.nanmax(effectors, axis=2, initial=0.0)
    return runaway_warnings(store.plan, _Peaks(store, _ArmReader(store)), effectors)


def _at_cutoff(
    reader: _ArmReader,
    plan: SweepPlan,
    arm: int,
    cutoffs: Sequence[float],
    os: tuple[np.ndarray, np.ndarray] | None,
) -> dict[float, dict[str, np.ndarray]]:
    """:func:`~tumorimmune.response.cutoff_readout` of one arm's stored diameters at each
    of ``cutoffs`` (deaths ``os``: the arm's ``os_days``, ``os_event``), computed
    :data:`FINALIZE_WINDOW_PATIENTS` patients at a time from the scans up to the last cut-off
    (it works patient by patient: the same values as on the whole arm at once)."""
    days = np.asarray(plan.scan_days, np.float64)
    # the scans up to the last cut-off (each cut-off's searchsorted is the same on them)
    n_scans = max(2, *(int(np.searchsorted(days, c, side="right")) for c in cutoffs))
    days = days[:n_scans]
    diam = reader.array("diameter_mm")
    step = max(1, FINALIZE_WINDOW_PATIENTS // plan.chunk_size)
    parts: dict[float, list[dict[str, np.ndarray]]] = {c: [] for c in cutoffs}
    for first in range(0, plan.n_chunks, step):
        lo = plan.chunk_range(first)[0]
        hi = plan.chunk_range(min(first + step, plan.n_chunks) - 1)[1]
        d = np.asarray(diam[arm, lo:hi, :n_scans])  # type: ignore[index]
        for c in cutoffs:
            parts[c].append(
                cutoff_readout(
                    d,
                    days,
                    c,
                    os_days=None if os is None else os[0][lo:hi],
                    os_event=None if os is None else os[1][lo:hi],
                )
            )
    return {c: {k: np.concatenate([p[k] for p in ps]) for k in ps[0]} for c, ps in parts.items()}


def _finalize(store: SweepStore, engine: Engine) -> None:
    """Trajectories, summaries and timing attributes; idempotent (reruns redo it). The
    store's tier (``[store] keep``) decides what stays: trajectories only in
    ``"trajectories"``; the summaries come from every patient's read-out (in the store's
    scratch group where the tier does not keep it, removed by :meth:`SweepStore.finish`).

    Streamed: the summaries are computed arm by arm from one arm's read-out at a time, the
    targets' read-outs at their cut-off days a window of store chunks at a time; what is held
    at once is about one arm's read-out, plus, for the arms that ``[[targets]]`` name, the
    variables the targets read (their prediction intervals resample those arms' patients
    together). The values are those of the whole arrays at once (each summary is per arm)."""
    if store.dropping:  # killed while removing the scratch group: everything else is written
        store.finish({})
        return
    plan = store.plan
    spec = plan.spec
    reader = _ArmReader(store)
    names = [a.name for a in spec.arms]
    t0 = time.perf_counter()
    traj = engine.run_trajectories() if store.keep == "trajectories" else {}
    traj_seconds = time.perf_counter() - t0
    if traj and spec.survival is not None:  # the dead have no trajectory after death
        ids = engine.trajectory_patients()
        died = (
            np.stack([reader.arm("os_days", a)[ids] for a in range(plan.n_arms)]),
            np.stack([reader.arm("os_event", a)[ids] for a in range(plan.n_arms)]).astype(bool),
        )
        after = (
            engine.trajectory_times()[None, None, :] > np.where(died[1], died[0], np.inf)[..., None]
        )
        traj = {k: np.where(after, np.nan, v) for k, v in traj.items()}
    if traj:
        store.write_extra("traj_patient", engine.trajectory_patients(), ("traj_patient",))
        store.write_extra("time", engine.trajectory_times(), ("time",), {"units": "days"})
        units = {"E": "cells", "T": "cells", "C": "µg/mL", "RO": "1"}
        for k, v in traj.items():
            store.write_extra(
                k, v, ("arm", "traj_patient", "time"), {"units": units.get(k[5:], "")}
            )
    params = AssayColumns(_Columns(store, plan.columns))  # read those a subgroup names
    cols = AssayColumns(params)
    tps = np.asarray(cols["tps"], float) if "tps" in cols else None
    if tps is not None and tps.shape != (plan.n_patients,):
        tps = None
    target_arms = sorted({names.index(str(t.arm)) for t in spec.targets})
    cutoffs = sorted({float(t.cutoff_day) for t in spec.targets if t.cutoff_day is not None})
    if spec.targets:
        from ..calibrate import reselection_cutoff

        if (cal := reselection_cutoff(spec.targets)) is not None and cal[1] not in cutoffs:
            cutoffs.append(cal[1])
    axes = plan.axes
    cell = reader.column("cell") if axes else None
    parts: dict[str, list[np.ndarray]] = collections.defaultdict(list)
    strata: list[dict[str, object]] = []
    kept: dict[str, list[np.ndarray]] = collections.defaultdict(list)  # the targets' arms
    cut: list[dict[float, dict[str, np.ndarray]]] = []
    n_failed = 0
    for a in range(plan.n_arms):
        r = {k: reader.arm(k, a)[None] for k in ("best_response", "pfs_days", "pfs_event")}
        br = r["best_response"]
        n_failed += int(np.sum(br < 0))
        for k, v in arm_summary(br, r["pfs_days"], r["pfs_event"]).items():
            parts[f"arm:{k}"].append(v)
        for k in ("ttr_days", "dor_days", "dor_event", "pseudo_progression"):
            r[k] = reader.arm(k, a)[None]
        timecourse = timecourse_summary(
            r["ttr_days"],
            r["dor_days"],
            r["dor_event"],
            r["pseudo_progression"],
            scan_days=plan.scan_days,
            follow_up=spec.follow_up_days,
        )
        for k, v in timecourse.items():
            parts[f"tc:{k}"].append(v)
        del r["dor_days"], r["dor_event"]
        if spec.survival is not None:
            r["os_days"] = reader.arm("os_days", a)[None]
            r["os_event"] = reader.arm("os_event", a)[None].astype(bool)
            for k, v in os_summary(
                br, r["os_days"], r["os_event"], follow_up=spec.follow_up_days
            ).items():
                parts[f"os:{k}"].append(v)
        if axes:
            bpc = reader.arm("best_pct_change", a)[None]
            assert cell is not None
            for k, v in cell_summary(br, bpc, cell, plan.grid_shape).items():
                parts[f"cell:{k}"].append(v)
            del bpc
        if tps is not None:
            strata += response_by_tps(br, tps, arms=[names[a]], **_tps_cutoffs(plan))
        if a in target_arms:
            for k, v in r.items():
                kept[k].append(v[0])
            if cutoffs:
                os = None if spec.survival is None else (r["os_days"][0], r["os_event"][0])
                cut.append(_at_cutoff(reader, plan, a, cutoffs, os))
        del r, br
    for prefix, dims, units in (
        ("arm:", ("arm",), lambda k: {"units": "days"} if "pfs" in k else None),
        ("tc:", ("arm",), lambda k: {"units": "days"} if "days" in k else None),
        ("os:", ("arm",), lambda k: {"units": "days" if "days" in k else "1"}),
        ("cell:", ("arm", *(f"axis_{k}" for k in axes)), lambda k: None),
    ):
        for key, v in parts.items():
            if key.startswith(prefix):
                k = key[len(prefix) :]
                store.write_extra(k, np.concatenate(v), dims, units(k))
    del parts
    seconds = float(np.nansum(store.read("chunk_seconds")))
    n = plan.n_patients
    found = _runaways(store, traj)
    wall = seconds + traj_seconds
    # the targets' arms, (arm, patient) in the spec's order (only those the targets name)
    held = {k: np.stack(v) for k, v in kept.items()}
    del kept
    at_cutoff = (
        {c: {k: np.stack([x[c][k] for x in cut]) for k in cut[0][c]} for c in cutoffs}
        if cut
        else None
    )
    del cut
    store.finish(
        {
            **_clinical_attrs(
                plan,
                [names[a] for a in target_arms],
                held.pop("best_response", np.zeros((0, n), np.int8)),
                held.pop("pfs_days", np.zeros((0, n))),
                held.pop("pfs_event", np.zeros((0, n), bool)),
                params,
                readout=held,
                strata=strata if tps is not None else None,
                at_cutoff=at_cutoff,
                intervals=bool(spec.targets),
            ),
            **({"warnings": json.dumps([*spec_warnings(plan), *found])} if found else {}),
            "wall_time_s": wall,
            "solve_time_s": seconds,
            "patients_per_s": n / seconds if seconds > 0 else float("nan"),
            "solves_per_s": n * plan.n_arms / seconds if seconds > 0 else float("nan"),
            "n_patients": n,
            "n_failed": n_failed,
            "jax_devices": len(engine.devices),
            "platform": jax.default_backend(),
        }
    )

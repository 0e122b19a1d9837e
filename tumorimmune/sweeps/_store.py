"""Zarr store of a sweep, written chunk by chunk and resumable after any interruption.

Layout follows the results schema of CONTRIBUTING.md. Per-patient arrays are chunked along
``patient`` exactly like the engine's chunks, so each engine chunk writes whole Zarr chunks.
A chunk counts as finished once its flag in the internal array ``chunk_done`` is set, which
happens after all its data are written, read back and their checksum stored
(``chunk_checksum``: CRC-32C of the chunk's values; BLAKE2b in stores that lack the attribute
``chunk_checksum_algorithm``, written before it existed); a rerun recomputes exactly the
unfinished chunks. The group attribute ``tumorimmune_status`` moves from ``"creating"`` to
``"running"`` to ``"complete"``.

Integrity: every chunk is read back and checked against its checksum when it is written; the
finished chunks of earlier runs are verified when a store is resumed, those of other processes
before it is marked complete, and every chunk once more when a finished store is loaded
(:func:`load`, also at the end of ``run_sweep``; from the data it loads, so one read). A
chunk that is missing, unreadable (garbage, truncated) or different is recomputed, and a
store that still fails verification is never marked complete. Consecutive chunks are
verified with one read per array (:func:`_chunk_checksums`).

Concurrency: a writer holds an exclusive lock (``<store>.lock``, ``fcntl.flock``, holding its
pid and host) for the whole run; a second writer is refused with a message naming the holder,
and the lock of a killed process is released by the kernel, so the next run takes it over.
``overwrite`` never deletes the old store first: the new one is written next to it
(``.<name>.overwrite``) and swapped in when complete.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import shutil
import socket
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np
import xarray as xr
import zarr

from ._plan import SweepPlan
from ._spec import SweepSpec, same_spec_key, spec_key
from ._tiers import tier_rank, variable_tier

STATUS_KEY = "tumorimmune_status"
_INTERNAL = ("chunk_done", "chunk_seconds", "chunk_checksum")
#: Group attribute naming the chunk checksum: ``"crc32c"`` (hardware CRC-32C, about 7 GB/s
#: here, against 0.8 GB/s for BLAKE2b: checksums were a tenth of a large run's store time);
#: stores without it use ``"blake2b"`` (those written before it existed stay valid).
CHECKSUM_KEY = "chunk_checksum_algorithm"
#: Group attribute naming the store's tier (``[store] keep``, ``_tiers``); stores without it
#: keep everything (``"trajectories"``).
KEEP_KEY = "keep"
#: Subgroup of the per-patient arrays a run needs for its summaries but its tier does not keep
#: (e.g. the read-out of a ``"summary"`` store), written and checksummed chunk by chunk like
#: the kept ones (its own ``chunk_checksum``) and removed when the store is finished.
SCRATCH = "scratch"
#: Group attribute set while the scratch group is being removed (summaries and attributes
#: written already): a run resumed then only finishes the removal.
DROPPING_KEY = "dropping_scratch"
#: Scratch array of tiers without the scans: each patient's largest tumor cell count after
#: baseline (NaN-safe), for the runaway-state warnings (``_runner._runaways``).
PEAK = "peak_tumor_cells"

# (dims after the leading axes, dtype) of the per-patient results; "float" = run precision.
_ARM_PATIENT_SCAN = ("tumor_cells", "diameter_mm", "pct_change")
_ARM_PATIENT: dict[str, tuple[str, Any]] = {
    "best_pct_change": ("float", np.nan),
    "best_response": ("int8", -1),
    "pfs_days": ("float64", np.nan),
    "pfs_event": ("bool", False),
    "outcome": ("int8", -1),
    "status": ("int32", -1),
    "num_steps": ("int32", -1),
    # RECIST over time (tumorimmune.response.timecourse_readout)
    "ttr_days": ("float64", np.nan),
    "dor_days": ("float64", np.nan),
    "dor_event": ("bool", False),
    "confirmed_response": ("int8", -1),
    "pseudo_progression": ("int8", -1),
}
#: Per arm × patient results of a spec with ``[survival]`` (absent otherwise).
_ARM_PATIENT_SURVIVAL: dict[str, tuple[str, Any]] = {
    "os_days": ("float64", np.nan),
    "os_event": ("bool", False),
}

_DESCRIPTIONS = {
    "tumor_cells": ("cells", "tumor cells at each scan (0 once extinct)"),
    "diameter_mm": (
        "mm",
        "sum of longest diameters (SLD) of the target lesions at each scan (attrs n_lesions, "
        "detection_limit_mm, cells_per_cm3; param_n_lesions when it varies)",
    ),
    "pct_change": ("%", "SLD change from baseline"),
    "best_pct_change": (
        "%",
        "best (most negative) post-baseline change from baseline, up to the first PD",
    ),
    "best_response": ("1", "RECIST 1.1 best overall response: 0=CR 1=PR 2=SD 3=PD -1=failed"),
    "pfs_days": ("days", "progression-free survival time (first PD scan, or censoring day)"),
    "pfs_event": ("1", "True: progression observed; False: censored"),
    "outcome": ("1", "final outcome: 0=extinct 1=controlled 2=escaped -1=failed"),
    "status": ("1", "solver status: 0 = success, else a diffrax.RESULTS code"),
    "num_steps": ("1", "solver steps (accepted + rejected)"),
    "os_days": (
        "days",
        "overall survival time: death day (tumor-size-driven hazard, [survival]; deaths end "
        "follow-up: no response or progression is read after death), or censoring at "
        "follow-up",
    ),
    "os_event": ("1", "True: death observed; False: censored at the end of follow-up"),
    "ttr_days": (
        "days",
        "time to response: first scan with CR/PR before PD (confirmed when [response] "
        "confirm); NaN for non-responders",
    ),
    "dor_days": (
        "days",
        "duration of response: first response scan to the first PD scan (or death, with "
        "[survival]) or censoring at the last scan; NaN for non-responders",
    ),
    "dor_event": (
        "1",
        "True: response ended in progression (or death); False: censored or no response",
    ),
    "confirmed_response": (
        "1",
        "RECIST 1.1 best overall response with confirmation ([response] confirm_days): "
        "0=CR 1=PR 2=SD 3=PD -1=failed",
    ),
    "pseudo_progression": (
        "1",
        "pseudo-progression (Hodi et al. 2016): 0=none 1=early (by day 84) 2=delayed -1=failed",
    ),
    "cell": ("1", "flat index of the patient's grid cell (C order over the axes)"),
}


def _survival_attrs(plan: SweepPlan) -> dict[str, float | int]:
    """The hazard of ``[survival]`` as store attributes ``survival_<name>`` (none without)."""
    spec = plan.spec
    if spec.survival is None:
        return {}
    out: dict[str, float | int] = {
        f"survival_{k}": float(getattr(spec.survival, k))
        for k in (
            "scale_days",
            "shape",
            "beta",
            "sld_ref_mm",
            "sld_floor_mm",
            "background_per_year",
            "grid_days",
        )
    }
    out["survival_seed"] = plan.survival_seed
    return out


def _is_store(path: Path) -> bool:
    return (path / "zarr.json").is_file()


class StoreLockedError(FileExistsError):
    """Another process is writing the store."""


class StoreLock:
    """Exclusive writer lock of a store: ``<store>.lock`` with ``fcntl.flock``.

    The lock file holds the holder's pid, host and start time (JSON). The kernel releases a
    ``flock`` when its process dies, so the lock of a killed run is taken over by the next one.
    """

    def __init__(self, store_path: Path):
        self.path = store_path.with_name(store_path.name + ".lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`StoreLockedError` naming the holder."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_text(fd)
                os.close(fd)
                raise StoreLockedError(
                    f"{self.path.with_suffix('')} is being written by another tumorimmune run "
                    f"({_describe_holder(holder)}); wait for it to finish, or choose another "
                    "output path"
                ) from None
            # the file may have been unlinked by a releasing holder: retry on the new one
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            self.fd = fd
            return
        raise StoreLockedError(f"{self.path}: could not take the store lock")

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)  # closing releases the flock
        self.fd = None


def _read_text(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode(errors="replace")
    except OSError:
        return ""


def _describe_holder(text: str) -> str:
    try:
        d = json.loads(text)
        return f"pid {d['pid']} on host {d['host']}, since {d['since']}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"


def _n_patients(group: zarr.Group) -> int:
    """Patients of a store: its ``patient`` coordinate, else (a ``"summary"`` store) the
    attribute ``n_patients``."""
    if "patient" in group:
        return int(group["patient"].shape[0])  # type: ignore[union-attr]
    return int(group.attrs["n_patients"])  # type: ignore[arg-type]


def _scratch_group(group: zarr.Group) -> zarr.Group | None:
    """The store's scratch group (:data:`SCRATCH`), ``None`` without one (or while it is
    being removed)."""
    if group.attrs.get(DROPPING_KEY) or SCRATCH not in group:
        return None
    g = group[SCRATCH]
    return g if isinstance(g, zarr.Group) else None


def _chunk_arrays(group: zarr.Group) -> list[str]:
    """Names of the per-patient arrays (written chunk by chunk), sorted."""
    return sorted(
        k
        for k, a in group.arrays()
        if k not in _INTERNAL and k != "patient" and "patient" in (a.metadata.dimension_names or ())  # type: ignore[union-attr]
    )


def _chunk_checksum(group: zarr.Group, names: list[str], start: int, stop: int) -> int | None:
    """Checksum of patients ``start .. stop-1`` as stored now (``None``: unreadable)."""
    try:
        out = []
        for k in names:
            a: Any = group[k]
            out.append(np.asarray(a[start:stop] if a.ndim == 1 else a[:, start:stop]))
        return _digest(out, _algorithm(group))
    except Exception:  # deleted, truncated or garbage chunk files
        return None


#: Bytes read at once when checksumming consecutive chunks (:func:`_chunk_checksums`).
VERIFY_WINDOW_BYTES = 64 << 20


def _chunk_checksums(
    group: zarr.Group,
    names: list[str],
    chunks: Sequence[int],
    chunk_size: int,
    n: int,
    *,
    data: dict[str, np.ndarray] | None = None,
) -> dict[int, int | None]:
    """Checksums of the given chunks as stored now (``None``: unreadable), equal to
    :func:`_chunk_checksum` chunk by chunk.

    Consecutive chunks are read together, one Zarr read per array for a window of at most
    ``VERIFY_WINDOW_BYTES`` (a chunk-by-chunk read costs about a millisecond of Zarr overhead
    per array and chunk: 1.8 s against 0.5 s for 10^5 patients); a window that cannot be read
    is checked chunk by chunk, so that a damaged chunk marks only itself. ``data``: the
    arrays already read whole (by :func:`load`), checksummed without reading them again.
    """
    algorithm = _algorithm(group)

    def digest(window: list[np.ndarray], lo: int, i: int) -> int:
        """Chunk ``i`` of arrays that start at patient ``lo``."""
        a, b = i * chunk_size - lo, min((i + 1) * chunk_size, n) - lo
        return _digest([v[a:b] if v.ndim == 1 else v[:, a:b] for v in window], algorithm)

    if data is not None:
        whole = [data[k] for k in names]
        return {int(i): digest(whole, 0, int(i)) for i in chunks}
    arrays: dict[str, Any] = {k: group[k] for k in names}
    per_patient = sum(
        a.dtype.itemsize * int(np.prod(a.shape)) // max(int(a.shape[0 if a.ndim == 1 else 1]), 1)
        for a in arrays.values()
    )
    per_window = max(1, VERIFY_WINDOW_BYTES // max(per_patient * chunk_size, 1))
    out: dict[int, int | None] = {}
    todo = sorted(set(int(i) for i in chunks))
    while todo:
        first = todo[0]
        run = [first]
        while len(run) < per_window and len(run) < len(todo) and todo[len(run)] == first + len(run):
            run.append(first + len(run))
        todo = todo[len(run) :]
        lo, hi = first * chunk_size, min((run[-1] + 1) * chunk_size, n)
        try:
            window = {
                k: np.asarray(a[lo:hi] if a.ndim == 1 else a[:, lo:hi]) for k, a in arrays.items()
            }
        except Exception:  # a damaged chunk in the window: find it chunk by chunk
            for i in run:
                out[i] = _chunk_checksum(group, names, i * chunk_size, min((i + 1) * chunk_size, n))
            continue
        for i in run:
            out[i] = digest(list(window.values()), lo, i)
    return out


def _read_flags(group: zarr.Group, name: str, n_chunks: int) -> tuple[np.ndarray, np.ndarray]:
    """An internal per-chunk array (``chunk_done``, ``chunk_checksum``) in one read:
    ``(values, readable)``; entries of a damaged array chunk are 0 and not ``readable``."""
    try:
        values = np.asarray(group[name][...], dtype=np.int64).reshape(n_chunks)  # type: ignore[index]
        return values, np.ones(n_chunks, bool)
    except Exception:  # a damaged chunk of the array: entry by entry
        values, ok = np.zeros(n_chunks, np.int64), np.zeros(n_chunks, bool)
        for i in range(n_chunks):
            with contextlib.suppress(Exception):
                values[i] = int(group[name][i])  # type: ignore[index]
                ok[i] = True
        return values, ok


def finished_chunks(path: str | Path) -> tuple[int, int] | None:
    """``(finished, total)`` chunks of the sweep store at ``path`` as flagged now (a flag that
    cannot be read counts as unfinished); ``None`` where there is no readable store."""
    try:
        group = zarr.open_group(str(path), mode="r")
        n = int(group["chunk_done"].shape[0])  # type: ignore[union-attr]
        flags, ok = _read_flags(group, "chunk_done", n)
    except Exception:
        return None
    return int(np.sum((flags == 1) & ok)), n


def verify_store(path: str | Path, *, data: dict[str, np.ndarray] | None = None) -> list[int]:
    """Chunks of a store whose data do not match the checksums recorded when they were
    written (deleted, truncated, garbage or altered chunk files, or unreadable flags);
    ``[]`` when intact. ``data``: its per-patient arrays as read already (whole, as stored),
    so that they are not read again."""
    group = zarr.open_group(str(path), mode="r")
    if "chunk_checksum" not in group:
        return []
    names = _chunk_arrays(group)
    n = _n_patients(group)
    c = int(group.attrs["chunk_size"])  # type: ignore[arg-type]
    n_chunks = -(-n // c)
    flags, ok_flag = _read_flags(group, "chunk_done", n_chunks)
    unreadable = [i for i in range(n_chunks) if not ok_flag[i]]
    finished = [i for i in range(n_chunks) if ok_flag[i] and flags[i]]
    bad = set(unreadable + _mismatched(group, names, finished, c, n, data=data))
    if (scratch := _scratch_group(group)) is not None:  # an unfinished store below its tier
        bad |= set(_mismatched(scratch, _chunk_arrays(scratch), finished, c, n))
    return sorted(bad)


def _mismatched(
    group: zarr.Group,
    names: list[str],
    chunks: Sequence[int],
    chunk_size: int,
    n: int,
    *,
    data: dict[str, np.ndarray] | None = None,
) -> list[int]:
    """Those of ``chunks`` whose stored checksum is missing or unreadable or does not match
    their data as stored now (:func:`_chunk_checksums`), sorted."""
    want, ok = _read_flags(group, "chunk_checksum", -(-n // chunk_size))
    bad = [i for i in chunks if not ok[i] or want[i] == 0]
    rest = [i for i in chunks if ok[i] and want[i] != 0]
    got = _chunk_checksums(group, names, rest, chunk_size, n, data=data)
    return sorted(bad + [i for i in rest if got[i] != int(want[i])])


def _algorithm(group: zarr.Group) -> str:
    """The store's chunk checksum (:data:`CHECKSUM_KEY`; ``"blake2b"`` when absent)."""
    return str(group.attrs.get(CHECKSUM_KEY, "blake2b"))


def _digest(arrays: list[np.ndarray], algorithm: str = "crc32c") -> int:
    """Checksum of the arrays' values, dtypes and shapes (in order), never 0 (0 marks a
    missing checksum): ``"crc32c"``, CRC-32C with bit 32 set; ``"blake2b"``, 64-bit BLAKE2b
    as a signed int64."""
    if algorithm == "crc32c":
        crc = 0
        for a in arrays:
            a = np.ascontiguousarray(a)
            crc = google_crc32c.extend(crc, str((a.dtype.str, a.shape)).encode())
            raw = a.reshape(-1).view(np.uint8)  # no copy; the extension wants read-only
            raw.flags.writeable = False
            crc = google_crc32c.extend(crc, raw)
        return crc | (1 << 32)
    if algorithm != "blake2b":
        raise ValueError(f"unknown chunk checksum {algorithm!r} (crc32c, blake2b)")
    h = hashlib.blake2b(digest_size=8)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return int(np.frombuffer(h.digest(), np.int64)[0])


class SweepStore:
    """A results store on disk. Create or reopen it with :meth:`open`.

    ``path`` is where the data are written; ``final_path`` where the store ends up (they differ
    while an ``overwrite`` is written aside).
    """

    def __init__(
        self,
        path: Path,
        group: zarr.Group,
        plan: SweepPlan,
        *,
        final_path: Path | None = None,
        lock: StoreLock | None = None,
    ):
        self.path = path
        self.group = group
        self.plan = plan
        self.n_chunks = plan.n_chunks
        self.final_path = final_path if final_path is not None else path
        self.lock = lock
        #: finished chunks whose data this object has read back and found matching their
        #: checksum (written or verified here); :meth:`verify` does not read them again
        self._clean: set[int] = set()
        self._arrays: dict[str, Any] | None = None
        self._scratch_arrays_: dict[str, Any] | None = None

    # ----------------------------------------------------------------------- opening
    @property
    def spec(self) -> SweepSpec:
        """The plan's spec."""
        return self.plan.spec

    @classmethod
    def open(
        cls,
        plan: SweepPlan | SweepSpec,
        path: str | Path,
        *,
        overwrite: bool = False,
        attrs: dict | None = None,
        resume_keys: dict | None = None,
    ) -> SweepStore:
        """Create a new store, or reopen an unfinished one made from the same spec.

        Takes the store's writer lock (release it with :meth:`close`). With ``overwrite`` an
        existing store is kept until the new one is complete (written aside, then swapped).
        ``resume_keys``: settings a resumed store must have been written with (stored as the
        attribute ``resume_keys``; e.g. backend, platform, JAX version), so that a resumed
        store is bit-identical to an uninterrupted run.

        Raises:
            FileExistsError: the store is finished (pass ``overwrite=True`` to replace it), or
                ``path`` exists and is not a sweep store.
            StoreLockedError: another process is writing the store.
            ValueError: an unfinished store at ``path`` was made from a different spec or with
                different ``resume_keys``.
        """
        plan = SweepPlan.of(plan)
        path = Path(path)
        attrs = dict(attrs or {})
        keys = None if resume_keys is None else json.dumps(resume_keys, sort_keys=True)
        if keys is not None:
            attrs["resume_keys"] = keys
        lock = StoreLock(path)
        lock.acquire()
        try:
            return cls._open_locked(plan, path, overwrite, attrs, keys, lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _open_locked(
        cls,
        plan: SweepPlan,
        path: Path,
        overwrite: bool,
        attrs: dict,
        keys: str | None,
        lock: StoreLock,
    ) -> SweepStore:
        if not path.exists():
            return cls._create(plan, path, attrs, lock=lock)
        status = None
        if _is_store(path):
            try:
                status = zarr.open_group(str(path), mode="r").attrs.get(STATUS_KEY)
            except Exception:  # unreadable metadata: not ours to judge
                status = None
        empty_dir = path.is_dir() and not any(path.iterdir())
        if status is None and not empty_dir:
            if not (overwrite and _is_store(path)):
                raise FileExistsError(
                    f"{path} exists and is not a tumorimmune sweep store; choose another "
                    "output path"
                )
            return cls._create_aside(plan, path, attrs, lock)
        if status == "creating" or empty_dir:  # nothing computed yet
            shutil.rmtree(path)
            return cls._create(plan, path, attrs, lock=lock)
        if overwrite:
            return cls._create_aside(plan, path, attrs, lock)
        if status == "complete":
            raise FileExistsError(
                f"{path} holds a finished sweep; pass overwrite=True to replace "
                "it, or choose another output path"
            )
        group = zarr.open_group(str(path), mode="r+")
        if not same_spec_key(group.attrs.get("spec_key"), plan.spec):
            raise ValueError(
                f"{path} holds an unfinished sweep of a different spec; rerun with the "
                "same spec to resume, or pass overwrite=True to start over"
            )
        old = group.attrs.get("resume_keys")
        if old is not None and keys is not None and old != keys:
            was, now = json.loads(str(old)), json.loads(keys)
            diff = ", ".join(
                f"{k}: {was.get(k)!r} then, {now.get(k)!r} now"
                for k in sorted(set(was) | set(now))
                if was.get(k) != now.get(k)
            )
            raise ValueError(
                f"{path} was started with other settings ({diff}); a resumed store would not "
                "be bit-identical to an uninterrupted run. Resume with the same settings, or "
                "pass overwrite=True to start over"
            )
        store = cls(path, group, plan, lock=lock)
        store._ensure_checksums()
        store.verify(repair=True)
        return store

    @classmethod
    def attach(cls, plan: SweepPlan, path: str | Path) -> SweepStore:
        """Open a store that process 0 of a multi-process run has opened (and holds the lock
        of), to write this process's chunks: no lock, no checks beyond the spec.

        Raises:
            ValueError: no running store of this spec at ``path``.
        """
        path = Path(path)
        group = zarr.open_group(str(path), mode="r+")
        running = group.attrs.get(STATUS_KEY) == "running"
        if not running or not same_spec_key(group.attrs.get("spec_key"), plan.spec):
            raise ValueError(f"{path}: not a running sweep store of this spec")
        return cls(path, group, plan)

    @classmethod
    def _create_aside(cls, plan: SweepPlan, path: Path, attrs: dict, lock: StoreLock) -> SweepStore:
        """A new store next to ``path`` (``.<name>.overwrite``), swapped in by :meth:`finish`;
        the old store stays untouched until then."""
        aside = path.with_name(f".{path.name}.overwrite")
        if aside.exists():  # a previous overwrite that did not finish (we hold the lock)
            shutil.rmtree(aside)
        store = cls._create(plan, aside, attrs, lock=lock)
        store.final_path = path
        return store

    @classmethod
    def _create(
        cls, plan: SweepPlan, path: Path, attrs: dict, *, lock: StoreLock | None
    ) -> SweepStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        group = zarr.open_group(str(path), mode="w", attributes={STATUS_KEY: "creating"})
        spec = plan.spec
        n, c, n_chunks = plan.n_patients, plan.chunk_size, plan.n_chunks
        n_arm = plan.n_arms
        scans = plan.scan_days
        fdt = np.float32 if spec.precision == "float32" else np.float64
        keep = plan.keep
        rank = tier_rank(keep)
        # what the finalisation needs beyond the tier: the read-out for the summaries, the
        # SLDs for the targets' cut-off days and prediction intervals, the peaks for warnings
        needed = set()
        if rank < tier_rank("readout"):
            needed |= {"param", "cell", *_ARM_PATIENT, *_ARM_PATIENT_SURVIVAL}
        if rank < tier_rank("scans"):
            needed.add(PEAK)
            if spec.targets:
                needed.add("diameter_mm")
        scratch: list[zarr.Group] = []

        def put(name: str, shape, chunks, dtype, fill, dims) -> Any:
            """A per-patient array where the tier puts it: the store, scratch, or nowhere."""
            if name != PEAK and tier_rank(variable_tier(name, dims)) <= rank:
                return arr(name, shape, chunks, dtype, fill, dims)
            if name in needed or (name.startswith("param_") and "param" in needed):
                if not scratch:
                    scratch.append(group.create_group(SCRATCH, attributes={CHECKSUM_KEY: "crc32c"}))
                    arr("chunk_checksum", (n_chunks,), (1,), np.int64, 0, ("chunk",), scratch[0])
                return arr(name, shape, chunks, dtype, fill, dims, scratch[0])
            return None

        def arr(name: str, shape, chunks, dtype, fill, dims, where=group) -> Any:
            a = where.create_array(
                name,
                shape=shape,
                chunks=chunks,
                dtype=dtype,
                fill_value=fill,
                dimension_names=dims,
            )
            if name in _DESCRIPTIONS:
                units, desc = _DESCRIPTIONS[name]
                a.attrs.update(units=units, description=desc)
            return a

        arm = arr("arm", (n_arm,), (n_arm,), str, "", ("arm",))
        arm[:] = np.array([a.name for a in plan.arms])
        if rank >= tier_rank("readout"):
            arr("patient", (n,), (c,), np.int64, 0, ("patient",))[:] = np.arange(n)
        arr("scan", (len(scans),), (len(scans),), np.int64, 0, ("scan",))[:] = np.arange(len(scans))
        sd = arr("scan_day", (len(scans),), (len(scans),), np.float64, 0.0, ("scan",))
        sd[:] = scans
        sd.attrs["units"] = "days"
        for k, v in plan.axes.items():
            arr(f"axis_{k}", v.shape, v.shape, np.float64, 0.0, (f"axis_{k}",))[:] = v
        for k in plan.columns:
            put(f"param_{k}", (n,), (c,), np.float64, np.nan, ("patient",))
        put("cell", (n,), (c,), np.int64, -1, ("patient",))
        for k in _ARM_PATIENT_SCAN:
            put(
                k,
                (n_arm, n, len(scans)),
                (n_arm, c, len(scans)),
                fdt,
                np.nan,
                ("arm", "patient", "scan"),
            )
        per_arm = dict(_ARM_PATIENT)
        if spec.survival is not None:
            per_arm.update(_ARM_PATIENT_SURVIVAL)
        for k, (dt, fill) in per_arm.items():
            dtype = fdt if dt == "float" else np.dtype(dt)
            put(k, (n_arm, n), (n_arm, c), dtype, fill, ("arm", "patient"))
        put(PEAK, (n_arm, n), (n_arm, c), np.float64, np.nan, ("arm", "patient"))
        arr("chunk_done", (n_chunks,), (1,), np.int8, 0, ("chunk",))
        arr("chunk_seconds", (n_chunks,), (1,), np.float64, np.nan, ("chunk",))
        arr("chunk_checksum", (n_chunks,), (1,), np.int64, 0, ("chunk",))
        group.attrs.update(
            {
                "spec": spec.to_toml(),
                "spec_key": spec_key(spec),
                "model": plan.model_class.__name__,
                "precision": spec.precision,
                "chunk_size": plan.chunk_size,
                "n_chunks": n_chunks,
                "n_patients": n,
                KEEP_KEY: keep,
                "response_codes": json.dumps({"NE": -1, "CR": 0, "PR": 1, "SD": 2, "PD": 3}),
                "outcome_codes": json.dumps(
                    {"failed": -1, "extinct": 0, "controlled": 1, "escaped": 2}
                ),
                CHECKSUM_KEY: "crc32c",
                "cells_per_cm3": spec.response.cells_per_cm3,
                "n_lesions": spec.response.n_lesions,
                "detection_limit_mm": spec.response.detection_limit_mm,
                **_survival_attrs(plan),
                **attrs,
            }
        )
        group.attrs[STATUS_KEY] = "running"
        return cls(path, group, plan, lock=lock)

    # ----------------------------------------------------------------------- writing
    def chunk_range(self, i: int) -> tuple[int, int]:
        return self.plan.chunk_range(i)

    def done(self) -> np.ndarray:
        """Boolean flag per chunk: finished (an unreadable flag counts as not finished)."""
        flags, ok = _read_flags(self.group, "chunk_done", self.n_chunks)
        return (flags == 1) & ok

    def _chunk_arrays(self) -> list[str]:
        return list(self._data_arrays())

    @property
    def keep(self) -> str:
        """The store's tier (attribute ``keep``; ``"trajectories"`` for stores without it)."""
        return str(self.group.attrs.get(KEEP_KEY, "trajectories"))

    @property
    def dropping(self) -> bool:
        """The scratch group is being removed: the summaries and attributes are written."""
        return bool(self.group.attrs.get(DROPPING_KEY, False))

    def _scratch(self) -> zarr.Group | None:
        return _scratch_group(self.group)

    def _scratch_arrays(self) -> dict[str, Any]:
        """The scratch group's per-patient arrays by name (sorted); empty without one."""
        if self._scratch_arrays_ is None:
            g = self._scratch()
            self._scratch_arrays_ = {} if g is None else {k: g[k] for k in _chunk_arrays(g)}
        return self._scratch_arrays_

    def _derived(self, block: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``block`` with the scratch arrays computed from it (:data:`PEAK`) when needed."""
        if PEAK not in self._scratch_arrays():
            return block
        fdt = np.float32 if self.plan.precision == "float32" else np.float64
        # as _runner._runaways reads the stored tumor_cells: in the stored precision
        cells = np.asarray(np.asarray(block["tumor_cells"]).astype(fdt)[:, :, 1:], dtype=float)
        with np.errstate(all="ignore"):
            cells = np.where(np.isfinite(cells), cells, -np.inf)  # failed: NaN
            peak = np.max(cells, axis=2, initial=-np.inf)
        return {**block, PEAK: peak}

    def _data_arrays(self) -> dict[str, Any]:
        """The per-patient arrays by name (sorted), opened once per store object."""
        if self._arrays is None:
            self._arrays = {k: self.group[k] for k in _chunk_arrays(self.group)}
        return self._arrays

    def write_chunks(self, items: Sequence[tuple[int, dict[str, np.ndarray], float]]) -> None:
        """Write finished chunks ``(index, block, seconds)``, read them back, store their
        checksums, then flag them as done (the flag is each chunk's commit).

        Consecutive chunks are written and read back together, one Zarr call per array (Zarr
        then handles their files concurrently; a call costs about a millisecond, so a chunk
        at a time spent 0.1 s per chunk of 2,500 patients on the writes alone).

        Raises:
            OSError: the data read back differ from the data written (no chunk of that run of
                consecutive chunks is flagged done).
        """
        g = self.group
        arrays = self._data_arrays()
        sg, scratch = self._scratch(), self._scratch_arrays()
        c, n = self.plan.chunk_size, self.plan.n_patients
        algo = _algorithm(g)
        items = sorted(items, key=lambda it: it[0])
        items = [(i, self._derived(block), sec) for i, block, sec in items]
        runs: list[list[tuple[int, dict[str, np.ndarray], float]]] = []
        for it in items:
            if runs and runs[-1][-1][0] + 1 == it[0]:
                runs[-1].append(it)
            else:
                runs.append([it])
        for run in runs:
            first, last = run[0][0], run[-1][0]
            lo, hi = first * c, min((last + 1) * c, n)
            for i, _, _ in run:
                self._clean.discard(i)
            g["chunk_done"][first : last + 1] = 0  # type: ignore[index]
            # the tier's arrays and the scratch ones; a block's other fields are not kept
            for k, a in (*arrays.items(), *scratch.items()):
                parts = [np.asarray(block[k]) for _, block, _ in run]
                v = np.concatenate(parts, axis=0 if a.ndim == 1 else 1)
                if a.ndim == 1:
                    a[lo:hi] = v
                else:
                    a[:, lo:hi] = v
            expected = [
                _digest([np.asarray(block[k]).astype(a.dtype) for k, a in arrays.items()], algo)
                for _, block, _ in run
            ]
            got = _chunk_checksums(g, list(arrays), [i for i, _, _ in run], c, n)
            s_expected = [
                _digest([np.asarray(block[k]).astype(a.dtype) for k, a in scratch.items()], algo)
                for _, block, _ in run
            ]
            s_got = (
                {}
                if sg is None
                else _chunk_checksums(sg, list(scratch), [i for i, _, _ in run], c, n)
            )
            for (i, _, _), want, s_want in zip(run, expected, s_expected, strict=True):
                if got[i] != want or (sg is not None and s_got[i] != s_want):
                    raise OSError(
                        f"{self.path}: chunk {i} reads back differently from what was written"
                    )
            g["chunk_seconds"][first : last + 1] = np.array([s for _, _, s in run])  # type: ignore[index]
            if sg is not None:
                sg["chunk_checksum"][first : last + 1] = np.array(s_expected, np.int64)  # type: ignore[index]
            g["chunk_checksum"][first : last + 1] = np.array(expected, np.int64)  # type: ignore[index]
            g["chunk_done"][first : last + 1] = 1  # type: ignore[index]
            self._clean.update(i for i, _, _ in run)

    def _ensure_checksums(self) -> None:
        """Stores made before checksums existed: add the array (their chunks are recomputed)."""
        if "chunk_checksum" not in self.group:
            a = self.group.create_array(
                "chunk_checksum",
                shape=(self.n_chunks,),
                chunks=(1,),
                dtype=np.int64,
                fill_value=0,
                dimension_names=("chunk",),
            )
            a[:] = 0

    def verify(self, *, repair: bool = False, chunks: Sequence[int] | None = None) -> list[int]:
        """Chunks flagged finished whose data do not match their checksum (missing, garbage,
        truncated or changed chunk files). With ``repair`` they are flagged unfinished (and so
        recomputed by the next run). ``chunks``: check only these (a process of a multi-process
        run checks its own). Chunks this object wrote or verified already (and read back
        then) are not read again; :func:`load` checks every chunk of a finished store once
        more."""
        done = self.done()
        pick = np.flatnonzero(done) if chunks is None else [c for c in chunks if done[c]]
        pick = [int(i) for i in pick if int(i) not in self._clean]
        c, n = self.plan.chunk_size, self.plan.n_patients
        bad = _mismatched(self.group, self._chunk_arrays(), pick, c, n)
        if (sg := self._scratch()) is not None:
            bad = sorted({*bad, *_mismatched(sg, list(self._scratch_arrays()), pick, c, n)})
        self._clean.update(i for i in pick if i not in bad)
        if repair:
            for i in bad:
                self._unflag(i)
        return bad

    def _unflag(self, i: int) -> None:
        self._clean.discard(i)
        try:
            self.group["chunk_done"][i] = 0  # type: ignore[index]
        except Exception:  # the flag's own chunk is damaged: rewrite the flag array
            flags = self.done().astype(np.int8)
            flags[i] = 0
            self.group.create_array(
                "chunk_done",
                shape=(self.n_chunks,),
                chunks=(1,),
                dtype=np.int8,
                fill_value=0,
                dimension_names=("chunk",),
                overwrite=True,
            )[:] = flags

    def read(self, name: str) -> np.ndarray:
        """A whole array: of the store, else of its scratch group."""
        if name not in self.group and (sg := self._scratch()) is not None and name in sg:
            return np.asarray(sg[name][...])  # type: ignore[index]
        return np.asarray(self.group[name][...])  # type: ignore[index]

    def has(self, name: str) -> bool:
        """Whether the store or its scratch group holds ``name``."""
        sg = self._scratch()
        return name in self.group or (sg is not None and name in sg)

    def _drop_scratch(self) -> None:
        """Remove the scratch group (flagged first, so that a run killed meanwhile only
        finishes the removal when resumed)."""
        where = self.path / SCRATCH
        self._scratch_arrays_ = None
        if where.exists():
            self.group.attrs[DROPPING_KEY] = True
            shutil.rmtree(where)
        if DROPPING_KEY in self.group.attrs:
            del self.group.attrs[DROPPING_KEY]

    def write_extra(
        self, name: str, data: np.ndarray, dims: tuple[str, ...], attrs: dict | None = None
    ) -> None:
        """Write (or replace) a whole, small array: summaries, trajectories, coordinates."""
        data = np.asarray(data)
        self._arrays = None
        a = self.group.create_array(
            name,
            shape=data.shape,
            chunks=data.shape if data.ndim else (),
            dtype=data.dtype,
            dimension_names=dims,
            overwrite=True,
            fill_value=np.nan if data.dtype.kind == "f" else 0,
        )
        a[...] = data
        if attrs:
            a.attrs.update(attrs)

    def finish(self, attrs: dict) -> None:
        """Verify every chunk, set the final attributes, mark the store complete, consolidate
        its metadata (``xr.open_zarr`` opens it without a warning) and, for an overwrite, swap
        it in place of the old store.

        Raises:
            OSError: a chunk fails verification (the store is not marked complete).
        """
        bad = self.verify()
        if bad or not np.all(self.done()):
            missing = bad or [int(i) for i in np.flatnonzero(~self.done())]
            raise OSError(
                f"{self.path}: chunks {missing} are missing or damaged; not marked complete "
                "(rerun the same command to recompute them)"
            )
        self.group.attrs.update(attrs)
        self._drop_scratch()  # the tier's arrays only (their checksums stay valid)
        self.group.attrs[STATUS_KEY] = "complete"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zarr: consolidated metadata not in the v3 spec
            zarr.consolidate_metadata(str(self.path))
        if self.final_path != self.path:
            old = self.final_path.with_name(f".{self.final_path.name}.replaced")
            if old.exists():
                shutil.rmtree(old)
            if self.final_path.exists():
                self.final_path.rename(old)
            self.path.rename(self.final_path)
            shutil.rmtree(old, ignore_errors=True)
            self.path = self.final_path
            self.group = zarr.open_group(str(self.path), mode="r+")
            self._arrays = None  # the handles named the aside path

    def close(self) -> None:
        """Release the writer lock."""
        if self.lock is not None:
            self.lock.release()

    @property
    def complete(self) -> bool:
        return self.group.attrs.get(STATUS_KEY) == "complete"


def open(path: str | Path, *, verify: bool = True, allow_partial: bool = False) -> xr.Dataset:
    """Open a sweep's ``results.zarr`` lazily: a dask-backed :class:`xarray.Dataset` whose
    dask chunks are the store's chunks (``chunk_size`` patients), read only when computed.

    The store is checked first: it must be complete, and with ``verify`` every chunk is
    checked against the checksum recorded when it was written (one streaming read of the
    per-patient arrays, at most ``VERIFY_WINDOW_BYTES`` at a time; nothing is kept in
    memory). The same as ``load(path, lazy=True)``; schema: CONTRIBUTING.md (a store of a
    lower ``[store] keep`` tier has fewer variables: attribute ``keep``).

    Args:
        path: the store directory.
        verify: check every chunk's checksum now; ``False`` opens the store as it is.
        allow_partial: open an unfinished store (unfinished chunks hold fill values).

    Raises:
        FileNotFoundError: no store at ``path``.
        ValueError: unfinished store, or chunks that do not match their checksums (the
            message names them).
        ImportError: dask is not installed.
    """
    return _open(Path(path), lazy=True, allow_partial=allow_partial, verify=verify)


def load(
    path: str | Path, *, lazy: bool = False, allow_partial: bool = False, verify: bool = True
) -> xr.Dataset:
    """Open a sweep's ``results.zarr`` as an :class:`xarray.Dataset` (schema: CONTRIBUTING.md).

    Args:
        path: the store directory.
        lazy: keep the arrays on disk, as dask arrays of the store's chunks (:func:`open`),
            instead of reading them all now.
        allow_partial: open an unfinished store (unfinished chunks hold fill values).
        verify: check every chunk of a finished store against the checksum recorded when it
            was written (with ``lazy``, one streaming read of the per-patient arrays, at most
            ``VERIFY_WINDOW_BYTES`` at a time); ``False`` reads the store as it is.

    Raises:
        FileNotFoundError: no store at ``path``.
        ValueError: unfinished store, chunks that do not match their checksums (edited,
            truncated or deleted chunk files; the message names them), or data files that
            cannot be read (a damaged store).
    """
    return _open(Path(path), lazy=lazy, allow_partial=allow_partial, verify=verify)


def _open(path: Path, *, lazy: bool, allow_partial: bool, verify: bool) -> xr.Dataset:
    """:func:`load` and :func:`open`."""
    if not _is_store(path):
        raise FileNotFoundError(f"no sweep store at {path}")
    group = zarr.open_group(str(path), mode="r")
    status = group.attrs.get(STATUS_KEY)
    if status != "complete" and not allow_partial:
        raise ValueError(
            f"{path} is an unfinished sweep (status {status!r}); rerun the same command to "
            "resume, or pass allow_partial=True"
        )
    if lazy:
        try:
            import dask.array  # noqa: F401  (xarray's chunked arrays)
        except ImportError as err:  # pragma: no cover - dask is a dependency
            raise ImportError(
                "opening a store lazily needs dask: pip install 'dask[array]'"
            ) from err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # lazy: dask arrays of the store's own chunks ({}: the engine's preferred chunks)
        ds = xr.open_dataset(path, engine="zarr", consolidated=False, chunks={} if lazy else None)
    if status == "complete" and lazy and verify:
        if bad := verify_store(path):
            raise _damaged(path, bad, None, group)
    if status == "complete" and not lazy:
        # read once: the finished chunks are checksummed from the data as loaded
        try:
            ds = ds.load()
        except Exception as err:  # unreadable chunk files: name them (chunk by chunk)
            raise _damaged(path, verify_store(path), err) from None
        names = _chunk_arrays(group)
        data = {k: ds[k].values for k in names if k in ds}
        as_stored = all(
            k in data and data[k].dtype == group[k].dtype  # type: ignore[union-attr]
            for k in names
        )
        if verify and (bad := verify_store(path, data=data if as_stored else None)):
            raise _damaged(path, bad, None, group)
    ds = ds.drop_vars([k for k in _INTERNAL if k in ds])
    ds = ds.set_coords([k for k in ("scan_day",) if k in ds])
    if "arm" in ds.coords:
        ds = ds.assign_coords(arm=np.array([str(a) for a in ds["arm"].values]))
    for k in ("pfs_event", "os_event"):
        if k in ds:
            ds[k] = ds[k].astype(bool)
    if lazy:
        return ds
    try:
        return ds.load()
    except Exception as err:  # a chunk file deleted, truncated or overwritten after the run
        raise _damaged(path, [], err) from None


def _unreadable(group: zarr.Group, chunks: list[int]) -> list[str]:
    """The per-patient arrays whose data in ``chunks`` cannot be read (truncated, deleted or
    garbage chunk files), sorted."""
    c = int(group.attrs["chunk_size"])  # type: ignore[arg-type]
    n = _n_patients(group)
    out = []
    for k in _chunk_arrays(group):
        a: Any = group[k]
        for i in chunks:
            lo, hi = i * c, min((i + 1) * c, n)
            try:
                np.asarray(a[lo:hi] if a.ndim == 1 else a[:, lo:hi])
            except Exception:
                out.append(k)
                break
    return out


def _damaged(
    path: Path, bad: list[int], err: Exception | None, group: zarr.Group | None = None
) -> ValueError:
    """The error of a damaged store: the chunks that fail their checksums (and the arrays
    that cannot be read in them), else the read error."""
    if bad:
        lost = _unreadable(group, bad) if group is not None else []
        one = len(bad) == 1
        what = (
            f"{'chunk' if one else 'chunks'} {', '.join(map(str, bad))} "
            f"{'does' if one else 'do'} not match the checksum{'' if one else 's'} recorded "
            "when written ("
            + (f"unreadable: {', '.join(lost)}" if lost else "values changed after the run")
            + ")"
        )
    else:
        what = f"its data cannot be read ({type(err).__name__}: {err})"
    return ValueError(
        f"{path} is damaged: {what}; run the sweep again with overwrite=True to recompute "
        "it (or pass verify=False to read it as it is)"
    )

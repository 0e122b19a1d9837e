"""Several processes (hosts) running one sweep: multi-controller JAX (``jax.distributed``).

Every process runs the same command; each integrates its share of the chunks on its local
devices and writes its own chunks' regions of the one Zarr store (on a file system all hosts
share). Process 0 takes the store's writer lock, creates or resumes the store, and at the end
writes the summaries and marks the store complete; the processes meet at barriers
(``jax.experimental.multihost_utils``). See ``docs/scaling.md``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class Processes:
    """This process's place in a multi-process run: ``index`` in ``0 .. count-1``."""

    index: int = 0
    count: int = 1

    @classmethod
    def current(cls) -> Processes:
        """From JAX (``jax.process_index()``, ``jax.process_count()``; 0 of 1 unless
        :func:`init_distributed` or ``jax.distributed.initialize`` was called)."""
        return cls(jax.process_index(), jax.process_count())

    def mine(self, chunks: Iterable[int]) -> list[int]:
        """The chunks this process integrates: chunk ``i`` belongs to process ``i % count``
        (a fixed partition, so a rerun of a process resumes exactly its own chunks)."""
        return [int(i) for i in chunks if int(i) % self.count == self.index]


_ADDRESS = re.compile(r"^\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}$")


def init_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> Processes:
    """Join a multi-process run (``jax.distributed.initialize``) and return this process's place.

    Missing arguments are read from the environment: ``JAX_COORDINATOR_ADDRESS`` (read by JAX
    itself), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``; on a cluster JAX detects (SLURM,
    Open MPI, Kubernetes, Cloud TPU) everything left unset comes from its environment (JAX then
    also gives each process one local device, by its local rank: one process per GPU). With all
    three given, the process keeps all its local devices (one process per host; the patients of
    each chunk are split over them). Call it before any other JAX computation, once per process.

    Args:
        coordinator: ``HOST:PORT`` of process 0 (every process gives the same one).
        num_processes: number of processes ``N``; process_id: this process, ``0 .. N-1``.

    Raises:
        ValueError: a bad address, count or id (naming the value), or a coordinator that
            cannot be reached (JAX's message).
    """
    env = os.environ
    if num_processes is None and env.get("JAX_NUM_PROCESSES"):
        num_processes = _int("JAX_NUM_PROCESSES", env["JAX_NUM_PROCESSES"])
    if process_id is None and env.get("JAX_PROCESS_ID"):
        process_id = _int("JAX_PROCESS_ID", env["JAX_PROCESS_ID"])
    if coordinator is not None and not _ADDRESS.match(coordinator):
        raise ValueError(f"coordinator: expected HOST:PORT (e.g. node01:1234); got {coordinator!r}")
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"num_processes: must be a positive integer; got {num_processes}")
    if process_id is not None and not (
        0 <= process_id < (num_processes if num_processes is not None else process_id + 1)
    ):
        raise ValueError(
            f"process_id: must be in 0 .. {(num_processes or 1) - 1} (num_processes "
            f"{num_processes}); got {process_id}"
        )
    if num_processes == 1:  # nothing to coordinate
        return Processes()
    # All three given: no cluster detection, which would also bind the process to one local
    # device (SLURM_LOCALID); the process keeps all its local devices (``shard_solve``).
    explicit = None not in (
        coordinator or env.get("JAX_COORDINATOR_ADDRESS"),
        num_processes,
        process_id,
    )
    try:
        jax.distributed.initialize(
            coordinator,
            num_processes,
            process_id,
            cluster_detection_method="deactivate" if explicit else None,
        )
    except (RuntimeError, ValueError, TypeError) as err:
        raise ValueError(
            f"jax.distributed.initialize failed: {err} (outside a cluster JAX detects, give "
            "coordinator HOST:PORT, num_processes and process_id: docs/scaling.md)"
        ) from None
    return Processes.current()


def _int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}: expected an integer; got {text!r}") from None


def barrier(name: str) -> None:
    """Wait until every process has reached the barrier ``name`` (no-op in one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"tumorimmune:{name}")


def broadcast_text(text: str) -> str:
    """Process 0's ``text`` on every process (the others' argument is ignored)."""
    if jax.process_count() == 1:
        return text
    from jax.experimental import multihost_utils

    data = np.frombuffer(text.encode(), np.uint8) if jax.process_index() == 0 else np.zeros(0)
    size = int(multihost_utils.broadcast_one_to_all(np.int32(data.size)))
    buf = np.zeros(max(size, 1), np.uint8)
    if jax.process_index() == 0:
        buf[:size] = data
    out = np.asarray(multihost_utils.broadcast_one_to_all(buf))
    return out[:size].astype(np.uint8).tobytes().decode()

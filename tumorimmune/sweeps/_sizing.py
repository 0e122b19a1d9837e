"""Sizing a sweep: memory estimates, limits of this machine and the automatic chunk size.

Everything here works on :class:`Sizes` (the counts a plan derives from a spec,
``SweepPlan.sizes``), so that the checks run before a run and the engine's batching use the
same numbers.
"""

from __future__ import annotations

import dataclasses
import os

from ._spec import (
    DEFAULT_CHUNK_SIZE,
    MAX_AUTO_CHUNK,
    MAX_SCANS,
    MAX_TRAJECTORY_TIMES,
    TARGET_CHUNKS,
    SweepSpec,
)
from ._spec import format_number as _num


@dataclasses.dataclass(frozen=True)
class Sizes:
    """The counts that size a sweep.

    Attributes:
        n_patients: patients (or sensitivity design points) per arm.
        n_cells: grid cells.
        cohort_size: patients per grid cell.
        chunk_size: patients per store chunk.
        n_arms: arms.
        n_states: the model's state count (``len(Model.state_names)``).
        n_times: output times of a solve (scans, end of follow-up, hazard grid).
        n_columns: per-patient table columns (varying parameters and ``cell``).
        n_trajectories: patients with stored dense trajectories.
        n_trajectory_times: times of a stored trajectory.
    """

    n_patients: int
    n_cells: int
    cohort_size: int
    chunk_size: int
    n_arms: int
    n_states: int
    n_times: int
    n_columns: int
    n_trajectories: int
    n_trajectory_times: int


def memory_limit_bytes() -> int:
    """Memory a sweep may plan to use: 3/4 of this machine's physical memory (bytes)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        total = 16 * 2**30
    return int(0.75 * total)


def _gib(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 2**10:.1f} KiB"


def memory_estimate(sizes: Sizes) -> dict[str, int]:
    """Rough peak host memory (bytes) of the stages of a sweep, for refusing absurd sizes.

    Keys: ``chunk`` (one chunk solved in every arm: solver output, read-outs),
    ``cohort`` (one grid cell's sampled patient table), ``trajectories`` (the dense
    trajectories of ``n_trajectories`` patients) and ``summary`` (per-patient arrays of every
    arm read back at the end).
    """
    s = sizes
    # ys float64 (solver output, host copy, tumor copy) + 3 read-outs per scan + scalars
    per_patient = (
        s.n_arms * (3 * s.n_times * s.n_states * 8 + 3 * s.n_times * 8 + 64) + s.n_columns * 8
    )
    n_traj = max(min(s.n_trajectories, s.n_patients), 16)
    return {
        "chunk": max(s.chunk_size, 16) * per_patient,
        "cohort": 4 * s.cohort_size * s.n_columns * 8,
        "trajectories": 3 * s.n_arms * n_traj * s.n_trajectory_times * (s.n_states + 2) * 8
        if s.n_trajectories
        else 0,
        "summary": s.n_patients * (s.n_arms * 26 + 16),
    }


def auto_chunk_size(sizes: Sizes) -> int:
    """The store chunk size of a spec that does not set ``chunk_size``.

    ``DEFAULT_CHUNK_SIZE`` (4,096) patients, or for larger cohorts about
    ``n_patients / TARGET_CHUNKS`` rounded up to a multiple of 4,096, so that a run has about
    128 store chunks (progress in steps of about 1 %, a resume loses at most one chunk's
    work), at most ``MAX_AUTO_CHUNK`` patients and within a sixteenth of the memory a sweep
    may use. Every store chunk costs a fixed amount besides its data: one file per
    per-patient array written, read back and checksummed (about 0.1 s per chunk of the
    three-arm trial on a 2-core CPU, benchmarks/RESULTS.md, "Host pipeline"); 10^7
    patients in chunks of 4,096 would spend minutes on it.
    """
    n = sizes.n_patients
    size = DEFAULT_CHUNK_SIZE * max(1, -(-n // (TARGET_CHUNKS * DEFAULT_CHUNK_SIZE)))
    per = memory_estimate(sizes)["chunk"] / max(sizes.chunk_size, 16)
    fit = int(memory_limit_bytes() // 16 // max(per, 1))
    return min(size, MAX_AUTO_CHUNK, max(fit, DEFAULT_CHUNK_SIZE))


def count_errors(spec: SweepSpec) -> list[str]:
    """Scans, hazard-grid days and trajectory times over the follow-up beyond their limits,
    from the spec alone (before a plan builds those arrays: 1e9 days of follow-up would be
    arrays of 10^8 times), one line each naming the key and the limit."""
    errors: list[str] = []
    n_scans = (
        spec.follow_up_days / spec.scan_interval_days
        if spec.scan_days is None
        else len(spec.scan_days)
    )
    n_traj = spec.follow_up_days / spec.trajectory_step_days
    if spec.survival is not None:
        n_grid = spec.follow_up_days / spec.survival.grid_days
        if n_grid > MAX_SCANS:
            return [
                f"survival.grid_days: {_num(spec.survival.grid_days)} gives {n_grid:.3g} "
                f"hazard grid days over follow_up_days = {_num(spec.follow_up_days)}; at most "
                f"{MAX_SCANS}"
            ]
    too_long = spec.n_trajectories and n_traj > MAX_TRAJECTORY_TIMES
    if n_scans > MAX_SCANS and too_long:
        return [
            f"follow_up_days: {_num(spec.follow_up_days)} days give {n_scans:.3g} scans and "
            f"{n_traj:.3g} trajectory times; at most {MAX_SCANS} scans "
            f"(scan_interval_days) and {MAX_TRAJECTORY_TIMES} times (trajectory_step_days)"
        ]
    if n_scans > MAX_SCANS:
        errors.append(
            f"scan_interval_days: {_num(spec.scan_interval_days)} gives {n_scans:.3g} scans over "
            f"follow_up_days = {_num(spec.follow_up_days)}; at most {MAX_SCANS} scans"
        )
    if too_long:
        errors.append(
            f"trajectory_step_days: {_num(spec.trajectory_step_days)} gives {n_traj:.3g} "
            f"trajectory times over follow_up_days = {_num(spec.follow_up_days)}; at most "
            f"{MAX_TRAJECTORY_TIMES} (or n_trajectories = 0)"
        )
    return errors


def size_errors(spec: SweepSpec, sizes: Sizes, limit: int) -> list[str]:
    """Sizes that cannot run on this machine, one line each naming the key and the limit."""
    errors = count_errors(spec)
    if errors:
        return errors
    n_traj = spec.follow_up_days / spec.trajectory_step_days
    need = memory_estimate(sizes)
    lim = _gib(limit)
    per = need["chunk"] / max(spec.chunk_size, 16)
    if need["chunk"] > limit:
        errors.append(
            f"chunk_size: a chunk of {spec.chunk_size} patients needs about "
            f"{_gib(need['chunk'])} of memory, more than the {lim} this machine allows; "
            f"use chunk_size <= {max(int(limit // per), 1)}"
        )
    if need["cohort"] > limit:
        errors.append(
            f"sampling.cohort_size: {spec.sampling.cohort_size} patients per grid cell need "
            f"about {_gib(need['cohort'])} of memory, more than the {lim} this machine allows"
        )
    if need["trajectories"] > limit:
        errors.append(
            f"n_trajectories: {spec.n_trajectories} trajectories of {n_traj:.0f} days need about "
            f"{_gib(need['trajectories'])} of memory, more than the {lim} this machine allows; "
            "store fewer or raise trajectory_step_days"
        )
    if need["summary"] > limit and need["cohort"] <= limit:
        per_n = need["summary"] / sizes.n_patients
        key = "axes" if sizes.n_cells > spec.sampling.cohort_size else "sampling.cohort_size"
        errors.append(
            f"{key}: {sizes.n_patients} patients ({sizes.n_cells} grid cells × "
            f"cohort {spec.sampling.cohort_size}) need about {_gib(need['summary'])} of memory "
            f"for the summaries, more than the {lim} this machine allows; at most "
            f"{int(limit // per_n)} patients"
        )
    return errors

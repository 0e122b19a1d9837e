"""Integration schedule: output times and dose events shared by a batch of patients."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Where a batch solve must stop: output times and bolus dose times.

    Attributes:
        ts: output times, days, strictly increasing, ``ts[0]`` is the initial time (shape (n_t,)).
        dose_times: bolus dose days inside ``[ts[0], ts[-1])``, sorted, distinct (shape (k,)).
        dosing_state: index of the state that receives the bolus (``-1``: no dosing state).

    Convention: a dose given at time ``τ`` is added to the state right after ``τ``; the value
    reported at an output time equal to ``τ`` is the *pre-dose* (trough) value.
    """

    ts: np.ndarray
    dose_times: np.ndarray
    dosing_state: int = -1

    @property
    def t0(self) -> float:
        return float(self.ts[0])

    @property
    def t1(self) -> float:
        return float(self.ts[-1])

    def segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(starts, ends, dose_index) of the integration segments between dose events.

        ``dose_index[j]`` is the index into ``dose_times`` of the dose given at ``starts[j]``
        (or -1 when none). A dose exactly at ``t0`` is applied at the start of segment 0.
        """
        d = np.asarray(self.dose_times, dtype=float)
        inner = d[(d > self.t0) & (d < self.t1)]
        starts = np.concatenate([[self.t0], inner])
        ends = np.concatenate([inner, [self.t1]])
        index = np.full(len(starts), -1, dtype=np.int32)
        for j, s in enumerate(starts):
            hit = np.flatnonzero(d == s)
            if hit.size:
                index[j] = hit[0]
        return starts, ends, index


def validate_times(t: object) -> np.ndarray:
    """Check output times: 1-D, finite, >= 0, strictly increasing, at least two values."""
    arr = np.asarray(t, dtype=float)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(
            f"t must be a 1-D array of at least two times (days); got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"t must be finite; t[{i}] = {arr[i]!r}")
    if arr[0] < 0:
        raise ValueError(f"t must be non-negative (days); t[0] = {arr[0]!r}")
    diff = np.diff(arr)
    if np.any(diff <= 0):
        i = int(np.flatnonzero(diff <= 0)[0])
        raise ValueError(
            f"t must be strictly increasing; t[{i}] = {arr[i]!r} >= t[{i + 1}] = {arr[i + 1]!r}"
        )
    return arr

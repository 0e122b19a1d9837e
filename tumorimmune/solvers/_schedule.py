"""Integration schedule: output times and dose events shared by a batch of patients."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from jaxtyping import ArrayLike, Float

if TYPE_CHECKING:
    from jaxtyping import Array


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

    def _dose_table(self, doses: Float[ArrayLike, "N k"], np_dtype: type) -> np.ndarray:
        d = np.asarray(doses, dtype=np_dtype)
        d = d.reshape(1, -1) if d.ndim == 1 else d
        if d.ndim != 2 or d.shape[1] != len(self.dose_times):
            raise ValueError(
                f"doses must have shape (N, {len(self.dose_times)}) (one column per dose time);"
                f" got {np.shape(doses)}"
            )
        return d

    def dose_segments(
        self, doses: Float[ArrayLike, "N k"]
    ) -> tuple[
        Float[np.ndarray, " n_seg"], Float[np.ndarray, " n_seg"], Float[np.ndarray, "N n_seg"]
    ]:
        """The integration segments and the bolus given at the start of each, per patient.

        The one segment builder of the package (backends, ``simulate``, calibration).

        Args:
            doses: mg per patient and dose time, shape ``(N, len(dose_times))``.

        Returns:
            ``(starts, ends, seg_dose)``: segment bounds (days), ``(n_seg,)``, and the bolus
            (mg) added at each start, ``(N, n_seg)`` (0 where no dose; a dose at ``t0`` is
            given at the start of segment 0).
        """
        starts, ends, index = self.segments()
        d = self._dose_table(doses, float)
        seg_dose = np.zeros((d.shape[0], len(starts)))
        has = index >= 0
        if np.any(has):
            seg_dose[:, has] = d[:, index[has]]
        return starts, ends, seg_dose

    @classmethod
    def from_doses(
        cls,
        ts: Sequence[float] | np.ndarray,
        dose_days: Sequence[Sequence[float] | np.ndarray],
        dose_mg: Sequence[Sequence[float] | np.ndarray],
        *,
        dosing_state: int = -1,
    ) -> tuple[Schedule, Float[np.ndarray, "N k"]]:
        """Schedule and dose table ``(N, k)`` from per-patient dose days and amounts (mg).

        The dose times are the union of every patient's dose days in ``[ts[0], ts[-1])``; a
        patient without a dose on one of them gets 0 mg there (several doses on one day add).
        """
        t = np.asarray(ts, dtype=float)
        days = [np.asarray(d, dtype=float).ravel() for d in dose_days]
        mg = [np.asarray(m, dtype=float).ravel() for m in dose_mg]
        union = np.unique(np.concatenate([np.zeros(0), *days]))
        times = union[(union >= t[0]) & (union < t[-1])]
        table = np.zeros((len(days), len(times)))
        for i, (dd, mm) in enumerate(zip(days, mg, strict=True)):
            keep = (dd >= t[0]) & (dd < t[-1])
            np.add.at(table[i], np.searchsorted(times, dd[keep]), mm[keep])
        return cls(ts=t, dose_times=times, dosing_state=dosing_state), table

    def stops(
        self, doses: Float[ArrayLike, "N k"], np_dtype: type = np.float64
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Stop table of the fused engines: output and dose times merged, in ``np_dtype``.

        Returns ``(stop_t (n_stop,), stop_out (n_stop,) int32, stop_dose (N, n_stop),
        dose0 (N,))``: the stops after ``t0`` (sorted, distinct), the output index of each
        (``-1``: a dose time only), the bolus (mg) added after each stop, and the bolus at
        ``t0``.
        """
        ts = np.asarray(self.ts, dtype=np_dtype)
        t0, t1 = ts[0], ts[-1]
        dts = np.asarray(self.dose_times, dtype=np_dtype)
        d = self._dose_table(doses, np_dtype)
        inner = (dts > t0) & (dts < t1)
        stop_t = np.unique(np.concatenate([ts[1:], dts[inner]]))
        stop_out = np.full(len(stop_t), -1, np.int32)
        stop_out[np.searchsorted(stop_t, ts[1:])] = np.arange(1, len(ts), dtype=np.int32)
        stop_dose = np.zeros((d.shape[0], len(stop_t)), np_dtype)
        for j in np.flatnonzero(inner):
            stop_dose[:, np.searchsorted(stop_t, dts[j])] += d[:, j]
        dose0 = d[:, dts == t0].sum(axis=1) if np.any(dts == t0) else np.zeros(len(d))
        return stop_t, stop_out, stop_dose, dose0.astype(np_dtype)


def masked_segments(
    dose_times: Float[Array, " k"],
    dose: Float[ArrayLike, ""],
    t0: Float[Array, ""],
    t1: Float[Array, ""],
) -> tuple[Float[Array, " n_seg"], Float[Array, " n_seg"], Float[Array, " n_seg"]]:
    """:meth:`Schedule.dose_segments` for one patient in traceable JAX: ``k + 1`` segments.

    ``(starts, ends, bolus mg)`` with a static count: a dose outside ``[t0, t1)`` becomes a
    zero-length segment at ``t0`` or ``t1`` with no bolus. Dose times (sorted) and amounts may
    be tracers (``tumorimmune.solve``: derivatives through the segment bounds).
    """
    import jax.numpy as jnp

    tau = jnp.asarray(dose_times).astype(t0.dtype)
    given = (tau >= t0) & (tau < t1)
    b = jnp.where(given, tau, jnp.where(tau < t0, t0, t1))
    starts = jnp.concatenate([t0[None], b])
    ends = jnp.concatenate([b, t1[None]])
    bolus = jnp.concatenate([jnp.zeros(1, t0.dtype), jnp.where(given, dose, 0.0)])
    return starts, ends, bolus


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

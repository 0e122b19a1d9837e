"""Longitudinal tumor-size data: loading, validation, unit conversion, padding for ``vmap``.

Tidy table, one row per measurement, columns:

=============  ==========================================================================
``patient``    patient id, read as text: ``01`` and ``1`` (or ``7`` and ``7.0``) are
               different patients
``day``        day of the measurement (float; the patient's first row is the baseline)
``value``      tumor size, >= 0, in ``unit``
``unit``       ``"cells"``, ``"mm3"`` (volume) or ``"mm"`` (sum of diameters); may instead
               be given once for the whole table (``unit=`` argument)
=============  ==========================================================================

Dosing records (optional, separate table): ``patient``, ``day``, ``dose_mg`` (bolus, mg).

Conversions to cells (**assumptions**, stated in reports): a volume of ``V`` mm³ holds
``V·cells_per_cm3/1000`` cells with ``cells_per_cm3 = 1e9`` by default (1 cm³ ≈ 1e9 cells); a
sum of diameters ``D`` mm is read as ``n_lesions`` equal spherical lesions of diameter
``D/n_lesions`` (default 3, :data:`tumorimmune.sweeps.DEFAULT_N_LESIONS`) — the exact inverse
of the read-out of simulations, :func:`tumorimmune.sweeps.sum_of_diameters_mm`
(:func:`tumorimmune.sweeps.cells_from_sum_of_diameters`). Reading the sum as one sphere
(``n_lesions = 1``, the convention before) makes the volume ``k²`` times that of ``k`` equal
lesions.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
from jaxtyping import ArrayLike, Float

from ..response import DEFAULT_N_LESIONS, Readout, cells_from_sum_of_diameters
from ..solvers import Schedule

#: Units accepted in the ``unit`` column.
UNITS: tuple[str, ...] = ("cells", "mm3", "mm")
_UNIT_ALIASES = {"cell": "cells", "cells": "cells", "mm3": "mm3", "mm^3": "mm3", "mm³": "mm3"}
_UNIT_ALIASES.update({"mm": "mm", "sld_mm": "mm", "diameter_mm": "mm"})
_READOUT = Readout()


def to_cells(
    value: Float[ArrayLike, "*shape"], unit: str, *, readout: Readout = _READOUT
) -> Float[np.ndarray | np.float64, "*shape"]:
    """Convert tumor sizes to cells.

    Args:
        value: sizes in ``unit`` (>= 0).
        unit: ``"cells"``, ``"mm3"`` (volume, mm³) or ``"mm"`` (sum of diameters of
            ``n_lesions`` equal spherical lesions: ``V = n·(π/6)·(D/n)³``).
        readout: :class:`~tumorimmune.response.Readout`: ``cells_per_cm3``, the cell density
            (**assumption**, default 1e9), and ``n_lesions``, the target lesions summed in a
            ``"mm"`` value (**assumption**, default 3; an integer >= 1; 1 reads the sum as one
            sphere; ignored for other units).

    Returns:
        float64 cell counts of the same shape.
    """
    u = _unit(unit)
    cells_per_cm3, n_lesions = readout.cells_per_cm3, readout.n_lesions
    if not (math.isfinite(cells_per_cm3) and cells_per_cm3 > 0):
        raise ValueError(f"cells_per_cm3 must be a positive number; got {cells_per_cm3!r}")
    if not (
        isinstance(n_lesions, int | float)
        and math.isfinite(n_lesions)
        and n_lesions >= 1
        and float(n_lesions).is_integer()
    ):
        raise ValueError(f"n_lesions must be an integer >= 1; got {n_lesions!r}")
    v = np.asarray(value, dtype=np.float64)
    if u == "cells":
        return v
    if u == "mm":
        return cells_from_sum_of_diameters(v, readout=readout)
    return v * (cells_per_cm3 / 1000.0)


def cells_to_unit(
    cells: np.ndarray | float, unit: str, *, readout: Readout = _READOUT
) -> Float[np.ndarray, "*shape"]:
    """Inverse of :func:`to_cells` (numerically, on a fine log grid, so it follows whatever
    monotone mapping ``to_cells`` uses): sizes in ``unit``."""
    c = np.asarray(cells, dtype=float)
    if unit == "cells":
        return c
    grid = np.geomspace(1e-9, 1e9, 4001)  # sizes in `unit`
    ref = to_cells(grid, unit, readout=readout)
    with np.errstate(divide="ignore"):
        out = np.exp(np.interp(np.log(c), np.log(ref), np.log(grid)))
    return np.where(c > 0, out, 0.0)


def _unit(unit: object) -> str:
    key = str(unit).strip().lower()
    if key not in _UNIT_ALIASES:
        raise ValueError(f"unknown unit {unit!r}; use one of {list(UNITS)}")
    return _UNIT_ALIASES[key]


@dataclasses.dataclass(frozen=True)
class TumorData:
    """Validated measurements of P patients, padded to a common length M for ``vmap``.

    Times are relative to each patient's baseline (first measurement): ``baseline_day`` holds
    the absolute day. Sizes are in cells.

    Attributes:
        patients: patient ids, shape (P,).
        baseline_day: absolute day of each patient's first measurement, shape (P,).
        t: days since baseline, shape (P, M); padded entries repeat the last day.
        cells: measured tumor cells, shape (P, M); padded entries repeat the last value.
        mask: True where a measurement exists, shape (P, M).
        dose_days: days since baseline of the dosing records, per patient (list of arrays).
        dose_mg: the doses (mg), per patient (list of arrays).
        unit: unit of the source table.
        cells_per_cm3: density used for the conversion.
        n_lesions: target lesions assumed in a sum of diameters (unit ``"mm"``).
    """

    patients: np.ndarray
    baseline_day: np.ndarray
    t: np.ndarray
    cells: np.ndarray
    mask: np.ndarray
    dose_days: tuple[np.ndarray, ...]
    dose_mg: tuple[np.ndarray, ...]
    unit: str = "cells"
    cells_per_cm3: float = 1e9
    n_lesions: int = DEFAULT_N_LESIONS

    @property
    def n_patients(self) -> int:
        return int(self.t.shape[0])

    @property
    def n_obs(self) -> np.ndarray:
        """Measurements per patient, shape (P,)."""
        return self.mask.sum(axis=1)

    @property
    def has_doses(self) -> bool:
        return any(len(d) for d in self.dose_days)

    def to_frame(self) -> pd.DataFrame:
        """The measurements as a tidy table (``patient``, ``day``, ``cells``)."""
        rows = np.nonzero(self.mask)[0]  # row-major, the order of t[mask]
        return pd.DataFrame(
            {
                "patient": self.patients[rows],
                "day": self.t[self.mask] + self.baseline_day[rows],
                "cells": self.cells[self.mask],
            }
        )


def _read(table: str | Path | pd.DataFrame, what: str) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table.copy()
    path = Path(table)
    if not path.exists():
        raise ValueError(f"{what} file {str(path)!r} does not exist")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".txt"):
        return pd.read_csv(path, dtype={"patient": str})  # ids are text: "01" != "1"
    raise ValueError(f"{what} file {str(path)!r}: use .csv or .parquet")


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what} is missing column {missing[0]!r}; required: {columns}, "
            f"found: {list(df.columns)}"
        )


def _patient_ids(df: pd.DataFrame, what: str) -> pd.Series:
    """The ``patient`` column as text (``1`` and ``01`` stay apart); missing ids are refused."""
    col = pd.Series(df["patient"])
    missing = col.isna().to_numpy()
    if np.any(missing):
        i = int(np.flatnonzero(missing)[0])
        raise ValueError(f"{what} column 'patient' is empty in row {i}; every row needs an id")
    return col.astype(str)


def _groups(ids: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group rows by patient in one pass (linear, not one scan per patient).

    Returns ``(codes, uniques, order, starts)``: each row's patient index (order of first
    appearance), the ids, the rows sorted by patient (stable: file order within a patient)
    and where each patient's rows begin in ``order`` (length P + 1).
    """
    codes, uniques = pd.factorize(ids, sort=False)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(uniques))
    starts = np.concatenate([[0], np.cumsum(counts)])
    return codes, np.asarray(uniques, dtype=object), order, starts


def _numeric(df: pd.DataFrame, column: str, what: str) -> np.ndarray:
    values = np.asarray(pd.to_numeric(df[column], errors="coerce"), dtype=float)
    bad = ~np.isfinite(values)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what} column {column!r} must be finite numbers; row {i} has "
            f"{df[column].iloc[i]!r} (patient {df['patient'].iloc[i]!r})"
        )
    return values


def load_measurements(
    table: str | Path | pd.DataFrame,
    *,
    unit: str | None = None,
    doses: str | Path | pd.DataFrame | None = None,
    readout: Readout = _READOUT,
    min_obs: int = 2,
) -> TumorData:
    """Read and validate a tidy tumor-size table (CSV, Parquet or a DataFrame).

    Args:
        table: measurements with columns ``patient``, ``day``, ``value`` and ``unit`` (the
            ``unit`` column may be omitted when ``unit`` is given).
        unit: unit of every row (``"cells"``, ``"mm3"``, ``"mm"``); overrides the column.
        doses: optional dosing records with columns ``patient``, ``day``, ``dose_mg``.
        readout: :class:`~tumorimmune.response.Readout` of the conversion to cells
            (``cells_per_cm3``, **assumption** 1e9; ``n_lesions``, the equal target lesions
            whose diameters a ``"mm"`` value sums, **assumption** 3; see :func:`to_cells`).
        min_obs: minimal number of measurements per patient (>= 1).

    Returns:
        :class:`TumorData` in cells, days since each patient's baseline.

    Raises:
        ValueError: missing columns, non-numeric, negative or non-finite sizes or days,
            unsorted or duplicated days within a patient, unknown or mixed units, too few
            measurements, doses before baseline or not positive.
    """
    df = _read(table, "measurement table")
    _require(df, ["patient", "day", "value"] + ([] if unit is not None else ["unit"]), "table")
    if len(df) == 0:
        raise ValueError("measurement table has no rows")
    df["patient"] = _patient_ids(df, "table")
    day = _numeric(df, "day", "table")
    value = _numeric(df, "value", "table")
    if np.any(value < 0):
        i = int(np.flatnonzero(value < 0)[0])
        raise ValueError(
            f"table column 'value' (tumor size) must be >= 0; row {i} of patient "
            f"{df['patient'].iloc[i]!r} has {float(value[i])!r}"
        )
    if unit is not None:
        units = {_unit(unit)}
    else:
        units = {_unit(u) for u in df["unit"].unique()}  # raises on unknown units
    if len(units) > 1:
        raise ValueError(f"table column 'unit' mixes units {sorted(units)}; use one unit")
    (u,) = units
    cells = np.asarray(to_cells(value, u, readout=readout))
    if min_obs < 1:
        raise ValueError(f"min_obs must be >= 1; got {min_obs!r}")

    codes, ids, order, starts = _groups(pd.Series(df["patient"]))
    P = len(ids)
    counts = np.diff(starts)
    d_sorted = day[order]
    c_sorted = codes[order]
    step = np.diff(d_sorted)
    same = c_sorted[1:] == c_sorted[:-1]
    bad_step = same & (step <= 0)
    bad_count = counts < min_obs
    flagged = bad_count.copy()
    flagged[c_sorted[1:][bad_step]] = True  # a duplicated or unsorted day
    problem = np.flatnonzero(flagged)
    if problem.size:  # report the first patient (order of appearance) with a problem
        i = int(problem[0])
        pid = ids[i]
        d = d_sorted[starts[i] : starts[i + 1]]
        diff = np.diff(d)
        if np.any(diff == 0):
            j = int(np.flatnonzero(diff == 0)[0])
            raise ValueError(f"patient {pid!r} has a duplicated day {float(d[j])!r} in 'day'")
        if np.any(diff < 0):
            j = int(np.flatnonzero(diff < 0)[0])
            raise ValueError(
                f"patient {pid!r}: days must be sorted increasingly; day {float(d[j])!r} is "
                f"followed by {float(d[j + 1])!r}"
            )
        raise ValueError(
            f"patient {pid!r} has {int(counts[i])} measurement(s); at least {min_obs} needed"
        )

    M = int(counts.max())
    base = d_sorted[starts[:-1]]
    last = starts[1:] - 1
    pos = np.arange(len(order)) - starts[c_sorted]  # index of each row within its patient
    t = np.repeat((d_sorted[last] - base)[:, None], M, axis=1)  # padding repeats the last
    y = np.repeat(cells[order][last][:, None], M, axis=1)
    mask = np.zeros((P, M), dtype=bool)
    t[c_sorted, pos] = d_sorted - base[c_sorted]
    y[c_sorted, pos] = cells[order]
    mask[c_sorted, pos] = True

    dose_days: list[np.ndarray] = [np.zeros(0) for _ in range(P)]
    dose_mg: list[np.ndarray] = [np.zeros(0) for _ in range(P)]
    if doses is not None:
        dd = _read(doses, "dosing table")
        _require(dd, ["patient", "day", "dose_mg"], "dosing table")
        dd["patient"] = _patient_ids(dd, "dosing table")
        dday = _numeric(dd, "day", "dosing table")
        amount = _numeric(dd, "dose_mg", "dosing table")
        if np.any(amount <= 0):
            i = int(np.flatnonzero(amount <= 0)[0])
            raise ValueError(
                f"dosing table column 'dose_mg' must be > 0; row {i} has {float(amount[i])!r}"
            )
        index = {pid: i for i, pid in enumerate(ids)}
        _, dids, dorder, dstarts = _groups(pd.Series(dd["patient"]))
        for g, pid in enumerate(dids):
            if pid not in index:
                raise ValueError(f"dosing table has patient {pid!r} with no measurements")
            rows = dorder[dstarts[g] : dstarts[g + 1]]
            i = index[pid]
            days_rel = dday[rows] - base[i]
            if np.any(np.diff(days_rel) <= 0):
                raise ValueError(
                    f"dosing table: days of patient {pid!r} must be sorted and distinct; "
                    f"got {dday[rows].tolist()}"
                )
            if days_rel[0] < 0:
                raise ValueError(
                    f"dosing table: patient {pid!r} has a dose on day {float(dday[rows[0]])!r} "
                    f"before the baseline measurement (day {float(base[i])!r})"
                )
            dose_days[i] = days_rel
            dose_mg[i] = amount[rows]
    return TumorData(
        patients=ids,
        baseline_day=base,
        t=t,
        cells=y,
        mask=mask,
        dose_days=tuple(dose_days),
        dose_mg=tuple(dose_mg),
        unit=u,
        cells_per_cm3=float(readout.cells_per_cm3),
        n_lesions=int(readout.n_lesions),  # type: ignore[arg-type]  # checked by to_cells
    )


def dose_segments(data: TumorData, t_end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Common integration segments for all patients and per-patient bolus amounts.

    The segment starts are 0 and the union of every patient's dose days in ``(0, t_end)``; a
    patient without a dose at a start gets 0 mg there (:meth:`Schedule.from_doses
    <tumorimmune.solvers.Schedule.from_doses>`, then :meth:`~tumorimmune.solvers.Schedule.
    dose_segments`). Returns ``(start (n_seg,), end (n_seg,), dose (P, n_seg))`` in days and mg.
    """
    schedule, doses = Schedule.from_doses([0.0, t_end], data.dose_days, data.dose_mg)
    return schedule.dose_segments(doses)

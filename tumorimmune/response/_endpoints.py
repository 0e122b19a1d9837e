"""Published trial endpoints and their recomputation on a simulated arm (with intervals).

Used by the virtual-population calibration (``tumorimmune.calibrate``) and by sweeps whose spec
lists ``[[targets]]`` (the report's "Calibration and validation" section).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from ._metrics import km_at, km_median, wilson_ci
from ._survival import cutoff_readout

EndpointKind = Literal[
    "orr",
    "cr",
    "dcr",
    "pfs_at",
    "median_pfs",
    "responders_pf_at",
    "os_at",
    "median_os",
    "median_ttr",
    "pseudo_progression",
]
#: Kinds read on overall survival (``os_days``, ``os_event``: a sweep with ``[survival]``).
OS_KINDS: tuple[str, ...] = ("os_at", "median_os")
#: Kinds whose value is in days (the others are fractions).
DAY_KINDS: tuple[str, ...] = ("median_pfs", "median_os", "median_ttr")
#: The read-out variables beyond ``bor``/``pfs_days``/``pfs_event`` each kind needs (the
#: sweep's stored variables of the same names); :func:`evaluate_targets` passes them on.
NEEDS: dict[str, tuple[str, ...]] = {
    "os_at": ("os_days", "os_event"),
    "median_os": ("os_days", "os_event"),
    "median_ttr": ("ttr_days",),
    "pseudo_progression": ("pseudo_progression",),
}


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A published endpoint of one trial arm.

    Attributes:
        name: label, e.g. ``"ORR"``.
        kind: ``"orr"`` (CR + PR fraction), ``"cr"`` (CR fraction), ``"dcr"`` (CR + PR + SD
            fraction), ``"pfs_at"``
            (Kaplan–Meier progression-free fraction at ``day``), ``"median_pfs"`` (days),
            ``"responders_pf_at"`` (fraction of responders progression-free at ``day``),
            ``"os_at"`` (Kaplan–Meier overall survival fraction at ``day``), ``"median_os"``
            (days), ``"median_ttr"`` (median time to response among responders, days),
            ``"pseudo_progression"`` (fraction with early or delayed pseudo-progression).
        value: the published value (fraction, or days for the :data:`DAY_KINDS`).
        n: patients behind the value (for a Wilson interval of a proportion).
        day: landmark day for ``pfs_at`` / ``responders_pf_at`` / ``os_at``.
        lo, hi: the published 95 % interval where the paper gives one (else Wilson or none).
        source: citation.
    """

    name: str
    kind: EndpointKind
    value: float
    n: int | None = None
    day: float | None = None
    lo: float | None = None
    hi: float | None = None
    source: str = ""

    def interval(self) -> tuple[float, float] | None:
        """The published 95 % interval, or the Wilson interval of a proportion."""
        if self.lo is not None and self.hi is not None:
            return (self.lo, self.hi)
        if self.kind not in DAY_KINDS and self.n:
            lo, hi = wilson_ci(round(self.value * self.n), self.n)
            return float(lo), float(hi)
        if self.kind in DAY_KINDS:  # a simulated median falls on a scan day: ±3 weeks
            return (self.value - 21.0, self.value + 21.0)
        return None


def evaluate_endpoints(
    r: Mapping[str, np.ndarray], endpoints: Sequence[Endpoint]
) -> list[dict[str, object]]:
    """Each endpoint recomputed on a read-out, with its 95 % interval.

    Proportions: Wilson intervals; Kaplan–Meier landmarks: Greenwood (log-log) intervals from
    :func:`~tumorimmune.sweeps.kaplan_meier`; median PFS and OS: Brookmeyer–Crowley interval
    from :func:`~tumorimmune.sweeps.km_median`; median time to response: the distribution-free
    interval of a median (order statistics, binomial ranks).

    ``r`` holds ``bor``, ``pfs_days``, ``pfs_event`` (patient,) and the variables of
    :data:`NEEDS` the kinds ask for: ``os_days``/``os_event`` for ``os_at``/``median_os``,
    ``ttr_days`` for ``median_ttr``, ``pseudo_progression`` for ``pseudo_progression`` (the
    sweep's stored variables).
    """
    bor = r["bor"]
    ok = bor >= 0
    bor, days, event = bor[ok], r["pfs_days"][ok], r["pfs_event"][ok]
    for e in endpoints:
        missing = [k for k in NEEDS.get(e.kind, ()) if k not in r]
        if missing and e.kind in OS_KINDS:
            raise ValueError(
                f"endpoint {e.name!r} of kind {e.kind!r} needs overall survival "
                "(os_days, os_event: a sweep with a [survival] section)"
            )
        if missing:
            raise ValueError(f"endpoint {e.name!r} of kind {e.kind!r} needs r[{missing[0]!r}]")
    n = int(bor.size)
    rows: list[dict[str, object]] = []
    for e in endpoints:
        if e.kind in OS_KINDS:
            os_days, os_event = r["os_days"][ok], r["os_event"][ok]
            if e.kind == "os_at":
                val, lo, hi = km_at(os_days, os_event, float(e.day or 0.0))
            else:
                med, lo, hi = km_median(os_days, os_event)
                val = float(med)
            rows.append(_row(e, val, float(lo), float(hi)))
        elif e.kind in ("orr", "cr", "dcr"):
            code = {"orr": 1, "cr": 0, "dcr": 2}[e.kind]
            k = int(np.sum(bor <= code))
            lo, hi = wilson_ci(k, n)
            val: float = k / n if n else math.nan
            rows.append(_row(e, val, float(lo), float(hi)))
        elif e.kind in ("pfs_at", "responders_pf_at"):
            sel = np.ones(n, bool) if e.kind == "pfs_at" else bor <= 1
            if not sel.any():
                rows.append(_row(e, math.nan, math.nan, math.nan))
                continue
            val, lo, hi = km_at(days[sel], event[sel], float(e.day or 0.0))
            rows.append(_row(e, val, lo, hi))
        elif e.kind == "median_ttr":
            rows.append(_row(e, *_median_ci(np.asarray(r["ttr_days"], float)[ok])))
        elif e.kind == "pseudo_progression":
            pp = np.asarray(r["pseudo_progression"])[ok]
            m, k = int(np.sum(pp >= 0)), int(np.sum(pp >= 1))
            lo, hi = wilson_ci(k, m)
            rows.append(_row(e, k / m if m else math.nan, float(lo), float(hi)))
        else:
            med, lo, hi = km_median(days, event)
            rows.append(_row(e, float(med), float(lo), float(hi)))
    return rows


def _median_ci(x: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Median of the finite values and its distribution-free confidence interval: the order
    statistics ``x_(j)``, ``x_(n+1−j)`` with ``j`` the binomial(n, 1/2) lower quantile (NaN
    bounds when n is too small)."""
    x = np.sort(x[np.isfinite(x)])
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    import scipy.stats  # on use: 0.8 s of import that validating a spec needs not

    j = int(scipy.stats.binom.ppf((1 - confidence) / 2, n, 0.5))  # 1-based rank of the bound
    if j < 1:
        return float(np.median(x)), math.nan, math.nan
    return float(np.median(x)), float(x[j - 1]), float(x[n - j])


def _row(e: Endpoint, val: float, lo: float, hi: float) -> dict[str, object]:
    iv = e.interval()
    return {
        "name": e.name,
        "kind": e.kind,
        "target": e.value,
        "target_lo": None if iv is None else iv[0],
        "target_hi": None if iv is None else iv[1],
        "simulated": val,
        "simulated_lo": lo,
        "simulated_hi": hi,
        "within": bool(iv is not None and iv[0] <= val <= iv[1]) if math.isfinite(val) else False,
        "unit": "days" if e.kind in DAY_KINDS else "fraction",
        "day": e.day,
        "source": e.source,
    }


@runtime_checkable
class TargetLike(Protocol):
    """What :func:`evaluate_targets` reads of a target (e.g. a sweep spec's ``TargetSpec``)."""

    arm: str
    name: str
    kind: EndpointKind
    value: float
    n: int | None
    day: float | None
    lo: float | None
    hi: float | None
    source: str
    fitted: bool
    subgroup: str | None


_OPS = ("<=", ">=", "==", "<", ">")
#: Per-arm read-outs a subgroup may name besides the per-patient columns (e.g. the patients
#: alive at week 12 whose best response is PD: ``"os_days > 84 and best_response == 3"``).
OUTCOME_COLUMNS: tuple[str, ...] = ("best_response", "pfs_days", "os_days", "ttr_days")


#: Per-patient columns derived from another one when a table lacks them: name → (source
#: column, map). ``tps``: the PD-L1 tumor proportion score (%) of the model's ``L``
#: (:func:`tumorimmune.model.tps_from_L`), so a subgroup reads ``"tps >= 50"`` as the trials do.
def _tps(L: np.ndarray) -> np.ndarray:
    from ..model import tps_from_L  # the model package loads JAX: only when a subgroup asks

    return tps_from_L(L)


DERIVED_COLUMNS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "tps": ("L", _tps),
}


class AssayColumns(Mapping[str, np.ndarray]):
    """Per-patient columns plus the :data:`DERIVED_COLUMNS` their sources allow (``tps``
    from ``L``), each derived when first asked for; a column the table has is its own."""

    def __init__(self, params: Mapping[str, np.ndarray] | None):
        self._params = params or {}
        self._derived: dict[str, np.ndarray] = {}

    def _extra(self) -> list[str]:
        return [k for k, (src, _) in DERIVED_COLUMNS.items() if src in self._params]

    def __getitem__(self, key: str) -> np.ndarray:
        if key in self._params:
            return self._params[key]
        if key in self._extra():
            if key not in self._derived:
                src, f = DERIVED_COLUMNS[key]
                self._derived[key] = f(np.asarray(self._params[src]))
            return self._derived[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in self._params or key in self._extra()

    def __iter__(self) -> Iterator[str]:
        yield from self._params
        yield from (k for k in self._extra() if k not in self._params)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _condition(text: str) -> tuple[str, str, str]:
    for op in _OPS:
        if op in text:
            name, value = (x.strip() for x in text.split(op, 1))
            if name and value and (value == "median" or _is_number(value)):
                return name, op, value
    raise ValueError(
        f"subgroup must read 'NAME OP VALUE' (conditions joined by 'and') with OP one of "
        f"{list(_OPS)} and VALUE a number or 'median'; got {text!r}"
    )


def parse_subgroups(text: str) -> list[tuple[str, str, str]]:
    """``"T0 < median and L >= 0.5"`` → ``[("T0", "<", "median"), ("L", ">=", "0.5")]``."""
    return [_condition(part) for part in text.split(" and ")]


def parse_subgroup(text: str) -> tuple[str, str, str]:
    """``"T0 < median"`` → ``("T0", "<", "median")``; the value is a number or ``median``
    (the first condition of a conjunction, see :func:`parse_subgroups`)."""
    return parse_subgroups(text)[0]


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def subgroup_mask(text: str, params: Mapping[str, np.ndarray]) -> np.ndarray:
    """Patients of a subgroup such as ``"T0 < median"`` (median over all patients); several
    conditions joined by ``and`` must all hold. A subgroup may name the
    :data:`DERIVED_COLUMNS` of ``params`` (``"tps >= 50"``: PD-L1 TPS ≥ 50 % of ``L``)."""
    mask: np.ndarray | None = None
    cols = params if isinstance(params, AssayColumns) else AssayColumns(params)
    for name, op, value in parse_subgroups(text):
        x = np.asarray(cols[name], float)
        v = float(np.nanmedian(x)) if value == "median" else float(value)
        with np.errstate(invalid="ignore"):
            m = {"<": x < v, "<=": x <= v, ">": x > v, ">=": x >= v, "==": x == v}[op]
        mask = m if mask is None else mask & m
    assert mask is not None
    return mask


def arm_subgroup_mask(
    text: str, params: Mapping[str, np.ndarray] | None, outcomes: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Patients of a subgroup that may name per-patient columns (``params``) and one arm's
    read-outs (``outcomes``, names of :data:`OUTCOME_COLUMNS`), e.g. ``"os_days > 84 and
    best_response == 3"``."""
    return subgroup_mask(text, _ArmColumns(params, dict(outcomes)))


class _ArmColumns(Mapping[str, np.ndarray]):
    """Per-patient columns plus one arm's read-outs (:data:`OUTCOME_COLUMNS`)."""

    def __init__(self, params: Mapping[str, np.ndarray] | None, outcomes: dict[str, np.ndarray]):
        self._params = AssayColumns(params)
        self._outcomes = outcomes

    def __getitem__(self, key: str) -> np.ndarray:
        if key in self._outcomes:
            return self._outcomes[key]
        return self._params[key]

    def __iter__(self):
        yield from self._outcomes
        yield from self._params

    def __len__(self) -> int:
        return len(self._outcomes) + len(self._params)


def evaluate_targets(
    targets: Sequence[TargetLike],
    arms: Sequence[str],
    best_response: np.ndarray,
    pfs_days: np.ndarray,
    pfs_event: np.ndarray,
    params: Mapping[str, np.ndarray] | None = None,
    *,
    os_days: np.ndarray | None = None,
    os_event: np.ndarray | None = None,
    ttr_days: np.ndarray | None = None,
    pseudo_progression: np.ndarray | None = None,
    diameters: np.ndarray | None = None,
    scan_days: np.ndarray | None = None,
    at_cutoff: Mapping[float, Mapping[str, np.ndarray]] | None = None,
) -> list[dict[str, object]]:
    """Rows of the report's "Calibration and validation" table for a sweep's ``[[targets]]``.

    Args:
        targets: :class:`~tumorimmune.sweeps.TargetSpec` entries (arm, name, kind, value, ...).
        arms: arm names in the order of the first axis of the arrays.
        best_response: ``(arm, patient)`` best overall response codes of the results store.
        pfs_days: ``(arm, patient)`` progression-free survival times (days).
        pfs_event: ``(arm, patient)`` bool, progression observed.
        params: per-patient columns ``{name: (patient,)}`` for targets with a ``subgroup``.
        os_days: ``(arm, patient)`` overall survival times (days), for targets of the kinds
            ``os_at`` / ``median_os``.
        os_event: ``(arm, patient)`` bool, death observed.
        ttr_days: ``(arm, patient)`` time to response (days), for ``median_ttr`` targets.
        pseudo_progression: ``(arm, patient)`` int8 codes, for ``pseudo_progression`` targets.
        diameters: ``(arm, patient, scan)`` the model's sums of diameters (mm), and
            ``scan_days`` ``(scan,)``: for targets with a ``cutoff_day`` (read as a report at
            that data cut-off, :func:`~tumorimmune.response.cutoff_readout`).
        at_cutoff: the read-outs at a cut-off day computed already, ``{cutoff_day: {name:
            (arm, patient)}}``: :func:`~tumorimmune.response.cutoff_readout` of every arm's
            ``diameters`` with these ``os_days``/``os_event`` (it works patient by patient, so
            a caller may compute it a store chunk at a time); a target's ``cutoff_day``
            found here is read from it instead of from ``diameters`` (the same values).

    A ``subgroup`` may name per-patient columns and the arm's read-outs
    (:data:`OUTCOME_COLUMNS`), e.g. ``"os_days > 84 and best_response == 3"``.

    Returns:
        One dict per target (see :func:`evaluate_endpoints`) plus ``arm`` and ``fitted``.
    """
    rows: list[dict[str, object]] = []
    for t in targets:
        e = Endpoint(
            name=str(t.name),
            kind=t.kind,
            value=float(t.value),
            n=t.n,
            day=t.day,
            lo=t.lo,
            hi=t.hi,
            source=str(t.source),
        )
        i = list(arms).index(str(t.arm))
        arm_read: dict[str, np.ndarray] = {
            "bor": best_response[i],
            "pfs_days": pfs_days[i],
            "pfs_event": pfs_event[i],
        }
        extra = {
            "os_days": os_days,
            "os_event": os_event,
            "ttr_days": ttr_days,
            "pseudo_progression": pseudo_progression,
        }
        for key, arr in extra.items():
            if arr is not None:
                arm_read[key] = np.asarray(arr)[i]
        cutoff = getattr(t, "cutoff_day", None)
        pre = None if cutoff is None or at_cutoff is None else at_cutoff.get(float(cutoff))
        if pre is not None:
            arm_read.update({k: np.asarray(v)[i] for k, v in pre.items()})
        elif cutoff is not None:
            if diameters is None or scan_days is None:
                raise ValueError(f"target {t.name!r} has a cutoff_day but no diameters were given")
            arm_read.update(
                cutoff_readout(
                    np.asarray(diameters)[i],
                    np.asarray(scan_days),
                    float(cutoff),
                    os_days=arm_read.get("os_days"),
                    os_event=arm_read.get("os_event"),
                )
            )
        sel = np.ones(best_response.shape[-1], bool)
        sub = getattr(t, "subgroup", None)
        if sub is not None:
            outcomes = {"best_response": arm_read["bor"], "pfs_days": arm_read["pfs_days"]}
            for k in ("os_days", "ttr_days"):
                if k in arm_read:
                    outcomes[k] = arm_read[k]
            sel = arm_subgroup_mask(sub, params, outcomes)
        r = {"bor": arm_read["bor"][sel], "pfs_days": arm_read["pfs_days"][sel]}
        r["pfs_event"] = arm_read["pfs_event"][sel]
        for key in NEEDS.get(t.kind, ()):
            if key in arm_read:
                r[key] = arm_read[key][sel]
        (row,) = evaluate_endpoints(r, [e])
        row.update(arm=str(t.arm), fitted=bool(t.fitted), subgroup=sub)
        rows.append(row)
    return rows

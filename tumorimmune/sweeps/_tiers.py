"""Output tiers of a results store (``[store] keep``): which variables a finished store holds.

Each tier keeps everything of the tiers before it:

* ``"summary"``: per-arm summaries (dims ``(arm,)``) and per-grid-cell summaries
  (``(arm, axis_...)``), the coordinates ``arm``, ``scan``, ``scan_day``, ``axis_*``;
* ``"readout"``: plus every per-patient variable: ``(patient,)`` (``patient``, ``param_*``,
  ``cell``) and ``(arm, patient)`` (best % change and response, PFS/OS times and events,
  status, time to / duration of response, ...);
* ``"scans"``: plus the per-scan variables ``(arm, patient, scan)`` (``tumor_cells``,
  ``diameter_mm``, ``pct_change``);
* ``"trajectories"``: plus the dense trajectories ``traj_*`` (``traj_patient``, ``time``):
  every variable (the store of a spec without ``[store]`` and a small cohort).

A light module (no JAX, no Zarr): the store, the runner and the report read it.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The tiers, smallest first.
KEEP_TIERS: tuple[str, ...] = ("summary", "readout", "scans", "trajectories")

#: Largest cohort (patients × arms) whose default tier is ``"trajectories"``: a store of at
#: most about 0.2 GB (measured: 210 B per patient × arm in the scans tier, 9 scans, float64,
#: Zarr's default compression; docs/scaling.md, "What a store keeps"). The stored
#: trajectories cost the same at any size (``n_trajectories`` patients), so the default never
#: picks ``"scans"``: where the scans are affordable, so are the trajectories.
DEFAULT_TRAJECTORIES_MAX = 1_000_000
#: Largest cohort (patients × arms) whose default tier is ``"readout"``: at most about 3 GB
#: (31 B per patient × arm); larger cohorts keep the summaries only.
DEFAULT_READOUT_MAX = 100_000_000


def tier_rank(keep: str) -> int:
    """Position of ``keep`` in :data:`KEEP_TIERS` (0: ``"summary"``).

    Raises:
        ValueError: not a tier.
    """
    try:
        return KEEP_TIERS.index(keep)
    except ValueError:
        raise ValueError(f"keep: {keep!r} is not a tier; one of {list(KEEP_TIERS)}") from None


def variable_tier(name: str, dims: Sequence[str]) -> str:
    """The smallest tier that keeps the store variable ``name`` of dimensions ``dims``."""
    dims = tuple(dims)
    if name.startswith("traj_") or "traj_patient" in dims or "time" in dims:
        return "trajectories"
    if "patient" in dims and "scan" in dims:
        return "scans"
    if "patient" in dims:
        return "readout"
    return "summary"


#: The tier of each variable of the results schema (CONTRIBUTING.md) that a tier may drop,
#: by name (the report names what a store lacks without its dimensions).
_SCANS = ("tumor_cells", "diameter_mm", "pct_change")


def tier_of_name(name: str) -> str:
    """:func:`variable_tier` from the name alone, for the variables of the results schema:
    ``traj_*``/``time`` trajectories, ``tumor_cells``/``diameter_mm``/``pct_change`` scans,
    a per-arm or per-cell summary (``n``, ``orr``, ``median_*``, ``cell_*``, ...) summary,
    every other name (per-patient read-out) readout."""
    if name.startswith("traj_") or name == "time":
        return "trajectories"
    if name in _SCANS:
        return "scans"
    return "readout"


def sensitivity_keep(outputs: Sequence[str] | None) -> str:
    """The smallest tier a ``[sensitivity]`` spec needs (its indices are computed from the
    stored outputs): ``"scans"`` with the output ``final_tumor`` (the last scan's tumor
    cells), else ``"readout"``; ``"summary"`` without ``[sensitivity]`` (``None``)."""
    if outputs is None:
        return "summary"
    return "scans" if "final_tumor" in outputs else "readout"


def default_keep(n_patients: int, n_arms: int, *, minimum: str = "summary") -> str:
    """The tier of a spec without ``[store] keep``: ``"trajectories"`` up to
    :data:`DEFAULT_TRAJECTORIES_MAX` patients × arms, ``"readout"`` up to
    :data:`DEFAULT_READOUT_MAX`, else ``"summary"``; at least ``minimum``
    (:func:`sensitivity_keep`)."""
    size = n_patients * n_arms
    if size <= DEFAULT_TRAJECTORIES_MAX:
        keep = "trajectories"
    elif size <= DEFAULT_READOUT_MAX:
        keep = "readout"
    else:
        keep = "summary"
    return max(keep, minimum, key=tier_rank)


def keep_notice(keep: str, n_patients: int, n_arms: int) -> str | None:
    """The one-line notice of a default tier below ``"trajectories"`` (``None`` otherwise)."""
    if keep == "trajectories":
        return None
    dropped = ", ".join(KEEP_TIERS[tier_rank(keep) + 1 :])
    return (
        f'store: keep = "{keep}" (the default for {n_patients:,} patients × {n_arms} arms); '
        f"not kept: {dropped} — set [store] keep to choose"
    )

"""Zarr store of a sweep, written chunk by chunk and resumable after any interruption.

Layout follows the results schema of CONTRIBUTING.md. Per-patient arrays are chunked along
``patient`` exactly like the engine's chunks, so each engine chunk writes whole Zarr chunks
(atomically: zarr's local store writes through a temporary file and a rename). A chunk counts as
finished once its flag in the internal array ``chunk_done`` is set, which happens after all its
data are written; a rerun recomputes exactly the unfinished chunks. The group attribute
``tumorimmune_status`` moves from ``"creating"`` to ``"running"`` to ``"complete"``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from ._spec import SweepSpec

STATUS_KEY = "tumorimmune_status"
_INTERNAL = ("chunk_done", "chunk_seconds")

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
}

_DESCRIPTIONS = {
    "tumor_cells": ("cells", "tumor cells at each scan (0 once extinct)"),
    "diameter_mm": (
        "mm",
        "sum of longest diameters (SLD) of the target lesions at each scan (attrs n_lesions, "
        "detection_limit_mm, cells_per_cm3; param_n_lesions when it varies)",
    ),
    "pct_change": ("%", "SLD change from baseline"),
    "best_pct_change": ("%", "best (most negative) post-baseline change from baseline"),
    "best_response": ("1", "RECIST 1.1 best overall response: 0=CR 1=PR 2=SD 3=PD -1=failed"),
    "pfs_days": ("days", "progression-free survival time (first PD scan, or censoring day)"),
    "pfs_event": ("1", "True: progression observed; False: censored"),
    "outcome": ("1", "final outcome: 0=extinct 1=controlled 2=escaped -1=failed"),
    "status": ("1", "solver status: 0 = success, else a diffrax.RESULTS code"),
    "num_steps": ("1", "solver steps (accepted + rejected)"),
    "cell": ("1", "flat index of the patient's grid cell (C order over the axes)"),
}


def spec_key(spec: SweepSpec) -> str:
    """Canonical text a store is matched on for resuming (the spec without ``output``)."""
    return spec.model_copy(update={"output": ""}).to_toml()


def _is_store(path: Path) -> bool:
    return (path / "zarr.json").is_file()


class SweepStore:
    """A results store on disk. Create or reopen it with :meth:`open`."""

    def __init__(self, path: Path, group: zarr.Group, spec: SweepSpec, n_chunks: int):
        self.path = path
        self.group = group
        self.spec = spec
        self.n_chunks = n_chunks

    # ----------------------------------------------------------------------- opening
    @classmethod
    def open(
        cls,
        spec: SweepSpec,
        path: str | Path,
        *,
        overwrite: bool = False,
        attrs: dict | None = None,
    ) -> SweepStore:
        """Create a new store, or reopen an unfinished one made from the same spec.

        Raises:
            FileExistsError: the store is finished (pass ``overwrite=True`` to replace it), or
                ``path`` exists and is not a sweep store.
            ValueError: an unfinished store at ``path`` was made from a different spec.
        """
        path = Path(path)
        n_chunks = -(-spec.n_patients // spec.chunk_size)
        if path.exists():
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
                shutil.rmtree(path)
            elif overwrite or status == "creating" or empty_dir:
                shutil.rmtree(path)
            elif status == "complete":
                raise FileExistsError(
                    f"{path} holds a finished sweep; pass overwrite=True (--overwrite) to replace "
                    "it, or choose another output path"
                )
            else:
                group = zarr.open_group(str(path), mode="r+")
                if group.attrs.get("spec_key") != spec_key(spec):
                    raise ValueError(
                        f"{path} holds an unfinished sweep of a different spec; rerun with the "
                        "same spec to resume, or pass overwrite=True (--overwrite) to start over"
                    )
                return cls(path, group, spec, n_chunks)
        return cls._create(spec, path, n_chunks, attrs or {})

    @classmethod
    def _create(cls, spec: SweepSpec, path: Path, n_chunks: int, attrs: dict) -> SweepStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        group = zarr.open_group(str(path), mode="w", attributes={STATUS_KEY: "creating"})
        n, c = spec.n_patients, spec.chunk_size
        n_arm = len(spec.arms)
        scans = spec.scan_schedule()
        fdt = np.float32 if spec.precision == "float32" else np.float64

        def arr(name: str, shape, chunks, dtype, fill, dims) -> Any:
            a = group.create_array(
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
        arm[:] = np.array([a.name for a in spec.arms])
        arr("patient", (n,), (c,), np.int64, 0, ("patient",))[:] = np.arange(n)
        arr("scan", (len(scans),), (len(scans),), np.int64, 0, ("scan",))[:] = np.arange(len(scans))
        sd = arr("scan_day", (len(scans),), (len(scans),), np.float64, 0.0, ("scan",))
        sd[:] = scans
        sd.attrs["units"] = "days"
        for k, v in spec.axis_values().items():
            arr(f"axis_{k}", v.shape, v.shape, np.float64, 0.0, (f"axis_{k}",))[:] = v
        for k in spec.varying():
            arr(f"param_{k}", (n,), (c,), np.float64, np.nan, ("patient",))
        arr("cell", (n,), (c,), np.int64, -1, ("patient",))
        for k in _ARM_PATIENT_SCAN:
            arr(
                k,
                (n_arm, n, len(scans)),
                (n_arm, c, len(scans)),
                fdt,
                np.nan,
                ("arm", "patient", "scan"),
            )
        for k, (dt, fill) in _ARM_PATIENT.items():
            dtype = fdt if dt == "float" else np.dtype(dt)
            arr(k, (n_arm, n), (n_arm, c), dtype, fill, ("arm", "patient"))
        arr("chunk_done", (n_chunks,), (1,), np.int8, 0, ("chunk",))
        arr("chunk_seconds", (n_chunks,), (1,), np.float64, np.nan, ("chunk",))
        group.attrs.update(
            {
                "spec": spec.to_toml(),
                "spec_key": spec_key(spec),
                "model": spec.model_class().__name__,
                "precision": spec.precision,
                "chunk_size": spec.chunk_size,
                "n_chunks": n_chunks,
                "response_codes": json.dumps({"NE": -1, "CR": 0, "PR": 1, "SD": 2, "PD": 3}),
                "outcome_codes": json.dumps(
                    {"failed": -1, "extinct": 0, "controlled": 1, "escaped": 2}
                ),
                "cells_per_cm3": spec.response.cells_per_cm3,
                "n_lesions": spec.response.n_lesions,
                "detection_limit_mm": spec.response.detection_limit_mm,
                **attrs,
            }
        )
        group.attrs[STATUS_KEY] = "running"
        return cls(path, group, spec, n_chunks)

    # ----------------------------------------------------------------------- writing
    def chunk_range(self, i: int) -> tuple[int, int]:
        c = self.spec.chunk_size
        return i * c, min((i + 1) * c, self.spec.n_patients)

    def done(self) -> np.ndarray:
        """Boolean flag per chunk: finished."""
        return np.asarray(self.group["chunk_done"][:]).astype(bool)  # type: ignore[index]

    def write_chunk(self, i: int, block: dict[str, np.ndarray], seconds: float) -> None:
        """Write a finished chunk, then flag it as done (the flag is the commit)."""
        start, stop = self.chunk_range(i)
        g = self.group
        for k, v in block.items():
            a: Any = g[k]
            if a.ndim == 1:
                a[start:stop] = v
            elif a.ndim == 2:
                a[:, start:stop] = v
            else:
                a[:, start:stop, :] = v
        g["chunk_seconds"][i] = seconds  # type: ignore[index]
        g["chunk_done"][i] = 1  # type: ignore[index]

    def read(self, name: str) -> np.ndarray:
        return np.asarray(self.group[name][...])  # type: ignore[index]

    def write_extra(
        self, name: str, data: np.ndarray, dims: tuple[str, ...], attrs: dict | None = None
    ) -> None:
        """Write (or replace) a whole, small array: summaries, trajectories, coordinates."""
        data = np.asarray(data)
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
        """Set the final attributes and mark the store complete."""
        self.group.attrs.update(attrs)
        self.group.attrs[STATUS_KEY] = "complete"

    @property
    def complete(self) -> bool:
        return self.group.attrs.get(STATUS_KEY) == "complete"


def load(path: str | Path, *, lazy: bool = False, allow_partial: bool = False) -> xr.Dataset:
    """Open a sweep's ``results.zarr`` as an :class:`xarray.Dataset` (schema: CONTRIBUTING.md).

    Args:
        path: the store directory.
        lazy: keep the arrays on disk (loaded on access) instead of reading them all now.
        allow_partial: open an unfinished store (unfinished chunks hold fill values).

    Raises:
        FileNotFoundError: no store at ``path``. ValueError: unfinished store.
    """
    path = Path(path)
    if not _is_store(path):
        raise FileNotFoundError(f"no sweep store at {path}")
    status = zarr.open_group(str(path), mode="r").attrs.get(STATUS_KEY)
    if status != "complete" and not allow_partial:
        raise ValueError(
            f"{path} is an unfinished sweep (status {status!r}); rerun the same command to "
            "resume, or pass allow_partial=True"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_dataset(path, engine="zarr", consolidated=False, chunks=None)
    ds = ds.drop_vars([k for k in _INTERNAL if k in ds])
    ds = ds.set_coords([k for k in ("scan_day",) if k in ds])
    if "arm" in ds.coords:
        ds = ds.assign_coords(arm=np.array([str(a) for a in ds["arm"].values]))
    if "pfs_event" in ds:
        ds["pfs_event"] = ds["pfs_event"].astype(bool)
    return ds if lazy else ds.load()

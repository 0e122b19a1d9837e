"""Sensitivity analysis of a sweep spec: model evaluations through the sweep engine and store,
indices with bootstrap confidence intervals written into the same store.

The design points are the sweep's "patients" (the row source of the run's
:class:`~tumorimmune.sweeps.SweepPlan` is the design, :func:`tumorimmune.sweeps.design_rows`),
so the evaluations are chunked,
resumable after any interruption and stored with the usual per-patient schema. Once every chunk
is done, the indices are computed from the stored outputs and written as ``sens_*`` variables:

* dims ``sens_param`` (parameter names), ``sens_output`` (output names), ``sens_n``
  (convergence sample sizes) and ``sens_param2`` (second order);
* sobol: ``sens_S1``, ``sens_ST`` (arm, sens_output, sens_param) each with ``_lo``/``_hi``,
  optionally ``sens_S2`` (arm, sens_output, sens_param, sens_param2) with ``_lo``/``_hi``;
  morris: ``sens_mu_star`` (+ ``_lo``/``_hi``), ``sens_mu``, ``sens_sigma``; prcc: ``sens_prcc``
  (+ ``_lo``/``_hi``); convergence: ``sens_<index>_conv``, ``sens_<index>_lo_conv``,
  ``sens_<index>_hi_conv`` over (arm, sens_output, sens_n, sens_param); ``sens_n_used``
  (arm, sens_output);
* attributes ``sens_method``, ``sens_confidence``, ``sens_n_bootstrap``, ``sens_base_n``,
  ``sens_landmark_days``, ``sens_complete``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
from jaxtyping import Float

from ..sweeps import (
    STATUS_KEY,
    ProgressCallback,
    SweepPlan,
    SweepSpec,
    SweepStore,
    load,
    load_spec,
    patient_columns,
    run_sweep,
    same_spec_key,
    sensitivity_design,
    validate_spec,
)
from ..sweeps import sensitivity_block_size as block_size
from ._analyze import analyze, convergence, convergence_sizes

_OUTPUT_UNITS = {
    "best_pct_change": ("%", "best post-baseline diameter change"),
    "response": ("1", "objective response (CR or PR) = 1, else 0"),
    "pfs_landmark": ("1", "progression-free at the landmark day = 1, else 0"),
    "final_tumor": ("log10 cells", "log10(1 + tumor cells) at the last scan"),
}


def outputs(
    ds: xr.Dataset, names: Sequence[str], *, landmark_days: float = 180.0
) -> dict[str, np.ndarray]:
    """Per arm × patient outputs of a results dataset (NaN where the solve failed).

    Args:
        ds: results dataset (schema: CONTRIBUTING.md).
        names: among ``best_pct_change``, ``response`` (CR/PR → 1), ``pfs_landmark``
            (progression-free at ``landmark_days`` → 1), ``final_tumor`` (log10(1 + cells)
            at the last scan).
        landmark_days: PFS landmark, days.

    Returns:
        ``{name: float64 array (arm, patient)}``.
    """
    br = np.asarray(ds["best_response"].values)
    failed = br < 0
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "best_pct_change":
            v = np.asarray(ds["best_pct_change"].values, dtype=float)
        elif name == "response":
            v = (br <= 1).astype(float)
        elif name == "pfs_landmark":
            days = np.asarray(ds["pfs_days"].values, dtype=float)
            event = np.asarray(ds["pfs_event"].values, dtype=bool)
            v = (~(event & (days <= landmark_days))).astype(float)
        elif name == "final_tumor":
            v = np.log10(1.0 + np.asarray(ds["tumor_cells"].values[..., -1], dtype=float))
        else:
            raise ValueError(f"outputs: unknown output {name!r}; allowed: {list(_OUTPUT_UNITS)}")
        out[name] = np.where(failed, np.nan, v)
    return out


def compute_indices(ds: xr.Dataset, spec: SweepSpec) -> xr.Dataset:
    """The ``sens_*`` variables (module docstring) of a finished sensitivity run's results."""
    sens = spec.sensitivity
    if sens is None:
        raise ValueError("the spec has no [sensitivity] section")
    ys = outputs(ds, sens.outputs, landmark_days=sens.landmark(spec.follow_up_days))
    idx = indices_from_outputs(
        sens.method,
        np.asarray(sensitivity_design(spec)),
        ys,
        arms=[str(a) for a in ds["arm"].values],
        names=sens.names(patient_columns(spec)),
        second_order=sens.second_order,
        confidence=sens.confidence,
        n_bootstrap=sens.n_bootstrap,
        seed=sens.seed,
        num_levels=sens.num_levels,
    )
    idx.attrs["sens_landmark_days"] = sens.landmark(spec.follow_up_days)
    return idx


def indices_from_outputs(
    method: str,
    X: Float[np.ndarray, "n_eval d"],
    ys: Mapping[str, Float[np.ndarray, "arm n_eval"]],
    *,
    arms: Sequence[str],
    names: Sequence[str],
    second_order: bool = False,
    confidence: float = 0.95,
    n_bootstrap: int = 200,
    seed: int = 0,
    num_levels: int = 4,
) -> xr.Dataset:
    """Indices and their convergence for several outputs and arms of one design.

    Args:
        method: ``"sobol"``, ``"morris"`` or ``"prcc"``, as
            :func:`~tumorimmune.sensitivity.analyze`.
        X: design points in the unit hypercube, ``(n_eval, d)``; the base sample size is read
            off ``X``.
        ys: ``{output name: values (arm, n_eval)}``.
        arms: arm names.
        names: parameter names.
        second_order: sobol: ``X`` holds the second-order rows; compute ``S2``.
        confidence: level of the bootstrap confidence intervals.
        n_bootstrap: bootstrap resamples.
        seed: seed of the bootstrap.
        num_levels: morris grid levels used for ``X``.

    Returns:
        The ``sens_*`` variables of the results schema (module docstring), which
        :func:`indices` turns back into plain names.
    """
    X = np.asarray(X, dtype=float)
    block = block_size(method, X.shape[1], second_order=second_order)
    base_n = X.shape[0] // block
    sizes = convergence_sizes(method, base_n)
    kw: dict[str, Any] = {
        "names": list(names),
        "second_order": second_order,
        "confidence": confidence,
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "num_levels": num_levels,
    }
    per_arm = []
    for a in range(len(arms)):
        per_out = []
        for y_all in ys.values():
            y = np.asarray(y_all, dtype=float)[a]
            res = analyze(method, X, y, **kw)
            conv = convergence(method, X, y, sizes, **kw)
            conv = conv.rename({k: f"{k}_conv" for k in conv.data_vars})
            both = xr.merge([res, conv], compat="override", combine_attrs="drop")
            both["n_used"] = res.attrs["n_used"]
            per_out.append(both)
        per_arm.append(xr.concat(per_out, dim="output").assign_coords(output=list(ys)))
    idx = xr.concat(per_arm, dim="arm").assign_coords(arm=list(arms))
    idx = idx.rename(
        {
            **{k: f"sens_{k}" for k in idx.data_vars},
            "param": "sens_param",
            "output": "sens_output",
            "n": "sens_n",
            **({"param2": "sens_param2"} if "param2" in idx.dims else {}),
        }
    )
    idx.attrs = {
        "sens_method": method,
        "sens_confidence": confidence,
        "sens_n_bootstrap": n_bootstrap,
        "sens_base_n": base_n,
    }
    return idx


def _write(path: Path, spec: SweepSpec, idx: xr.Dataset) -> None:
    group = zarr.open_group(str(path), mode="r+")
    store = SweepStore(path, group, SweepPlan.from_spec(spec))
    for name in ("sens_param", "sens_output", "sens_param2"):
        if name in idx.coords:
            values = np.array([str(v) for v in idx[name].values])
            a = group.create_array(
                name,
                shape=values.shape,
                chunks=values.shape,
                dtype=str,
                fill_value="",
                dimension_names=(name,),
                overwrite=True,
            )
            a[:] = values
    store.write_extra("sens_n", np.asarray(idx["sens_n"].values, np.int64), ("sens_n",))
    for k, v in idx.data_vars.items():
        base = str(k).removeprefix("sens_").removesuffix("_conv")
        attrs = {"description": f"sensitivity index {base}"}
        store.write_extra(str(k), np.asarray(v.values), tuple(str(d) for d in v.dims), attrs)
    group.attrs.update({**idx.attrs, "sens_complete": True})


def run_sensitivity(
    spec: SweepSpec | str | Path,
    *,
    output: str | Path | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    devices: Sequence[Any] | None = None,
    max_chunks: int | None = None,
) -> xr.Dataset | None:
    """Run (or resume) the model evaluations of a ``[sensitivity]`` spec, then its indices.

    Arguments as :func:`tumorimmune.sweeps.run_sweep`. A run that was interrupted after its
    last chunk but before the indices were written is completed by calling this again.

    Returns:
        The results dataset (per-design-point outputs, the ``sens_*`` indices), or ``None``
        when ``max_chunks`` stopped the run early.

    Raises:
        ValueError: the spec has no ``[sensitivity]`` section, or an unfinished store of a
            different spec is at ``output``.
        FileExistsError: a finished sensitivity store at ``output`` and ``overwrite=False``.
    """
    if isinstance(spec, str | Path):
        spec = load_spec(spec)
    spec = validate_spec(spec)
    if spec.sensitivity is None:
        raise ValueError("sensitivity: the spec has no [sensitivity] section")
    path = Path(output if output is not None else spec.output)
    pending = False  # evaluations finished, indices not yet written
    if not overwrite and (path / "zarr.json").is_file():
        attrs = zarr.open_group(str(path), mode="r").attrs
        pending = (
            attrs.get(STATUS_KEY) == "complete"
            and not attrs.get("sens_complete")
            and same_spec_key(attrs.get("spec_key"), spec)
        )
    if not pending:
        ds = run_sweep(
            spec,
            output=path,
            overwrite=overwrite,
            progress=progress,
            devices=devices,
            max_chunks=max_chunks,
        )
        if ds is None:
            return None
    else:
        ds = load(path)
    _write(path, spec, compute_indices(ds, spec))
    return load(path)


def indices(ds: xr.Dataset) -> xr.Dataset:
    """The sensitivity indices of a results dataset, without the ``sens_`` prefixes.

    Returns:
        Dataset over ``arm``, ``output``, ``param`` (``n`` for convergence, ``param2`` for
        second order) with the variables of :func:`analyze` (convergence ones suffixed
        ``_conv``), ``n_used``, and the method's attributes.

    Raises:
        ValueError: ``ds`` holds no sensitivity indices.
    """
    keys = [k for k in ds.data_vars if str(k).startswith("sens_")]
    if not keys:
        raise ValueError("the dataset holds no sensitivity indices (sens_* variables)")
    out = ds[keys]
    out = out.drop_vars([c for c in out.coords if c not in out.dims and c != "arm"])
    out = out.rename(
        {
            **{k: str(k).removeprefix("sens_") for k in keys},
            **{d: str(d).removeprefix("sens_") for d in out.dims if str(d).startswith("sens_")},
        }
    )
    for name in out.dims:  # plain str coordinates (zarr reads variable-width strings)
        if out[name].dtype.kind not in "iuf":
            out = out.assign_coords({name: np.array([str(v) for v in out[name].values])})
    out.attrs = {
        str(k).removeprefix("sens_"): v
        for k, v in ds.attrs.items()
        if str(k).startswith("sens_") and k != "sens_complete"
    }
    return out


def sensitivity(
    spec: SweepSpec | str | Path,
    *,
    output: str | Path | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    devices: Sequence[Any] | None = None,
) -> xr.Dataset:
    """Global sensitivity analysis of a spec with a ``[sensitivity]`` section.

    Runs (or resumes) :func:`run_sensitivity` into the store ``output`` (default the spec's)
    and returns :func:`indices` of it: e.g. for sobol ``S1``, ``ST`` (+ ``_lo``/``_hi``) over
    (arm, output, param) and their convergence ``S1_conv``, ``ST_conv`` over
    (arm, output, n, param).
    """
    ds = run_sensitivity(
        spec, output=output, overwrite=overwrite, progress=progress, devices=devices
    )
    assert ds is not None
    return indices(ds)

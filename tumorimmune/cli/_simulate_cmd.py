"""``tumorimmune simulate``: one patient, printed or written as NetCDF/CSV."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import Command, app
from ._guards import simulate_memory_error, user_model_error

#: Output formats of ``--out`` by file suffix.
OUT_SUFFIXES: tuple[str, ...] = (".csv", ".nc")


def _check_out(out: Path) -> None:
    if out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a directory; give a file name ending in .csv/.nc")
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise ValueError(
            f"--out {str(out)!r}: unsupported format {out.suffix or '(no suffix)'!r}; "
            f"use one of {list(OUT_SUFFIXES)}"
        )
    if not out.parent.is_dir():
        raise ValueError(f"--out {str(out)!r}: directory {str(out.parent)!r} does not exist")


@app.command(cls=Command)
def simulate(
    model: str = typer.Option(
        "TumorImmunePD1",
        metavar="NAME",
        help="A packaged model (TumorImmunePD1, Kuznetsov1994, DePillis2005, "
        "Nikolopoulou2018, ClaretTGI) or your own as 'module:Class' (importable from the "
        "current directory).",
    ),
    regimen: str | None = typer.Option(
        None,
        metavar="NAME",
        help="Regimen preset name, or 'none' for no treatment. Default: "
        "pembrolizumab_200mg_q3w for TumorImmunePD1, none for Kuznetsov1994 (no drug).",
        show_default=False,
    ),
    E0: float = typer.Option(
        3.2e5,
        "--E0",
        metavar="CELLS",
        help="Initial effector cells (converted to the model's effector unit).",
    ),
    T0: float = typer.Option(
        5e6, "--T0", metavar="CELLS", help="Initial tumor cells (in the model's tumor unit)."
    ),
    days: float = typer.Option(365.0, metavar="DAYS", help="Follow-up, days (included)."),
    param: list[str] = typer.Option(
        [], "--param", "-p", metavar="NAME=VALUE", help="Parameter override (repeatable)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", metavar="FILE", help="Write .csv or .nc here."
    ),
) -> None:
    """Simulate one patient and print (or write) the trajectory at weekly times."""
    import math

    import numpy as np

    from .._simulate import simulate as _simulate
    from ..model import AbstractDrugModel, get_drug, get_model, get_regimen

    try:
        if out is not None:
            _check_out(out)
        cls = get_model(model)
        overrides: dict[str, float] = {}
        for item in param:
            if "=" not in item:
                raise ValueError(f"--param expects NAME=VALUE; got {item!r}")
            k, v = item.split("=", 1)
            try:
                overrides[k.strip()] = float(v)
            except ValueError:
                raise ValueError(f"--param {k.strip()}: {v!r} is not a number") from None
        if not (math.isfinite(days) and days > 0):
            raise ValueError(f"--days must be a positive number of days; got {days!r}")
        too_big = simulate_memory_error(cls, days, 7.0)
        if too_big:
            raise ValueError(too_big)
        treatable = issubclass(cls, AbstractDrugModel)
        if regimen is None:
            regimen = "pembrolizumab_200mg_q3w" if treatable else "none"
        reg = None if regimen.lower() == "none" else get_regimen(regimen)
        if reg is not None and issubclass(cls, AbstractDrugModel):  # PK follows --param weight
            drug = get_drug(reg.drug or "pembrolizumab")
            m = cls.with_drug(drug, weight=overrides.pop("weight", None))
        else:
            m = cls()
        m = m.replace(**overrides)
        t = np.arange(0.0, days, 7.0)
        t = np.append(t, days) if days - t[-1] > 1e-9 else t
        # the model's own tumor and effector states (T0, E0 in cells, converted to the
        # model's units); its other states start at their defaults (Model.initial_state)
        y0: dict[str, float] = {}
        if cls.tumor_state is not None:
            y0[cls.tumor_state] = float(np.asarray(m.tumor_size(T0)))
        if cls.effector_state is not None:
            y0[cls.effector_state] = float(np.asarray(m.effector_size(E0)))
        try:
            ds = _simulate(m, y0, t, regimen=reg)
        except Exception as err:  # a user model that raises: one line, not JAX's traceback
            line = user_model_error(err, cls)
            if line is None:
                raise
            raise ValueError(line) from err
    except ValueError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    df = ds.drop_vars([v for v in ("status", "num_steps") if v in ds]).to_dataframe()
    if out is None:
        units = {k: ds[k].attrs.get("units") for k in df.columns}
        shown = df.rename(columns={k: f"{k} [{u}]" for k, u in units.items() if u})
        shown.index.name = "day"
        typer.echo(f"{ds.attrs['model']}, regimen: {ds.attrs['regimen']}")
        typer.echo(shown.to_string(float_format=lambda x: f"{x:.4g}"))
    else:
        try:
            if out.suffix.lower() == ".nc":
                ds.to_netcdf(out)
            else:
                df.to_csv(out)
        except OSError as err:
            typer.secho(f"error: cannot write {out}: {err.strerror or err}", fg="red", err=True)
            raise typer.Exit(1) from err
        typer.echo(f"wrote {out} ({len(df)} times, {', '.join(df.columns)})")
    n_failed = int(ds.attrs.get("n_failed", 0))
    if n_failed:
        typer.secho(
            f"error: the solve failed (status {int(np.max(ds['status'].values))}); values after "
            "the failure are NaN — try --param changes or a shorter --days",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)

"""``tumorimmune simulate``: one patient, printed or written as NetCDF/CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from ._app import app


@app.command()
def simulate(
    model: str = typer.Option("TumorImmunePD1", help="Kuznetsov1994 or TumorImmunePD1."),
    regimen: str = typer.Option(
        "pembrolizumab_200mg_q3w", help="Regimen preset name, or 'none' for no treatment."
    ),
    E0: float = typer.Option(3.2e5, "--E0", help="Initial effector cells."),
    T0: float = typer.Option(5e6, "--T0", help="Initial tumor cells."),
    days: float = typer.Option(365.0, help="Follow-up, days."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Parameter override NAME=VALUE (repeatable)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write .csv or .nc here."),
) -> None:
    """Simulate one patient and print (or write) the trajectory at weekly times."""
    from .. import simulate as _simulate
    from ..model import get_drug, get_model, get_regimen

    try:
        cls = get_model(model)
        overrides: dict[str, float] = {}
        for item in param:
            if "=" not in item:
                raise ValueError(f"--param expects NAME=VALUE; got {item!r}")
            k, v = item.split("=", 1)
            overrides[k.strip()] = float(v)
        reg = None if regimen.lower() == "none" else get_regimen(regimen)
        if reg is not None and hasattr(cls, "with_drug"):  # PK follows --param weight=...
            drug = get_drug(reg.drug or "pembrolizumab")
            m = cls.with_drug(drug, weight=overrides.pop("weight", None))  # type: ignore[attr-defined]
        else:
            m = cls()
        m = m.replace(**overrides)
        ds = _simulate(m, {"E": E0, "T": T0}, np.arange(0.0, days + 1e-9, 7.0), regimen=reg)
    except ValueError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    df = ds.drop_vars([v for v in ("status", "num_steps") if v in ds]).to_dataframe()
    if out is None:
        typer.echo(df.to_string())
    elif out.suffix == ".nc":
        ds.to_netcdf(out)
    else:
        df.to_csv(out)

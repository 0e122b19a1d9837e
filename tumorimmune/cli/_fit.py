"""``tumorimmune fit``: fit model parameters to a tumor-size table; estimates + HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{what} expects NAME=VALUE; got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


@app.command()
def fit(
    data: Path = typer.Argument(..., help="Tidy table (.csv/.parquet): patient, day, value, unit."),
    model: str = typer.Option("Kuznetsov1994", help="Kuznetsov1994 or TumorImmunePD1."),
    free: str = typer.Option(..., help="Comma-separated free parameters, e.g. 'a,n' (or T0, E0)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory."),
    shared: str = typer.Option("", help="Comma-separated free parameters shared by all patients."),
    bounds: list[str] = typer.Option(
        [], "--bounds", "-b", help="NAME=LO:HI in model units (repeatable); default value ÷/× 10."
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Fixed parameter override NAME=VALUE (repeatable)."
    ),
    unit: str | None = typer.Option(None, help="Unit of every row (cells, mm3, mm)."),
    doses: Path | None = typer.Option(None, help="Dosing table: patient, day, dose_mg."),
    regimen: str | None = typer.Option(None, help="Regimen preset from baseline (PD-1 model)."),
    noise: str = typer.Option("lognormal", help="lognormal or proportional."),
    sigma: float | None = typer.Option(None, help="Fixed noise SD (default: estimated)."),
    method: str = typer.Option("lbfgs", help="lbfgs or adam."),
    starts: int = typer.Option(4, help="Starts per problem."),
    seed: int = typer.Option(0, help="Seed of the random starts."),
    max_iter: int = typer.Option(200, help="Iteration limit."),
    E0: float = typer.Option(3.2e5, "--E0", help="Baseline effector cells (if not free)."),
    cells_per_cm3: float = typer.Option(1e9, help="Cell density for volume conversion."),
    n_lesions: int = typer.Option(
        3, help="Equal target lesions summed in a diameter ('mm') value (assumption)."
    ),
) -> None:
    """Fit free parameters per patient (or jointly with --shared); write estimates and a report.

    Writes OUT/estimates.csv (one row per patient × parameter, 95 % Laplace intervals),
    OUT/fit.zarr (the full xarray Dataset) and OUT/report.html (data vs fitted curves).
    """
    from ..calibrate import fit_patients, load_measurements
    from ..calibrate._figure import write_fit_report
    from ..model import get_drug, get_model, get_regimen

    try:
        cls = get_model(model)
        reg = get_regimen(regimen) if regimen else None
        if reg is not None and hasattr(cls, "with_drug"):
            m = cls.with_drug(get_drug(reg.drug or "pembrolizumab"))  # type: ignore[attr-defined]
        else:
            m = cls()
        m = m.replace(**{k: float(v) for k, v in _pairs(param, "--param").items()})
        bnds: dict[str, tuple[float, float]] = {}
        for k, v in _pairs(bounds, "--bounds").items():
            if ":" not in v:
                raise ValueError(f"--bounds expects NAME=LO:HI; got {k}={v!r}")
            lo, hi = v.split(":", 1)
            bnds[k] = (float(lo), float(hi))
        tab = load_measurements(
            data, unit=unit, doses=doses, cells_per_cm3=cells_per_cm3, n_lesions=n_lesions
        )
        res = fit_patients(
            tab,
            m,
            _names(free),
            bounds=bnds,
            shared=_names(shared),
            noise=noise,  # type: ignore[arg-type]
            sigma=sigma,
            E0=E0,
            regimen=reg,
            method=method,  # type: ignore[arg-type]
            n_starts=starts,
            seed=seed,
            max_iter=max_iter,
        )
    except ValueError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    out.mkdir(parents=True, exist_ok=True)
    res.table().to_csv(out / "estimates.csv", index=False)
    res.dataset.to_zarr(out / "fit.zarr", mode="w")
    write_fit_report(res, out / "report.html")
    ds = res.dataset
    typer.echo(
        f"fitted {ds.sizes['patient']} patient(s) ({ds.attrs['mode']}): "
        f"{int(ds['converged'].sum())} converged, AIC {ds.attrs['aic']:.2f}, "
        f"{ds.attrs['wall_time_s']:.1f} s; wrote {out}/estimates.csv, fit.zarr, report.html"
    )

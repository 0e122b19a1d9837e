"""``tumorimmune fit``: fit model parameters to a tumor-size table; estimates + HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import Command, app

#: Most patients listed in the terminal (all are in OUT/estimates.csv).
MAX_ROWS = 20
#: Seconds between two progress lines during a fit.
PROGRESS_EVERY_S = 10.0
#: Default wall-clock limit of the optimisation (seconds).
DEFAULT_TIME_LIMIT_S = 600.0


def _preset(name: str, model, top_cells: float) -> str:
    """The parameter set of ``--preset``. ``auto``: the model's published values unless the
    data lie above their carrying capacity (human-sized tumors on a mouse parameterization),
    then the clinical ones (if the model has clinical fields)."""
    if name not in ("auto", "clinical", "published"):
        raise ValueError(f"--preset must be auto, clinical or published; got {name!r}")
    if name != "auto":
        return name
    import numpy as np

    cap = float(np.min(np.asarray(model.carrying_capacity(), dtype=float)))
    has_clinical = bool(_clinical(model)[1])
    return "clinical" if top_cells > cap and has_clinical else "published"


def _clinical(model):
    """``model`` with the clinical melanoma parameterization (docs/science.md §6) where it has
    the fields: the population values and the geometric centres of the patient ranges."""
    import math

    from ..calibrate import CLINICAL_FIXED, CLINICAL_RANGES

    names = set(model.parameter_names())
    values = {k: v for k, v in CLINICAL_FIXED.items() if k in names}
    for k, (lo, hi, _) in CLINICAL_RANGES.items():
        if k in names and k != "f_R":  # no escape variants unless asked (--param f_R=...)
            values[k] = math.sqrt(lo * hi)
    return model.replace(**values), values


class _Ticker:
    """Progress lines from inside the fit's loop (on stderr, at most every few seconds)."""

    def __init__(self, max_iter: int, every_s: float = PROGRESS_EVERY_S) -> None:
        import time

        self.max_iter, self.every_s = max_iter, every_s
        self.start = self.last = time.monotonic()
        self.best = float("inf")
        self.iteration = 0

    def __call__(self, iteration: int, value: float) -> None:
        import time

        self.iteration = max(self.iteration, iteration)
        self.best = min(self.best, value)
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            typer.echo(
                f"  iteration {self.iteration} of at most {self.max_iter}, best −log L "
                f"{self.best:.4g}, {now - self.start:.0f} s",
                err=True,
            )


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


@app.command(cls=Command)
def fit(
    data: Path = typer.Argument(
        ..., metavar="TABLE", help="Tidy table (.csv/.parquet): patient, day, value, unit."
    ),
    model: str = typer.Option(
        "Kuznetsov1994",
        metavar="NAME",
        help="Kuznetsov1994, TumorImmunePD1, ClaretTGI (or another packaged model).",
    ),
    preset: str = typer.Option(
        "auto",
        metavar="NAME",
        help="Fixed parameters: clinical (human melanoma, docs/science.md §6), published "
        "(the model's own, e.g. Kuznetsov's mouse values) or auto (published, unless the data "
        "lie above their carrying capacity: then clinical).",
    ),
    free: str = typer.Option(
        ..., metavar="NAMES", help="Comma-separated free parameters, e.g. 'a,n' (or T0, E0)."
    ),
    out: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Output directory."),
    shared: str = typer.Option(
        "", metavar="NAMES", help="Comma-separated free parameters shared by all patients."
    ),
    bounds: list[str] = typer.Option(
        [],
        "--bounds",
        "-b",
        metavar="NAME=LO:HI",
        help="Bounds in model units (repeatable); default value ÷/× 10.",
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", metavar="NAME=VALUE", help="Fixed parameter override (repeatable)."
    ),
    unit: str | None = typer.Option(
        None, metavar="UNIT", help="Unit of every row (cells, mm3, mm)."
    ),
    doses: Path | None = typer.Option(
        None, metavar="TABLE", help="Dosing table: patient, day, dose_mg."
    ),
    regimen: str | None = typer.Option(
        None, metavar="NAME", help="Regimen preset from baseline (PD-1 model)."
    ),
    noise: str = typer.Option("lognormal", metavar="MODEL", help="lognormal or proportional."),
    sigma: float | None = typer.Option(
        None, metavar="SD", help="Fixed noise SD (default: estimated)."
    ),
    method: str = typer.Option("lbfgs", metavar="NAME", help="lbfgs or adam."),
    starts: int = typer.Option(4, metavar="N", help="Starts per problem."),
    seed: int = typer.Option(0, metavar="INT", help="Seed of the random starts."),
    max_iter: int = typer.Option(200, metavar="N", help="Iteration limit."),
    time_limit: float = typer.Option(
        DEFAULT_TIME_LIMIT_S,
        metavar="SECONDS",
        help="Wall-clock limit of the optimisation (compilation not counted); stopped fits "
        "are flagged 'not converged (time limit)'.",
    ),
    E0: float | None = typer.Option(
        None,
        "--E0",
        metavar="CELLS",
        help="Baseline effector cells (if not free); default 3.2e5 (published) or s/d, the "
        "tumor-free level (clinical).",
    ),
    cells_per_cm3: float = typer.Option(
        1e9, metavar="CELLS", help="Cell density for volume conversion."
    ),
    n_lesions: int = typer.Option(
        3,
        metavar="N",
        help="Equal target lesions summed in a diameter ('mm') value (assumption).",
    ),
) -> None:
    """Fit free parameters per patient (or jointly with --shared); write estimates and a report.

    Writes OUT/estimates.csv (one row per patient × parameter, 95 % Laplace intervals),
    OUT/fit.zarr (the full xarray Dataset) and OUT/report.html (data vs fitted curves).
    """
    import numpy as np

    from ..calibrate import (
        DEFAULT_E0,
        Minimizer,
        Noise,
        cells_to_unit,
        fit_patients,
        load_measurements,
        optimizer_for,
        write_fit_report,
    )
    from ..model import AbstractDrugModel, get_drug, get_model, get_regimen
    from ..response import Readout

    try:
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {str(out)!r} is a file; give a directory")
        try:  # before the (long) fit: an unwritable --out fails now, not after it
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"--out {str(out)!r}: cannot create ({err.strerror})") from None
        if not time_limit > 0:
            raise ValueError(f"--time-limit must be > 0 seconds; got {time_limit:g}")
        cls = get_model(model)
        reg = get_regimen(regimen) if regimen else None
        if reg is not None and issubclass(cls, AbstractDrugModel):
            m = cls.with_drug(get_drug(reg.drug or "pembrolizumab"))
        else:
            m = cls()
        readout = Readout(cells_per_cm3=cells_per_cm3, n_lesions=n_lesions)
        tab = load_measurements(data, unit=unit, doses=doses, readout=readout)
        top = float(np.nanmax(np.where(tab.mask, tab.cells, np.nan)))
        chosen = _preset(preset, m, top)
        if chosen == "clinical":
            m, _ = _clinical(m)
        m = m.replace(**{k: float(v) for k, v in _pairs(param, "--param").items()})
        if E0 is None:
            E0 = DEFAULT_E0
            if chosen == "clinical" and {"s", "d"} <= set(m.parameter_names()):
                E0 = float(m.s) / float(m.d)  # type: ignore[attr-defined]
        bnds: dict[str, tuple[float, float]] = {}
        for k, v in _pairs(bounds, "--bounds").items():
            if ":" not in v:
                raise ValueError(f"--bounds expects NAME=LO:HI; got {k}={v!r}")
            lo, hi = v.split(":", 1)
            try:
                bnds[k] = (float(lo), float(hi))
            except ValueError:
                raise ValueError(f"--bounds {k}: {v!r} is not LO:HI numbers") from None
        cap = float(np.min(np.asarray(m.carrying_capacity(), dtype=float)))
        if top > cap:

            def size(cells: float) -> str:
                if tab.unit == "cells":
                    return f"{cells:.3g} cells"
                value = float(cells_to_unit(cells, tab.unit, readout=readout))
                return f"{value:.3g} {tab.unit} ({cells:.3g} cells)"

            typer.secho(
                f"warning: the data reach {size(top)} but {type(m).__name__}'s carrying "
                f"capacity ({chosen} parameters) is {size(cap)}; the fit cannot reach them"
                + (" — use --preset clinical" if chosen == "published" else ""),
                fg=typer.colors.YELLOW,
                err=True,
            )
        ticker = _Ticker(max_iter)
        n_pat = tab.n_patients
        typer.echo(
            f"fitting {n_pat} patient{'s' if n_pat != 1 else ''} × {starts} starts: "
            f"{type(m).__name__} ({chosen} parameters), free {free}; compiling first "
            f"(a minute or more), then at most {max_iter} iterations or {time_limit:g} s",
            err=True,
        )
        res = fit_patients(
            tab,
            m,
            _names(free),
            bounds=bnds,
            shared=_names(shared),
            noise=Noise(noise, sigma=sigma),  # type: ignore[arg-type]
            init={"E0": E0},
            regimen=reg,
            optimizer=Minimizer(
                optimizer_for(method),  # type: ignore[arg-type]
                max_iter=max_iter,
                n_starts=starts,
                seed=seed,
                time_limit_s=time_limit,
                progress=ticker,
            ),
        )
    except ValueError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    try:
        _write(res, out, write_fit_report)
    except OSError as err:
        typer.secho(
            f"error: cannot write {err.filename or out}: {err.strerror or err}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1) from err
    ds = res.dataset
    _print_estimates(ds)
    n = ds.sizes["patient"]
    ok = int(ds["fit_ok"].sum())
    counts = {
        "not converged": int((~ds["converged"]).sum()),
        "stopped at the time limit": int(ds["timed_out"].sum()),
        "at a bound": int(ds["at_bound"].any("param").sum()),
        "not identifiable": int((~ds["identifiable"]).any("param").sum()),
        "poor fit": int(ds["poor_fit"].sum()),
        "data above the carrying capacity": int(ds["above_capacity"].sum()),
    }
    flagged = ", ".join(f"{k}: {v}" for k, v in counts.items() if v)
    typer.echo(
        f"fitted {n} patient{'s' if n != 1 else ''} ({ds.attrs['mode']}): {ok} ok"
        + (f", {n - ok} flagged ({flagged})" if n - ok else "")
        + f"; AIC {ds.attrs['aic']:.2f}, {ds.attrs['wall_time_s']:.1f} s"
    )
    if counts["data above the carrying capacity"]:
        cap = float(ds.attrs["capacity_cells"])
        typer.echo(
            f"note: measurements exceed the model's carrying capacity 1/b = {cap:.3g} cells "
            f"({_size(cap, ds)}); the model cannot reach them — set --param b=... or free b"
        )
    typer.echo(f"wrote {out}/estimates.csv, fit.zarr, report.html")


def _size(cells: float, ds) -> str:
    """A cell count in the table's unit (e.g. '9.8 mm')."""
    from ..calibrate import cells_to_unit
    from ..response import Readout

    unit = str(ds.attrs.get("unit", "cells"))
    if unit == "cells":
        return f"{cells:.3g} cells"
    readout = Readout(cells_per_cm3=float(ds.attrs["cells_per_cm3"]))
    value = float(cells_to_unit(cells, unit, readout=readout))
    return f"{value:.3g} {unit}"


def _short_status(ds, i: int, params: list[str]) -> str:
    """A compact form of ``ds.flags[i]`` for the terminal table."""
    out = []
    if not bool(ds["converged"].values[i]):
        out.append("not converged")
    bound = [p for j, p in enumerate(params) if bool(ds["at_bound"].values[i, j])]
    if bound:
        out.append(f"bound {','.join(bound)}")
    unident = [p for j, p in enumerate(params) if not bool(ds["identifiable"].values[i, j])]
    if unident:
        out.append(f"unident. {','.join(unident)}")
    if bool(ds["poor_fit"].values[i]):
        out.append("poor")
    if bool(ds["above_capacity"].values[i]):
        out.append("> K")
    return "; ".join(out) or "ok"


def _write(res, out: Path, write_report) -> None:
    import warnings

    out.mkdir(parents=True, exist_ok=True)
    res.table().to_csv(out / "estimates.csv", index=False)
    with warnings.catch_warnings():
        # text coordinates (patient ids) and consolidated metadata: zarr v3 notes, not errors
        warnings.filterwarnings("ignore", message=".*Zarr V3 specification", module="zarr")
        warnings.filterwarnings("ignore", message="Consolidated metadata", module="zarr")
        res.dataset.to_zarr(out / "fit.zarr", mode="w")
    write_report(res, out / "report.html")


def _print_estimates(ds) -> None:
    """Per-patient estimates with 95 % intervals and flags (the first MAX_ROWS patients)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    params = [str(p) for p in ds["param"].values]
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption="estimate [95% CI], model units; *: at a bound; flags: bound = estimate at a "
        "bound, unident. = not identifiable, poor = residual SD too large, > K = data above "
        "the carrying capacity",
    )
    table.add_column("patient", overflow="fold")
    for p in params:
        table.add_column(p, justify="right", no_wrap=True)
    table.add_column("res. SD", justify="right")
    table.add_column("status", min_width=16, ratio=1)
    n = ds.sizes["patient"]
    for i in range(min(n, MAX_ROWS)):
        cells = []
        for j in range(len(params)):
            e, lo, hi = (float(ds[k].values[i, j]) for k in ("estimate", "ci_lo", "ci_hi"))
            mark = "*" if bool(ds["at_bound"].values[i, j]) else ""
            cells.append(f"{e:.3g}{mark}\n[{lo:.2g}, {hi:.2g}]")
        status = _short_status(ds, i, params)
        table.add_row(
            str(ds["patient"].values[i]), *cells, f"{ds['residual_sd'].values[i]:.2g}", status
        )
    if n > MAX_ROWS:
        table.add_row(f"… {n - MAX_ROWS} more in estimates.csv", *[""] * (len(params) + 2))
    Console().print(table)

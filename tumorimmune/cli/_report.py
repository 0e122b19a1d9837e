"""``tumorimmune report``: the self-contained HTML report of a finished sweep."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app


@app.command()
def report(
    results: Path = typer.Argument(..., help="Sweep results store (results.zarr)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output HTML file; default report.html next to the store."
    ),
    title: str | None = typer.Option(None, "--title", help="Page title."),
    max_points: int = typer.Option(
        5000, "--max-points", help="Most waterfall bars per arm (larger cohorts are sampled)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the spider plot's patient sample."),
) -> None:
    """Write one offline HTML file (plotly.js inlined) with every figure of a sweep."""
    from ..reports import write_report
    from ..sweeps import load

    target = out if out is not None else results.parent / "report.html"
    try:
        ds = load(results, lazy=True)
        path = write_report(ds, target, title=title, max_points=max_points, seed=seed)
    except (ValueError, FileNotFoundError) as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    size_mb = path.stat().st_size / 1e6
    typer.echo(f"report: {path} ({size_mb:.1f} MB)")

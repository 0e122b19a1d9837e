"""``tumorimmune report``: the self-contained HTML report of a finished sweep."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import Command, app, cli_wording


@app.command(cls=Command)
def report(
    results: Path = typer.Argument(
        ..., metavar="STORE", help="Sweep results store (results.zarr)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        metavar="FILE",
        help="Output HTML file (a directory: DIR/report.html); default report.html next to "
        "the store.",
    ),
    title: str | None = typer.Option(None, "--title", metavar="TEXT", help="Page title."),
    max_points: int = typer.Option(
        5000,
        "--max-points",
        metavar="N",
        help="Most waterfall bars per arm (larger cohorts are sampled).",
    ),
    seed: int = typer.Option(
        0, "--seed", metavar="INT", help="Seed of the spider plot's patient sample."
    ),
    verify: bool = typer.Option(
        True,
        "--verify/--no-verify",
        help="Check every chunk against the checksum recorded by the run (a damaged or "
        "hand-edited store is refused); --no-verify writes the report from the store as it is.",
    ),
) -> None:
    """Write one offline HTML file (plotly.js inlined) with every figure of a sweep."""
    from ..reports import write_report
    from ..sweeps import load

    target = out if out is not None else results.parent / "report.html"
    if target.is_dir():
        target = target / "report.html"
    try:
        ds = load(results, lazy=True, verify=verify)
        path = write_report(ds, target, title=title, max_points=max_points, seed=seed)
    except (ValueError, OSError) as err:
        msg = cli_wording(str(err))
        if isinstance(err, OSError) and not isinstance(err, FileNotFoundError) and err.strerror:
            msg = f"cannot write {err.filename or target}: {err.strerror}"
        typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    except Exception as err:  # --no-verify on a store with unreadable chunk files
        typer.secho(
            f"error: {results}: cannot read the store ({type(err).__name__}: {err}); rerun "
            "`tumorimmune run SPEC --overwrite` to recompute it",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2) from err
    size_mb = path.stat().st_size / 1e6
    typer.echo(f"report: {path} ({size_mb:.1f} MB)")

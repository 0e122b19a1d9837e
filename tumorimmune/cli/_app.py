"""The ``tumorimmune`` typer application; subcommands register themselves on ``app``."""

from __future__ import annotations

import typer

from .._version import __version__

app = typer.Typer(
    name="tumorimmune",
    help="Tumor–immune dynamics under PD-1 checkpoint blockade: simulate, sweep, report, fit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tumorimmune {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Tumor–immune dynamics under PD-1 checkpoint blockade."""

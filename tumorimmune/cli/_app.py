"""The ``tumorimmune`` typer application; subcommands register themselves on ``app``."""

from __future__ import annotations

from typing import no_type_check

import typer
from typer.core import TyperCommand

from .._version import __version__


class Command(TyperCommand):
    """A subcommand whose usage line reads ``SPEC``, not typer's ``{spec}`` for a required
    argument (metavars are set upper-case by each argument)."""

    # Not checked at run time: click hands in its base Context class, from typer's private
    # vendored click (``typer._click``) in recent typer and ``click.Context`` in older ones;
    # no public name covers every supported typer version.
    @no_type_check
    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


app = typer.Typer(
    name="tumorimmune",
    help="Tumor–immune dynamics under PD-1 checkpoint blockade: simulate, sweep, report, fit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no '<bool>' type column, no rich import for --help
)


def _version(value: bool) -> bool:
    if value:
        typer.echo(f"tumorimmune {__version__}")
        raise typer.Exit()
    return value  # click passes a callback's return value on as the parameter's value


#: The library's wording of an option → the command line's flag (in error messages).
CLI_WORDS = {
    "run the sweep again with overwrite=True": "rerun `tumorimmune run SPEC --overwrite`",
    "overwrite=True": "--overwrite",
    "pass verify=False to read it as it is": "pass --no-verify to use it as it is",
}


def cli_wording(message: str) -> str:
    """A library error message with its keyword arguments named as the command line's flags
    (``overwrite=True`` → ``--overwrite``)."""
    for lib, cli in CLI_WORDS.items():
        message = message.replace(lib, cli)
    return message


#: Subcommands that compile JAX programs (the compilation cache is set up for them only).
COMPILING = frozenset({"run", "simulate", "fit", "calibrate-population"})


@app.callback()
@no_type_check  # click hands in its base Context class (see Command above)
def main(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    compile_cache: str | None = typer.Option(
        None,
        "--compile-cache",
        metavar="DIR|off",
        envvar="TUMORIMMUNE_COMPILE_CACHE",
        help="Directory of the persistent compilation cache: compiled programs are reused by "
        "later runs of the same shapes (about 6 s saved per run of the virtual trial on a "
        "2-core CPU); "
        "'off' disables it. [default: ~/.cache/tumorimmune/jax, or under XDG_CACHE_HOME]",
    ),
) -> None:
    """Tumor–immune dynamics under PD-1 checkpoint blockade."""
    # models named by import path ("my_models:MyModel") are found in the directory the
    # command runs from, as `python -m` would (the console script's sys.path lacks it)
    import os
    import sys

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if ctx.invoked_subcommand in COMPILING and not ctx.resilient_parsing:
        import warnings

        from .._cache import configure_for_process

        # the library's UserWarning, as one line (not Python's file:line and source line)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            configure_for_process(compile_cache)
        for w in caught:
            typer.secho(f"warning: {w.message}", fg=typer.colors.YELLOW, err=True)

"""Command line: ``tumorimmune --help``. Each subcommand lives in its own module."""

from . import _simulate_cmd as _simulate_cmd  # noqa: F401  (registers ``simulate``)
from ._app import app as app

__all__ = ["app"]

"""Command line: ``tumorimmune --help``. Each subcommand lives in its own module."""

from . import _calibrate_pop as _calibrate_pop
from . import _fit as _fit
from . import _populations as _populations
from . import _report as _report
from . import _run as _run
from . import _simulate_cmd as _simulate_cmd
from ._app import app as app

__all__ = ["app"]

"""``load_spec``: read a TOML sweep specification, then validate it (``_validate``).

The file is read and parsed before anything heavy is imported, so that a missing file or a
TOML syntax error is reported at once (the schema and the model registry import JAX).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._spec import SweepSpec


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The parsed TOML of a spec file, not validated (a light import: no JAX, no pydantic).

    Raises:
        ValueError: invalid TOML, a directory or an unreadable file.
        FileNotFoundError: no file at ``path``.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory; give the path of a TOML spec file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text (UTF-8) file; give a TOML spec") from None
    except PermissionError as err:
        raise ValueError(f"{path}: cannot read ({err.strerror})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: invalid TOML: {err}") from None


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML sweep specification.

    Raises:
        ValueError: invalid TOML or spec (message names the key), a directory or an
            unreadable file.
        FileNotFoundError: no file at ``path``.
    """
    data = read_spec_file(path)
    from ._validate import validate_spec  # the schema and the checks (JAX, the models)

    return validate_spec(data)

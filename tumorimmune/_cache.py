"""JAX's persistent compilation cache: compiled programs kept on disk between processes.

A sweep compiles its solver programs (one per group of arms, ``docs/scaling.md``) and a
read-out program (about 6 s of compilation on a 2-core CPU for the virtual trial); with the
cache, a later run of the same shapes loads them instead (``benchmarks/RESULTS.md``,
"trial_scale — Compilation cache"). The command line turns it on by default (``--compile-cache``,
``TUMORIMMUNE_COMPILE_CACHE``); library users call :func:`enable_compilation_cache`
themselves: it changes JAX's process-wide configuration, so the library never does it on its
own.

Cached programs are the programs JAX would compile (its cache key covers the program, the
JAX/jaxlib version, the device and the compiler flags), so results are bit-identical with and
without the cache (``tests/test_cache.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Programs that compile faster than this (seconds) are not written to the cache.
MIN_COMPILE_SECONDS = 0.2
#: Values of ``--compile-cache`` / ``TUMORIMMUNE_COMPILE_CACHE`` that switch the cache off.
OFF = frozenset({"off", "0", "false", "no", "none", ""})


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tumorimmune/jax`` (``~/.cache/tumorimmune/jax`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tumorimmune" / "jax"


def cache_setting(value: str | None) -> Path | None:
    """The cache directory a ``--compile-cache`` value asks for: ``None`` (unset) → the
    default directory, ``"off"`` (or ``0``, ``false``, ``no``, ``none``) → no cache."""
    if value is None:
        return default_cache_dir()
    if value.strip().lower() in OFF:
        return None
    return Path(value).expanduser()


def enable_compilation_cache(path: str | os.PathLike[str] | None = None) -> Path:
    """Keep compiled JAX programs in ``path`` (default :func:`default_cache_dir`) and reuse
    them in later processes.

    Call it before the first compilation of the process (JAX sets its cache up then); it sets
    JAX's process-wide options ``jax_compilation_cache_dir`` and
    ``jax_persistent_cache_min_compile_time_secs`` (:data:`MIN_COMPILE_SECONDS`).

    Args:
        path: cache directory (created if missing). Several processes may share one.

    Returns:
        The cache directory.

    Raises:
        OSError: the directory cannot be created.
    """
    import jax

    p = Path(path).expanduser() if path is not None else default_cache_dir()
    p.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(p))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return p


def configure_for_process(value: str | None) -> Path | None:
    """The command line's setting: the cache directory (or ``None``: off) for this process,
    applied without importing JAX when it is not imported yet (through the environment
    variables JAX reads at import); an unusable directory leaves the cache off with a
    ``UserWarning`` (compiling is slower, results are the same)."""
    import sys
    import warnings

    path = cache_setting(value)
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        warnings.warn(
            f"compilation cache off: cannot create {path} ({err.strerror or err})", stacklevel=2
        )
        return None
    if "jax" in sys.modules:
        return enable_compilation_cache(path)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(path)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = str(MIN_COMPILE_SECONDS)
    return path

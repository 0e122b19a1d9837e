import os

import pytest

# Tests run on CPU; keep XLA from grabbing every core's worth of threads for tiny problems.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The command line's persistent compilation cache stays off in tests (no writes to ~/.cache;
# tests/test_cache.py turns it on in a temporary directory).
os.environ.setdefault("TUMORIMMUNE_COMPILE_CACHE", "off")


@pytest.fixture
def unchecked():
    """Switch off the run-time type checks of the tests (jaxtyping hook, see pyproject.toml).

    For tests that pass deliberately ill-typed input (a wrong literal, a scalar for an array)
    to check the library's own one-line ``ValueError``, which is what callers without a type
    checker get.
    """
    import jaxtyping

    before = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", before)

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


def pytest_collection_modifyitems(config, items):
    """Test files with the most ``slow`` tests first, each file's tests in their own order.

    CI runs ``pytest -n 2 --dist loadfile`` (``.ci/run``): each worker takes one whole file at
    a time, in this order, so the long files start first and the short ones fill in at the end
    (before: a long test near the end of the collection left the other worker idle). A file
    stays on one worker, so its module-scoped fixtures are computed once.
    """
    slow: dict[str, int] = {}
    for item in items:
        n = slow.setdefault(item.nodeid.split("::", 1)[0], 0)
        slow[item.nodeid.split("::", 1)[0]] = n + (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: -slow[item.nodeid.split("::", 1)[0]])  # stable: file order kept

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
    """Test files with the most ``slow`` tests first, then by number of tests (the largest
    first); each file's tests in their own order.

    CI runs ``pytest -n 2 --dist loadfile --no-loadscope-reorder`` (``.ci/run``): each worker
    takes one whole file at a time, in this order, so the long files start first and the small
    ones fill in at the end (before: a long test near the end of the collection could leave
    the other worker idle). A file stays on one worker, so its module-scoped fixtures are
    computed once.
    """
    slow: dict[str, int] = {}
    count: dict[str, int] = {}
    for item in items:
        f = item.nodeid.split("::", 1)[0]
        slow[f] = slow.get(f, 0) + (item.get_closest_marker("slow") is not None)
        count[f] = count.get(f, 0) + 1

    def key(item):
        f = item.nodeid.split("::", 1)[0]
        return (-slow[f], -count[f])

    items.sort(key=key)  # stable: the order inside a file is kept

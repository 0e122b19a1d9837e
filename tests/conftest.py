import os

import pytest

# Tests run on CPU; keep XLA from grabbing every core's worth of threads for tiny problems.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The command line's persistent compilation cache stays off in tests (no writes to ~/.cache;
# tests/test_cache.py turns it on in a temporary directory).
os.environ.setdefault("TUMORIMMUNE_COMPILE_CACHE", "off")


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    """After each test file, drop JAX's compiled programs once they hold many memory maps.

    Every XLA CPU executable keeps a few to a few hundred memory mappings (LLVM's code and
    data sections) for as long as a jit cache holds it. A worker that runs half the suite
    compiles more than a thousand programs and passes the kernel's ``vm.max_map_count``
    (65,530 by default); the next ``mmap`` inside XLA's compiler then fails and the worker
    dies with a segmentation fault in ``backend_compile_and_load`` (seen in CI, jaxlib 0.10.2:
    about 15,000 maps after ``tests/solvers/test_fused.py`` and ``tests/test_readme.py``
    alone). ``jax.clear_caches()`` unmaps them; a later file that needs a program compiles it
    again. Only above a quarter of the limit, so files that share programs mostly keep sharing
    (and below the half at which ``run_sweep`` warns, ``tumorimmune._maps``).
    """
    from tumorimmune._maps import memory_maps

    yield
    maps = memory_maps()
    if maps is not None and maps[0] > maps[1] // 4:
        import gc

        import jax

        jax.clear_caches()
        gc.collect()


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

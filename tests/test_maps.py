"""``tumorimmune._maps``: the process's memory mappings against ``vm.max_map_count``, and the
warning ``run_sweep`` gives before its compilations could crash the process."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path

import pytest

from tumorimmune import _maps

linux = pytest.mark.skipif(
    not Path("/proc/self/maps").exists(), reason="/proc/self/maps: Linux only"
)


@linux
def test_counts_are_the_kernels_and_compiled_programs_hold_maps():
    import jax
    import jax.numpy as jnp

    n, limit = _maps.memory_maps() or (0, 0)
    assert limit == int(Path("/proc/sys/vm/max_map_count").read_text())
    assert abs(n - len(Path("/proc/self/maps").read_text().splitlines())) < 50
    # the premise of the warning: programs held by JAX's caches hold mappings until cleared
    fns = [jax.jit(lambda x, k=k: jnp.sin(x) * k + jnp.cumsum(x)) for k in range(20)]
    for f in fns:
        f(jnp.ones(7)).block_until_ready()
    held = (_maps.memory_maps() or (0, 0))[0]
    del fns, f
    jax.clear_caches()
    gc.collect()
    after = (_maps.memory_maps() or (0, 0))[0]
    assert held - after > 20 * 5, (n, held, after)


@pytest.mark.parametrize(("maps", "warns"), [((40_000, 65_530), True), ((30_000, 65_530), False)])
def test_warns_above_half_of_the_limit(monkeypatch, maps, warns):
    monkeypatch.setattr(_maps, "memory_maps", lambda: maps)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert _maps.warn_if_near_map_limit() is warns
    assert len(seen) == warns
    if warns:
        assert seen[0].category is RuntimeWarning
        message = str(seen[0].message)
        assert "40,000 of the kernel's 65,530" in message
        assert "jax.clear_caches()" in message and "vm.max_map_count" in message


def test_no_proc_no_warning(monkeypatch):
    monkeypatch.setattr(_maps, "memory_maps", lambda: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _maps.warn_if_near_map_limit() is False


def test_unreadable_proc_gives_none(monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("no /proc here")

    monkeypatch.setattr("builtins.open", refuse)
    assert _maps.memory_maps() is None


def test_run_sweep_warns_before_compiling(monkeypatch, tmp_path):
    from tumorimmune.sweeps import run_sweep, validate_spec

    from .sweeps.conftest import make_tiny

    monkeypatch.setattr(_maps, "memory_maps", lambda: (60_000, 65_530))
    spec = validate_spec(make_tiny())
    with pytest.warns(RuntimeWarning, match="60,000 of the kernel's 65,530 memory mappings"):
        assert run_sweep(spec, output=tmp_path / "s.zarr", max_chunks=0) is None

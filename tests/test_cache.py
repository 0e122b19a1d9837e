"""The persistent compilation cache (``tumorimmune/_cache.py``, ``--compile-cache``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tumorimmune._cache import cache_setting, configure_for_process, default_cache_dir

SPEC = """
name = "cache"
model = "TumorImmunePD1"
follow_up_days = 84
chunk_size = 8
precision = "float64"
backend = "fused"
n_trajectories = 0

[initial]
T0 = 1.5e10

[variability.L]
dist = "uniform"
low = 0.0
high = 1.0

[sampling]
cohort_size = 16
seed = 3

[[arms]]
name = "control"

[[arms]]
name = "pembro"
regimen = "pembrolizumab_200mg_q3w"
"""


def test_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "tumorimmune" / "jax"
    assert cache_setting(None) == default_cache_dir()
    for off in ("off", "OFF", "0", "false", "none", " no "):
        assert cache_setting(off) is None
    assert cache_setting(str(tmp_path / "c")) == tmp_path / "c"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "tumorimmune" / "jax"


def test_unusable_directory_warns_and_leaves_the_cache_off(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.warns(UserWarning, match="compilation cache off"):
        assert configure_for_process(str(blocker / "cache")) is None


#: The command line with a counter of JAX's persistent-cache hits (jax.monitoring events).
_COUNTING = """
import sys
import jax.monitoring
hits = []
jax.monitoring.register_event_listener(
    lambda event, **kw: hits.append(event) if event.endswith("/cache_hits") else None
)
from tumorimmune.cli import app
try:
    app(sys.argv[1:], prog_name="tumorimmune")
finally:
    print("CACHE_HITS", len(hits))
"""


def _run(
    spec: Path, out: Path, cache: str, *, count: bool = False
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("TUMORIMMUNE_COMPILE_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    head = [sys.executable, "-c", _COUNTING] if count else [sys.executable, "-m", "tumorimmune"]
    cmd = [*head, "--compile-cache", cache, "run", str(spec), "--out", str(out), "--no-report"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _hits(proc: subprocess.CompletedProcess[str]) -> int:
    return int(proc.stdout.rsplit("CACHE_HITS", 1)[1].split()[0])


@pytest.mark.slow
def test_a_second_process_reuses_the_compiled_programs_with_identical_results(tmp_path):
    """The first run (``python -m tumorimmune``: the cache set through JAX's environment
    variables) fills the cache; a second process (JAX already imported: set through
    ``jax.config``) loads programs from it (cache hits) and writes the same results, bit for
    bit; with ``off`` nothing is cached and the results are the same again."""
    from tumorimmune.sweeps import load

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    cache = tmp_path / "cache"
    first = _run(spec, tmp_path / "a", str(cache))
    assert first.returncode == 0, first.stderr
    assert any(p.is_file() for p in cache.rglob("*")), "nothing was cached"
    second = _run(spec, tmp_path / "b", str(cache), count=True)
    assert second.returncode == 0, second.stderr
    assert _hits(second) > 0
    a, b = load(tmp_path / "a" / "results.zarr"), load(tmp_path / "b" / "results.zarr")
    for k in ("tumor_cells", "best_response", "pfs_days", "num_steps"):
        np.testing.assert_array_equal(a[k].values, b[k].values)
    cold = _run(spec, tmp_path / "c", str(tmp_path / "other"), count=True)
    assert cold.returncode == 0, cold.stderr
    assert _hits(cold) == 0  # a new cache directory: everything compiled
    off = _run(spec, tmp_path / "d", "off")
    assert off.returncode == 0, off.stderr
    np.testing.assert_array_equal(
        load(tmp_path / "d" / "results.zarr")["tumor_cells"].values, a["tumor_cells"].values
    )

"""The stores of the example specs stay bit-identical across refactors of the sweep path.

``data/example_store_digests.json`` holds a CRC-32C of every array of the store of each
example spec (shrunk to a few dozen patients, several chunks), written by the code before
the sweep-plan refactor (#25, commit 647cb85) — every value the engine, the read-out and the
store produce, except the chunks' wall-clock seconds. A refactor that changes one bit of a
result fails here. Results are only bit-reproducible with the same JAX / NumPy build, so the
test runs when the installed versions are the recorded ones (CI installs the same ones) and
is skipped, saying so, otherwise. Regenerate after an intended change of results with
``python tests/sweeps/test_example_stores.py`` (and say why in the commit).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import platform
import sys
import tomllib
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np
import pytest
import zarr

from tumorimmune import sweeps

ROOT = Path(__file__).resolve().parents[2]
DIGESTS = Path(__file__).parent / "data" / "example_store_digests.json"
#: Each example spec, shrunk (a few dozen patients; several store chunks of 7 or 11).
SHRINK: dict[str, dict[str, Any]] = {
    "kuznetsov_phase": {
        "axes": {"E0": {"logspace": [1e4, 1e7, 4]}, "T0": {"logspace": [1e5, 1e9, 3]}}
    },
    "pd1_dose_schedule": {"sampling": {"cohort_size": 6}},
    "pd1_sensitivity": {"sensitivity": {"n": 8}, "chunk_size": 11},
    "pd1_virtual_trial": {"sampling": {"cohort_size": 96}},
    "quickstart": {"sampling": {"cohort_size": 40}},
    "response_map": {
        "axes": {"a": {"linspace": [0.1, 0.4, 3]}, "L": {"linspace": [0.0, 1.0, 2]}},
        "sampling": {"cohort_size": 4},
    },
}
#: Arrays that are not results (wall-clock seconds of each chunk).
SKIP = {"chunk_seconds"}
PACKAGES = ("jax", "jaxlib", "numpy", "diffrax", "equinox")


def _merge(d: dict[str, Any], u: dict[str, Any]) -> dict[str, Any]:
    for k, v in u.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict) and k != "axes":
            _merge(d[k], v)
        else:
            d[k] = v
    return d


def store_digests(path: Path) -> dict[str, str]:
    """``{array: "dtype:shape:crc32c"}`` of every array of a store (strings joined by NUL)."""
    g = zarr.open_group(str(path), mode="r")
    out = {}
    for name in sorted(g.array_keys()):
        if name in SKIP:
            continue
        arr: Any = g[name]
        a = np.ascontiguousarray(arr[...])
        if a.dtype.kind in "OUT":
            raw, kind = "\x00".join(map(str, a.ravel().tolist())).encode(), "str"
        else:
            raw, kind = a.tobytes(), a.dtype.str
        out[name] = f"{kind}:{a.shape}:{google_crc32c.value(raw)}"
    return out


def example_store(name: str, tmp: Path) -> dict[str, str]:
    """Run the shrunk example spec ``name`` into ``tmp`` and digest its store."""
    d = tomllib.loads((ROOT / "examples" / f"{name}.toml").read_text())
    d.update(n_trajectories=2, chunk_size=7)
    _merge(d, SHRINK[name])
    spec = sweeps.validate_spec(d)
    path = tmp / f"{name}.zarr"
    if spec.sensitivity is not None:
        from tumorimmune.sensitivity import run_sensitivity

        run_sensitivity(spec, output=path)
    else:
        sweeps.run_sweep(spec, output=path)
    return store_digests(path)


def _versions() -> dict[str, str]:
    return {k: md.version(k) for k in PACKAGES}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHRINK))
def test_example_store_is_bit_identical_to_the_recorded_one(name, tmp_path):
    recorded = json.loads(DIGESTS.read_text())
    if recorded["versions"] != _versions() or recorded["machine"] != platform.machine():
        pytest.skip(
            f"digests recorded with {recorded['versions']} on {recorded['machine']}; "
            f"installed {_versions()} on {platform.machine()}"
        )
    got = example_store(name, tmp_path)
    want = recorded["specs"][name]
    assert sorted(got) == sorted(want), "the store's arrays changed"
    changed = [k for k in want if got[k] != want[k]]
    assert not changed, f"arrays whose bits changed: {changed}"


if __name__ == "__main__":  # regenerate the digests (after an intended change of results)
    import tempfile

    out: dict[str, Any] = {"versions": _versions(), "machine": platform.machine(), "specs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in SHRINK:
            out["specs"][name] = example_store(name, Path(tmp))
    DIGESTS.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    sys.exit(0)

"""Scale-out of sweeps: the fused engine over 4 forced local devices, and several processes
(``jax.distributed`` on loopback) writing one store; both identical to one device/process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import zarr

from tumorimmune.sweeps import (
    Engine,
    Processes,
    init_distributed,
    load,
    run_sweep,
    validate_spec,
)
from tumorimmune.sweeps._store import StoreLockedError

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from tumorimmune.sweeps import init_distributed, run_sweep, validate_spec
    procs = init_distributed(f"127.0.0.1:{sys.argv[3]}", 2, int(sys.argv[4]))
    assert (procs.index, procs.count) == (int(sys.argv[4]), 2), procs
    run_sweep(validate_spec(json.loads(sys.argv[1])), output=sys.argv[2])
    """
)


_DEVICES_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax
    import numpy as np
    from tumorimmune.solvers import Fused
    from tumorimmune.sweeps import Engine, validate_spec
    calls = []
    real = Fused.solve_groups
    def spy(self, groups, **kw):
        calls.append((str(jax.config.jax_default_device), len(groups)))
        return real(self, groups, **kw)
    Fused.solve_groups = spy
    eng = Engine.create(validate_spec(json.loads(sys.argv[1])))
    assert len(eng.devices) == 4 and eng.backend == "fused", (eng.devices, eng.backend)
    np.savez(sys.argv[2], **eng.run_block(0, 20), **eng.run_trajectories())
    # the 2 arms are one program: chunk and trajectories, one piece per device, both arms each
    assert len(calls) == 8 and {g for _, g in calls} == {2}, calls
    assert len({d for d, _ in calls}) == 4, calls
    """
)


@pytest.mark.slow
def test_fused_engine_over_four_devices_equals_one(tiny, tmp_path):
    """A sweep chunk and the trajectories with the fused backend on 4 forced CPU devices (the
    engine solves one piece of both arms per device) equal those on one device, bit for bit."""
    d = tiny(backend="fused", chunk_size=20)
    d["arms"] = d["arms"][:2]
    out = tmp_path / "four.npz"
    env = dict(_env(), XLA_FLAGS="--xla_force_host_platform_device_count=4")
    proc = subprocess.run(
        [sys.executable, "-c", _DEVICES_SCRIPT, json.dumps(d), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    four = dict(np.load(out))
    eng = Engine.create(validate_spec(d))
    assert len(eng.devices) == 1
    one = {**eng.run_block(0, 20), **eng.run_trajectories()}
    assert set(one) == set(four) and "traj_T" in one
    for k, v in one.items():
        np.testing.assert_array_equal(four[k], v, err_msg=k)
    assert np.all(one["status"] == 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env.pop("XLA_FLAGS", None)
    return dict(env, JAX_PLATFORMS="cpu")


def _done(path) -> np.ndarray:
    try:
        return np.asarray(zarr.open_group(str(path), mode="r")["chunk_done"][:]) == 1  # type: ignore[index]
    except Exception:
        return np.zeros(0, bool)


def test_chunk_partition_is_fixed_and_complete():
    parts = [Processes(i, 3).mine(range(10)) for i in range(3)]
    assert parts == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert Processes(1, 3).mine([2, 4, 5, 7]) == [4, 7]  # a resumed run keeps each one's chunks
    assert Processes().mine(range(3)) == [0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"coordinator": "no port"}, "coordinator: expected HOST:PORT"),
        ({"coordinator": "h:1", "num_processes": 0}, "num_processes: must be a positive"),
        ({"coordinator": "h:1", "num_processes": 2, "process_id": 2}, "process_id: must be in"),
    ],
)
def test_bad_distributed_settings_name_the_setting(kwargs, match):
    with pytest.raises(ValueError, match=match):
        init_distributed(**kwargs)


@pytest.mark.slow
def test_two_processes_killed_then_resumed_equal_one_process(tmp_path, tiny):
    """Two processes on loopback write one store; while they run an unrelated run of the same
    store is refused; both are killed (SIGKILL) after process 1's first chunk; the same
    command (CLI, two processes) resumes; the store equals a one-process run, variable by
    variable, bit for bit."""
    d = tiny(backend="fused", chunk_size=2, n_trajectories=2)
    d["arms"] = d["arms"][:2]
    spec = validate_spec(d)
    n_chunks = 10  # 20 patients: process 0 has the even chunks, process 1 the odd ones
    out = tmp_path / "out"
    path = out / "results.zarr"
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, json.dumps(d), str(path), str(port), str(i)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    try:
        deadline = time.monotonic() + 600
        while not (path / "chunk_done").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(StoreLockedError, match="being written by another"):
            run_sweep(spec, output=path)
        while not _done(path)[1::2].any() and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), [p.stderr.read() for p in procs]  # type: ignore[union-attr]
            time.sleep(0.01)
    finally:
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
    done = _done(path)
    assert done.shape == (n_chunks,) and 1 <= done.sum() < n_chunks, done
    with pytest.raises(ValueError, match="unfinished"):
        load(path)

    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(spec.to_toml())
    port = _free_port()
    cli = [sys.executable, "-m", "tumorimmune", "run", str(spec_file), "-o", str(out)]
    cli.append("--no-report")
    env = dict(_env(), JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}")  # as JAX reads it
    procs = [
        subprocess.Popen(
            [*cli, "--num-processes", "2", "--process-id", str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (o, e) in zip(procs, outs, strict=True):
        assert p.returncode == 0, (o[-2000:], e[-3000:])
    assert "process 1: chunks written" in outs[1][0]
    assert "per-arm summary" in outs[0][0]

    reference = run_sweep(spec, output=tmp_path / "one.zarr")
    assert reference is not None
    two = load(path)
    assert two.attrs["processes"] == 2 and "processes" not in reference.attrs
    assert set(two.variables) == set(reference.variables)
    for k in reference.variables:
        a, b = reference[k].values, two[k].values
        assert a.dtype == b.dtype and a.shape == b.shape, k
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), k

"""``shard_solve``: fused and Pallas backends over 4 forced CPU devices, bitwise equal to one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tumorimmune._simulate import make_schedule, prepare_batch
from tumorimmune.model import PEMBROLIZUMAB_200MG_Q3W, TumorImmunePD1
from tumorimmune.solvers import shard_solve, solve_fused

# In a process with 4 forced host devices: for each backend, the batch on one device (the
# default device) and through shard_solve over the 4 devices; N = 37 does not divide by 4 (nor
# by 4 × block), patient 5 fails (a non-finite vector field), and the
# doses differ between patients (Pallas' per-patient dose table is sharded on its 2nd axis).
_SCRIPT = textwrap.dedent(
    """
    import sys
    import equinox as eqx
    import jax
    import numpy as np
    from tumorimmune._simulate import make_schedule, prepare_batch
    from tumorimmune.model import PEMBROLIZUMAB_200MG_Q3W, TumorImmunePD1
    from tumorimmune.solvers import shard_solve, solve_fused, solve_pallas

    assert len(jax.local_devices()) == 4, jax.local_devices()
    rng = np.random.default_rng(0)
    n = 37
    g = np.full(n, 2.019e9)
    g[5] = -5e9  # division by zero at T = 5e9: non-finite vector field
    model = TumorImmunePD1(
        a=0.18 * rng.lognormal(0, 0.2, n), s=1.3e4 * rng.lognormal(0, 0.3, n),
        L=rng.random(n),
    )
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": 5e9})
    batched = eqx.tree_at(lambda m: m.g, batched, g)  # past validation, as a bad sample
    ts = np.append(np.arange(0.0, 365.0, 42.0), 365.0)
    schedule, doses = make_schedule(batched, ts, PEMBROLIZUMAB_200MG_Q3W)
    doses = doses * rng.uniform(0.5, 1.5, (n, 1))
    out = {}
    for name, solve, kw in [
        ("fused", solve_fused, {}),
        ("pallas", solve_pallas, {"dtype": "float64", "block": 4}),
    ]:
        one = solve(batched, y0, schedule, doses, rtol=1e-8, atol=1e-6, **kw)
        four = shard_solve(solve, batched, y0, schedule, doses, rtol=1e-8, atol=1e-6, **kw)
        for i, k in enumerate(("ys", "status", "steps")):
            out[f"{name}_one_{k}"] = one[i]
            out[f"{name}_four_{k}"] = four[i]
    np.savez(sys.argv[1], **out)
    """
)


@pytest.mark.slow  # a subprocess: fused compiles once per device, Pallas once (~30 s)
def test_four_devices_bitwise_equal_to_one(tmp_path):
    """fused (one call per device) and Pallas (shard_map) over 4 devices: states, status and
    step counts identical to one device, the failed patient included."""
    out = tmp_path / "shard.npz"
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu"
    )
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = dict(np.load(out))
    for name in ("fused", "pallas"):
        status = r[f"{name}_one_status"]
        assert status.shape == (37,)
        assert status[5] != 0 and np.all(np.delete(status, 5) == 0), status
        for k in ("ys", "status", "steps"):
            one, four = r[f"{name}_one_{k}"], r[f"{name}_four_{k}"]
            assert one.shape == four.shape, (name, k)
            np.testing.assert_array_equal(four, one, err_msg=f"{name} {k}")
        assert np.all(np.isnan(r[f"{name}_four_ys"][5]))
        assert np.all(r[f"{name}_four_steps"] > 0)


def test_one_device_is_the_backend_itself():
    """With one device the backend is called directly (same arrays as calling it)."""
    rng = np.random.default_rng(1)
    n = 6
    model = TumorImmunePD1(a=0.18 * rng.lognormal(0, 0.2, n))
    batched, y0, _ = prepare_batch(model, {"E": 3.2e5, "T": 5e9})
    schedule, doses = make_schedule(batched, np.array([0.0, 42.0, 84.0]), PEMBROLIZUMAB_200MG_Q3W)
    assert doses is not None
    ref = solve_fused(batched, y0, schedule, doses, rtol=1e-8, atol=1e-6)
    out = shard_solve(solve_fused, batched, y0, schedule, doses, rtol=1e-8, atol=1e-6)
    for a, b in zip(ref, out, strict=True):
        np.testing.assert_array_equal(a, b)

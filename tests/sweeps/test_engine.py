"""Engine: agreement with ``simulate``, chunk-size independence, failures, multi-device sharding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tumorimmune as ti
from tumorimmune.model import Regimen, get_drug
from tumorimmune.sweeps import Engine, best_overall_response, diameter_mm, validate_spec


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_block_matches_simulate_patient_by_patient(tiny):
    """Independent route: build each patient's model by hand (published PK, allometry, ω²)."""
    spec = validate_spec(tiny())
    eng = Engine.create(spec)
    block = eng.run_block(0, 8)
    ts = spec.scan_days()  # follow-up (126 d) is the last scan
    for p in (0, 5):
        prm = {
            k.removeprefix("param_"): float(v[p])
            for k, v in block.items()
            if k.startswith("param_")
        }
        for a, regimen in enumerate(
            [
                None,
                ti.model.PEMBROLIZUMAB_200MG_Q3W,
                Regimen(dose=3.0, unit="mg/kg", interval=14.0, drug="nivolumab"),
            ]
        ):
            drug = get_drug(regimen.drug or "" if regimen is not None else "pembrolizumab")
            w = prm["weight"] / drug.weight_ref
            scl = w**drug.weight_exp_cl * np.exp(np.sqrt(drug.omega2_cl) * prm["eta_CL"])
            sv = w**drug.weight_exp_v * np.exp(np.sqrt(drug.omega2_v) * prm["eta_V"])
            model = ti.TumorImmunePD1.with_drug(
                drug,
                **spec.parameters,
                a=prm["a"],
                L=prm["L"],
                eps_m=prm["eps_m"],
                weight=prm["weight"],
                CL=drug.CL * scl,
                Q=drug.Q * scl,
                V1=drug.V1 * sv,
                V2=drug.V2 * sv,
            )
            ds = ti.simulate(model, {"E": 3.2e5, "T": prm["T0"]}, ts, regimen=regimen)
            np.testing.assert_allclose(block["tumor_cells"][a, p], ds["T"].values, rtol=2e-5)
            diam = diameter_mm(ds["T"].values)
            assert block["best_response"][a, p] == best_overall_response(diam)


def test_results_do_not_depend_on_chunk_size(tiny):
    big = Engine.create(validate_spec(tiny(chunk_size=20))).run_block(0, 20)
    eng = Engine.create(validate_spec(tiny(chunk_size=6)))
    parts = [eng.run_block(s, min(s + 6, 20)) for s in range(0, 20, 6)]
    small = {
        k: np.concatenate([p[k] for p in parts], axis=0 if big[k].ndim == 1 else 1) for k in big
    }
    _assert_same(big, small)


def test_failed_patients_are_flagged_not_fatal(tiny):
    # max_steps < 100 is refused by validation (it fails every patient): bypass it here
    spec = validate_spec(tiny()).model_copy(update={"max_steps": 3})
    block = Engine.create(spec).run_block(0, 4)
    assert np.all(block["status"] != 0)
    assert np.all(block["best_response"] == -1)
    assert np.all(block["outcome"] == -1)
    assert np.all(np.isnan(block["pfs_days"]))
    assert np.all(np.isnan(block["tumor_cells"]))


_SHARD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax
    import numpy as np
    from tumorimmune.sweeps import Engine, validate_spec
    spec = validate_spec(json.loads(sys.argv[1]))
    eng = Engine.create(spec)
    assert len(eng.devices) == 4, eng.devices
    block = eng.run_block(0, 20)
    traj = eng.run_trajectories()
    np.savez(sys.argv[2], **block, **traj)
    """
)


def test_sharding_over_four_devices_gives_identical_results(tiny, tmp_path):
    d = tiny(chunk_size=20)
    d["arms"] = d["arms"][:2]
    out = tmp_path / "sharded.npz"
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu"
    )
    proc = subprocess.run(
        [sys.executable, "-c", _SHARD_SCRIPT, json.dumps(d), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sharded = dict(np.load(out))
    eng = Engine.create(validate_spec(d))
    assert len(eng.devices) == 1
    single = {**eng.run_block(0, 20), **eng.run_trajectories()}
    _assert_same(single, sharded)


def test_padded_chunk_is_a_multiple_of_the_devices(tiny):
    spec = validate_spec(tiny(chunk_size=10))
    eng = Engine(spec, "diffrax", lambda *a, **k: None, devices=[object()] * 4)
    assert eng.padded_chunk == 4 * 16  # at least MIN_DEVICE_BATCH per device
    spec = validate_spec(tiny(chunk_size=70))
    eng = Engine(spec, "diffrax", lambda *a, **k: None, devices=[object()] * 4)
    assert eng.padded_chunk == 72


@pytest.mark.parametrize("ids", [[0, 19, 5], [3, 4, 11, 12]])
def test_rows_follow_requested_order(tiny, ids):
    from tumorimmune.sweeps import patient_table

    spec = validate_spec(tiny())
    table = patient_table(spec)
    rows = Engine.create(spec).rows(np.array(ids))
    for k, v in rows.items():
        np.testing.assert_array_equal(v, table[k][ids])

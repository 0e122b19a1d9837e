"""Engine: agreement with ``simulate``, chunk-size independence, failures, multi-device sharding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

import tumorimmune as ti
from tumorimmune.model import Regimen, get_drug
from tumorimmune.sweeps import (
    Engine,
    SweepPlan,
    best_overall_response,
    diameter_mm,
    sum_of_diameters_mm,
    validate_spec,
)


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_block_matches_simulate_patient_by_patient(tiny):
    """Route of a user: each patient's model from TumorImmunePD1.with_drug (weight and the
    stored standard normals of the IIV) and simulate(); the engine must give the same."""
    spec = validate_spec(tiny())
    eng = Engine.create(spec)
    block = eng.run_block(0, 8)
    ts = SweepPlan.from_spec(spec).scan_days  # follow-up (126 d) is the last scan
    for p in (0, 5):
        prm = {
            k.removeprefix("param_"): float(v[p])
            for k, v in block.items()
            if k.startswith("param_")
        }
        z = {k: prm[f"eta_{k}"] for k in ti.model.IIV_PARAMETERS}
        for a, regimen in enumerate(
            [
                None,
                ti.model.PEMBROLIZUMAB_200MG_Q3W,
                Regimen(dose=3.0, unit="mg/kg", interval=14.0, drug="nivolumab"),
            ]
        ):
            drug = regimen.drug or "" if regimen is not None else "pembrolizumab"
            params: dict[str, Any] = {
                **spec.parameters,
                "a": prm["a"],
                "L": prm["L"],
                "eps_m": prm["eps_m"],
            }
            model = ti.TumorImmunePD1.with_drug(drug, weight=prm["weight"], iiv_z=z, **params)
            ds = ti.simulate(model, {"E": 3.2e5, "T": prm["T0"]}, ts, regimen=regimen)
            np.testing.assert_allclose(block["tumor_cells"][a, p], ds["T"].values, rtol=2e-5)
            sld = sum_of_diameters_mm(ds["T"].values)  # default read-out: 3 lesions, 5 mm
            np.testing.assert_allclose(block["diameter_mm"][a, p], sld, rtol=2e-5)
            assert block["best_response"][a, p] == best_overall_response(sld)


def test_readout_uses_per_patient_lesion_counts_and_detection_limit(tiny):
    def spec(values):
        d = tiny(response={"n_lesions": 2, "detection_limit_mm": 8.0})
        d["arms"] = d["arms"][:2]
        d["variability"]["n_lesions"] = {"dist": "discrete", "values": values}
        return validate_spec(d)

    block = Engine.create(spec([1, 4])).run_block(0, 10)
    k = block["param_n_lesions"]
    assert set(np.unique(k)) == {1.0, 4.0}  # per patient, from the discrete distribution
    cells = block["tumor_cells"]
    for p in range(10):  # by hand: k spheres of cells/k each, lesions under 8 mm count 0
        d_lesion = diameter_mm(cells[:, p] / k[p])
        expected = k[p] * np.where(d_lesion < 8.0, 0.0, d_lesion)
        np.testing.assert_array_equal(block["diameter_mm"][:, p], expected)
    assert np.any(block["diameter_mm"] == 0) and np.all(cells > 0)  # disappeared, not extinct
    np.testing.assert_array_equal(
        block["best_response"], best_overall_response(block["diameter_mm"])
    )
    assert np.any(block["best_response"] == 0)  # CR by the detection limit
    # the model never sees n_lesions: same draws with another lesion count, same tumors
    other = Engine.create(spec([3])).run_block(0, 10)
    assert np.all(other["param_n_lesions"] == 3)
    np.testing.assert_array_equal(other["tumor_cells"], cells)


def test_readout_on_patient_slices_in_threads_is_bitwise_one_call(tiny, monkeypatch):
    """The host's read-out work on slices of the patient axis in threads (large batches):
    per-patient lesion counts follow their patients, and every result is bit-equal to one
    call over the whole batch."""
    import dataclasses

    from tumorimmune.sweeps import _engine

    d = tiny(response={"n_lesions": 2, "detection_limit_mm": 8.0})
    d["variability"]["n_lesions"] = {"dist": "discrete", "values": [1, 2, 5]}
    eng = Engine.create(validate_spec(d))
    whole = dataclasses.replace(eng, threads=1).compute(np.arange(20))
    calls: list[int] = []
    real = _engine.sum_of_diameters_mm

    def spy(cells, **kw):
        calls.append(cells.shape[1])
        return real(cells, **kw)

    monkeypatch.setattr(_engine, "sum_of_diameters_mm", spy)
    monkeypatch.setattr(_engine, "HOST_SLICE", 4)
    sliced = dataclasses.replace(eng, threads=3).compute(np.arange(20))
    assert len(calls) == 3 and sum(calls) == eng.batch_width(20)
    _assert_same(sliced, whole)
    assert len(np.unique(whole["param_n_lesions"])) == 3


def test_one_lesion_without_detection_limit_is_the_former_readout(tiny):
    spec = validate_spec(tiny(response={"n_lesions": 1, "detection_limit_mm": 0.0}))
    block = Engine.create(spec).run_block(0, 10)
    np.testing.assert_array_equal(block["diameter_mm"], diameter_mm(block["tumor_cells"]))


def test_arm_pk_is_individual_pk_of_the_drug(tiny):
    """Both drugs' patients get their drug's published IIV and weight model: the sampled
    nivolumab log CL, log V1, log V2, CL_emax have the published (co)variances (1e5
    patients, LHS), after removing the weight effect; a late-starting arm sets t_dose0."""
    d = tiny(axes={}, sampling={"method": "lhs", "cohort_size": 100_000, "seed": 1})
    d["arms"][2]["start_day"] = 28.0
    spec = validate_spec(d)
    eng = Engine.create(spec)
    table = eng.rows(np.arange(100_000))
    model, _ = eng.arm_model(table, 2)
    assert isinstance(model, ti.TumorImmunePD1)
    nivo = get_drug("nivolumab")
    w = table["weight"] / nivo.weight_ref
    eta = np.stack(
        [
            np.log(np.asarray(model.CL) / (nivo.CL * w**0.566)),
            np.log(np.asarray(model.V1) / (nivo.V1 * w**0.597)),
            np.log(np.asarray(model.V2) / nivo.V2),
            np.asarray(model.CL_emax) - nivo.CL_emax,
        ]
    )
    np.testing.assert_allclose(np.asarray(model.Q), nivo.Q)
    emp = np.cov(eta)
    om = nivo.omega_matrix()[np.ix_([0, 1, 3, 4], [0, 1, 3, 4])]
    se = np.sqrt((om**2 + np.outer(np.diag(om), np.diag(om))) / 100_000)
    assert np.all(np.abs(emp - om) <= 5 * se + 1e-12)
    np.testing.assert_array_equal(np.asarray(model.t_dose0), 28.0)
    pembro, _ = eng.arm_model(table, 1)
    assert isinstance(pembro, ti.TumorImmunePD1)
    np.testing.assert_array_equal(np.asarray(pembro.t_dose0), 0.0)
    np.testing.assert_allclose(  # pembrolizumab: one η on CL and Q
        np.asarray(pembro.Q) / np.asarray(pembro.CL), 0.795 / 0.22, rtol=1e-12
    )


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
    assert len(eng.devices) == int(sys.argv[3]), eng.devices
    if spec.backend == "fused":
        models = [eng.arm_model(eng.rows(np.arange(20)), a)[0] for a in range(len(spec.arms))]
        assert eng.programs(models) == [[0, 1], [2]], eng.programs(models)
    block = eng.run_block(0, 20)
    traj = eng.run_trajectories()
    np.savez(sys.argv[2], **block, **traj)
    """
)


# fused: 2 devices, as each device compiles its own copy of the arms' programs (one call per
# device, ~15 s each on 2 cores). The fused engine on 4 devices: the same check (one piece per
# device, identical to one device) in tests/sweeps/test_multihost.py, the store test below,
# and tests/solvers/test_shard.py (a batch that does not divide by the devices). diffrax: one
# SPMD program whatever the device count.
@pytest.mark.slow
@pytest.mark.parametrize(("backend", "n_devices"), [("diffrax", 4), ("fused", 2)])
def test_sharding_over_several_devices_gives_identical_results(tiny, tmp_path, backend, n_devices):
    """Forced CPU devices give one device's numbers; fused: the untreated and
    pembrolizumab arms are one program, solved as one piece per device (nivolumab another)."""
    d = tiny(chunk_size=20, backend=backend)
    if backend == "diffrax":
        d["arms"] = d["arms"][:2]
    out = tmp_path / "sharded.npz"
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}",
        JAX_PLATFORMS="cpu",
    )
    proc = subprocess.run(
        [sys.executable, "-c", _SHARD_SCRIPT, json.dumps(d), str(out), str(n_devices)],
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
    eng = Engine(SweepPlan.from_spec(spec), "diffrax", lambda *a, **k: None, devices=[object()] * 4)
    assert eng.padded_chunk == 4 * 16  # at least MIN_DEVICE_BATCH per device
    spec = validate_spec(tiny(chunk_size=70))
    eng = Engine(SweepPlan.from_spec(spec), "diffrax", lambda *a, **k: None, devices=[object()] * 4)
    assert eng.padded_chunk == 72


@pytest.mark.parametrize("ids", [[0, 19, 5], [3, 4, 11, 12]])
def test_rows_follow_requested_order(tiny, ids):
    from tumorimmune.sweeps import patient_table

    spec = validate_spec(tiny())
    table = patient_table(spec)
    rows = Engine.create(spec).rows(np.array(ids))
    for k, v in rows.items():
        np.testing.assert_array_equal(v, table[k][ids])


_STORE_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.cpu_count = lambda: int(sys.argv[3])  # the fused backend's pool count follows it
    from tumorimmune.sweeps import run_sweep, validate_spec
    run_sweep(validate_spec(json.loads(sys.argv[1])), output=sys.argv[2])
    """
)


@pytest.mark.slow
def test_stores_are_bit_identical_across_chunk_sizes_and_thread_counts(tmp_path, monkeypatch):
    """Default trial (fused, float32), 2,500 patients: chunk sizes 999 / 1000 / 2500 (999 does
    not divide N) on 4 pretended cores, 4 forced devices with 8 pretended cores, and one core
    without Eigen threads (chunk 2500: one pool of 4096) give identical stores. The fused
    backend's pools are 1024, 512, 512 and 4096 patients wide in these runs. Before, chunk size
    999 instead of 2500 changed thousands of tumor_cells values."""
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    import tomllib

    from tumorimmune.cli._run import default_spec_path
    from tumorimmune.sweeps import load, run_sweep

    d = tomllib.loads(default_spec_path().read_text())
    d.update(follow_up_days=168, n_trajectories=0, chunk_size=2500)
    d["sampling"]["cohort_size"] = 2500
    d["arms"] = d["arms"][:2]
    d["targets"] = [t for t in d["targets"] if t["arm"] in {a["name"] for a in d["arms"]}]
    stores = {}
    for c in (2500, 999, 1000):
        stores[f"chunk {c}"] = run_sweep(
            validate_spec({**d, "chunk_size": c}), output=tmp_path / f"c{c}.zarr"
        )
    runs = {
        "4 devices, 8 cores": (["--xla_force_host_platform_device_count=4"], "8", []),
        "1 core, no Eigen threads": (
            ["--xla_cpu_multi_thread_eigen=false"], "1", ["taskset", "-c", "0"]
        ),
    }  # fmt: skip
    for name, (flags, cores, prefix) in runs.items():
        if prefix and not __import__("shutil").which(prefix[0]):
            prefix = []
        out = tmp_path / f"{cores}.zarr"
        env = dict(os.environ, XLA_FLAGS=" ".join(flags), JAX_PLATFORMS="cpu")
        c = 999 if cores == "8" else 2500
        proc = subprocess.run(
            [*prefix, sys.executable, "-c", _STORE_SCRIPT, json.dumps({**d, "chunk_size": c}),
             str(out), cores],
            env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        stores[name] = load(out)
    ref = stores.pop("chunk 2500")
    assert ref is not None
    for name, ds in stores.items():
        assert ds is not None
        for k in ref.data_vars:
            np.testing.assert_array_equal(ds[k].values, ref[k].values, err_msg=f"{name}: {k}")


def test_batches_of_a_run_compile_nothing_after_the_first(tiny, caplog):
    """Every batch is padded to one width (the last, shorter one too), so each arm's fused
    program and the read-out compile once per process, not per chunk or batch."""
    import logging

    import jax

    # no grid: a batch inside one grid cell shares the swept value, which the fused backend
    # passes once (another signature; a batch across two cells compiles a second program)
    spec = validate_spec(
        tiny(backend="fused", chunk_size=4, n_trajectories=0, axes={}, sampling={"cohort_size": 20})
    )
    eng = Engine.create(spec)
    first = eng.compute(np.arange(0, 8))
    caplog.clear()
    with jax.log_compiles(True), caplog.at_level(logging.DEBUG):
        last = eng.compute(np.arange(8, 20))
    compiled = [r.getMessage() for r in caplog.records if "ompil" in r.getMessage()]
    assert compiled == []
    whole = Engine.create(spec).run_block(0, 20)  # and the batches are what one block gives
    for k, v in whole.items():
        np.testing.assert_array_equal(
            np.concatenate([first[k], last[k]], axis=1 if v.ndim > 1 else 0), v, err_msg=k
        )


def test_arms_of_one_structure_are_one_program(tiny, caplog, monkeypatch):
    """Arms as a batch axis (fused backend): the untreated and pembrolizumab arms (one model
    structure, the same constant-zero parameters) are one cohort solved by one compiled
    program, nivolumab (another drug: other static fields, time-varying clearance) a second;
    every arm's numbers are bit-for-bit those of solving the arms one by one."""
    import logging

    import jax

    from tumorimmune.sweeps import _engine

    arms = [
        {"name": "control"},
        {"name": "pembrolizumab 200 mg q3w", "regimen": "pembrolizumab_200mg_q3w"},
        {"name": "pembrolizumab 10 mg/kg q2w", "drug": "pembrolizumab", "dose": 10.0,
         "unit": "mg/kg", "interval": 14},
        {"name": "nivolumab 3 mg/kg q2w", "drug": "nivolumab", "dose": 3.0, "unit": "mg/kg",
         "interval": 14},
    ]  # fmt: skip
    # follow-up and scans of no other test: this process has not compiled these programs
    spec = validate_spec(
        tiny(
            backend="fused", chunk_size=12, n_trajectories=3, axes={}, arms=arms,
            follow_up_days=133, scan_interval_days=19, sampling={"cohort_size": 12},
        )
    )  # fmt: skip
    eng = Engine.create(spec)
    table = eng.rows(np.arange(12))
    assert eng.programs([eng.arm_model(table, a)[0] for a in range(len(spec.arms))]) == [
        [0, 1, 2],
        [3],
    ]
    caplog.clear()
    with jax.log_compiles(True), caplog.at_level(logging.DEBUG):
        grouped = eng.compute(np.arange(12))
        traj = eng.run_trajectories()
    pools = [r.getMessage() for r in caplog.records if "_solve_pool_impl" in r.getMessage()]
    pools = [m for m in pools if m.startswith("Compiling")]
    assert len(pools) == 4, pools  # 2 programs × (scan times, trajectory times)

    monkeypatch.setattr(
        _engine.Engine, "programs", lambda self, models: [[a] for a in range(len(models))]
    )
    alone = Engine.create(spec)
    _assert_same(alone.compute(np.arange(12)), grouped)
    _assert_same(alone.run_trajectories(), traj)


def test_on_accelerators_arms_solved_one_by_one_run_concurrently(tiny, monkeypatch):
    """Backends that solve arm by arm (here diffrax) on an accelerator: the arms' solves run
    at once in threads (so their programs compile at once), with the one-by-one results. The
    device is a stand-in with platform "gpu" (one device: the backend is called directly)."""
    import dataclasses
    import threading
    import types

    from tumorimmune.sweeps import _engine

    spec = validate_spec(tiny(n_trajectories=0))
    assert len(spec.arms) == 3
    eng = Engine.create(spec)
    ref = eng.compute(np.arange(10))
    meet = threading.Barrier(3, timeout=120)  # broken unless the 3 arms' solves overlap
    real = _engine.Engine._solve

    def solve(self, *args, **kwargs):
        meet.wait()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_engine.Engine, "_solve", solve)
    gpu = dataclasses.replace(eng, devices=[types.SimpleNamespace(platform="gpu")])
    _assert_same(gpu.compute(np.arange(10)), ref)


def test_confirmation_changes_only_the_time_course_fields(tiny):
    """``[response] confirm`` only changes TTR/DoR; the JAX read-out's fields are bit-equal,
    and the time-course fields are the NumPy functions of the same diameters."""
    from tumorimmune.response import timecourse_readout

    plain = Engine.create(validate_spec(tiny())).compute(np.arange(20))
    spec = validate_spec(tiny(response={"confirm": True, "confirm_days": 50}))
    conf = Engine.create(spec).compute(np.arange(20))
    changed = {"ttr_days", "dor_days", "dor_event", "confirmed_response"}
    for k, v in plain.items():
        if k not in changed:
            np.testing.assert_array_equal(conf[k], v, err_msg=k)
    want = timecourse_readout(
        conf["diameter_mm"],
        SweepPlan.from_spec(spec).scan_days,
        follow_up=spec.follow_up_days,
        confirm=True,
        min_confirm_days=50.0,
    )
    for k, v in want.items():
        np.testing.assert_array_equal(conf[k], v, err_msg=k)
    # scans every 42 days: a 50-day window confirms at the second scan, so fewer responders
    assert np.isfinite(conf["ttr_days"]).sum() <= np.isfinite(plain["ttr_days"]).sum()
    assert np.isfinite(plain["ttr_days"]).sum() > 0


def test_pallas_solves_the_arms_of_one_structure_in_one_kernel(tiny, monkeypatch):
    """Issue #27: the Pallas backend (interpret mode on CPU) solves the arms of one model
    structure in one kernel — the untreated and both pembrolizumab arms in one call of
    :func:`solve_pallas_groups`, nivolumab in a second — with every arm's numbers equal to
    the arm-by-arm kernels'."""
    from tumorimmune.solvers import _pallas
    from tumorimmune.sweeps import _engine

    arms = [
        {"name": "control"},
        {"name": "pembrolizumab 200 mg q3w", "regimen": "pembrolizumab_200mg_q3w"},
        {"name": "pembrolizumab 10 mg/kg q2w", "drug": "pembrolizumab", "dose": 10.0,
         "unit": "mg/kg", "interval": 14},
        {"name": "nivolumab 3 mg/kg q2w", "drug": "nivolumab", "dose": 3.0, "unit": "mg/kg",
         "interval": 14},
    ]  # fmt: skip
    spec = validate_spec(
        tiny(
            backend="pallas", chunk_size=12, n_trajectories=0, axes={}, arms=arms,
            follow_up_days=133, scan_interval_days=19, sampling={"cohort_size": 12},
        )
    )  # fmt: skip
    calls: list[int] = []
    real = _pallas.solve_pallas_groups

    def counted(groups, **kw):
        calls.append(len(groups))
        return real(groups, **kw)

    monkeypatch.setattr(_pallas, "solve_pallas_groups", counted)
    eng = Engine.create(spec)
    assert eng.backend == "pallas"
    grouped = eng.compute(np.arange(12))
    assert sorted(calls) == [1, 3], calls  # two kernels for four arms
    monkeypatch.setattr(
        _engine.Engine, "programs", lambda self, models: [[a] for a in range(len(models))]
    )
    alone = Engine.create(spec).compute(np.arange(12))
    _assert_same(alone, grouped)

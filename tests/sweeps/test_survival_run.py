"""Sweeps with ``[survival]``: deaths from the model's tumor sizes, deaths end follow-up."""

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune.response import SurvivalLink, patient_uniforms, sample_death_days
from tumorimmune.response._survival import DEATH_DAY_TOL
from tumorimmune.sweeps import Engine, SweepPlan, load, run_sweep, validate_spec

SURVIVAL = {"scale_days": 150.0, "shape": 1.2, "beta": 1.0, "grid_days": 14.0}
#: Scans on every day of the hazard grid (and at follow-up), so that the stored model SLD
#: holds the hazard's covariate.
GRID_SCANS = [14.0 * k for k in range(1, 9)] + [126.0]


@pytest.fixture(scope="module")
def blocks(tiny):
    """One engine block of the 20 tiny patients with and without ``[survival]``."""
    on = validate_spec(tiny(survival=SURVIVAL, chunk_size=20))
    off = validate_spec(tiny(chunk_size=20))
    return on, Engine.create(on).run_block(0, 20), Engine.create(off).run_block(0, 20)


@pytest.mark.slow  # engine blocks of 20 patients, diffrax (a compile each)
def test_death_days_are_sampled_from_the_model_sld_on_the_grid(tiny):
    spec = validate_spec(tiny(survival=SURVIVAL, scan_days=GRID_SCANS, chunk_size=20))
    eng = Engine.create(spec)
    grid, idx = eng.survival_times()
    np.testing.assert_array_equal(grid, 14.0 * np.arange(9))
    ts, scans = eng.times()
    np.testing.assert_array_equal(ts[scans], SweepPlan.from_spec(spec).scan_days)
    np.testing.assert_array_equal(idx, np.arange(9))  # the grid days are the first 9 scans
    b = eng.run_block(0, 20)
    assert b["os_days"].dtype == np.float64 and b["os_event"].dtype == bool
    u = patient_uniforms(spec.sampling.seed, np.arange(20))  # default: the sampling seed
    days, event = sample_death_days(
        b["diameter_mm"][..., :9],  # the model's SLD, not carried forward
        grid,
        u,
        SurvivalLink(scale_days=150.0, shape=1.2, beta=1.0),
        follow_up=126.0,
    )
    # on the device (jax_death_days): to the reference's root tolerance, not bit for bit
    np.testing.assert_allclose(b["os_days"], days, rtol=1e-12, atol=4 * DEATH_DAY_TOL)
    np.testing.assert_array_equal(b["os_event"], event)
    assert 0 < event.sum() < event.size


@pytest.mark.slow
def test_deaths_end_follow_up(blocks):
    spec, on, off = blocks
    # the model's values are stored unmasked (and the grid does not change the solves here)
    np.testing.assert_array_equal(on["tumor_cells"], off["tumor_cells"])
    np.testing.assert_array_equal(on["diameter_mm"], off["diameter_mm"])
    dead, os_days = on["os_event"], on["os_days"]
    assert dead.any() and not dead.all()
    assert np.all(on["pfs_days"] <= os_days)
    first = dead & (os_days <= off["pfs_days"])  # death before (or at) the first PD scan
    assert first.any()
    np.testing.assert_array_equal(on["pfs_days"][first], os_days[first])
    assert on["pfs_event"][first].all()
    np.testing.assert_array_equal(on["pfs_days"][~first], off["pfs_days"][~first])
    np.testing.assert_array_equal(on["pfs_event"][~first], off["pfs_event"][~first])
    early = dead & (os_days < SweepPlan.from_spec(spec).scan_days[1])
    assert np.all(on["best_response"][early] == 3)
    np.testing.assert_array_equal(on["best_response"][~dead], off["best_response"][~dead])
    np.testing.assert_array_equal(np.isnan(os_days), np.isnan(on["pfs_days"]))


@pytest.mark.slow
def test_death_days_do_not_depend_on_chunks_or_resuming(tiny, blocks, tmp_path):
    _, on, _ = blocks
    spec = validate_spec(tiny(survival=SURVIVAL, chunk_size=6))
    eng = Engine.create(spec)
    parts = [eng.run_block(s, min(s + 6, 20)) for s in range(0, 20, 6)]
    for k in ("os_days", "os_event", "pfs_days", "best_response"):
        np.testing.assert_array_equal(np.concatenate([p[k] for p in parts], axis=1), on[k])
    path = tmp_path / "r.zarr"
    assert run_sweep(spec, output=path, max_chunks=1) is None
    ds = run_sweep(spec, output=path)  # resumed
    assert ds is not None
    np.testing.assert_array_equal(ds["os_days"].values, on["os_days"])
    np.testing.assert_array_equal(ds["os_event"].values, on["os_event"])
    assert ds["os_days"].dims == ("arm", "patient") and ds["os_event"].dtype == bool
    assert ds["os_days"].attrs["units"] == "days"
    assert ds.attrs["survival_scale_days"] == 150.0 and ds.attrs["survival_seed"] == 3
    assert ds["median_os_days"].dims == ("arm",)
    assert "os_1y" not in ds  # a 126-day follow-up reaches no landmark
    again = load(path)
    np.testing.assert_array_equal(again["os_days"].values, on["os_days"])


def test_os_targets_are_evaluated(tiny, tmp_path):
    targets = [
        {"arm": "control", "name": "OS at 3 months", "kind": "os_at", "day": 90.0, "value": 0.6},
        {
            "arm": "control",
            "name": "median OS",
            "kind": "median_os",
            "value": 100.0,
            "lo": 80.0,
            "hi": 120.0,
        },
    ]
    spec = validate_spec(tiny(survival=SURVIVAL, targets=targets, n_trajectories=0))
    ds = run_sweep(spec, output=tmp_path / "t.zarr")
    assert ds is not None
    import json

    rows = json.loads(ds.attrs["calibration"])["targets"]
    assert [r["kind"] for r in rows] == ["os_at", "median_os"]
    assert rows[1]["unit"] == "days" and rows[0]["unit"] == "fraction"
    np.testing.assert_allclose(rows[1]["simulated"], float(ds["median_os_days"].values[0]))


def test_an_arm_hazard_ratio_scales_its_hazard_of_death(tiny):
    """Two untreated arms, the second with ``hazard_ratio = 3``: the same tumors, deaths drawn
    with the same uniforms, the first arm's from the spec's link, the second's from the link of
    :meth:`SurvivalLink.with_hazard_ratio` (one engine block)."""
    arms = [{"name": "control"}, {"name": "control, hazard x3", "hazard_ratio": 3.0}]
    kw = dict(survival=SURVIVAL, scan_days=GRID_SCANS, axes={}, n_trajectories=0)
    spec = validate_spec(tiny(arms=arms, **kw))
    assert "hazard_ratio = 3.0" in spec.to_toml()
    eng = Engine.create(spec)
    grid, _ = eng.survival_times()
    b = eng.run_block(0, 10)
    np.testing.assert_array_equal(b["diameter_mm"][0], b["diameter_mm"][1])
    link = SurvivalLink(scale_days=150.0, shape=1.2, beta=1.0)
    u = patient_uniforms(spec.sampling.seed, np.arange(10))
    for arm, lk in enumerate((link, link.with_hazard_ratio(3.0))):
        days, event = sample_death_days(b["diameter_mm"][arm][:, :9], grid, u, lk, follow_up=126.0)
        np.testing.assert_allclose(b["os_days"][arm], days, rtol=1e-12, atol=4 * DEATH_DAY_TOL)
        np.testing.assert_array_equal(b["os_event"][arm], event)
    assert np.all(b["os_days"][1] <= b["os_days"][0])
    assert b["os_event"][1].sum() > b["os_event"][0].sum()


def test_survival_spec_validation(tiny):
    spec = validate_spec(tiny(survival={"scale_days": 300, "shape": 1.0, "beta": 0.5}))
    assert spec.survival is not None and spec.survival.grid_days == 14.0
    assert spec.survival.sld_ref_mm == 100.0 and spec.survival.sld_floor_mm == 5.0
    assert SweepPlan.from_spec(spec).survival_seed == 3 and spec.survival.link().beta == 0.5
    assert (
        SweepPlan.from_spec(validate_spec(tiny(survival={**SURVIVAL, "seed": 9}))).survival_seed
        == 9
    )
    assert validate_spec(tiny()).survival is None
    assert "survival" not in validate_spec(tiny()).to_toml()
    cases = {
        "survival.scale_days: Input should be greater than 0": {
            "scale_days": 0,
            "shape": 1,
            "beta": 1,
        },
        "survival.shape: required key is missing": {"scale_days": 1, "beta": 1},
        "survival.beta: Input should be a valid number": {"scale_days": 1, "shape": 1, "beta": "1"},
        "survival.background_per_year: Input should be greater than or equal to 0": {
            **SURVIVAL,
            "background_per_year": -0.1,
        },
        "survival.grid_days: Input should be greater than 0": {**SURVIVAL, "grid_days": 0},
        "survival.sld_floor_mm: Input should be greater than 0": {**SURVIVAL, "sld_floor_mm": 0},
        "survival.lambda: unknown key": {**SURVIVAL, "lambda": 3},
        "survival.grid_days: 0.001 gives": {**SURVIVAL, "grid_days": 1e-3},
    }
    for message, section in cases.items():
        with pytest.raises(ValueError, match=message.replace(".", r"\.")) as err:
            validate_spec(tiny(survival=section))
        assert "\n" not in str(err.value)
    bad_target = [{"arm": "control", "name": "OS", "kind": "os_at", "value": 0.5}]
    with pytest.raises(ValueError, match=r"os_at.*needs 'day'"):
        validate_spec(tiny(survival=SURVIVAL, targets=bad_target))
    hr_arms = [{"name": "control"}, {"name": "control, hazard x2", "hazard_ratio": 2.0}]
    with pytest.raises(ValueError, match=r"arms\[1\]\.hazard_ratio: .*add a \[survival\]"):
        validate_spec(tiny(arms=hr_arms))
    with pytest.raises(ValueError, match="hazard_ratio: Input should be greater than 0"):
        validate_spec(tiny(survival=SURVIVAL, arms=[{"name": "c", "hazard_ratio": 0}]))
    no_survival = [{"arm": "control", "name": "mOS", "kind": "median_os", "value": 300.0}]
    with pytest.raises(ValueError, match=r"targets\[0\]\.kind: 'median_os' needs overall survival"):
        validate_spec(tiny(targets=no_survival))


def test_survival_with_response_over_time(tiny, tmp_path):
    """A sweep with ``[survival]`` and the time-course read-out: both read the scans after
    death carried forward, no response is read after death, and a responder's DoR (like PFS)
    ends at death when death comes first."""
    from tumorimmune.response import censor_after_death, timecourse_readout

    survival = {"scale_days": 120.0, "shape": 1.0, "beta": 0.5}
    scans = [14.0 * k for k in range(1, 9)] + [126.0]
    targets = [
        {"arm": "pembrolizumab 200 mg q3w", "name": "TTR", "kind": "median_ttr", "value": 42.0}
    ]
    spec = validate_spec(
        tiny(survival=survival, scan_days=scans, chunk_size=10, n_trajectories=0, targets=targets)
    )
    ds = run_sweep(spec, output=tmp_path / "tc.zarr")
    assert ds is not None
    v = {k: ds[k].values for k in ("ttr_days", "dor_days", "dor_event", "os_days", "os_event")}
    pfs = ds["pfs_days"].values
    ttr, dor, dor_event, os_days, dead = (
        v["ttr_days"],
        v["dor_days"],
        v["dor_event"].astype(bool),
        v["os_days"],
        v["os_event"].astype(bool),
    )
    resp = np.isfinite(ttr)
    assert (resp & dead).any() and (resp & ~dead).any() and (~resp & dead).any()
    # no response is read after death; PFS ends at death at the latest
    assert np.all(ttr[resp] <= os_days[resp])
    assert np.all(pfs <= os_days)
    # a responder who dies: the response ends at death at the latest, an event
    rd = resp & dead
    assert np.all(dor[rd] <= os_days[rd] - ttr[rd] + 1e-9)
    assert dor_event[rd].all()
    # the time course is read on the carried-forward diameters (those the RECIST read-out
    # got); deaths then end the responses that were still ongoing
    seen = censor_after_death(
        ds["diameter_mm"].values, SweepPlan.from_spec(spec).scan_days, os_days, dead
    )
    ref = timecourse_readout(
        seen, SweepPlan.from_spec(spec).scan_days, follow_up=spec.follow_up_days
    )
    for k in ("ttr_days", "pseudo_progression"):
        np.testing.assert_array_equal(ds[k].values, ref[k])
    # a death before the first post-baseline scan is PD, confirmed or not
    early = dead & (os_days < SweepPlan.from_spec(spec).scan_days[1])
    assert early.any()
    conf = np.where(early, 3, ref["confirmed_response"])
    np.testing.assert_array_equal(ds["confirmed_response"].values, conf)
    assert np.all(ds["best_response"].values[early] == 3)
    ended = rd & (~ref["dor_event"] | (os_days <= ttr + ref["dor_days"]))
    assert ended.any()
    np.testing.assert_allclose(dor[ended], os_days[ended] - ttr[ended])
    np.testing.assert_array_equal(dor[~ended], ref["dor_days"][~ended])
    np.testing.assert_array_equal(dor_event[~ended], ref["dor_event"][~ended])
    # summaries and targets see the same variables
    assert ds["median_dor_days"].dims == ("arm",) and ds["median_os_days"].dims == ("arm",)
    import json

    (row,) = json.loads(ds.attrs["calibration"])["targets"]
    assert row["kind"] == "median_ttr"
    arm = [str(a) for a in ds["arm"].values].index("pembrolizumab 200 mg q3w")
    np.testing.assert_allclose(row["simulated"], float(ds["median_ttr_days"].values[arm]))

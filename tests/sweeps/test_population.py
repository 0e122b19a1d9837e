"""Sweeps drawing patients from a calibrated population; explicit scans; published targets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pytest

from tumorimmune.response import Endpoint, EndpointKind, evaluate_endpoints, evaluate_targets
from tumorimmune.sweeps import SweepPlan, patient_table, validate_spec


@pytest.fixture
def vp_file(tmp_path):
    rng = np.random.default_rng(5)
    n = 50
    path = tmp_path / "vp.npz"
    np.savez(
        path,
        meta=np.array(json.dumps({})),
        a=rng.uniform(0.1, 0.3, n),
        T0=rng.uniform(1e9, 2e10, n),
        E0=rng.uniform(1e5, 5e5, n),
    )
    return path


def _pop_spec(tiny, vp_file, cohort=10, **pop):
    data = tiny()
    data["variability"] = {"L": {"dist": "uniform", "low": 0.0, "high": 1.0}}
    data["population"] = {"file": str(vp_file), **pop}
    data["sampling"]["cohort_size"] = cohort
    return data


def test_population_columns_are_rows_of_the_table(tiny, vp_file):
    spec = validate_spec(_pop_spec(tiny, vp_file))
    assert list(SweepPlan.from_spec(spec).columns)[:5] == ["eps_m", "L", "a", "T0", "E0"]
    tab = patient_table(spec)
    z = np.load(vp_file)
    rows = {tuple(r) for r in np.stack([z["a"], z["T0"], z["E0"]], axis=1)}
    got = np.stack([tab["a"], tab["T0"], tab["E0"]], axis=1)
    assert all(tuple(r) in rows for r in got)  # whole patients, never mixed columns
    # cohort (10) <= table (50): without replacement within a cell
    for cell in np.unique(tab["cell"]):
        sel = tab["cell"] == cell
        assert len(np.unique(tab["a"][sel])) == sel.sum()
    # the same seed gives the same patients; the draw is independent of chunking
    again = patient_table(spec, 3, 17)
    np.testing.assert_array_equal(again["a"], tab["a"][3:17])


def test_population_larger_cohort_resamples(tiny, vp_file):
    spec = validate_spec(_pop_spec(tiny, vp_file, cohort=120))
    tab = patient_table(spec)
    assert len(np.unique(tab["a"][tab["cell"] == 0])) <= 50


def test_population_errors_name_the_key(tiny, vp_file, tmp_path):
    bad = _pop_spec(tiny, vp_file)
    bad["variability"]["a"] = {"dist": "lognormal", "cv": 0.3}
    with pytest.raises(ValueError, match="population: column 'a' is also given in"):
        validate_spec(bad)
    with pytest.raises(ValueError, match=r"population\.file: no such file"):
        validate_spec(_pop_spec(tiny, tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match=r"population.columns: \['zz'\] not in"):
        validate_spec(_pop_spec(tiny, vp_file, columns=["a", "zz"]))


def test_explicit_scan_days(tiny):
    spec = validate_spec(tiny(scan_days=[84, 126]))
    np.testing.assert_array_equal(SweepPlan.from_spec(spec).scan_days, [0.0, 84.0, 126.0])
    with pytest.raises(ValueError, match="scan_days"):
        validate_spec(tiny(scan_days=[84, 42]))


def test_targets_validate_arm_and_kind(tiny):
    ok = {"arm": "control", "name": "ORR", "kind": "orr", "value": 0.3, "n": 100}
    validate_spec(tiny(targets=[ok]))
    with pytest.raises(ValueError, match=r"targets\[0\]\.arm: no arm named"):
        validate_spec(tiny(targets=[{**ok, "arm": "nope"}]))
    with pytest.raises(ValueError, match="needs 'day'"):
        validate_spec(tiny(targets=[{**ok, "kind": "pfs_at"}]))


def test_endpoints_on_constructed_arm():
    # 10 patients: 1 CR, 2 PR, 3 SD, 4 PD; PD at days 84 (3) and 126 (1); others censored at 168
    bor = np.array([0, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    days = np.array([168, 168, 168, 168, 168, 168, 84, 84, 84, 126], float)
    event = bor == 3
    r = {"bor": bor, "pfs_days": days, "pfs_event": event}
    eps = [
        Endpoint("ORR", "orr", 0.3, n=10),
        Endpoint("CR", "cr", 0.1, n=10),
        Endpoint("DCR", "dcr", 0.6, n=10),
        Endpoint("PFS at 100 d", "pfs_at", 0.7, day=100.0),
        Endpoint("median", "median_pfs", 150.0),
        Endpoint("resp PF", "responders_pf_at", 1.0, day=160.0),
    ]
    got = {row["name"]: cast("dict[str, Any]", row) for row in evaluate_endpoints(r, eps)}
    assert got["ORR"]["simulated"] == pytest.approx(0.3)
    assert got["CR"]["simulated"] == pytest.approx(0.1)
    assert got["DCR"]["simulated"] == pytest.approx(0.6)
    assert got["PFS at 100 d"]["simulated"] == pytest.approx(0.7)  # 3 of 10 progressed at 84
    assert got["median"]["simulated"] == np.inf or np.isnan(got["median"]["simulated"])
    assert got["resp PF"]["simulated"] == pytest.approx(1.0)
    lo, hi = got["ORR"]["simulated_lo"], got["ORR"]["simulated_hi"]
    assert lo < 0.3 < hi
    assert got["ORR"]["within"]
    rows = evaluate_targets(
        [_T("b", "ORR", "orr", 0.3, 10)],
        ["a", "b"],
        np.stack([bor, bor]),
        np.stack([days, days]),
        np.stack([event, event]),
    )
    assert rows[0]["arm"] == "b" and rows[0]["simulated"] == pytest.approx(0.3)


@dataclass
class _T:
    """A target as :func:`evaluate_targets` reads it (``TargetLike``)."""

    arm: str
    name: str
    kind: EndpointKind
    value: float
    n: int | None
    day: float | None = None
    lo: float | None = None
    hi: float | None = None
    source: str = ""
    fitted: bool = True
    subgroup: str | None = None


def test_subgroup_targets():
    from tumorimmune.response import subgroup_mask

    params = {"T0": np.array([1.0, 2.0, 3.0, 4.0]), "L": np.array([0.1, 0.9, 0.4, 0.6])}
    np.testing.assert_array_equal(subgroup_mask("T0 < median", params), [1, 1, 0, 0])
    np.testing.assert_array_equal(subgroup_mask("L >= 0.5", params), [0, 1, 0, 1])
    bor = np.array([[1, 3, 3, 3]])  # the one responder has the smallest tumor
    t = _T("a", "ORR small", "orr", 0.5, None)
    t.subgroup = "T0 < median"
    rows = evaluate_targets([t], ["a"], bor, np.full((1, 4), 84.0), bor == 3, params)
    assert rows[0]["simulated"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="subgroup must read"):
        subgroup_mask("T0 ~ 3", params)


def test_subgroup_column_must_exist(tiny):
    ok = {"arm": "control", "name": "ORR", "kind": "orr", "value": 0.3, "subgroup": "zz < 1"}
    with pytest.raises(ValueError, match=r"targets\[0\]\.subgroup: 'zz' is not a per-patient"):
        validate_spec(tiny(targets=[ok]))

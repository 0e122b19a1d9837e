"""Data loading and validation of tumor-size tables (tumorimmune.calibrate._data)."""

import numpy as np
import pandas as pd
import pytest

from tumorimmune.calibrate import load_measurements, to_cells
from tumorimmune.calibrate._data import dose_segments
from tumorimmune.response import Readout
from tumorimmune.sweeps import DEFAULT_N_LESIONS, diameter_mm, sum_of_diameters_mm


def _table(**over):
    df = pd.DataFrame(
        {
            "patient": ["a", "a", "a", "b", "b"],
            "day": [0.0, 7.0, 14.0, -3.0, 10.0],
            "value": [1e9, 2e9, 3e9, 5e8, 4e8],
            "unit": "cells",
        }
    )
    for k, v in over.items():
        df[k] = v
    return df


def test_padding_and_baseline_shift():
    d = load_measurements(_table())
    assert list(d.patients) == ["a", "b"]
    np.testing.assert_array_equal(d.baseline_day, [0.0, -3.0])
    np.testing.assert_array_equal(d.t, [[0, 7, 14], [0, 13, 13]])
    np.testing.assert_array_equal(d.mask, [[True, True, True], [True, True, False]])
    np.testing.assert_array_equal(d.n_obs, [3, 2])
    back = d.to_frame()
    np.testing.assert_array_equal(back["day"], _table()["day"])
    np.testing.assert_array_equal(back["cells"], _table()["value"])


def test_unit_conversions_match_spherical_lesion():
    # mm3: 1 cm³ = 1000 mm³ = 1e9 cells
    np.testing.assert_allclose(to_cells(1000.0, "mm3"), 1e9)
    # diameters with n_lesions = 1: inverse of sweeps.diameter_mm (the former single sphere)
    cells = np.array([1e8, 1e9, 3e10])
    one = Readout(n_lesions=1)
    np.testing.assert_allclose(to_cells(diameter_mm(cells), "mm", readout=one), cells, rtol=1e-12)
    dense = Readout(n_lesions=1, cells_per_cm3=2e8)
    np.testing.assert_allclose(
        to_cells(diameter_mm(cells, readout=dense), "mm", readout=dense), cells
    )
    d = load_measurements(_table(unit="mm3"))
    np.testing.assert_allclose(d.cells[0, 0], 1e9 * 1e9 / 1000.0)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_sum_of_diameters_is_read_as_k_equal_lesions(k):
    # inverse of the simulation read-out sweeps.sum_of_diameters_mm, whatever k
    cells = np.array([1e8, 1e9, 3e10])
    sld = sum_of_diameters_mm(cells, readout=Readout(n_lesions=k, detection_limit_mm=0.0))
    np.testing.assert_allclose(to_cells(sld, "mm", readout=Readout(n_lesions=k)), cells, rtol=1e-12)
    # by hand: an SLD of 60 mm in k lesions of 60/k mm, (π/6)·(60/k)³ mm³ each, 1e6 cells/mm³
    expected = k * np.pi / 6 * (60.0 / k) ** 3 * 1e6
    np.testing.assert_allclose(
        to_cells(60.0, "mm", readout=Readout(n_lesions=k)), expected, rtol=1e-14
    )
    d = load_measurements(
        _table(value=[60.0, 50.0, 40.0, 30.0, 20.0], unit="mm"), readout=Readout(n_lesions=k)
    )
    assert d.n_lesions == k
    np.testing.assert_allclose(d.cells[0, 0], expected, rtol=1e-14)
    # a single sphere of 60 mm holds k² times more (the former reading of a sum)
    assert to_cells(60.0, "mm", readout=Readout(n_lesions=1)) == pytest.approx(k**2 * expected)


def test_default_lesion_count_is_documented_three():
    assert DEFAULT_N_LESIONS == 3
    assert to_cells(60.0, "mm") == to_cells(60.0, "mm", readout=Readout(n_lesions=3))
    assert load_measurements(_table(unit="mm")).n_lesions == 3
    for bad in (0, 2.5, float("nan")):
        with pytest.raises(ValueError, match="n_lesions must be an integer >= 1"):
            to_cells(60.0, "mm", readout=Readout(n_lesions=bad))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frame", "unit", "match"),
    [
        (_table().drop(columns="day"), None, "missing column 'day'"),
        (_table().drop(columns="unit"), None, "missing column 'unit'"),
        (_table(value=[1e9, -1.0, 3e9, 5e8, 4e8]), None, "must be >= 0.*patient 'a'"),
        (_table(day=[0.0, 14.0, 7.0, 0.0, 1.0]), None, "patient 'a'.*sorted"),
        (_table(day=[0.0, 7.0, 7.0, 0.0, 1.0]), None, "patient 'a' has a duplicated day 7.0"),
        (_table(unit="furlongs"), None, "unknown unit 'furlongs'"),
        (_table(unit=["cells"] * 4 + ["mm3"]), None, "mixes units"),
        (_table(value=["1", "x", "2", "3", "4"]), None, "finite numbers.*'x'"),
        (_table().drop(columns="unit"), "parsecs", "unknown unit 'parsecs'"),
    ],
)
def test_validation_errors(frame, unit, match):
    with pytest.raises(ValueError, match=match):
        load_measurements(frame, unit=unit)


def test_too_few_measurements():
    with pytest.raises(ValueError, match="patient 'b' has 1 measurement"):
        load_measurements(_table().iloc[:4])


def test_doses_validation_and_segments():
    doses = pd.DataFrame({"patient": ["a", "a", "b"], "day": [0.0, 7.0, -3.0], "dose_mg": 200.0})
    d = load_measurements(_table(), doses=doses)
    assert d.has_doses
    np.testing.assert_array_equal(d.dose_days[1], [0.0])  # relative to b's baseline (-3)
    starts, ends, dose = dose_segments(d, 14.0)
    np.testing.assert_array_equal(starts, [0.0, 7.0])
    np.testing.assert_array_equal(ends, [7.0, 14.0])
    np.testing.assert_array_equal(dose, [[200.0, 200.0], [200.0, 0.0]])
    early = doses.assign(day=[-1.0, 7.0, -3.0])
    with pytest.raises(ValueError, match="before the baseline"):
        load_measurements(_table(), doses=early)
    with pytest.raises(ValueError, match="'dose_mg' must be > 0"):
        load_measurements(_table(), doses=doses.assign(dose_mg=[1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="patient 'zz' with no measurements"):
        load_measurements(_table(), doses=doses.assign(patient=["a", "a", "zz"]))
    with pytest.raises(ValueError, match="missing column 'dose_mg'"):
        load_measurements(_table(), doses=doses.drop(columns="dose_mg"))


def test_csv_and_parquet_roundtrip(tmp_path):
    df = _table()
    df.to_csv(tmp_path / "m.csv", index=False)
    df.to_parquet(tmp_path / "m.parquet")
    a = load_measurements(tmp_path / "m.csv")
    b = load_measurements(tmp_path / "m.parquet")
    np.testing.assert_array_equal(a.cells, b.cells)
    with pytest.raises(ValueError, match="does not exist"):
        load_measurements(tmp_path / "nope.csv")
    (tmp_path / "m.xlsx").write_bytes(b"")
    with pytest.raises(ValueError, match=r"use \.csv or \.parquet"):
        load_measurements(tmp_path / "m.xlsx")


def test_patient_ids_are_text(tmp_path):
    """``01`` and ``1`` (and ``7`` and ``7.0``) are four patients, leading zeros kept."""
    path = tmp_path / "ids.csv"
    path.write_text(
        "patient,day,value,unit\n"
        + "".join(
            f"{p},{d},{1e6 * (1 + d)},cells\n" for p in ("01", "1", "7", "7.0") for d in (0, 7)
        )
    )
    d = load_measurements(path)
    assert list(d.patients) == ["01", "1", "7", "7.0"]
    with pytest.raises(ValueError, match="'patient' is empty in row 2"):
        load_measurements(_table(patient=["a", "a", None, "b", "b"]))


def test_grouping_matches_a_per_patient_reference():
    """Interleaved rows of many patients: the one-pass grouping equals a per-patient scan."""
    rng = np.random.default_rng(0)
    P = 300
    n_obs = rng.integers(1, 9, size=P)
    rows = [
        (f"p{i}", float(k * 7 + rng.uniform(0, 3)), float(rng.uniform(1e6, 1e9)))
        for i in range(P)
        for k in range(n_obs[i])
    ]
    order = rng.permutation(len(rows))
    # shuffle patients' rows together but keep each patient's days increasing
    df = pd.DataFrame([rows[j] for j in order], columns=["patient", "day", "value"])
    df = df.sort_values(["day"], kind="stable")
    d = load_measurements(df, unit="cells", min_obs=1)
    ids = list(dict.fromkeys(df["patient"]))
    assert list(d.patients) == ids
    for i, pid in enumerate(ids):
        sub = df[df["patient"] == pid]
        k = len(sub)
        day = np.asarray(sub["day"], dtype=float)
        np.testing.assert_array_equal(d.baseline_day[i], day[0])
        np.testing.assert_array_equal(d.t[i, :k], day - day[0])
        np.testing.assert_array_equal(d.cells[i, :k], sub["value"])
        assert d.mask[i].sum() == k and np.all(d.t[i, k:] == d.t[i, k - 1])
    np.testing.assert_array_equal(d.to_frame()["cells"].sum(), df["value"].sum())


def test_many_patients_load_into_one_padded_table():
    """1e5 rows of 1e4 patients load into their padded arrays (the speed, linear in the rows,
    is measured by benchmarks/load_measurements, not asserted here)."""
    P = 10_000
    df = pd.DataFrame(
        {
            "patient": np.repeat(np.arange(P).astype(str), 10),
            "day": np.tile(np.arange(10) * 7.0, P),
            "value": np.arange(10 * P, dtype=float) + 1.0,
        }
    )
    d = load_measurements(df, unit="cells")
    assert d.n_patients == P and d.t.shape == (P, 10)
    np.testing.assert_array_equal(d.t[0], np.arange(10) * 7.0)
    np.testing.assert_array_equal(d.cells.sum(), df["value"].sum())

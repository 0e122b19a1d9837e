"""The population library: the registry's entries, their files, targets, fits and example
specs; names resolve as before; unknown names list the registry."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from tumorimmune import sweeps
from tumorimmune.sweeps._spec import PACKAGED_POPULATIONS, PopulationSpec

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(sweeps.POPULATIONS))
def test_every_entry_is_complete(name):
    e = sweeps.POPULATIONS[name]
    assert e.name == name == name.lower() and e.path().is_file()
    assert e.indication and e.trial and e.citation
    example = ROOT / e.example
    assert example.is_file(), e.example
    spec = tomllib.loads(example.read_text())
    assert spec["population"]["file"] == name  # the example uses this population
    targets = e.targets()
    assert targets and all({"name", "target", "simulated", "source"} <= set(t) for t in targets)
    assert e.fit()["n_selected"] == e.n_patients() > 0
    with np.load(e.path()) as z:
        assert len(z["L"]) == e.n_patients()
    assert e.indication in e.caveat() and e.trial in e.caveat()


def test_keynote006_entry_and_compatibility():
    e = sweeps.get_population("KEYNOTE006")
    assert e.indication == "advanced melanoma"
    assert "KEYNOTE-006" in e.trial and "10 mg/kg q3w" in e.trial
    assert [t["name"] for t in e.targets()][:2] == ["ORR", "CR rate"]
    assert PACKAGED_POPULATIONS["keynote006"] == "keynote006_vpop.npz"
    assert PopulationSpec(file="keynote006").path() == e.path()
    assert PopulationSpec(file="KeyNote006").entry() is e


def test_keynote024_entry():
    e = sweeps.get_population("KEYNOTE024")
    assert e.indication == "advanced NSCLC, PD-L1 TPS ≥ 50 %, first line"
    assert "KEYNOTE-024" in e.trial and "200 mg q3w" in e.trial
    assert e.example == "examples/nsclc_keynote024.toml"
    assert [t["name"] for t in e.targets()] == [
        "ORR",
        "CR rate",
        "6-month PFS",
        "median PFS (days)",
    ]
    assert all(t["within"] for t in e.targets())
    assert PACKAGED_POPULATIONS["keynote024"] == "keynote024_vpop.npz"
    assert PopulationSpec(file="keynote024").entry() is e
    with np.load(e.path()) as z:
        assert np.all(z["L"] >= 0.5 - 1e-12)  # TPS >= 50 % (TPS = 100·L)


def test_unknown_names_list_the_registry(tmp_path):
    with pytest.raises(ValueError, match=r"keynote006.*advanced melanoma"):
        sweeps.get_population("keynote999")
    with pytest.raises(ValueError, match="packaged populations: 'keynote006'"):
        PopulationSpec(file=str(tmp_path / "nope.npz")).table()
    assert PopulationSpec(file=str(tmp_path / "x.npz")).entry() is None


def test_a_stored_tps_column_is_an_assay_read_out(tmp_path):
    path = tmp_path / "pop.npz"
    tps = np.array([0.5, 10.0, 60.0, 99.0])
    np.savez(path, tps=tps, T0=np.full(4, 1e10))
    pop = PopulationSpec(file=str(path))
    assert sorted(pop.table()) == ["L", "T0"]  # L from the stored TPS; tps no model column
    assert np.allclose(pop.table()["L"], tps / 100)
    assert np.array_equal(pop.table(assay=True)["tps"], tps)

"""PD-L1 TPS strata in sweeps: subgroups on ``tps`` (derived from ``L``), the run's
``pdl1_strata`` read-out, the registry population's ``tps`` column and report caveat; every
read-out equals a hand count in NumPy on the same store or table."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np

from tumorimmune import sweeps
from tumorimmune.model import tps_from_L
from tumorimmune.response import response_by_tps, subgroup_mask
from tumorimmune.sweeps._runner import clinical_attrs

ROOT = Path(__file__).resolve().parents[2]

SPEC = """
name = "tps-tiny"
model = "TumorImmunePD1"
follow_up_days = 126
chunk_size = 16
precision = "float64"
backend = "diffrax"
scan_days = [42, 84, 126]

[parameters]
b = 2e-11
g = 2.019e9
m = 3.422e-12
eps_n = 3.0

[initial]
T0 = 1.5e10

[variability.L]
dist = "uniform"
low = 0.0
high = 1.0

[sampling]
cohort_size = 40
seed = 3

[[arms]]
name = "control"

[[arms]]
name = "pembro"
regimen = "pembrolizumab_200mg_q3w"

[[targets]]
arm = "pembro"
name = "ORR, TPS >= 50 %"
kind = "orr"
value = 0.4
subgroup = "tps >= 50"

[[targets]]
arm = "pembro"
name = "ORR, TPS 1-49 %"
kind = "orr"
value = 0.2
subgroup = "tps >= 1 and tps < 50"
"""


def _hand_orr(br: np.ndarray, sel: np.ndarray) -> tuple[int, int]:
    ok = sel & (br >= 0)
    return int(np.sum(ok)), int(np.sum(ok & (br <= 1)))


def test_tps_strata_of_a_run_equal_hand_counts(tmp_path):
    spec = sweeps.validate_spec(tomllib.loads(SPEC))
    ds = sweeps.run_sweep(spec, output=tmp_path / "r.zarr")
    assert ds is not None
    br = np.asarray(ds["best_response"])
    tps = 100.0 * np.asarray(ds["param_L"], float)  # by hand: TPS = 100·L
    # the run's PD-L1 strata: per arm and category, evaluable patients and responders
    strata = json.loads(ds.attrs["pdl1_strata"])
    assert len(strata) == 2 * 3
    bins = {"<1%": tps < 1, "1-49%": (tps >= 1) & (tps < 50), ">=50%": tps >= 50}
    for row in strata:
        i = ["control", "pembro"].index(row["arm"])
        n, k = _hand_orr(br[i], bins[row["category"]])
        assert (row["n"], row["responders"]) == (n, k), row
        assert (math.isnan(row["orr"]) and n == 0) or row["orr"] == k / n
    assert sum(r["n"] for r in strata if r["arm"] == "pembro") == int(np.sum(br[1] >= 0))
    # the targets' subgroups on tps read the same patients
    cal = json.loads(ds.attrs["calibration"])["targets"]
    for row, sel in zip(cal, (bins[">=50%"], bins["1-49%"]), strict=True):
        n, k = _hand_orr(br[1], sel)
        assert row["simulated"] == (k / n if n else math.nan), row
    # the report shows them
    from tumorimmune.reports import pdl1_section

    section = pdl1_section(ds)
    assert section is not None and "&gt;=50%" in str(section.html)


def test_tps_subgroup_needs_L_per_patient():
    text = SPEC.replace('[variability.L]\ndist = "uniform"\nlow = 0.0\nhigh = 1.0\n', "")
    try:
        sweeps.validate_spec(tomllib.loads(text))
    except ValueError as err:
        assert "'tps' is not a per-patient column" in str(err)
    else:
        raise AssertionError("a tps subgroup without a per-patient L validated")


def test_population_table_has_tps_and_subgroups_count_it():
    spec = sweeps.load_spec(ROOT / "examples" / "pd1_virtual_trial.toml")
    pop = spec.population
    assert pop is not None and pop.entry() is sweeps.POPULATIONS["keynote006"]
    plain, tab = pop.table(), pop.table(assay=True)
    assert "tps" not in plain  # not a model column: the sweep never samples it
    assert set(tab) == {*plain, "tps"} and np.array_equal(tab["tps"], tps_from_L(plain["L"]))
    # TPS >= 1 % / >= 50 % subgroups, by hand on the same table
    L = plain["L"]
    for text, hand in (("tps >= 1", L >= 0.01), ("tps >= 50", L >= 0.5), ("tps < 1", L < 0.01)):
        assert np.array_equal(subgroup_mask(text, plain), hand), text
    # the stratified read-out of a made-up response on the table, by hand
    rng = np.random.default_rng(0)
    br = rng.integers(-1, 4, size=(1, L.size))
    (lo, mid, hi) = response_by_tps(br, tab["tps"], arms=["a"])
    for row, sel in ((lo, L < 0.01), (mid, (L >= 0.01) & (L < 0.5)), (hi, L >= 0.5)):
        assert (row["n"], row["responders"]) == _hand_orr(br[0], sel)


def test_registry_population_adds_its_caveat_and_keeps_the_spec_caveats():
    spec = sweeps.load_spec(ROOT / "examples" / "pd1_virtual_trial.toml")
    spec = spec.model_copy(update={"targets": []})
    n = 5
    br = np.zeros((len(spec.arms), n), np.int8)
    days, event = np.full((len(spec.arms), n), 84.0), np.zeros((len(spec.arms), n), bool)
    out = clinical_attrs(spec, br, days, event, {"L": np.linspace(0, 1, n)})
    cav = json.loads(out["caveats"])
    entry = sweeps.get_population("keynote006")
    assert cav[: len(spec.caveats)] == list(spec.caveats)
    assert cav[-1] == entry.caveat() and "advanced melanoma" in cav[-1]
    assert "KEYNOTE-006" in cav[-1]
    assert len(json.loads(out["pdl1_strata"])) == 3 * len(spec.arms)

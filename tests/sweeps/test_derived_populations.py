"""The derived populations ``keynote042`` and ``keynote010`` (KEYNOTE-024 patients, PD-L1 redrawn
to KEYNOTE-042's enrolled / KEYNOTE-010's TPS mix) and their validation specs: deterministic
derivation, the stratum shares, the other columns untouched, the examples' held-out targets and
PD-L1 strata against hand counts."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from tumorimmune import sweeps
from tumorimmune.model import KEYNOTE010_SCREENED, KEYNOTE042_ENROLLED
from tumorimmune.sweeps._populations import (
    DERIVATIONS,
    KEYNOTE010_SEED,
    KEYNOTE042_SEED,
    derive_keynote042,
    redraw_pdl1,
)
from tumorimmune.sweeps._runner import clinical_attrs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "nsclc_keynote042.toml"


def _load(name: str) -> dict[str, np.ndarray]:
    with np.load(sweeps.get_population(name).path(), allow_pickle=False) as z:
        return {k: np.asarray(z[k]) for k in z.files if k != "meta"}


def test_derivation_is_deterministic_and_is_the_packaged_file():
    a, meta = derive_keynote042()
    b, _ = derive_keynote042(KEYNOTE042_SEED)
    packaged = _load("keynote042")
    assert sorted(a) == sorted(b) == sorted(packaged)
    for k in a:
        assert np.array_equal(a[k], b[k]) and np.array_equal(a[k], packaged[k]), k
    other, _ = derive_keynote042(KEYNOTE042_SEED + 1)
    assert not np.array_equal(other["L"], a["L"])  # the seed decides the draws
    d = meta["info"]["derived"]
    assert d["from"] == "keynote024" and d["seed"] == KEYNOTE042_SEED and d["redrawn"] == ["L"]
    assert meta["endpoints"] == sweeps.get_population("keynote024").metadata()["endpoints"]


@pytest.mark.parametrize("name", ["keynote042", "keynote010"])
def test_only_pdl1_differs_from_the_source_population(name):
    src, new = _load("keynote024"), _load(name)
    assert sorted(src) == sorted(new)
    for k in src:
        if k != "L":
            assert np.array_equal(src[k], new[k]), k  # bit for bit, same patient order
    assert np.all(src["L"] >= 0.5 - 1e-12) and np.any(new["L"] < 0.5)
    with pytest.raises(ValueError, match="'L' column"):
        redraw_pdl1({"T0": np.ones(3)}, KEYNOTE042_ENROLLED, seed=0)


def test_tps_mix_matches_keynote042_within_binomial_tolerance():
    tps = 100.0 * _load("keynote042")["L"]
    n = tps.size
    assert np.all(tps >= 1.0) and np.all(tps <= 100.0)  # TPS >= 1 % only
    edges = (1.0, 20.0, 50.0, 100.0 + 1e-9)
    for share, lo, hi in zip(KEYNOTE042_ENROLLED.shares[1:], edges[:-1], edges[1:], strict=True):
        k = int(np.sum((tps >= lo) & (tps < hi)))
        sd = math.sqrt(n * share * (1 - share))
        assert abs(k - n * share) < 4 * sd, (lo, hi, k, n * share)
        # uniform within the category: the mean score is the category's midpoint
        inside = tps[(tps >= lo) & (tps < hi)]
        half = (min(hi, 100.0) - lo) / 2
        assert abs(inside.mean() - (lo + half)) < 4 * half / math.sqrt(3 * inside.size)
    # the published cumulative strata: 599 / 1274 >= 50 %, 818 / 1274 >= 20 %
    assert KEYNOTE042_ENROLLED.share_at_least(50.0) == pytest.approx(599 / 1274)
    assert KEYNOTE042_ENROLLED.share_at_least(20.0) == pytest.approx(818 / 1274)


def test_registry_entry_names_its_source():
    e = sweeps.get_population("keynote042")
    assert e.derived_from == "keynote024" and e.example == "examples/nsclc_keynote042.toml"
    assert "TPS ≥ 1 %" in e.indication and "not calibrated to KEYNOTE-042" in e.trial
    assert e.summary()["derivation"]["seed"] == KEYNOTE042_SEED


def test_example_holds_out_every_target_and_reports_the_strata():
    """The example's read-out step (what ``tumorimmune run`` writes after solving) on the
    population's own patients with made-up outcomes: every row held out, each median OS of a
    stratum and each PD-L1 stratum equal to a hand count. (A solved run of the example is
    in docs/science.md §8; solving here would cost more than this suite's time budget.)"""
    spec = sweeps.validate_spec(tomllib.loads(EXAMPLE.read_text()))
    assert spec.targets and not any(t.fitted for t in spec.targets)
    assert {t.subgroup for t in spec.targets} >= {"tps >= 50", "tps >= 20", "tps >= 1"}
    assert (
        spec.population is not None and spec.population.entry() is sweeps.POPULATIONS["keynote042"]
    )
    params = spec.population.table()
    n, arms = len(params["L"]), [a.name for a in spec.arms]
    rng = np.random.default_rng(42)
    br = rng.integers(-1, 4, size=(len(arms), n))
    os_days = rng.uniform(1.0, 1095.0, size=(len(arms), n))  # distinct, every one a death
    days, event = np.full((len(arms), n), 189.0), np.ones((len(arms), n), bool)
    readout = {"os_days": os_days, "os_event": event}
    out = clinical_attrs(spec, br, days, event, params, readout=readout)
    tps = 100.0 * params["L"]
    bins = {
        "<1%": tps < 1,
        "1-19%": (tps >= 1) & (tps < 20),
        "20-49%": (tps >= 20) & (tps < 50),
        ">=50%": tps >= 50,
    }
    strata = json.loads(out["pdl1_strata"])
    assert [r["category"] for r in strata] == list(bins) * len(arms)
    for row in strata:
        b = br[arms.index(row["arm"])]
        sel = bins[row["category"]] & (b >= 0)
        assert (row["n"], row["responders"]) == (int(sel.sum()), int((sel & (b <= 1)).sum()))
    rows = json.loads(out["calibration"])["targets"]
    assert len(rows) == len(spec.targets) and not any(r["fitted"] for r in rows)
    for row, t in zip(rows, spec.targets, strict=True):
        assert row["kind"] == "median_os" and row["subgroup"] == t.subgroup
        assert t.subgroup is not None
        lo = float(t.subgroup.split(">=")[1].split()[0])
        i = arms.index(t.arm)
        sel = (tps >= lo) & (tps < 50 if "< 50" in t.subgroup else True) & (br[i] >= 0)
        # all deaths, distinct days: the Kaplan-Meier median of the stratum's evaluable
        # patients is their sample median
        assert row["simulated"] == pytest.approx(np.median(os_days[i][sel]), rel=1e-12)


def test_tps_cutoffs_must_increase_inside_0_100():
    data = tomllib.loads(EXAMPLE.read_text())
    data["report"] = {"tps_cutoffs": [50, 20]}
    with pytest.raises(ValueError, match="tps_cutoffs"):
        sweeps.validate_spec(data)


def test_keynote010_is_its_derivation_with_the_keynote010_mix():
    table, meta = DERIVATIONS["keynote010"]()
    packaged = _load("keynote010")
    assert all(np.array_equal(table[k], packaged[k]) for k in packaged)
    assert meta["info"]["derived"]["seed"] == KEYNOTE010_SEED
    assert "docetaxel kill is its platinum-doublet kill" in meta["info"]["derived"]["assumption"]
    tps = 100.0 * packaged["L"]
    share, n = KEYNOTE010_SCREENED.share_at_least(50.0), tps.size
    assert share == pytest.approx(230 / 574) and np.all(tps >= 1.0)
    assert abs(np.sum(tps >= 50) - n * share) < 4 * math.sqrt(n * share * (1 - share))
    e = sweeps.get_population("keynote010")
    assert e.derived_from == "keynote024" and "previously treated" in e.indication


def test_keynote010_example_holds_out_every_target_on_its_arms():
    spec = sweeps.load_spec(ROOT / "examples" / "nsclc_keynote010.toml")
    assert spec.population is not None and spec.population.file == "keynote010"
    assert not any(t.fitted for t in spec.targets)
    assert [a.chemo for a in spec.arms] == [None, None, "docetaxel"]
    assert {t.kind for t in spec.targets} == {"median_os", "orr", "median_pfs"}
    assert {t.subgroup for t in spec.targets} == {None, "tps >= 50"}

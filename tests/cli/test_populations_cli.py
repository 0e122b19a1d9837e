"""``tumorimmune populations``: the registry on the command line (a subprocess, as a user
runs it)."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tumorimmune", "populations", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)


def test_populations_lists_name_indication_trial_targets_and_size():
    res = _run()
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.splitlines()[0] == "keynote006"
    for text in ("advanced melanoma", "KEYNOTE-006", "patients:   19726", "ORR", "median PFS"):
        assert text in out, text
    assert "examples/pd1_virtual_trial.toml" in out


def test_populations_json():
    res = _run("--json")
    assert res.returncode == 0, res.stderr
    entries = {e["name"]: e for e in json.loads(res.stdout)}
    assert sorted(entries) == ["keynote006", "keynote010", "keynote024", "keynote042"]
    entry = entries["keynote006"]
    assert entry["n_patients"] == 19726
    assert entry["indication"] == "advanced melanoma"
    assert {t["kind"] for t in entry["targets"]} >= {"orr", "cr", "pfs_at", "median_pfs"}
    assert entry["fit"]["chi2_p"] > 0.05 and entry["pdl1"]["cutoffs"] == [1.0]
    nsclc = entries["keynote024"]
    assert nsclc["indication"] == "advanced NSCLC, PD-L1 TPS ≥ 50 %, first line"
    assert nsclc["fit"]["chi2_p"] > 0.05 and nsclc["pdl1"]["cutoffs"] == [1.0, 50.0]
    assert nsclc["derived_from"] is None
    derived = entries["keynote042"]  # KEYNOTE-024's patients, PD-L1 redrawn
    assert derived["derived_from"] == "keynote024" and derived["derivation"]["redrawn"] == ["L"]
    assert derived["n_patients"] == nsclc["n_patients"] and derived["fit"] == nsclc["fit"]
    assert derived["pdl1"]["cutoffs"] == [1.0, 20.0, 50.0]

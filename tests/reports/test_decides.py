"""The report's "What decides response" section of a cohort (issue #26)."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import numpy as np
import pytest
import tomli_w

from tumorimmune import analysis, sweeps
from tumorimmune.reports import render_report
from tumorimmune.reports._decides import decides_section

ARMS = ("untreated", "pembrolizumab 200 mg q3w", "nivolumab 240 mg q2w")
IDS = [
    "fig-what-decides-response",
    "fig-what-decides-response-2",
    "fig-what-decides-response-3",
    "fig-what-decides-response-4",
    "fig-what-decides-response-5",
]
NO_MAP = "Response map: needs two swept grid axes"


@pytest.fixture(scope="module")
def cohort(results_factory):
    """A cohort without a grid: eps_n, L, a and T0 vary per patient; one untreated arm."""
    return results_factory(grid=False, cohort=True, n_per_cell=240, arms=ARMS, failed=())


def _with_report(ds, report: dict):
    spec = tomllib.loads(ds.attrs["spec"])
    spec["report"] = report
    return ds.assign_attrs(spec=tomli_w.dumps(spec))


def _figure(section: Any, k: int) -> Any:
    """Figure ``k`` of a section (plotly objects, attributes read untyped)."""
    return section.figures[k]


def _figure_ids(html: str) -> list[str]:
    return re.findall(r'<div id="(fig-[a-z0-9-]+)" class="figure">', html)


def test_cohort_report_has_the_section_and_no_missing_response_map(cohort):
    html = render_report(cohort)
    ids = _figure_ids(html)
    assert [i for i in ids if i.startswith("fig-what-decides")] == IDS
    assert '<section id="what-decides-response">' in html
    assert 'id="effect-table"' in html and 'id="ranking-note"' in html
    assert NO_MAP not in html
    assert "fig-response-map" not in ids


def test_grid_sweep_keeps_its_response_map(results):
    html = render_report(results)
    ids = _figure_ids(html)
    assert "fig-response-map" in ids
    assert not any(i.startswith("fig-what-decides") for i in ids)


def test_cohort_without_varying_parameters_says_why(results_factory):
    ds = results_factory(grid=False, arms=ARMS).drop_vars(["param_a", "param_T0"])
    html = render_report(ds)
    assert "fig-what-decides-response" not in _figure_ids(html)
    assert NO_MAP in html  # nothing replaces it
    assert "What decides response: it needs at least two patient covariates" in html


def test_map_shows_the_covariate_map_of_each_treated_arm(cohort):
    fig = _figure(decides_section(cohort), 0)
    maps = {
        o: analysis.covariate_map(cohort, "L", "baseline_sld_mm", bins=4, outcome=o, arms=ARMS[1:])
        for o in ("response", "pfs")
    }
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 2 * len(ARMS[1:])  # ORR and PFS per treated arm, the untreated: none
    for a, arm in enumerate(ARMS[1:]):
        for k, outcome in enumerate(("response", "pfs")):
            trace = heat[2 * a + k]
            want = maps[outcome]["rate"].sel(arm=arm).values.T  # (y bin, x bin)
            np.testing.assert_allclose(np.asarray(trace.z, dtype=float), want, equal_nan=True)
            assert trace.visible is (a == 0)
            n = maps[outcome]["n"].sel(arm=arm).values.T
            assert trace.text[0][0].endswith(f"n = {n[0, 0]:,}")
    assert fig.layout.xaxis.title.text == "PD-L1 expression L"
    assert fig.layout.yaxis.title.text == "baseline sum of diameters (mm)"
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == list(ARMS[1:])
    lo, hi = maps["response"]["x_lo"].values, maps["response"]["x_hi"].values
    assert heat[0].x[0] == f"{lo[0]:.2f}–{hi[0]:.2f}"  # bin-edge ranges


def test_report_section_chooses_the_map_pair(cohort):
    stored = _with_report(cohort, {"map": ["T0", "a"], "map_bins": 3})
    fig = _figure(decides_section(stored), 0)
    want = analysis.covariate_map(cohort, "T0", "a", bins=3, arms=ARMS[1])["rate"]
    np.testing.assert_allclose(np.asarray(fig.data[0].z, float), want.values[0].T)
    assert fig.layout.xaxis.title.text.startswith("baseline tumor T0")
    # a library user's override wins over the stored spec
    fig = _figure(decides_section(stored, {"map": ("eps_n", "L")}), 0)
    assert fig.layout.xaxis.title.text == "eps_n"
    assert np.asarray(fig.data[0].z).shape == (3, 3)  # map_bins 3 of the spec kept


def test_bad_covariate_in_stored_spec_is_a_note_not_a_crash(cohort):
    section = decides_section(_with_report(cohort, {"map": ["L", "nope"], "biomarker": "zz"}))
    assert "[report] map names 'nope', not a varying covariate" in section.note
    assert "[report] biomarker names 'zz'" in section.note
    assert _figure(section, 0).layout.yaxis.title.text == "baseline sum of diameters (mm)"
    with pytest.raises(ValueError, match="map needs two different covariates"):
        render_report(cohort, decides={"map": ["L", "L"]})


def test_thresholds_and_effect_follow_the_analysis(cohort):
    section = decides_section(cohort, {"biomarker": "L", "thresholds": [0.2, 0.5, 0.8]})
    thr = analysis.biomarker_thresholds(cohort, "L", thresholds=[0.2, 0.5, 0.8], arms=ARMS[1:])
    data = _figure(section, 4).data
    lines = [t for t in data if t.name == ARMS[1] and t.xaxis == "x"]
    np.testing.assert_allclose(lines[-1].y, thr["orr"].sel(arm=ARMS[1]).values)
    summary = analysis.effect_summary(analysis.treatment_effect(cohort, arms=ARMS[1:]))
    b = summary.sel(arm=ARMS[1])
    assert f'{100 * float(b["nonresponder_benefit"]):.1f} <span class="ci">(' in section.html


def test_spec_report_is_validated_and_leaves_resuming_alone():
    base = tomllib.loads(open("examples/quickstart.toml", "rb").read().decode())
    spec = sweeps.validate_spec(base)
    with_report = sweeps.validate_spec({**base, "report": {"map": ["L", "T0"], "map_bins": 3}})
    assert with_report.report is not None and with_report.report.map == ["L", "T0"]
    assert sweeps.spec_key(with_report) == sweeps.spec_key(spec)
    assert "[report]" not in spec.to_toml()  # a spec without it: the same TOML as before
    with pytest.raises(ValueError, match=r"report\.map: 'Lx' is not a covariate of this sweep"):
        sweeps.validate_spec({**base, "report": {"map": ["L", "Lx"]}})
    with pytest.raises(ValueError, match=r"report\.biomarker: 'zz'"):
        sweeps.validate_spec({**base, "report": {"biomarker": "zz"}})

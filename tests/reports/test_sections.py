"""Tests of tumorimmune.reports._sections: the Section hook, calibration and caveats."""

from __future__ import annotations

import html as html_lib
import json
import re

import plotly.graph_objects as go
import pytest

from tumorimmune.reports import Section, calibration_section, html_table, render_report
from tumorimmune.reports._sections import calibration_rows

CALIBRATION = {
    "targets": [
        {"name": "ORR pembrolizumab", "target": 0.33, "target_lo": 0.28, "target_hi": 0.38,
         "simulated": 0.35, "simulated_lo": 0.31, "simulated_hi": 0.39, "unit": "fraction",
         "source": "KEYNOTE-006", "fitted": True},
        {"name": "ORR nivolumab", "target": 0.40, "target_lo": 0.35, "target_hi": 0.45,
         "simulated": 0.30, "simulated_lo": 0.26, "simulated_hi": 0.34, "unit": "fraction",
         "source": "CheckMate 067", "fitted": False},
        {"name": "median PFS", "target": 5.5, "simulated": 6.1, "unit": "months",
         "source": "KEYNOTE-006", "fitted": True},
    ],
    "caveats": ["PFS is RECIST at 6-weekly scans", "one lesion per patient"],
    "notes": "Fitted with tumorimmune calibrate.",
}  # fmt: skip


def _rows(page: str, table_id: str) -> list[tuple[str, list[str]]]:
    m = re.search(rf'<table class="data" id="{table_id}">(.*?)</table>', page, flags=re.S)
    assert m is not None
    body = m.group(1).split("<tbody>")[1]
    return [
        (cls, [html_lib.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)])
        for cls, row in re.findall(r'<tr(?: class="([a-z]+)")?>(.*?)</tr>', body, flags=re.S)
    ]


def test_calibration_rows_fitted_first_with_intervals(results):
    ds = results.assign_attrs(calibration=json.dumps(CALIBRATION))
    rows, roles = calibration_rows(ds)
    assert roles == ["fitted", "fitted", "validation"]
    assert [r[0] for r in rows] == ["ORR pembrolizumab", "median PFS", "ORR nivolumab"]
    assert rows[0][2:7] == ["0.33 (0.28–0.38)", "0.35 (0.31–0.39)", "–", "fraction", "yes"]
    assert rows[1][2:7] == ["5.5", "6.1", "–", "months", "–"]  # no interval: nothing to judge
    assert rows[2][1] == "validation (held out)" and rows[2][6] == "no"  # 0.30 < 0.35
    # with a prediction interval (re-selected trials) it judges the published target instead
    pred = {
        "targets": [
            {**CALIBRATION["targets"][1], "prediction_lo": 0.22, "prediction_hi": 0.41},
            {**CALIBRATION["targets"][0], "prediction_lo": 0.34, "prediction_hi": 0.37},
        ]
    }
    rows, _ = calibration_rows(results.assign_attrs(calibration=json.dumps(pred)))
    assert [r[0] for r in rows] == ["ORR pembrolizumab", "ORR nivolumab"]
    assert rows[0][4:7] == ["0.34–0.37", "fraction", "no"]  # 0.33 < 0.34 (sim inside)
    assert rows[1][4:7] == ["0.22–0.41", "fraction", "yes"]  # 0.40 in (sim outside)


def test_calibration_section_in_report(results):
    ds = results.assign_attrs(calibration=json.dumps(CALIBRATION))
    page = render_report(ds)
    sections = re.findall(r'<section id="([a-z-]+)">', page)
    assert sections[-2:] == ["calibration", "metadata"]
    rows = _rows(page, "calibration-table")
    assert [cls for cls, _ in rows] == ["fitted", "fitted", "validation"]
    assert rows[2][1][0] == "ORR nivolumab"
    assert "2 targets fitted (shaded rows) and 1 held out for validation" in page
    cav = re.search(r'<ul class="caveats-list">(.*?)</ul>', page, flags=re.S)
    assert cav is not None
    assert re.findall(r"<li>(.*?)</li>", cav.group(1)) == CALIBRATION["caveats"]
    assert "Fitted with tumorimmune calibrate." in page
    assert calibration_section(results) is None  # no attribute: no section
    assert 'id="calibration"' not in render_report(results)


def test_bad_calibration_attribute_is_named(results):
    with pytest.raises(ValueError, match="'calibration'"):
        render_report(results.assign_attrs(calibration=json.dumps([1, 2])))
    with pytest.raises(ValueError, match=r"targets\[0\]"):
        render_report(results.assign_attrs(calibration=json.dumps({"targets": [{"x": 1}]})))


def test_caveats_box(results):
    page = render_report(results.assign_attrs(caveats=json.dumps(["not calibrated", "a & b"])))
    box = re.search(r'<aside class="caveats" id="caveats">(.*?)</aside>', page, flags=re.S)
    assert box is not None
    assert re.findall(r"<li>(.*?)</li>", box.group(1)) == ["not calibrated", "a &amp; b"]
    assert page.index('id="caveats"') < page.index('<section id="summary">')  # on top
    assert 'id="caveats"' not in render_report(results)
    with pytest.raises(ValueError, match="'caveats'"):
        render_report(results.assign_attrs(caveats=json.dumps({"a": 1})))


def test_extra_sections(results):
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 2], name="tornado"))
    extra = Section(
        "Sensitivity <analysis>",
        figures=[fig, fig],
        html=html_table(["Parameter", "Index"], [["a <b>", "0.5"]]),
        note="Sobol indices & more",
    )
    assert extra.anchor == "sensitivity-analysis"
    page = render_report(results, extra_sections=[extra])
    assert re.findall(r'<section id="([a-z-]+)">', page)[-2:] == [
        "sensitivity-analysis",
        "metadata",
    ]
    assert "<h2>Sensitivity &lt;analysis&gt;</h2>" in page
    assert '<a href="#sensitivity-analysis">Sensitivity &lt;analysis&gt;</a>' in page
    assert "Sobol indices &amp; more" in page
    assert "<td>a &lt;b&gt;</td>" in page  # html_table escapes its cells
    assert page.count('id="fig-sensitivity-analysis"') == 1
    assert page.count('id="fig-sensitivity-analysis-2"') == 1
    with pytest.raises(ValueError, match="distinct ids"):
        render_report(results, extra_sections=[Section("Waterfall")])
    with pytest.raises(TypeError, match="Section"):
        render_report(results, extra_sections=[fig])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="Section id"):
        Section("X", id="Not Valid")
    with pytest.raises(ValueError, match="title"):
        Section(" ")

"""Tests of tumorimmune.reports._html (the self-contained report file)."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from tumorimmune.reports import render_report, write_report

SECTIONS = (
    "summary",
    "response-map",
    "waterfall",
    "spider",
    "pfs",
    "time-to-response",
    "duration-of-response",
    "trajectories",
    "parameters",
    "metadata",
)
#: Sections drawn by plotly (the summary and the metadata are HTML tables).
FIGURES = tuple(s for s in SECTIONS if s not in ("summary", "metadata"))
PLOTLY_JS = get_plotlyjs()
PLOTLY_HEADER = PLOTLY_JS[:200]


def _figures(html: str) -> list[dict]:
    """The figure JSON array embedded in the report."""
    m = re.search(r"var figures = (\[.*?\]);\n", html, flags=re.S)
    assert m is not None
    return json.loads(m.group(1).replace("<\\/", "</"))


def _table_rows(html: str, table_id: str) -> list[list[str]]:
    """Cell texts (unescaped) of the body rows of the HTML table ``table_id``."""
    m = re.search(rf'<table class="data" id="{table_id}">(.*?)</table>', html, flags=re.S)
    assert m is not None, f"no table {table_id}"
    body = m.group(1).split("<tbody>")[1]
    return [
        [_unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    ]


def _unescape(s: str) -> str:
    import html as _html

    return _html.unescape(s)


def test_report_is_self_contained_and_complete(results, tmp_path):
    path = write_report(results, tmp_path / "sub" / "report.html", title="Synthetic trial")
    html = path.read_text("utf-8")
    assert html.count(PLOTLY_HEADER) == 1  # plotly.js inlined exactly once
    assert html.count(PLOTLY_JS) == 1
    # outside the bundle (whose only URL is the unused geo topojson default) no network URL
    rest = re.sub(r'"bdata":"[^"]*"', "", html.replace(PLOTLY_JS, ""))  # base64 may spell cdn
    assert "cdn" not in rest.lower() and "https://" not in rest and "http://" not in rest
    assert not re.search(r"<script[^>]+src=", html)  # no external scripts
    assert not re.search(r"<link[^>]+href=", html)  # no external styles
    assert "<title>Synthetic trial</title>" in html
    figs = _figures(html)
    assert [f["id"] for f in figs] == [f"fig-{s}" for s in FIGURES]
    for s in FIGURES:
        assert html.count(f'<div id="fig-{s}" class="figure"></div>') == 1
    assert re.findall(r'<section id="([a-z-]+)">', html) == list(SECTIONS)
    assert "Not shown" not in html
    # numeric arrays travel as base64 typed arrays, not as JSON number lists
    assert '"bdata"' in html
    waterfall = next(f for f in figs if f["id"] == "fig-waterfall")["figure"]
    bar = next(t for t in waterfall["data"] if t["type"] == "bar")
    assert set(bar["y"]) == {"dtype", "bdata"}


def test_report_is_deterministic(results, tmp_path):
    a = write_report(results, tmp_path / "a.html").read_bytes()
    b = write_report(results.copy(deep=True), tmp_path / "b.html").read_bytes()
    assert a == b


def _strings(obj) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


HOSTILE = "<script>alert(1)</script>"  # as in conftest.py


def test_hostile_strings_are_escaped(hostile_results):
    ds = hostile_results
    html = render_report(ds, title=HOSTILE)
    assert HOSTILE not in html  # never raw in the page, the figure JSON included
    assert html.count("</script>") == 2  # plotly.js and the figure loader
    assert html.count("<script") == 2
    page = html.replace(PLOTLY_JS, "")
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # shown as text: title, sweep name and description, arms (subtitle, summary table and
    # metadata), caveats box, calibration table/notes/caveats
    assert f"<title>{escaped}</title>" in page
    assert f'<span id="sweep-name">{escaped}</span>' in page
    assert f'<span id="sweep-description">about {escaped}</span>' in page
    assert [r[0] for r in _table_rows(page, "summary-table")] == [
        f"control {HOSTILE}",
        f"pembrolizumab {HOSTILE}",
    ]
    assert page.count(escaped) >= 10
    # in the figures plotly reads a small HTML subset: the string travels with &lt; &gt;
    texts = [t for f in _figures(html) for t in _strings(f["figure"]) if "alert(1)" in t]
    assert texts and all("<script>" not in t and "&lt;script&gt;" in t for t in texts)
    layouts = json.dumps([f["figure"]["layout"] for f in _figures(html)])
    assert "pembrolizumab &lt;script&gt;" in layouts  # subplot titles (arms)
    params = next(f for f in _figures(html) if f["id"] == "fig-parameters")["figure"]
    assert any(escaped in t for t in _strings(params["layout"]))  # parameter axis title


def test_missing_optional_parts(results_factory):
    ds = results_factory(grid=False, traj=False)
    html = render_report(ds)
    ids = [f["id"] for f in _figures(html)]
    assert "fig-response-map" not in ids and "fig-trajectories" not in ids
    assert ids == [
        "fig-waterfall",
        "fig-spider",
        "fig-pfs",
        "fig-time-to-response",
        "fig-duration-of-response",
        "fig-parameters",
    ]
    assert "Not shown" in html and "needs two swept grid axes" in html
    assert "the results lack traj_T" in html
    # no varying parameter at all: no parameter section
    no_params = ds.drop_vars([v for v in ds.data_vars if str(v).startswith("param_")])
    html = render_report(no_params)
    assert "fig-parameters" not in [f["id"] for f in _figures(html)]
    assert "no parameter varies across patients" in html


def test_control_only_report(results):
    html = render_report(results.isel(arm=[0]))
    traj = next(f for f in _figures(html) if f["id"] == "fig-trajectories")["figure"]
    assert {t["yaxis"] for t in traj["data"]} == {"y", "y2"}  # no drug panels


def test_bad_max_points(results):
    with pytest.raises(ValueError, match="max_points"):
        render_report(results, max_points=0)


@pytest.mark.slow
def test_million_patient_report_stays_small(results_factory, tmp_path):
    ds = results_factory(n_per_cell=83_334, n_scans=5, n_traj=500)
    assert ds.sizes["patient"] >= 1_000_000
    path = write_report(ds, tmp_path / "big.html", max_points=5000)
    size = path.stat().st_size
    assert size < 15e6, f"report of 10^6 patients is {size / 1e6:.1f} MB"
    figs = _figures(path.read_text("utf-8"))
    waterfall = next(f for f in figs if f["id"] == "fig-waterfall")["figure"]
    bars = sum(
        len(np.frombuffer(__import__("base64").b64decode(t["x"]["bdata"]), dtype=np.int32))
        for t in waterfall["data"]
        if t["type"] == "bar"
    )
    assert bars <= 2 * 5000


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_arm_with_only_failed_solves(results_factory):
    with warnings.catch_warnings():  # the fixture's own per-cell means of nothing
        warnings.simplefilter("ignore", RuntimeWarning)
        ds = results_factory(failed=tuple((1, i) for i in range(60)))
    html = render_report(ds)
    figs = {f["id"]: f["figure"] for f in _figures(html)}
    assert "failed solves not shown" in json.dumps(figs["fig-waterfall"]["layout"])
    rows = _table_rows(html, "summary-table")
    assert [r[9] for r in rows] == ["0", "60"] and rows[1][2].startswith("–")

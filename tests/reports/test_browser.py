"""Browser test of the HTML report: headless Chromium opens it from disk with the network off.

Needs the Debian package ``chromium`` (``/usr/bin/chromium``) and the Python package
``playwright`` (its wheel carries the driver; no ``playwright install`` needed). Missing
either fails the test in CI (env var ``CI`` set) and skips it elsewhere.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tumorimmune.reports import write_report

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        _unavailable("Chromium not found (apt-get install chromium)")
    return path


@contextlib.contextmanager
def _page(html_path: Path, *, width: int = 1280) -> Iterator[tuple[Any, dict[str, list[str]]]]:
    """Open ``html_path`` offline at ``width`` px; wait until every figure has drawn.

    Yields the playwright page and the problems seen so far: console errors and page errors
    (``errors``), network requests (``requests``) and JavaScript dialogs (``dialogs``).
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the 'playwright' package is not installed")
        raise
    executable = _chromium()
    seen: dict[str, list[str]] = {"errors": [], "requests": [], "dialogs": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(offline=True, viewport={"width": width, "height": 900})

            def block(route) -> None:
                seen["requests"].append(route.request.url)
                route.abort()

            def dialog(d) -> None:
                seen["dialogs"].append(d.message)
                d.dismiss()

            context.route(re.compile(r"^(https?|wss?)://"), block)
            page = context.new_page()
            page.on(
                "console",
                lambda msg: (
                    seen["errors"].append(f"console: {msg.text}") if msg.type == "error" else None
                ),
            )
            page.on("pageerror", lambda exc: seen["errors"].append(f"page error: {exc}"))
            page.on("dialog", dialog)
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                """() => {
                    const divs = Array.from(document.querySelectorAll('div.figure'));
                    return divs.length > 0 && divs.every(
                        d => d.classList.contains('js-plotly-plot')
                            && d.querySelector('.main-svg'));
                }""",
                timeout=60_000,
            )
            yield page, seen
        finally:
            browser.close()


def _render(html_path: Path) -> dict:
    """Open ``html_path`` offline; wait until every figure has drawn; collect problems."""
    with _page(html_path) as (page, seen):
        ids = page.eval_on_selector_all("div.figure", "ds => ds.map(d => d.id)")
        drawn = page.eval_on_selector_all(
            ".js-plotly-plot",
            "ds => ds.filter(d => d.querySelector('.main-svg')).map(d => d.id)",
        )
        traces = page.evaluate(
            "() => Array.from(document.querySelectorAll('div.figure'))"
            ".map(d => [d.id, d.data.length])"
        )
    return {**seen, "ids": ids, "drawn": drawn, "traces": traces}


#: For each body row of a table: its first cell's text and whether that cell and the row are
#: seen: non-empty box, inside the table's wrapper and the viewport once scrolled to, and
#: the topmost element at the cell's centre (nothing covers or clips it).
_ROWS_SEEN = """(tableId) => {
    const table = document.getElementById(tableId);
    const wrap = table.closest('.table-wrap') || table.parentElement;
    return Array.from(table.querySelectorAll('tbody tr')).map(tr => {
        const cell = tr.cells[0];
        cell.scrollIntoView({block: 'center'});
        const r = cell.getBoundingClientRect(), row = tr.getBoundingClientRect();
        const w = wrap.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        const inside = r.width > 0 && r.height > 0 && r.left >= w.left - 0.5
            && r.right <= w.right + 0.5 && row.top >= w.top - 0.5 && row.bottom <= w.bottom + 0.5
            && r.top >= 0 && r.bottom <= window.innerHeight;
        return [cell.innerText.trim(), inside && hit !== null && cell.contains(hit)];
    });
}"""


@pytest.mark.parametrize("variant", ["full", "no_grid_no_traj"])
def test_report_draws_offline_without_errors(variant, results, results_factory, tmp_path):
    ds = results if variant == "full" else results_factory(grid=False, traj=False)
    path = write_report(ds, tmp_path / "report.html")
    out = _render(path)
    assert out["errors"] == []
    assert out["requests"] == []  # nothing tried to reach the network
    expected = re.findall(r'<div id="(fig-[a-z0-9-]+)" class="figure">', path.read_text("utf-8"))
    assert out["ids"] == expected
    assert sorted(out["drawn"]) == sorted(expected)
    assert all(n > 0 for _, n in out["traces"])
    if variant == "full":
        assert len(expected) == 8  # + the summary and metadata tables
        assert {"fig-time-to-response", "fig-duration-of-response"} <= set(expected)


DEFAULT_ARMS = ("untreated", "pembrolizumab 200 mg q3w", "nivolumab 240 mg q2w")


@pytest.mark.parametrize("variant", ["default", "two_arm_map"])
def test_every_arm_row_is_visible(variant, results, results_factory, tmp_path):
    # "default": the arms of the default run (and a calibration table); "two_arm_map": two
    # arms with a response map, whose plotly table used to clip its last row
    if variant == "default":
        from .test_sections import CALIBRATION

        ds = results_factory(arms=DEFAULT_ARMS, pk_etas=True).assign_attrs(
            calibration=json.dumps(CALIBRATION)
        )
    else:
        ds = results
    path = write_report(ds, tmp_path / "report.html")
    arms = [str(a) for a in ds["arm"].values]
    with _page(path, width=1000) as (page, seen):
        for width in (1000, 1400):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(200)  # relayout of the responsive figures
            assert page.evaluate(_ROWS_SEEN, "summary-table") == [[a, True] for a in arms]
            if variant == "default":
                assert page.evaluate(_ROWS_SEEN, "calibration-table") == [
                    [t["name"], True] for t in _fitted_first(CALIBRATION)
                ]
    assert seen["errors"] == []


def _fitted_first(cal: dict) -> list[dict]:
    return sorted(cal["targets"], key=lambda t: not t["fitted"])


HOSTILE = "<script>alert(1)</script>"  # as in conftest.py


def test_injected_strings_stay_text(hostile_results, tmp_path):
    path = write_report(hostile_results, tmp_path / "report.html", title=HOSTILE)
    with _page(path, width=1400) as (page, seen):
        page.wait_for_timeout(300)  # time for a dialog an injected script would open
        body = page.evaluate("() => document.body.innerText")
        heading = page.evaluate("() => document.querySelector('header h1').textContent")
        svg = page.evaluate(
            "() => Array.from(document.querySelectorAll('.main-svg text')).map(t => t.textContent)"
        )
        scripts = page.evaluate("() => document.querySelectorAll('script').length")
        title = page.title()
        rows = page.evaluate(_ROWS_SEEN, "summary-table")
        calibration = page.evaluate(_ROWS_SEEN, "calibration-table")
    assert seen["dialogs"] == [] and seen["errors"] == []
    assert scripts == 2  # plotly.js and the loader: nothing injected
    assert title == HOSTILE and heading == HOSTILE
    # shown literally: sweep name and description, arms, caveats, calibration, metadata
    assert body.count(HOSTILE) >= 10
    assert f"about {HOSTILE}" in body
    assert rows == [[f"control {HOSTILE}", True], [f"pembrolizumab {HOSTILE}", True]]
    assert calibration == [[HOSTILE, True]]
    # and in the figures: legend entries, subplot titles, the parameter's axis title
    assert sum(HOSTILE in t for t in svg) >= 5
    assert any(t.startswith(f"{HOSTILE} (") for t in svg)  # axis title "name (units)"


#: The arms of the default run (``tumorimmune run`` without a spec): long names, and two of
#: them (the KEYNOTE-006 pembrolizumab arms) with the same effect.
FIVE_ARMS = (
    "untreated",
    "pembrolizumab 10 mg/kg q3w (KEYNOTE-006)",
    "pembrolizumab 10 mg/kg q2w (KEYNOTE-006)",
    "pembrolizumab 200 mg q3w",
    "nivolumab 240 mg q2w",
)

#: Bounding boxes (left, top, right, bottom; px) of the parts of figure ``id``: the figure
#: (``svg``: its first main-svg), its title, the subplot-title annotations, the texts of the
#: legend entries, the legend, the waterfall's threshold labels, the bars, the plot areas
#: (drag rectangles, top to bottom) and, per y axis, its tick labels (top to bottom).
_PARTS = """(id) => {
    const fig = document.getElementById(id);
    const box = el => { const r = el.getBoundingClientRect();
                        return [r.left, r.top, r.right, r.bottom]; };
    const all = sel => Array.from(fig.querySelectorAll(sel));
    const ann = all('.annotation').map(a => [a.textContent, box(a)]);
    const ticks = {};
    for (const t of all('.yaxislayer-above text')) {
        const cls = t.parentElement.getAttribute('class') || t.getAttribute('class');
        (ticks[cls] = ticks[cls] || []).push(box(t));
    }
    for (const k in ticks) ticks[k].sort((a, b) => a[1] - b[1]);
    return {
        svg: box(fig.querySelector('.main-svg')),
        title: box(fig.querySelector('.gtitle')),
        annotations: ann,
        legend: fig.querySelector('.legend') ? box(fig.querySelector('.legend')) : null,
        legend_texts: all('.legend .traces text.legendtext').map(box),
        bars: all('.bars path').map(box).filter(b => b[2] > b[0] && b[3] > b[1]),
        plots: all('.draglayer .nsewdrag').map(box).sort((a, b) => a[1] - b[1]),
        ticks: Object.values(ticks),
        menus: all('.updatemenu-header-group').map(box),
        cell_texts: all('.hm text.heatmap-label, .hm .heatmap-label text').filter(
            t => t.textContent).map(t => [box(t), parseFloat(getComputedStyle(t).fontSize)]),
    };
}"""


def _names_arm(shown: str) -> bool:
    """Whether an SVG text (lines run together, no space between) starts with an arm name."""
    return shown.replace(" ", "").startswith(tuple(a.replace(" ", "") for a in FIVE_ARMS))


def _overlap(a: list[float], b: list[float]) -> bool:
    """Whether two boxes (left, top, right, bottom) share more than half a pixel each way."""
    return min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5


def _inside(a: list[float], outer: list[float]) -> bool:
    return (
        a[0] >= outer[0] - 0.5
        and a[1] >= outer[1] - 0.5
        and a[2] <= outer[2] + 0.5
        and a[3] <= outer[3] + 0.5
    )


@pytest.fixture
def default_like(results_factory):
    """Results with the default run's five arms and a cohort of 120 patients (the "What
    decides response" section, no grid); the two KEYNOTE-006 arms have the same PFS
    (their Kaplan–Meier curves coincide and their legend entries say so), and the effector
    cells span 13 decades (a log axis of 14 labels)."""
    import numpy as np

    from .test_survival import _with_os

    ds = _with_os(  # the default run's OS columns too; a cohort, as the default run is
        results_factory(arms=FIVE_ARMS, grid=False, cohort=True, n_per_cell=120, failed=())
    )
    for var in ("pfs_days", "pfs_event"):
        v = ds[var].values.copy()
        v[2] = v[1]
        ds[var] = ds[var].copy(data=v)
    e = np.broadcast_to(np.geomspace(1.0, 1e13, ds.sizes["time"]), ds["traj_E"].shape)
    ds["traj_E"] = ds["traj_E"].copy(data=np.array(e))
    return ds


def _layout_problems(parts: dict[str, dict], width: int) -> list[str]:
    """What is wrong with the layout of the figures (``_PARTS`` of each) at ``width`` px."""
    bad: list[str] = []
    for f, p in parts.items():
        if not _inside(p["title"], p["svg"]):
            bad.append(f"{width}px {f}: the title runs out of the figure")
    spider = parts["fig-spider"]
    titles = [b for t, b in spider["annotations"] if _names_arm(t)]
    assert len(titles) == len(FIVE_ARMS)
    for i, a in enumerate(titles):
        if not _inside(a, spider["svg"]) or [b for b in titles[i + 1 :] if _overlap(a, b)]:
            bad.append(f"{width}px spider: subplot title {i} overlaps another or runs out")
        if _overlap(a, spider["title"]) or _overlap(a, spider["legend"]):
            bad.append(f"{width}px spider: subplot title {i} under the title or legend")
    labels = parts["fig-trajectories"]["ticks"]
    assert len(labels) == 4 and all(labels)  # tumor, effectors, antibody, occupancy
    for k, axis in enumerate(labels):
        if any(_overlap(a, b) for a, b in itertools.pairwise(axis)):
            bad.append(f"{width}px trajectories: tick labels of y axis {k + 1} overlap")
    pfs = parts["fig-pfs"]
    assert pfs["legend_texts"]
    if not _inside(pfs["legend"], pfs["svg"]) or not all(
        _inside(t, pfs["svg"]) for t in pfs["legend_texts"]
    ):
        bad.append(f"{width}px PFS: the legend is cut at the figure's edge")
    water = parts["fig-waterfall"]
    marks = [b for t, b in water["annotations"] if t in ("+20 % (PD)", "−30 % (PR)")]
    assert len(marks) == 2 * len(FIVE_ARMS) and water["bars"]
    if any(
        not _inside(m, water["svg"]) or any(_overlap(m, b) for b in water["bars"]) for m in marks
    ):
        bad.append(f"{width}px waterfall: a threshold label covers bars (or runs out)")
    heads = [b for t, b in water["annotations"] if _names_arm(t)]
    plots = water["plots"]
    assert len(heads) == len(plots) == len(FIVE_ARMS)
    for above, head, below in zip(plots, heads[1:], plots[1:], strict=False):
        # between two panels: the next panel's title and a small gap, nothing else
        if below[1] - above[3] > (head[3] - head[1]) + 30:
            bad.append(f"{width}px waterfall: {below[1] - above[3]:.0f} px between panels")
            break
    bad += _decides_problems(parts, width)
    return bad


#: Figures of the "What decides response" section (issue #26).
DECIDES = [f"fig-what-decides-response{s}" for s in ("", "-2", "-3", "-4", "-5")]


def _decides_problems(parts: dict[str, dict], width: int) -> list[str]:
    """Layout problems of the "What decides response" figures: subplot titles apart from
    each other, the title and the arm menu; legends inside the figure; the heatmap cells'
    texts readable (at least 10 px, inside the plot areas, apart from each other)."""
    bad: list[str] = []
    assert all(f in parts for f in DECIDES), sorted(parts)
    for f in DECIDES:
        p = parts[f]
        heads = [b for _, b in p["annotations"]]
        above = [p["title"], *p["menus"]]
        for i, a in enumerate(heads):
            if not _inside(a, p["svg"]) or any(_overlap(a, b) for b in heads[i + 1 :] + above):
                bad.append(f"{width}px {f}: subplot title {i} overlaps or runs out")
        if any(_overlap(m, p["title"]) for m in p["menus"]):
            bad.append(f"{width}px {f}: the arm menu covers the title")
        if p["legend"] is not None and (
            not _inside(p["legend"], p["svg"])
            or not all(_inside(t, p["svg"]) for t in p["legend_texts"])
            or any(_overlap(p["legend"], q) for q in p["plots"])
        ):
            bad.append(f"{width}px {f}: the legend is cut or covers a plot")
        cells = p["cell_texts"]
        for i, (b, size) in enumerate(cells):
            if size < 10 or not any(_inside(b, q) for q in p["plots"]):
                bad.append(f"{width}px {f}: cell text {i} too small or outside its plot")
                break
            if any(_overlap(b, c) for c, _ in cells[i + 1 :]):
                bad.append(f"{width}px {f}: cell texts overlap")
                break
    assert parts[DECIDES[0]]["cell_texts"] and parts[DECIDES[0]]["menus"]
    assert parts[DECIDES[1]]["legend"] is not None and parts[DECIDES[3]]["legend"] is not None
    return bad


#: ``[id, width, room]`` of each table wider than its scrolling wrapper.
_TABLES_WIDER = """() => Array.from(document.querySelectorAll('.table-wrap')).filter(
    w => w.scrollWidth > w.clientWidth + 1).map(w => [
        w.querySelector('table').id, w.scrollWidth, w.clientWidth])"""


def test_figures_are_laid_out_cleanly_at_1000_and_1400_px(default_like, tmp_path):
    # what a user sees in a narrow and a wide window (issue #24): titles inside their figure,
    # spider subplot titles apart, log-axis tick labels apart, the PFS legend inside its
    # figure, the waterfall's threshold labels off the bars and its panels without dead space;
    # every table fits the page's width
    path = write_report(default_like, tmp_path / "report.html")
    problems: list[str] = []
    with _page(path, width=1000) as (page, seen):
        for width in (1000, 1400):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(300)  # relayout of the responsive figures
            figs = page.eval_on_selector_all("div.figure", "ds => ds.map(d => d.id)")
            problems += _layout_problems({f: page.evaluate(_PARTS, f) for f in figs}, width)
            problems += [
                f"{width}px table {t}: {w} px wide in a {c} px page (scrolls sideways)"
                for t, w, c in page.evaluate(_TABLES_WIDER)
            ]
    assert problems == [], "\n".join(problems)
    assert seen["errors"] == []

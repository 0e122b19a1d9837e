"""Browser test of the HTML report: headless Chromium opens it from disk with the network off.

Needs the Debian package ``chromium`` (``/usr/bin/chromium``) and the Python package
``playwright`` (its wheel carries the driver; no ``playwright install`` needed). Missing
either fails the test in CI (env var ``CI`` set) and skips it elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

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


def _render(html_path: Path) -> dict:
    """Open ``html_path`` offline; wait until every figure has drawn; collect problems."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the 'playwright' package is not installed")
        raise
    executable = _chromium()
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})

            def block(route) -> None:
                requests.append(route.request.url)
                route.abort()

            context.route(re.compile(r"^(https?|wss?)://"), block)
            page = context.new_page()
            page.on(
                "console",
                lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
            )
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
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
            ids = page.eval_on_selector_all("div.figure", "ds => ds.map(d => d.id)")
            drawn = page.eval_on_selector_all(
                ".js-plotly-plot",
                "ds => ds.filter(d => d.querySelector('.main-svg')).map(d => d.id)",
            )
            traces = page.evaluate(
                "() => Array.from(document.querySelectorAll('div.figure'))"
                ".map(d => [d.id, d.data.length])"
            )
        finally:
            browser.close()
    return {"errors": errors, "requests": requests, "ids": ids, "drawn": drawn, "traces": traces}


@pytest.mark.parametrize("variant", ["full", "no_grid_no_traj"])
def test_report_draws_offline_without_errors(variant, results, results_factory, tmp_path):
    ds = results if variant == "full" else results_factory(grid=False, traj=False)
    path = write_report(ds, tmp_path / "report.html")
    out = _render(path)
    assert out["errors"] == []
    assert out["requests"] == []  # nothing tried to reach the network
    expected = re.findall(r'<div id="(fig-[a-z-]+)" class="figure">', path.read_text("utf-8"))
    assert out["ids"] == expected
    assert sorted(out["drawn"]) == sorted(expected)
    assert all(n > 0 for _, n in out["traces"])
    if variant == "full":
        assert len(expected) == 8

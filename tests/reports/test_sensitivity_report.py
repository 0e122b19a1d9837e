"""The report's Sensitivity section: sentence, sorted bars with CI whiskers, output menu,
Morris μ*–σ, convergence; drawn in headless Chromium (pattern of test_browser.py)."""
# plotly ships no type information and pyright infers its figure properties (`fig.data`,
# `fig.layout`) from the implementation, wrongly; the attribute reads below are plotly's API.
# pyright: reportAttributeAccessIssue=false

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from tumorimmune.reports import render_report, write_report
from tumorimmune.reports._sensitivity import (
    morris_scatter,
    sensitivity_convergence,
    sensitivity_indices,
)
from tumorimmune.sensitivity import indices, indices_from_outputs, sample


def _ishigami(X: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    z = -np.pi + 2 * np.pi * X
    return np.sin(z[:, 0]) + a * np.sin(z[:, 1]) ** 2 + b * z[:, 2] ** 4 * np.sin(z[:, 0])


def _with_indices(ds, method: str):
    """Results with sensitivity indices of Ishigami (x3: a dummy) for both arms and 2 outputs."""
    X = sample(method, 4, 1024 if method == "sobol" else 30, seed=1)
    ys = {
        "response": np.stack([_ishigami(X), _ishigami(X, a=2.0)]),
        "best_pct_change": np.stack([_ishigami(X, b=0.0), _ishigami(X)]),
    }
    arms = [str(a) for a in ds["arm"].values]
    idx = indices_from_outputs(method, X, ys, arms=arms, names=["x0", "x1", "x2", "x3"])
    return ds.merge(idx, combine_attrs="no_conflicts").assign_attrs(idx.attrs)


@pytest.fixture(scope="module")
def sobol_results(results):
    return _with_indices(results, "sobol")


def test_sentence_names_dominant_parameters_and_interaction(sobol_results):
    html = render_report(sobol_results)
    assert '<section id="sensitivity">' in html and '<section id="sensitivity-convergence">' in html
    assert 'id="sensitivity-morris"' not in html  # Morris scatter only for method = morris
    # Ishigami (a = 7, b = 0.1): ST = 0.558 (x0), 0.442 (x1), 0.244 (x2), 0 (x3); 1 - ΣS1 = 0.244
    m = re.search(
        r"control: response \(CR/PR\) is driven mostly by x0 \((0\.\d\d),[^)]*\), x1 \((0\.\d\d),"
        r"[^)]*\) and x2 \((0\.\d\d),.*?interactions account for about (\d+) %",
        html,
    )
    assert m is not None, re.findall(r"control: response[^.]*\.[^.]*\.", html)
    st = [float(m.group(i)) for i in (1, 2, 3)]
    np.testing.assert_allclose(st, [0.558, 0.442, 0.244], atol=0.04)
    assert abs(int(m.group(4)) - 24) <= 4


def test_bars_sorted_with_ci_whiskers_and_output_menu(sobol_results):
    fig = sensitivity_indices(sobol_results)
    idx = indices(sobol_results)
    # largest total-order index on top (plotly draws the first category at the bottom)
    assert list(fig.layout.yaxis.categoryarray) == ["x3", "x2", "x1", "x0"]
    bars = [t for t in fig.data if t.visible]
    assert len(bars) == 2 * 2 * 1  # arms × (S1, ST) for the first output only
    st = next(t for t in bars if t.name == "total order ST" and t.xaxis == "x")
    sel = idx.sel(arm="control", output="response")
    np.testing.assert_allclose(st.x, sel["ST"].values)
    np.testing.assert_allclose(st.error_x.array, sel["ST_hi"].values - sel["ST"].values)
    np.testing.assert_allclose(st.error_x.arrayminus, sel["ST"].values - sel["ST_lo"].values)
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["response (CR/PR)", "best % change"]
    assert sum(buttons[1].args[0]["visible"]) == 4 and len(buttons[1].args[0]["visible"]) == 8
    # second output, untreated arm: b = 0 removes x2 (ST = 0, like the dummy x3) and leaves
    # V1 = 0.5 < V2 = a²/8: x1 on top
    order = buttons[1].args[1]["yaxis.categoryarray"]
    assert set(order[:2]) == {"x2", "x3"} and order[2:] == ["x0", "x1"]


def test_convergence_and_morris_figures(results, sobol_results):
    conv = sensitivity_convergence(sobol_results)
    idx = indices(sobol_results)
    shown = [t for t in conv.data if t.visible]
    assert len(shown) == 2 * 4  # arms × parameters
    np.testing.assert_array_equal(shown[0].x, idx["n"].values)
    assert conv.layout.xaxis.type == "log"
    mor = _with_indices(results, "morris")
    fig = morris_scatter(mor)
    pts = next(t for t in fig.data if t.visible and t.mode == "markers+text")
    np.testing.assert_allclose(
        pts.x, indices(mor).sel(arm="control", output="response")["mu_star"].values
    )


def test_no_sensitivity_section_without_indices(results):
    html = render_report(results)
    assert 'id="sensitivity' not in html and "Sensitivity" not in html


def _browser_render():
    path = Path(__file__).with_name("test_browser.py")
    spec = importlib.util.spec_from_file_location("_ti_test_browser", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod._render


@pytest.mark.browser
@pytest.mark.parametrize("method", ["sobol", "morris"])
def test_sensitivity_section_draws_in_the_browser(results, method, tmp_path):
    ds = _with_indices(results, method)
    path = write_report(ds, tmp_path / "report.html")
    out = _browser_render()(path)
    assert out["errors"] == [] and out["requests"] == []
    want = {"fig-sensitivity", "fig-sensitivity-convergence"}
    if method == "morris":
        want.add("fig-sensitivity-morris")
    assert want <= set(out["drawn"])
    assert sorted(out["drawn"]) == sorted(out["ids"])
    assert all(n > 0 for _, n in out["traces"])

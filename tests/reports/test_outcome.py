"""Tests of tumorimmune.reports._outcome and the report of an untreated (dormant-vs-escape)
study: outcome classes instead of RECIST read-outs."""
# plotly ships no type information and pyright infers its figure properties (`fig.data`,
# `fig.layout`) from the implementation, wrongly; the attribute reads below are plotly's API.
# pyright: reportAttributeAccessIssue=false

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr

from tumorimmune.reports import outcome_map, outcome_rows, render_report

# spec order of the axes: T0 first, then E0 (the flat cell index is C order over T0 × E0)
SPEC = """name = "phase"
model = "Kuznetsov1994"

[axes.T0]
values = [1e5, 1e7]

[axes.E0]
values = [1e4, 1e5, 1e6]

[sampling]
cohort_size = 2

[[arms]]
name = "untreated"
"""


def _phase_dataset() -> xr.Dataset:
    t0 = np.array([1e5, 1e7])
    e0 = np.array([1e4, 1e5, 1e6])
    # per cell (T0 index, E0 index) two patients; cells in C order over (T0, E0)
    outcome = np.array(
        [
            [2, 2],  # T0=1e5, E0=1e4: escaped
            [1, 1],  # E0=1e5: controlled
            [0, 1],  # E0=1e6: tie extinct/controlled -> extinct (lower class)
            [2, 2],  # T0=1e7, E0=1e4
            [2, 1],  # tie controlled/escaped -> controlled
            [-1, 0],  # one failed solve, one extinct
        ]
    ).reshape(1, -1)
    cell = np.repeat(np.arange(6), 2)
    return xr.Dataset(
        {
            "outcome": (("arm", "patient"), outcome.astype(np.int8)),
            "cell": (("patient",), cell),
            "param_T0": (("patient",), t0[cell // 3]),
            "param_E0": (("patient",), e0[cell % 3]),
            "best_response": (("arm", "patient"), np.full((1, 12), 3, dtype=np.int8)),
        },
        # dims appear E0 first in the dataset, unlike the spec: the spec order must win
        coords={"axis_E0": e0, "axis_T0": t0, "arm": ["untreated"], "patient": np.arange(12)},
        attrs={"spec": SPEC, "model": "Kuznetsov1994"},
    )


def test_outcome_map_majority_class_per_cell():
    ds = _phase_dataset()
    fig = outcome_map(ds, x="axis_E0", y="axis_T0")
    (heat,) = fig.data
    z = np.asarray(heat.z, dtype=float)
    np.testing.assert_array_equal(z, [[2, 1, 0], [2, 1, 0]])
    assert heat.text[1][1] == "controlled" and heat.text[0][2] == "extinct"
    frac = np.asarray(heat.customdata, dtype=float)
    np.testing.assert_allclose(frac[1, 1], [0.0, 0.5, 0.5, 2.0])  # controlled/escaped tie
    np.testing.assert_allclose(frac[1, 2], [1.0, 0.0, 0.0, 1.0])  # the failed solve left out
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.title.text == "E0 (cells)"
    assert list(fig.layout.coloraxis.colorbar.ticktext) == ["extinct", "controlled", "escaped"]
    with pytest.raises(ValueError, match="two grid axes"):
        outcome_map(ds.isel(axis_E0=0, drop=True))


def test_outcome_rows():
    (row,) = outcome_rows(_phase_dataset())
    # extinct 2, controlled 4, escaped 5 of the 11 evaluable; 1 failed
    assert row == ["untreated", "11", "2 (18.2 %)", "4 (36.4 %)", "5 (45.5 %)", "1"]


def test_untreated_study_reports_outcome_classes_not_recist(results):
    html = render_report(_phase_dataset())
    sections = re.findall(r'<section id="([a-z-]+)">', html)
    assert sections == ["summary", "outcome-map", "parameters", "metadata", "not-shown"]
    assert "Outcome summary" in html and "ORR" not in html.split("<section")[1]
    assert "RECIST response does not apply" in html
    for fig in ("fig-waterfall", "fig-pfs", "fig-response-map", "fig-spider"):
        assert fig not in html
    # a treated study keeps the RECIST read-outs
    assert re.findall(r'<section id="([a-z-]+)">', render_report(results))[:5] == [
        "summary",
        "response-map",
        "waterfall",
        "spider",
        "pfs",
    ]

"""Tests of tumorimmune.reports._parameters (parameter distributions by response)."""
# plotly ships no type information and pyright infers its figure properties (`fig.data`,
# `fig.layout`) from the implementation, wrongly; the attribute reads below are plotly's API.
# pyright: reportAttributeAccessIssue=false

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune.reports import parameter_distributions


def test_one_panel_per_parameter_with_normalised_groups(results):
    fig = parameter_distributions(results)
    names = ["eps_n", "L", "a", "T0"]  # grid parameters first, then alphabetical
    assert len(fig.data) == 2 * len(names)  # pyright: ignore[reportArgumentType]  (plotly: untyped)
    resp = results["best_response"].values[-1]
    groups = (np.isin(resp, (0, 1)), np.isin(resp, (2, 3)))
    for k, name in enumerate(names):
        pair = fig.data[2 * k : 2 * k + 2]
        values = results[f"param_{name}"].values
        for trace, mask in zip(pair, groups, strict=True):
            assert f"n = {mask.sum()}" in trace.name
            y = np.asarray(trace.y, dtype=float)
            if trace.type == "bar":  # grid parameter: fraction at each value
                uniq = np.unique(values)
                assert list(trace.x) == [f"{u:.3g}" for u in uniq]
                expected = [(values[mask] == u).mean() for u in uniq]
                np.testing.assert_allclose(y, expected, rtol=1e-6)
            else:  # step histogram: bins, last value repeated for the final step
                assert trace.line.shape == "hv"
                np.testing.assert_allclose(y[:-1].sum(), 1.0, rtol=1e-5)
    # T0 spans two decades: log-spaced bins on a log axis; a (linear) has equal-width bins
    assert fig.layout.xaxis4.type == "log"
    edges = np.asarray(fig.data[6].x)
    np.testing.assert_allclose(np.diff(np.log(edges)), np.diff(np.log(edges))[0])
    assert fig.layout.xaxis4.title.text == "T0 (cells)"
    assert fig.layout.xaxis3.type != "log"
    edges = np.asarray(fig.data[4].x)
    np.testing.assert_allclose(np.diff(edges), np.diff(edges)[0])
    assert edges.size - 1 == 10  # Rice rule for 60 patients: ceil(2·60^(1/3)) = 8 -> 10


def test_arm_choice_and_errors(results):
    fig = parameter_distributions(results, arm="control")
    assert "n = 0" in fig.data[0].name  # no responders without treatment
    with pytest.raises(ValueError, match="'placebo'"):
        parameter_distributions(results, arm="placebo")
    no_params = results.drop_vars([v for v in results.data_vars if v.startswith("param_")])
    with pytest.raises(ValueError, match="param_"):
        parameter_distributions(no_params)


def test_pk_etas_left_out_where_the_drug_has_no_pk_variability(results_factory):
    arms = ("untreated", "pembrolizumab 200 mg q3w", "nivolumab 240 mg q2w")
    ds = results_factory(arms=arms, pk_etas=True)

    def panels(fig) -> list[str]:
        axes = (fig.layout[k] for k in fig.layout if k.startswith("xaxis"))
        return [a.title.text for a in axes if a.title.text]

    # pembrolizumab: one η shared by CL and Q, one by V1 and V2 (Ahamadi 2017): eta_CL and
    # eta_V1 act; eta_Q, eta_V2 and eta_CL_emax do not
    fig = parameter_distributions(ds, arm=arms[1])
    shown = panels(fig)
    assert "eta_CL (dimensionless)" in shown and "eta_V1 (dimensionless)" in shown
    assert not any(x in t for t in shown for x in ("eta_Q", "eta_V2", "eta_CL_emax"))
    assert "not shown:" in fig.layout.title.text and "eta_Q (" in fig.layout.title.text
    # nivolumab (Bajaj 2017): no variability on Q only
    shown = panels(parameter_distributions(ds, arm=arms[2]))
    assert {"eta_CL", "eta_V1", "eta_V2", "eta_CL_emax"} <= {t.split()[0] for t in shown}
    assert not any("eta_Q" in t for t in shown)
    # the control has no drug at all
    fig = parameter_distributions(ds, arm=arms[0])
    assert not any("eta" in t for t in panels(fig))
    assert len(fig.data) == 2 * 4  # eps_n, L, a, T0  # pyright: ignore[reportArgumentType]  (plotly: untyped)
    assert "not shown: eta_CL" in fig.layout.title.text and "no drug" in fig.layout.title.text
    # without PK etas in the results nothing is said about them
    assert "not shown" not in parameter_distributions(results_factory()).layout.title.text


def test_split_by_outcome(results):
    fig = parameter_distributions(results, by="outcome")
    out = results["outcome"].values[-1]
    assert f"n = {int(np.isin(out, (0, 1)).sum())}" in fig.data[0].name
    assert f"n = {int((out == 2).sum())}" in fig.data[1].name
    assert "escaped" in fig.data[1].name
    with pytest.raises(ValueError, match="by must be one of"):
        parameter_distributions(results, by="colour")

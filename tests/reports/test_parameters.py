"""Tests of tumorimmune.reports._parameters (parameter distributions by response)."""

from __future__ import annotations

import numpy as np
import pytest

from tumorimmune.reports import parameter_distributions


def test_one_panel_per_parameter_with_normalised_groups(results):
    fig = parameter_distributions(results)
    names = ["eps_n", "L", "a", "T0"]  # grid parameters first, then alphabetical
    assert len(fig.data) == 2 * len(names)
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

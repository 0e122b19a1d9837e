"""Plain-language sentences about sensitivity indices: dominant parameters and interactions."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

#: A parameter "matters" when the lower CI bound of its main index exceeds this value.
THRESHOLDS = {"sobol": 0.05, "morris": 0.0, "prcc": 0.1}
_LABELS = {
    "best_pct_change": "best % change",
    "response": "response (CR/PR)",
    "pfs_landmark": "PFS at the landmark",
    "final_tumor": "final tumor size",
}


def output_label(name: str) -> str:
    """Readable name of a sensitivity output."""
    return _LABELS.get(name, name)


def ranking(idx: xr.Dataset, arm: str, output: str) -> list[str]:
    """Parameters by decreasing main index (sobol ``ST``, morris ``mu_star``, prcc ``|prcc|``)."""
    method = str(idx.attrs.get("method", ""))
    key = {"sobol": "ST", "morris": "mu_star", "prcc": "prcc"}[method]
    v = np.abs(idx[key].sel(arm=arm, output=output).values)
    params = [str(p) for p in idx["param"].values]
    order = np.argsort(-np.nan_to_num(v, nan=-np.inf), kind="stable")
    return [params[i] for i in order]


def describe(idx: xr.Dataset, arm: str, output: str) -> str:
    """One sentence on which parameters dominate ``output`` in ``arm`` and how much interaction
    there is (``idx`` as returned by :func:`tumorimmune.sensitivity.indices`)."""
    method = str(idx.attrs.get("method", ""))
    conf = float(idx.attrs.get("confidence", 0.95))
    sel = idx.sel(arm=arm, output=output)
    label = f"{arm}: {output_label(output)}"
    key = {"sobol": "ST", "morris": "mu_star", "prcc": "prcc"}[method]
    if not np.any(np.isfinite(sel[key].values)):
        return f"{label} does not vary across the design; no indices."
    order = ranking(idx, arm, output)
    strong = [
        p for p in order if abs(float(sel[key].sel(param=p))) > 0 and _clear(method, sel, key, p)
    ][:3]
    cl = f"{100 * conf:.0f} % CI"

    def fmt(p: str) -> str:
        v, a, b = (float(sel[k].sel(param=p)) for k in (key, f"{key}_lo", f"{key}_hi"))
        return f"{p} ({v:.2f}, {cl} {a:.2f}–{b:.2f})"

    name = {"sobol": "total-order index", "morris": "μ*", "prcc": "PRCC"}[method]
    if strong:
        head = f"{label} is driven mostly by " + _join([fmt(p) for p in strong]) + f" ({name})"
    else:
        head = f"{label}: no parameter has a {name} clearly above {THRESHOLDS[method]:g}"
    if method == "sobol":
        s1 = float(np.nansum(sel["S1"].values))
        inter = max(0.0, 1.0 - s1)
        tail = (
            f"; first-order effects explain {100 * min(s1, 1.0):.0f} % of the variance, so "
            f"interactions account for about {100 * inter:.0f} %."
        )
    elif method == "morris":
        p = order[0]
        mu, sd = float(sel["mu_star"].sel(param=p)), float(sel["sigma"].sel(param=p))
        ratio = sd / mu if mu > 0 else math.nan
        kind = "strong" if ratio > 1 else "moderate" if ratio > 0.5 else "little"
        tail = (
            f"; σ/μ* of {p} is {ratio:.2f} ({kind} nonlinearity or interaction)."
            if math.isfinite(ratio)
            else "."
        )
    else:
        tail = "; PRCC measures monotone association and cannot separate interactions."
    return head + tail


def _clear(method: str, sel: xr.Dataset, key: str, p: str) -> bool:
    lo = float(sel[f"{key}_lo"].sel(param=p))
    hi = float(sel[f"{key}_hi"].sel(param=p))
    t = THRESHOLDS[method]
    return lo > t or (method == "prcc" and hi < -t)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def summary_sentences(ds: xr.Dataset, *, output: str | None = None) -> list[str]:
    """:func:`describe` for every arm of a results dataset with ``sens_*`` indices, for
    ``output`` (default: the first output of the analysis)."""
    from ._run import indices

    idx = indices(ds)
    out = output or str(idx["output"].values[0])
    return [describe(idx, str(a), out) for a in idx["arm"].values]

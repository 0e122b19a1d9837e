"""The three-arm virtual trial of the sweep benchmarks (``pipeline_vs_kernel``, ``trial_scale``,
``host_pipeline``): ``examples/pd1_virtual_trial.toml`` with three of its arms."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tumorimmune.sweeps import SweepSpec, validate_spec

SPEC = Path(__file__).resolve().parents[2] / "examples" / "pd1_virtual_trial.toml"
ARMS = (0, 1, 4)  # untreated, pembrolizumab 10 mg/kg q3w, nivolumab 240 mg q2w


def trial_spec(n: int, chunk_size: int | str | None, keep: str | None = None) -> SweepSpec:
    """The three-arm trial with ``n`` patients; ``chunk_size``: an integer (or its text),
    ``"auto"`` (the key dropped: 4,096, or about 1/128 of a large cohort; docs/scaling.md) or
    ``None`` / ``"spec"`` (the example's 2,500); ``keep``: the store tier (``[store] keep``;
    ``None``: the default for the cohort's size)."""
    d = tomllib.loads(SPEC.read_text())
    d["arms"] = [d["arms"][i] for i in ARMS]
    names = {a["name"] for a in d["arms"]}
    d["targets"] = [t for t in d.get("targets", []) if t["arm"] in names]
    d["sampling"]["cohort_size"] = n
    if chunk_size == "auto":
        d.pop("chunk_size")
    elif chunk_size not in (None, "spec"):
        d["chunk_size"] = int(chunk_size)
    if keep is not None:
        d["store"] = {"keep": keep}
    return validate_spec(d)

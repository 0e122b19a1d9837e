"""Fixtures of the sweeps tests: a small sweep specification (fast to integrate)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

#: Clinical rescaling of Kuznetsov (1994) used by the examples: tumor cells ×100.
SCALED = {"b": 2e-11, "g": 2.019e9, "m": 3.422e-12}

TINY: dict[str, Any] = {
    "name": "tiny",
    "model": "TumorImmunePD1",
    "follow_up_days": 126,
    "scan_interval_days": 42,
    "precision": "float64",
    "chunk_size": 8,
    "backend": "diffrax",
    "n_trajectories": 2,
    "trajectory_step_days": 7.0,
    "parameters": dict(SCALED, eps_n=1.0),
    "initial": {"E0": 3.2e5, "T0": 1.5e10},
    "axes": {"eps_m": {"values": [0.0, 0.5]}},
    "variability": {
        "a": {"dist": "lognormal", "cv": 0.3},
        "L": {"dist": "uniform", "low": 0.0, "high": 1.0},
        "T0": {"dist": "lognormal", "cv": 0.4},
        "weight": {"dist": "normal", "mean": 76.8, "sd": 15.0, "low": 40.0, "high": 150.0},
    },
    "sampling": {"method": "lhs", "cohort_size": 10, "seed": 3},
    "pk": {"variability": True},
    "arms": [
        {"name": "control"},
        {"name": "pembrolizumab 200 mg q3w", "regimen": "pembrolizumab_200mg_q3w"},
        {
            "name": "nivolumab 3 mg/kg q2w",
            "drug": "nivolumab",
            "dose": 3.0,
            "unit": "mg/kg",
            "interval": 14,
        },
    ],
}


def make_tiny(**changes: Any) -> dict[str, Any]:
    """A deep copy of ``TINY`` with top-level keys replaced."""
    d = copy.deepcopy(TINY)
    d.update(copy.deepcopy(changes))
    return d


@pytest.fixture(scope="session")
def tiny():
    """Factory: ``tiny(**top_level_changes)`` -> spec mapping (20 patients, 3 arms, 126 days)."""
    return make_tiny

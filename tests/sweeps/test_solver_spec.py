"""``[solver]`` table of a sweep spec: backend objects with their options and the tolerances."""

from __future__ import annotations

import pytest

from tumorimmune.solvers import Fused, Pallas, Tolerances
from tumorimmune.sweeps import Engine, SweepPlan, validate_spec


def _error(data: dict) -> str:
    with pytest.raises(ValueError) as info:
        validate_spec(data)
    return str(info.value)


def test_solver_table_reaches_the_backend(tiny, monkeypatch):
    d = tiny()
    del d["backend"]
    d["solver"] = {"backend": "fused", "lanes": 4, "chunk_size": 8, "rtol": 1e-7, "max_steps": 5000}
    spec = validate_spec(d)
    assert spec.backend == "fused" and spec.max_steps == 5000  # copied to the top-level keys
    plan = SweepPlan.from_spec(spec)
    assert plan.tolerances == Tolerances(rtol=1e-7, max_steps=5000)
    assert (plan.rtol, plan.atol) == (1e-7, 1e-6)
    engine = Engine.create(spec)
    assert engine.backend == "fused"
    assert engine.solve == Fused(lanes=4, chunk_size=8, dtype="float64")
    from tumorimmune.solvers import _fused

    seen: dict = {}
    real = _fused.solve_fused_groups  # the engine solves the arms of a program together

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(_fused, "solve_fused_groups", spy)
    out = engine.run_block(0, 3)
    assert (seen["lanes"], seen["chunk_size"], seen["max_steps"], seen["rtol"]) == (
        4,
        8,
        5000,
        1e-7,
    )
    assert (out["status"] == 0).all()
    # the canonical TOML keeps the table and reloads to the same spec
    import tomllib

    assert validate_spec(tomllib.loads(spec.to_toml())) == spec


def test_top_level_keys_still_work(tiny):
    d = tiny()
    d.update(backend="pallas", rtol=1e-6, max_steps=2000)
    spec = validate_spec(d)
    assert spec.solver is None
    plan = SweepPlan.from_spec(spec)
    assert plan.backend == Pallas(dtype="float64")  # the spec's precision
    assert plan.tolerances == Tolerances(rtol=1e-6, max_steps=2000)


def test_bad_solver_tables_give_one_line_errors(tiny):
    d = tiny()
    del d["backend"]
    d["solver"] = {"backend": "pallas", "lanes": 4}
    msg = _error(d)
    assert "\n" not in msg and "'pallas' has no option 'lanes'" in msg and "block" in msg
    d["solver"] = {"lanes": 4}  # auto has no options: name the backend
    assert "'auto' has no option 'lanes'" in _error(d)
    d["solver"] = {"backend": "fused", "lanes": 0}
    msg = _error(d)
    assert msg.startswith("solver.lanes:") and "\n" not in msg
    d["solver"] = {"backend": "fused", "lane": 4}
    msg = _error(d)
    assert "unknown key 'lane'" in msg and "lanes" in msg
    d["solver"] = {"backend": "rk4"}
    msg = _error(d)
    assert "'rk4'" in msg and "fused" in msg
    d["backend"] = "diffrax"
    d["solver"] = {"backend": "fused"}
    msg = _error(d)
    assert "solver.backend" in msg and "give it once" in msg

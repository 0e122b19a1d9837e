"""The benchmarks' layout rules (``benchmarks/__init__.py``): one folder per benchmark with its
``run.py`` and ``results/``, result files named by the harness, GPU shell checks in
``benchmarks/gpu``, tumorimmune's public API only, and a ``RESULTS.md`` that is up to date."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._common.harness import RESULT_NAME  # noqa: E402

#: Top-level files of ``benchmarks/`` besides the benchmark folders.
TOP = {"__init__.py", "README.md", "RESULTS.md", "summarize.py"}
#: Folders that are not benchmarks: shared helpers and the GPU shell checks.
NOT_BENCHMARKS = {"_common", "gpu"}
#: Private tumorimmune modules a benchmark may still import, with the names it takes: internals
#: with no public form (device-only timings, compiled HLO of the pool loop, profiling hooks in
#: the sweep runner). Shrink it when these get a public form; never grow it silently.
PRIVATE_ALLOWED = {
    "engine_passes/run.py": {"tumorimmune.solvers._fused"},
    "gpu_probe/run.py": {
        "tumorimmune.solvers._diffrax",
        "tumorimmune.solvers._fused",
        "tumorimmune.solvers._pallas",
    },
    "host_pipeline/run.py": {"tumorimmune.sweeps._engine", "tumorimmune.sweeps._runner"},
}


def _benchmarks() -> list[Path]:
    return sorted(
        p for p in BENCH.iterdir() if p.is_dir() and p.name not in NOT_BENCHMARKS | {"__pycache__"}
    )


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_top_level_holds_only_the_shared_files():
    files = {p.name for p in BENCH.iterdir() if p.is_file()}
    assert files <= TOP, f"benchmarks/ top level: {sorted(files - TOP)} (one folder per benchmark)"


@pytest.mark.parametrize("folder", _benchmarks(), ids=lambda p: p.name)
def test_each_benchmark_is_a_folder_with_run_py_and_results(folder: Path):
    assert (folder / "run.py").is_file(), f"{folder.name}/run.py missing"
    assert re.fullmatch(r"[a-z][a-z0-9_]*", folder.name), folder.name
    for path in _files(folder):
        rel = path.relative_to(folder)
        if rel.parts[0] == "results":
            assert len(rel.parts) == 2, f"{folder.name}/{rel}: results/ is flat"
            assert RESULT_NAME.match(path.name), f"{folder.name}/{rel}: not DATE_MACHINE_VARIANT"
        else:
            assert str(rel) in {"run.py", "README.md"}, f"{folder.name}/{rel}: stray file"


def test_gpu_checks_and_shared_helpers():
    for path in _files(BENCH / "gpu"):
        rel = path.relative_to(BENCH / "gpu")
        if rel.parts[0] == "results":
            assert RESULT_NAME.match(path.name), f"gpu/{rel}: not DATE_MACHINE_VARIANT"
        else:
            assert path.suffix in {".sh", ".md"}, f"gpu/{rel}: GPU checks are shell scripts"
    assert not list((BENCH / "_common").glob("results")), "_common holds helpers, no results"
    names = [p.name for p in BENCH.rglob("*.json") if "results" not in p.parts]
    assert not names, f"result files outside a results/ folder: {names}"


def _tumorimmune_imports(path: Path) -> set[str]:
    """Every tumorimmune module ``path`` imports, also ``from tumorimmune.x import _y``."""
    mods: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
            if not _private(node.module):  # ``from tumorimmune.solvers import _fused``
                mods |= {f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")}
    return {m for m in mods if m.split(".")[0] == "tumorimmune"}


def _private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split(".")[1:])


def test_benchmarks_import_only_public_tumorimmune_modules():
    found: dict[str, set[str]] = {}
    for path in sorted(BENCH.rglob("*.py")):
        private = {m for m in _tumorimmune_imports(path) if _private(m)}
        if private:
            found[str(path.relative_to(BENCH))] = private
    extra = {k: v - PRIVATE_ALLOWED.get(k, set()) for k, v in found.items()}
    assert not {k: v for k, v in extra.items() if v}, f"private imports: {extra}"
    stale = {k: v - found.get(k, set()) for k, v in PRIVATE_ALLOWED.items()}
    assert not {k: v for k, v in stale.items() if v}, f"PRIVATE_ALLOWED is stale: {stale}"
    for script in (BENCH / "gpu").glob("*.sh"):  # inline Python of the GPU checks
        text = script.read_text()
        assert not re.search(r"tumorimmune(\.\w+)*\._\w", text), f"{script.name}: private import"


def test_the_harness_names_results_as_the_layout_expects(tmp_path: Path):
    from benchmarks._common import harness

    path = harness.save_result(
        str(BENCH / "ensemble" / "run.py"), {"x": 1}, variant="Quick Check", results_dir=tmp_path
    )
    assert path is not None and RESULT_NAME.match(path.name), path
    assert path.name.endswith(f"_{harness.machine_slug()}_quick-check.json")
    again = harness.save_result(__file__, {"x": 2}, variant="quick-check", results_dir=tmp_path)
    assert again is not None and again.name.endswith("_quick-check-2.json")
    import json

    meta = json.loads(path.read_text())["meta"]
    assert {"command", "machine", "cpu", "cpu_count", "load_avg_start", "jax"} <= set(meta)
    assert harness.save_result(__file__, {}, variant=None) is None
    assert harness.slug("Intel(R) Xeon(R) Processor") == "intel-xeon"
    assert harness.slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"


def test_results_md_is_generated_from_the_result_files():
    from benchmarks import summarize

    assert (BENCH / "RESULTS.md").read_text() == summarize.render(), (
        "benchmarks/RESULTS.md is out of date: python -m benchmarks.summarize"
    )

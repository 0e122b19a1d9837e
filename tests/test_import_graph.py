"""Imports run one way: the package's import graph has no cycle, and each subpackage imports
only the layers below it (CONTRIBUTING.md, "Architecture").

The graph is grimp's (import-linter's engine) over every module of ``tumorimmune``, with
every import counted: at module level, inside functions (lazy imports) and under
``TYPE_CHECKING``. Importing a package counts as importing its ``__init__``.
"""

from __future__ import annotations

import grimp
import pytest

#: The layers, top to bottom: a module may import its own layer and the layers below it.
#: Modules of the package root other than ``__init__`` (``_simulate``, ``_solve``, ...) are
#: the layer ``tumorimmune._core``; the root ``__init__`` re-exports the public API and may
#: import everything (nothing inside the package may import it).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("tumorimmune.__main__",),
    ("tumorimmune.cli",),
    ("tumorimmune.reports",),
    ("tumorimmune.sensitivity", "tumorimmune.optimize", "tumorimmune.analysis"),
    ("tumorimmune.sweeps",),
    ("tumorimmune.calibrate",),
    ("tumorimmune._core",),
    ("tumorimmune.response",),
    ("tumorimmune.solvers",),
    ("tumorimmune.model",),
    ("tumorimmune._typing", "tumorimmune._version", "tumorimmune._maps"),
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("tumorimmune", cache_dir=None)


def _layer(module: str) -> int:
    parts = module.split(".")
    top = ".".join(parts[:2])
    if top in ("tumorimmune._simulate", "tumorimmune._solve", "tumorimmune._cache"):
        top = "tumorimmune._core"
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module}: in no layer of tests/test_import_graph.py::LAYERS; add it")


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on.add(v)
            recurse = False
            for j in range(i, len(edges[v])):
                w = edges[v][j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
    return out


def test_the_import_graph_has_no_cycle(graph):
    assert _cycles(graph) == []


def test_nothing_inside_the_package_imports_its_root(graph):
    importers = sorted(graph.find_modules_that_directly_import("tumorimmune"))
    assert importers == [], f"import from the defining subpackage instead: {importers}"


def test_subpackages_import_only_the_layers_below_them(graph):
    bad = []
    for m in sorted(graph.modules):
        if m == "tumorimmune":
            continue
        for w in sorted(graph.find_modules_directly_imported_by(m)):
            if w != "tumorimmune" and _layer(w) < _layer(m):
                bad.append(f"{m} -> {w}")
    assert bad == []


def test_the_cycle_check_finds_a_cycle():
    """The checker itself: a two-module cycle and a self-contained chain."""

    class Fake:
        def __init__(self, edges):
            self.edges = edges
            self.modules = set(edges)

        def find_modules_directly_imported_by(self, m):
            return set(self.edges[m])

    assert _cycles(Fake({"a": ["b"], "b": ["a"], "c": ["a"]})) == [["a", "b"]]  # type: ignore[arg-type]
    assert _cycles(Fake({"a": ["b"], "b": ["c"], "c": []})) == []  # type: ignore[arg-type]

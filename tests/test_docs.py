"""The documentation site: its tutorials run, its API pages cover every public name, its
command-line page lists every command (``mkdocs build --strict`` itself runs in ``.ci/run``).

Each page's ```python blocks are executed in order in one namespace, in a temporary working
directory that holds a copy of ``examples/`` (pages write under ``out/``); the pages assert
what they claim (published troughs, equilibria, recovered parameters, analytic optima).
"""

from __future__ import annotations

import ast
import importlib
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
#: Pages whose code compiles diffrax gradients or runs sweeps: tens of CPU-seconds each.
SLOW = {"getting-started.md", "virtual-trial.md", "calibration.md", "optimize-regimen.md"}
SLOW |= {"what-decides-response.md"}
PAGES = [DOCS / "getting-started.md", *sorted((DOCS / "tutorials").glob("*.md"))]
PACKAGES = ["model", "solvers", "response", "sweeps", "reports", "calibrate", "sensitivity"]
PACKAGES += ["optimize", "analysis"]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=[pytest.mark.slow] if p.name in SLOW else [], id=p.name) for p in PAGES],
)
def test_page_code_runs(page, tmp_path, monkeypatch):
    import jax

    blocks = python_blocks(page)
    assert blocks, f"{page.name} has no python code"
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    x64 = bool(jax.config.read("jax_enable_x64"))
    try:
        for i, code in enumerate(blocks):
            exec(compile(code, f"{page.relative_to(ROOT)} block {i + 1}", "exec"), namespace)
    finally:  # a page may switch x64 on globally: restore it for the other tests
        jax.config.update("jax_enable_x64", x64)


def test_every_tutorial_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES:
        assert str(page.relative_to(DOCS)) in nav, page.name


def _reexports(package: str) -> set[str]:
    """Names an ``__init__.py`` re-exports explicitly (``from ._x import y as y``)."""
    tree = ast.parse((ROOT / "tumorimmune" / package / "__init__.py").read_text(encoding="utf-8"))
    return {
        a.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for a in node.names
        if a.asname == a.name and not a.name.startswith("_")
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_api_page_documents_every_public_name(package):
    """Each subpackage has an API page rendering it, and an ``__all__`` (mkdocstrings renders
    the members it lists) that holds every explicit re-export and only existing names."""
    page = DOCS / "api" / f"{package}.md"
    assert f"::: tumorimmune.{package}\n" in page.read_text(encoding="utf-8")
    assert f"api/{package}.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    module = importlib.import_module(f"tumorimmune.{package}")
    public = getattr(module, "__all__", None)
    assert public is not None, f"tumorimmune.{package} has no __all__"
    assert _reexports(package) <= set(public), _reexports(package) - set(public)
    assert all(hasattr(module, name) for name in public)


def test_top_level_api_page_documents_simulate_solve_dosing():
    text = (DOCS / "api" / "tumorimmune.md").read_text(encoding="utf-8")
    for name in ("simulate", "solve", "Dosing", "Solution"):
        assert f"::: tumorimmune.{name}\n" in text, name


def test_cli_page_lists_every_command():
    """The hook renders ``--help`` of every registered command; the page's table names each."""
    import sys

    sys.path.insert(0, str(DOCS))
    try:
        hooks = importlib.import_module("hooks")
    finally:
        sys.path.remove(str(DOCS))
    rendered = hooks.cli_help_markdown()
    commands = re.findall(r"^## `tumorimmune (\S+)`", rendered, re.M)
    assert set(commands) >= {"run", "validate", "report", "simulate", "fit"}
    page = (DOCS / "api" / "cli.md").read_text(encoding="utf-8")
    assert hooks.MARKER in page
    for name in commands:
        assert f"`tumorimmune {name}" in page, name
        assert f"Usage: tumorimmune {name}" in rendered, name


def test_sphinx_roles_become_inline_code():
    """The griffe extension of mkdocs.yml: reST roles and ``::`` render as Markdown."""
    import sys

    pytest.importorskip("griffe")  # the docs extra

    sys.path.insert(0, str(DOCS))
    try:
        roles = importlib.import_module("griffe_roles")
    finally:
        sys.path.remove(str(DOCS))
    text = "See :func:`~tumorimmune.solvers.get_backend` and :class:`tumorimmune.Dosing`. Use::"
    assert roles.plain_roles(text) == "See `get_backend` and `tumorimmune.Dosing`. Use:"
    assert "extensions:\n              - docs/griffe_roles.py:SphinxRoles" in (
        ROOT / "mkdocs.yml"
    ).read_text(encoding="utf-8")


def test_every_documented_subpackage_is_a_lazy_attribute():
    """``ti.<package>`` works for every package with an API page, without importing it first
    (``tumorimmune.__init__`` loads subpackages on first access)."""
    import subprocess
    import sys

    code = "import tumorimmune as ti\n" + "".join(
        f"assert ti.{name}.__name__ == 'tumorimmune.{name}'\n" for name in PACKAGES
    )
    code += f"assert set({PACKAGES!r}) <= set(ti.__all__) and set({PACKAGES!r}) <= set(dir(ti))\n"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)

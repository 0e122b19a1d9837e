"""Griffe extension: Sphinx roles in docstrings (``:func:`~tumorimmune.solve```) become inline
code (``solve``) for mkdocstrings, which renders Markdown, not reStructuredText; a paragraph
ending in ``::`` (a reST literal block follows) ends in ``:``.

``~`` keeps the last component, as in Sphinx; the docstrings stay valid for ``help()`` and
editors. Used by ``mkdocs.yml`` (``extensions`` of the python handler).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|data|mod|meth|attr|exc|obj|py:\w+):`(~?)([^`]+)`")
LITERAL = re.compile(r"(\S)::$", re.M)


def _code(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def plain_roles(text: str) -> str:
    """``text`` with every Sphinx cross-reference role replaced by inline code."""
    return LITERAL.sub(r"\1:", ROLE.sub(_code, text))


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)

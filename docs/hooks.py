"""MkDocs hook: the command-line page shows the live ``--help`` of every ``tumorimmune`` command.

``docs/api/cli.md`` holds the marker ``<!-- tumorimmune-cli-help -->``; it is replaced by one
section per subcommand with the text typer/click print for ``tumorimmune COMMAND --help``, so the
page cannot drift from the code.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- tumorimmune-cli-help -->"


def cli_help_markdown() -> str:
    """Markdown: ``tumorimmune --help`` then one section per subcommand, in registration order."""
    import typer

    from tumorimmune.cli import app

    root: Any = typer.main.get_command(app)  # a (typer-vendored) click group
    parts = []
    with typer.Context(root, info_name="tumorimmune", terminal_width=100) as ctx:
        parts.append("## `tumorimmune`\n\n```text\n" + root.get_help(ctx) + "\n```\n")
        for name in root.list_commands(ctx):
            cmd = root.get_command(ctx, name)
            with typer.Context(cmd, parent=ctx, info_name=name, terminal_width=100) as sub:
                parts.append(f"## `tumorimmune {name}`\n\n```text\n{cmd.get_help(sub)}\n```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_help_markdown())
    return markdown

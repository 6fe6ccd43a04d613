"""`xp prompts list|show|diff|lock`: the versioned prompt templates."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from xpollinate.cli.common import handle_errors, out
from xpollinate.prompts import default_registry

app = typer.Typer(help="List, show and compare the versioned prompt templates.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_cmd() -> None:
    """Every prompt version with its content hash, output model and variables."""
    registry = default_registry()
    problems = {p.split(":", 1)[0]: p for p in registry.lock_problems()}
    table = Table(show_header=True)
    for col in ("prompt", "sha256", "output", "variables", "status"):
        table.add_column(col)
    for t in registry.all():
        status = "[red]CHANGED[/red]" if t.ref in problems else "ok"
        table.add_row(t.ref, t.short_hash, t.output or "-", ", ".join(t.variables), status)
    out.print(table)
    for problem in problems.values():
        out.print(f"[red]{problem}[/red]", highlight=False)


@app.command("show")
@handle_errors
def show_cmd(ref: Annotated[str, typer.Argument(help="name@version, or a name for its latest version")]) -> None:
    """Print a version's declaration and text."""
    t = default_registry().get(ref)
    out.print(f"[bold]{t.ref}[/bold]  sha256 {t.sha256}", highlight=False)
    out.print(
        f"{t.description}\nsource: {t.source}\noutput: {t.output or '-'}  max_tokens: {t.max_tokens}", highlight=False
    )
    for v in t.variables.values():
        bound = (
            f"{v.type}, {v.min}..{v.max}"
            if v.type == "int"
            else f"{v.type}, <= {v.max_chars} chars{', multiline' if v.multiline else ''}"
        )
        out.print(f"  {{{v.name}}} ({bound}): {v.description}", highlight=False, markup=False)
    out.rule()
    out.print(t.text, highlight=False, markup=False, end="")


@app.command("diff")
@handle_errors
def diff_cmd(a: str, b: str) -> None:
    """Unified diff of two versions, e.g. `xp prompts diff theme@v1 theme@v2`."""
    text = default_registry().diff(a, b)
    out.print(text or f"{a} and {b} have the same text", highlight=False, markup=False, end="" if text else "\n")


@app.command("lock")
@handle_errors
def lock_cmd() -> None:
    """Record the hashes of new versions in hashes.json (recorded versions are never rewritten)."""
    added = default_registry().lock_new_versions()
    out.print(f"recorded: {', '.join(added)}" if added else "nothing new to record")

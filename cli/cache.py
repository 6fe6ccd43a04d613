"""`xp cache stats|clear`: the on-disk LLM response cache in the run directory."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from xpollinate.cache import ResponseCache
from xpollinate.cli.common import JsonOption, emit_json, handle_errors, out
from xpollinate.prompts import default_registry

app = typer.Typer(help="Inspect or clear the LLM response cache.", no_args_is_help=True)


@app.command("stats")
@handle_errors
def stats_cmd(json_out: JsonOption = None) -> None:
    """Entries, size on disk and entries per prompt version."""
    stats = ResponseCache().stats()
    payload = {"path": str(stats.path), "entries": stats.entries, "bytes": stats.bytes, "by_prompt": stats.by_prompt}
    if emit_json(json_out, payload):
        return
    out.print(f"cache {stats.path}: {stats.entries} entries, {stats.bytes / 1024:.1f} KiB", highlight=False)
    if stats.by_prompt:
        table = Table(show_header=True)
        table.add_column("prompt")
        table.add_column("entries", justify="right")
        for ref, n in stats.by_prompt.items():
            table.add_row(ref, str(n))
        out.print(table)


@app.command("clear")
@handle_errors
def clear_cmd(
    prompt: Annotated[
        Optional[str],
        typer.Option("--prompt", help="Only this prompt version (theme@v2), or every version of a name (theme)."),
    ] = None,
) -> None:
    """Remove all cached responses, or those of one prompt version."""
    cache = ResponseCache()
    if prompt is None:
        out.print(f"removed {cache.clear()} entries")
        return
    registry = default_registry()
    refs = [registry.get(prompt).ref] if "@" in prompt else [t.ref for t in registry.versions(prompt)]
    removed = sum(cache.clear(ref) for ref in refs)
    out.print(f"removed {removed} entries of {', '.join(refs)}")

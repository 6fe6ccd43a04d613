"""Shared CLI plumbing: consoles, error reporting, progress messages."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from xpollinate.errors import XPError

# Piped output (files, CI logs) gets room for the wide result tables instead of 80 columns.
out = Console(width=None if Console().is_terminal else 160)
err = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 160)
P = ParamSpec("P")
R = TypeVar("R")


def validation_message(exc: ValidationError) -> str:
    """One line per invalid field, naming it: 'pt_basket.min_support: Input should be ...'."""
    lines = []
    for e in exc.errors():
        field = ".".join(str(p) for p in e["loc"]) or "value"
        lines.append(f"  {field}: {e['msg']} (got {e.get('input')!r})")
    return "invalid settings:\n" + "\n".join(lines)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn expected errors into a message on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            err.print(f"[red]error:[/red] {validation_message(exc)}", highlight=False)
        except XPError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/yellow]: nothing half-written was published")
            sys.exit(130)
        raise typer.Exit(2)

    return wrapper


@contextmanager
def stage_bars(transient: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """One progress bar per stage on stderr; yields `tick(stage, done, total)` (the one shape every long
    command reports progress in)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=transient) as bar:
        tasks: dict[str, TaskID] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield tick


@contextmanager
def status(message: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr whose text each step updates; yields the update function."""
    with err.status(message) as live:
        yield lambda step: live.update(f"{message}: {step}")


JsonOption = Annotated[
    Optional[Path],
    typer.Option("--json", help="Also write what this command reports as JSON to a file ('-': stdout only)."),
]


def emit_json(path: Path | None, payload: Any) -> bool:
    """Write `payload` as JSON to `path` ('-': stdout). True when it went to stdout (print no table then)."""
    if path is None:
        return False
    text = json.dumps(payload, indent=2, default=str)
    if str(path) == "-":
        sys.stdout.write(text + "\n")
        return True
    path.write_text(text + "\n", encoding="utf-8")
    return False


def metrics_table(
    title: str, first: str, rows: Mapping[str, Mapping[str, float]], columns: Sequence[str] | None = None
) -> Table:
    """A table of named rows of metrics (4 decimals): `columns` in order, or the first row's keys."""
    cols = list(columns) if columns is not None else list(next(iter(rows.values()), {}))
    table = Table(title=title)
    table.add_column(first)
    for c in cols:
        table.add_column(c, justify="right")
    for name, row in rows.items():
        table.add_row(name, *[f"{row[c]:.4f}" for c in cols])
    return table

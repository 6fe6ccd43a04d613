"""`xp run --thread ID`: one anchor's run checkpointed under a thread, continued where it stopped.

A thread is started, resumed after a failure (from the last checkpoint: finished nodes do not run
again), resumed at a pending review (the terminal asks for the decisions), replayed from a chosen
checkpoint, or found complete (its result is shown and stored again, nothing runs).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import typer
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command
from rich.table import Table

from xpollinate.cli.common import err, out
from xpollinate.errors import XPError
from xpollinate.graphs.checkpoints import CheckpointRow, Checkpoints
from xpollinate.graphs.runner import START, outcome_of, run_anchor
from xpollinate.llm import LLM
from xpollinate.records import Anchor, ItemXPState
from xpollinate.xpstore.item_xp_store import AnchorOutcome
from xpollinate.xpstore.review_sheets import ERROR_SOURCES

Ask = Callable[[dict[str, Any]], dict[str, Any]]  # the review step's request -> the resume value
RunOnce = Callable[[RunnableConfig, Any], None]  # stream the graph once: (config, input or None or Command)


def run_thread(
    graph: Any,
    model: LLM,
    anchor: Anchor,
    checkpoints: Checkpoints,
    thread: str,
    run_id: str,
    ask: Ask,
    from_checkpoint: str | None = None,
    run_once: RunOnce | None = None,
) -> tuple[AnchorOutcome, ItemXPState]:
    """Start, resume or replay the thread until it completes; each review pause is answered by `ask`.
    `run_once` streams the graph once (default: `run_anchor` without progress); a caller with live progress
    bars closes them in it, so that no bar is drawn over the review's questions."""

    def plain(config: RunnableConfig, given: Any) -> None:
        run_anchor(graph, model, anchor, config=config, graph_input=given)

    run_once = run_once or plain
    base = Checkpoints.config(thread, xp_run_id=run_id)
    before = asdict(model.usage.total)
    started = time.perf_counter()
    current = graph.get_state(base)
    step: tuple[Any, Any] | None
    if from_checkpoint:
        checkpoints.require_checkpoint(thread, from_checkpoint)
        err.print(f"thread {thread}: replaying from checkpoint {from_checkpoint}")
        step = (Checkpoints.config(thread, from_checkpoint, xp_run_id=run_id), None)
    elif not current.values:
        err.print(f"thread {thread}: new, checkpointed in {checkpoints.path}")
        step = (base, START)
    elif current.interrupts:
        err.print(f"thread {thread}: paused at the review step")
        step = (base, Command(resume=ask(current.interrupts[0].value)))
    elif current.next:
        err.print(f"thread {thread}: resuming at {', '.join(sorted(set(current.next)))}; finished steps are not re-run")
        step = (base, None)
    else:
        err.print(f"thread {thread}: complete; its result again (replay a part with --from-checkpoint, see --history)")
        step = None
    while step is not None:
        config, given = step
        try:
            run_once(config, given)
        except (XPError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise XPError(
                f"the run stopped in a failing step ({type(exc).__name__}: {exc}); the steps that finished are "
                f"checkpointed: `xp run --thread {thread}` resumes it"
            ) from exc
        current = graph.get_state(base)
        step = (base, Command(resume=ask(current.interrupts[0].value))) if current.interrupts else None
    after = asdict(model.usage.total)
    final = current.values
    usage = {k: after[k] - before[k] for k in after}
    return outcome_of(anchor, final, usage, time.perf_counter() - started), final


def print_history(thread: str, rows: list[CheckpointRow]) -> None:
    table = Table(title=f"checkpoints of thread {thread}, oldest first", title_justify="left")
    for col in ("step", "source", "after", "next", "time (UTC)", "checkpoint"):
        table.add_column(col, justify="right" if col == "step" else "left", no_wrap=col == "checkpoint")

    def nodes(names: tuple[str, ...]) -> str:
        return ", ".join(f"{n} x{c}" if c > 1 else n for n, c in Counter(names).items()) or "-"

    for r in rows:
        table.add_row(
            str(r.step),
            r.source,
            nodes(r.ran),
            nodes(r.next) + (" (paused)" if r.interrupted else ""),
            r.created_at[:19].replace("T", " "),
            r.checkpoint_id,
        )
    out.print(table)


def ask_at_terminal(request: dict[str, Any]) -> dict[str, Any]:
    """The review step's question at the terminal: approve or reject each item, a rejection's error source."""
    items = request["items"]
    for problem in request.get("problems", []):
        err.print(f"[yellow]refused:[/yellow] {problem}")
    anchor = request["anchor"]
    table = Table(title=f"review: {len(items)} items for {anchor['item_id']} {anchor['text']}", title_justify="left")
    for col in ("#", "item", "source", "recommendation", "combined", "band"):
        table.add_column(col, justify="right" if col in ("#", "combined") else "left", overflow="ellipsis")
    for i, item in enumerate(items, start=1):
        table.add_row(
            str(i),
            f"{item['item_id']} {item['item']}",
            item["source"],
            item["recommendation"],
            f"{item['combined']:.2f}",
            item["band"],
        )
    out.print(table)
    answer: dict[str, Any] = {}
    for i, item in enumerate(items, start=1):
        while True:
            said = typer.prompt(f"{i}/{len(items)} item {item['item_id']}: approve or reject? [a/r]").strip().lower()
            if said in ("a", "approve"):
                answer[str(item["item_id"])] = "approve"
                break
            if said in ("r", "reject"):
                answer[str(item["item_id"])] = {"decision": "reject", "error_source": _error_source()}
                break
            err.print("answer a (approve) or r (reject)")
    return answer


def _error_source() -> str:
    while True:
        said = typer.prompt(
            f"  why? error source ({', '.join(ERROR_SOURCES)}; Enter: not known)", default="", show_default=False
        )
        if said.strip().lower() in ("", *ERROR_SOURCES):
            return said.strip().lower()
        err.print(f"answer one of {', '.join(ERROR_SOURCES)}, or Enter")

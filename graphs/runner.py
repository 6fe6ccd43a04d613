"""Run an item-XP graph for one anchor and turn its final state into a stored outcome.

The same function serves `xp run` and the batch: a batch is many of these calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pandas as pd
from langchain_core.runnables import RunnableConfig

from xpollinate.llm import LLM
from xpollinate.records import Anchor, ItemXPState
from xpollinate.xpstore.item_xp_store import AnchorOutcome

OnNode = Callable[[str, dict[str, Any]], None]
OnProgress = Callable[[str, int, int], None]  # stage, done, total


def anchor_from_item(row: pd.Series) -> Anchor:
    """An items-table row as the graph's anchor."""
    return Anchor(
        item_id=int(row["item_id"]),
        text=str(row["text"]),
        product_type=str(row["product_type"]),
        category=str(row["category"]),
        is_grocery=bool(row["is_grocery"]),
    )


def audit(state: ItemXPState) -> dict[str, Any]:
    """Everything but the results, as plain data: why each recommendation left, which calls failed."""
    dropped = state.get("dropped", [])
    reasons: dict[str, int] = {}
    for d in dropped:
        reasons[f"{d.stage}: {d.reason}"] = reasons.get(f"{d.stage}: {d.reason}", 0) + 1
    recs = state.get("recs", [])
    copied = state.get("copied", [])
    out_of_catalog = state.get("out_of_catalog")
    return {
        "themes": [t.model_dump() for t in state.get("themes", [])],
        "shortlist": list(state.get("shortlist", [])),
        "n_recommendations": len(recs),
        "n_copied": len(copied),
        "copied": list(copied),
        "n_distinct_recs": state.get("n_distinct_recs", 0),
        # distinct recommendations naming no catalog product type (None: no vocabulary to check against)
        "n_out_of_catalog": None if out_of_catalog is None else len(out_of_catalog),
        "out_of_catalog": list(out_of_catalog or []),
        "n_candidates": sum(1 for r in state.get("candidates", []) if r.source != "historical"),  # the model's, kept
        "n_historical": sum(1 for r in state.get("candidates", []) if r.source == "historical"),
        "n_matches": len(state.get("matches", [])),
        "n_judge_triplets": len(state.get("judge_scores", {})),
        "n_ce_pairs": len(state.get("ce_scores", {})),
        "dropped_by_reason": reasons,
        "dropped": [d.model_dump() for d in dropped],
        "failures": [f.model_dump() for f in state.get("failures", [])],
        "provenance": {k: v.model_dump() for k, v in state.get("provenance", {}).items()},
    }


START = object()  # run_anchor's default input: a fresh run of the anchor


def run_anchor(
    graph: Any,
    llm: LLM,
    anchor: Anchor,
    on_node: OnNode | None = None,
    on_progress: OnProgress | None = None,
    *,
    config: RunnableConfig | None = None,
    graph_input: Any = START,
) -> tuple[AnchorOutcome, ItemXPState]:
    """Invoke `graph` for `anchor`, reporting each finished node to `on_node` and the progress of long nodes
    (their model calls done of all) to `on_progress`.

    With a checkpointed graph, `config` names the thread (and a checkpoint to replay from) and `graph_input`
    may be None (resume or replay) or a `Command(resume=...)` (answer an interrupt); the outcome is then the
    thread's state when the stream ends, which a pause leaves before the interrupted node."""
    before = asdict(llm.usage.total)
    started = time.perf_counter()
    final: ItemXPState = {}
    given = {"anchor": anchor} if graph_input is START else graph_input
    for mode, chunk in graph.stream(given, config, stream_mode=["updates", "values", "custom"]):
        if mode == "values":
            final = chunk
        elif mode == "custom":
            if on_progress is not None and isinstance(chunk, dict) and "stage" in chunk:
                on_progress(str(chunk["stage"]), int(chunk["done"]), int(chunk["total"]))
        elif on_node is not None:
            for node, update in chunk.items():
                if node != "__interrupt__":  # a pause: the caller reads it from the thread's state
                    on_node(node, update or {})
    if config is not None and graph.checkpointer is not None:
        thread = {"configurable": {k: v for k, v in config["configurable"].items() if k != "checkpoint_id"}}
        final = graph.get_state(thread).values  # the thread's newest checkpoint (a replay forks a new one)
    after = asdict(llm.usage.total)
    usage = {k: after[k] - before[k] for k in after}
    return outcome_of(anchor, final, usage, time.perf_counter() - started), final


def outcome_of(anchor: Anchor, final: ItemXPState, usage: dict[str, Any], seconds: float) -> AnchorOutcome:
    """An anchor's outcome (results, audit with usage) from a run's final state."""
    trail = audit(final)
    trail["usage"] = usage
    return AnchorOutcome(
        anchor_id=anchor.item_id if anchor.item_id is not None else -1,
        anchor_text=anchor.text,
        anchor_pt=anchor.product_type,
        results=list(final.get("results", [])),
        audit=trail,
        seconds=seconds,
        scorer_id=final.get("scorer_id"),
    )

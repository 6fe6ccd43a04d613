"""The human-review step: the graph pauses before its results are stored, a person approves or rejects
each scored item, and the decisions become a filled review sheet.

The pause is a LangGraph interrupt, so it works wherever the graph runs with a checkpointer:
`xp run --review --thread ID` asks at the terminal, and Studio or any `langgraph-sdk` client resumes
with `Command(resume={item_id: "approve" | "reject", ...})`. A rejected item leaves the results
(it is never stored or served) and is recorded as a drop of stage "review"; every decision,
approvals included, is written in the review-sheet format of `xp review export` (label 1/0 and
the rejection's error source), so `xp review import` measures the pipeline against these
decisions exactly as against a sheet filled by hand.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.config import get_config
from langgraph.types import interrupt

from xpollinate.errors import XPError
from xpollinate.records import (
    Anchor,
    Drop,
    ItemXPState,
    ReviewDecision,
    ReviewRecord,
    ScoredItem,
    anchor_of,
    records,
)
from xpollinate.xpstore.review_sheets import ERROR_SOURCES, SheetRow, reviews_dir, write_sheet

DECISIONS = ("approve", "reject")
DEFAULT_KEY = "*"  # the decision for every item the answer does not name
ANSWER_HELP = (
    'a dict {item_id: "approve" | "reject"}; a value may be {"decision": "reject", "error_source": '
    f'{" | ".join(ERROR_SOURCES)}}}, and the key "{DEFAULT_KEY}" decides every item not named'
)


def require_checkpointer(review: bool, checkpointer: Any, supplied_by_server: bool = False) -> None:
    """A paused run lives in a checkpointer: refuse to build a reviewing graph that has none."""
    if review and checkpointer in (None, False) and not supplied_by_server:
        raise XPError(
            "the review step pauses the run until a person decides (a LangGraph interrupt), and only a "
            "checkpointed run can pause: give `xp run --review` a --thread ID (in Python, build the graph "
            "with a checkpointer)"
        )


def review_request(anchor: Anchor, items: list[ScoredItem], problems: list[str] | None = None) -> dict[str, Any]:
    """What the interrupt shows (plain JSON: a server sends it to its client as is)."""
    request: dict[str, Any] = {
        "step": "review",
        "anchor": {"item_id": anchor.item_id, "text": anchor.text, "product_type": anchor.product_type},
        "items": [
            {
                "item_id": r.item_id,
                "item": r.item_text,
                "product_type": r.product_type,
                "recommendation": r.recommendation,
                "theme": r.theme,
                "source": r.source,
                "ce": r.ce,
                "llm": r.llm,
                "combined": r.combined,
                "band": r.band,
                "expanded": r.expanded,
            }
            for r in items
        ],
        "answer": ANSWER_HELP,
    }
    if problems:
        request["problems"] = problems
    return request


def _one(value: Any, where: str, problems: list[str]) -> tuple[str, str] | None:
    """(decision, error source) from "approve" / "reject" / {"decision": ..., "error_source": ...}."""
    given = value if isinstance(value, Mapping) else {"decision": value}
    decision = str(given.get("decision", "")).strip().lower()
    source = str(given.get("error_source") or "").strip().lower()
    if decision not in DECISIONS:
        problems.append(f"{where}: decision {given.get('decision')!r} is not one of approve, reject")
        return None
    if source and source not in ERROR_SOURCES:
        problems.append(f"{where}: error_source {source!r} is not one of {', '.join(ERROR_SOURCES)}")
        return None
    if source and decision == "approve":
        problems.append(f"{where}: an error_source is for a rejection, not an approval")
        return None
    return decision, source


def read_decisions(answer: Any, items: list[ScoredItem]) -> tuple[list[ReviewDecision], list[str]]:
    """The decisions of an answer, one per item in the items' order, and what is wrong with it (if anything)."""
    if not isinstance(answer, Mapping):
        return [], [f"the answer is {type(answer).__name__}, expected {ANSWER_HELP}"]
    ids = {r.item_id for r in items}
    problems: list[str] = []
    chosen: dict[int, tuple[str, str]] = {}
    default = None
    for key, value in answer.items():
        if str(key).strip() == DEFAULT_KEY:
            default = _one(value, f'"{DEFAULT_KEY}"', problems)
            continue
        try:
            item_id = int(str(key).strip())
        except ValueError:
            problems.append(f"{key!r} is not an item id")
            continue
        if item_id not in ids:
            problems.append(f"item {item_id} is not among the items under review")
            continue
        if (one := _one(value, f"item {item_id}", problems)) is not None:
            chosen[item_id] = one
    missing = [r.item_id for r in items if r.item_id not in chosen]
    if missing and default is None and not problems:
        problems.append(
            f"no decision for item(s) {', '.join(map(str, missing))}: name them, or decide the rest with "
            f'"{DEFAULT_KEY}"'
        )
    if problems:
        return [], problems
    decisions = []
    for r in items:
        decision, source = chosen.get(r.item_id) or default  # type: ignore[misc]  # default is set when any is missing
        decisions.append(ReviewDecision(item_id=r.item_id, decision=decision, error_source=source))  # type: ignore[arg-type]
    return decisions, []


def write_review(
    anchor: Anchor,
    items: list[ScoredItem],
    decisions: list[ReviewDecision],
    run_id: str,
    thread_id: str,
    home: Path | None = None,
) -> ReviewRecord:
    """The decisions as a filled review sheet (CSV + its key in `$XP_HOME/reviews/`). The sheet id hashes the
    run, thread, anchor and decisions, so a step re-run with the same answer rewrites the same sheet."""
    by_id = {d.item_id: d for d in decisions}
    digest = json.dumps([run_id, thread_id, anchor.item_id, [d.model_dump() for d in decisions]], sort_keys=True)
    sheet_id = hashlib.sha256(digest.encode()).hexdigest()[:10]
    rows = [
        SheetRow(
            anchor_id=anchor.item_id if anchor.item_id is not None else -1,
            anchor=anchor.text,
            theme=r.theme,
            recommendation=r.recommendation,
            item_id=r.item_id,
            item=r.item_text,
            product_type=r.product_type,
            expanded=r.expanded,
            ce=r.ce,
            llm=r.llm,
            combined=r.combined,
            band=r.band,
            label="1" if by_id[r.item_id].decision == "approve" else "0",
            error_source=by_id[r.item_id].error_source,
            notes=f"review step, thread {thread_id}",
        )
        for r in items
    ]
    path = reviews_dir(home) / f"{sheet_id}.csv"
    population = dict(Counter(r.band for r in items))
    write_sheet(path, sheet_id, run_id, rows, population, home, thread_id=thread_id, drawn="review step: every item")
    return ReviewRecord(sheet=sheet_id, path=str(path), decisions=decisions)


@dataclass(frozen=True)
class ReviewNode:
    """Interrupt with the scored items; resume with the decisions. An answer that does not decide every item
    is refused by interrupting again with its problems, so a bad answer never fails the run."""

    home: Path | None = None  # the run directory for the sheet (default: $XP_HOME, read when the step runs)

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        items = records(state, "results", ScoredItem)
        if not items:
            return {}
        anchor = anchor_of(state)
        problems: list[str] | None = None
        while True:
            answer = interrupt(review_request(anchor, items, problems))
            decisions, problems = read_decisions(answer, items)
            if not problems:
                break
        configurable = get_config().get("configurable", {})
        thread_id = str(configurable.get("thread_id", ""))
        run_id = str(configurable.get("xp_run_id") or f"thread-{thread_id}")
        record = write_review(anchor, items, decisions, run_id, thread_id, self.home)
        rejected = {d.item_id: d.error_source for d in decisions if d.decision == "reject"}
        drops = [
            Drop(
                stage="review",
                reason="rejected by reviewer",
                text=r.recommendation,
                theme=r.theme,
                detail=f"item {r.item_id}" + (f": {rejected[r.item_id]}" if rejected[r.item_id] else ""),
            )
            for r in items
            if r.item_id in rejected
        ]
        return {"results": [r for r in items if r.item_id not in rejected], "dropped": drops, "review": record}

"""Every scored (recommendation, matched item) pair of an anchor, Poor ones included.

The store keeps only the items that survive (Poor removed, best score per item); the
paper's quality tables (band shares, % Poor per anchor type) need every scored pair.
They are read from the graph's final state with the graph's own keys and scoring
functions (`triplet_key`, `pair_key`, `combined_score`, `band`) and kept in the anchor's
audit, written in the same transaction as its results.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xpollinate.judges.bands import band, combined_score
from xpollinate.judges.cross_encoder import pair_key
from xpollinate.judges.llm_judge import pt_label, triplet_key
from xpollinate.records import Match, Rec, anchor_of, records

SCORED_COLUMNS = (
    "theme",
    "recommendation",
    "item_id",
    "item_text",
    "product_type",
    "expanded",
    "ce",
    "llm",
    "combined",
    "band",
    "source",
)


def scored_rows(state: Mapping[str, Any]) -> dict[str, Any]:
    """{"columns": SCORED_COLUMNS, "rows": [...]} for every match with both scores."""
    if not state.get("anchor"):
        return {"columns": list(SCORED_COLUMNS), "rows": []}
    anchor = anchor_of(state)
    anchor_pt = pt_label(anchor.product_type, anchor.text)
    recs = {r.rec_id: r for r in records(state, "candidates", Rec)}
    judge, ce = state.get("judge_scores", {}) or {}, state.get("ce_scores", {}) or {}
    rows = []
    for m in records(state, "matches", Match):
        rec = recs.get(m.rec_id)
        if rec is None:
            continue
        verdict = judge.get(triplet_key(anchor_pt, rec.text, m.product_type))
        ce_score = ce.get(pair_key(rec.text, m.item_text))
        if verdict is None or ce_score is None:
            continue
        llm_score = float(verdict[0])
        combined = combined_score(ce_score, llm_score)
        rows.append(
            [
                rec.theme,
                rec.text,
                m.item_id,
                m.item_text,
                m.product_type,
                bool(m.expanded),
                round(float(ce_score), 4),
                round(llm_score, 4),
                round(combined, 4),
                band(combined).value,
                rec.source,
            ]
        )
    return {"columns": list(SCORED_COLUMNS), "rows": rows}


def as_dicts(scored: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not scored:
        return []
    cols = scored["columns"]
    return [dict(zip(cols, row)) for row in scored["rows"]]

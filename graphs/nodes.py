"""Graph nodes that are not agents or judges: merging branch output, matching, combining scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from xpollinate.agents.normalize import key
from xpollinate.graphs.state import Drop, ItemXPState, Match, Rec, ScoredItem, Theme, anchor_of, records
from xpollinate.judges.bands import Band, band, combined_score
from xpollinate.judges.cross_encoder import pair_key
from xpollinate.judges.llm_judge import pt_label, triplet_key
from xpollinate.retrieval.grocery_filter import GroceryFilter


@dataclass(frozen=True)
class MergeNode:
    """Join the theme branches: a stable order, cross-theme duplicates and grocery recs removed."""

    grocery_filter: GroceryFilter | None = None

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        theme_rank = {t.context: i for i, t in enumerate(records(state, "themes", Theme))}
        recs = sorted(records(state, "recs", Rec), key=lambda r: (theme_rank.get(r.theme or "", 0), r.order))
        kept: list[Rec] = []
        drops: list[Drop] = []
        seen: set[str] = set()
        for rec in recs:
            k = key(rec.text)
            if k in seen:
                drops.append(Drop(stage="merge", reason="duplicate across themes", text=rec.text, theme=rec.theme))
                continue
            seen.add(k)
            kept.append(rec)
        if self.grocery_filter is not None and kept:
            verdicts = self.grocery_filter.check([r.text for r in kept])
            grocery = [(r, v) for r, v in zip(kept, verdicts) if v.is_grocery]
            drops += [
                Drop(stage="merge", reason="grocery item", text=r.text, theme=r.theme, detail=f"~ {v.nearest_grocery_pt}")
                for r, v in grocery
            ]
            kept = [r for r, v in zip(kept, verdicts) if not v.is_grocery]
        return {"candidates": kept, "dropped": drops}


class Matcher(Protocol):
    """What the graph needs from the semantic matcher (see `retrieval.matcher`)."""

    def match_recommendations(self, texts: Sequence[str], k: int, expand: int) -> list[list[Match]]:
        """Per text, up to k catalog GM items plus `expand` similar items per matched PT.
        Returned `Match` objects carry rec_id="" (the node fills it in)."""
        ...


@dataclass(frozen=True)
class MatchNode:
    matcher: Matcher
    k: int = 3
    expand: int = 2

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        recs = records(state, "candidates", Rec)
        found = self.matcher.match_recommendations([r.text for r in recs], self.k, self.expand) if recs else []
        matches: list[Match] = []
        drops: list[Drop] = []
        for rec, hits in zip(recs, found):
            if not hits:
                drops.append(Drop(stage="match", reason="no catalog match", text=rec.text, theme=rec.theme))
            matches += [h.model_copy(update={"rec_id": rec.rec_id}) for h in hits]
        return {"matches": matches, "dropped": drops}


@dataclass(frozen=True)
class CombineNode:
    """Combined = CE x LLM per matched item, its band; Poor removed; best score per item kept."""

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        anchor = anchor_of(state)
        anchor_pt = pt_label(anchor.product_type, anchor.text)
        recs = {r.rec_id: r for r in records(state, "candidates", Rec)}
        judge, ce = state.get("judge_scores", {}), state.get("ce_scores", {})
        best: dict[int, ScoredItem] = {}
        drops: list[Drop] = []
        for m in records(state, "matches", Match):
            rec = recs[m.rec_id]
            verdict = judge.get(triplet_key(anchor_pt, rec.text, m.product_type))
            if verdict is None:
                drops.append(Drop(stage="combine", reason="no judge score", text=rec.text, theme=rec.theme,
                                  detail=f"item {m.item_id}"))
                continue
            llm_score, reasoning = verdict
            ce_score = ce[pair_key(rec.text, m.item_text)]
            combined = combined_score(ce_score, llm_score)
            quality = band(combined)
            if quality is Band.POOR:
                drops.append(Drop(stage="combine", reason="poor band", text=rec.text, theme=rec.theme,
                                  detail=f"item {m.item_id}: {ce_score:.2f} x {llm_score:.2f} = {combined:.2f}"))
                continue
            item = ScoredItem(
                rec_id=rec.rec_id, theme=rec.theme, recommendation=rec.text, explanation=rec.explanation,
                evaluator_score=rec.evaluator_score, item_id=m.item_id, item_text=m.item_text,
                product_type=m.product_type, similarity=m.similarity, expanded=m.expanded, ce=round(ce_score, 4),
                llm=llm_score, combined=round(combined, 4), band=quality.value, judge_reasoning=reasoning,
            )
            if m.item_id not in best or item.combined > best[m.item_id].combined:
                best[m.item_id] = item
        results = sorted(best.values(), key=lambda r: (-r.combined, -r.similarity, r.item_id))
        return {"results": results, "dropped": drops}

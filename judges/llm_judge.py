"""LLM-as-judge, XP paper A.5, at product-type level.

Items of one product type share their recommendation logic, so the judge sees
(anchor PT, recommendation, matched PT) triplets and each distinct triplet is
judged once, whatever the number of matched items behind it. The paper's rubric
prompt (`judge@v2`) names product types as the paper does; the lean yes/no prompt
(`relevance@v1`) gets each with its category, which a small model needs to read
abbreviated names ("Scoop Litter (Cat Litter)").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpollinate.agents.calls import ask, bounded_map, call_ref, failure_record, is_lean
from xpollinate.agents.normalize import key
from xpollinate.judges.cross_encoder import item_core
from xpollinate.llm import LLM
from xpollinate.records import ItemXPState, Match, Rec, anchor_of, records, typed_label


def pt_label(product_type: str, fallback: str = "") -> str:
    return product_type.strip().title() or fallback


def triplet_key(anchor_pt: str, rec_text: str, rec_pt: str) -> str:
    return f"{anchor_pt}\x1f{key(rec_text)}\x1f{rec_pt}"


@dataclass(frozen=True)
class LLMJudge:
    llm: LLM
    prompt: str = "judge@v2"
    workers: int = 4

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        anchor = anchor_of(state)
        anchor_pt = pt_label(anchor.product_type, anchor.text)
        lean = is_lean(self.llm, self.prompt)
        anchor_words = anchor.label if lean else anchor_pt
        recs = {r.rec_id: r for r in records(state, "candidates", Rec)}
        triplets: dict[str, tuple[str, str]] = {}
        for m in records(state, "matches", Match):
            rec = recs[m.rec_id]
            # a few catalog items have no product type: the judge then sees the item's own text
            rec_pt = pt_label(m.product_type, item_core(m.item_text))
            triplets.setdefault(
                triplet_key(anchor_pt, rec.text, m.product_type),
                (rec.text, typed_label(rec_pt, m.category) if lean else rec_pt),
            )

        wanted = set(self.llm.registry.get(self.prompt).variables)

        def judge(item: tuple[str, tuple[str, str]]):  # type: ignore[no-untyped-def]
            _, (rec_text, rec_pt) = item
            values = {"anchor_pt": anchor_words, "llm_rec": rec_text, "rec_pt": rec_pt}
            return ask(self.llm, self.prompt, {k: v for k, v in values.items() if k in wanted})

        scores: dict[str, tuple[float, str]] = {}
        failures, provenance = [], {}
        for (k, (rec_text, rec_pt)), result in zip(
            triplets.items(), bounded_map(judge, triplets.items(), self.workers, stage="judge")
        ):
            if result.ok:
                scores[k] = (result.value.score, result.value.reasoning)
                provenance["judge"] = call_ref(result)
            else:
                failures.append(failure_record(result, "judge", f"{rec_text} -> {rec_pt}"))
        return {"judge_scores": scores, "failures": failures, "provenance": provenance}

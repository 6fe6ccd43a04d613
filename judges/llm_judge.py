"""LLM-as-judge, XP paper A.5, at product-type level.

Items of one product type share their recommendation logic, so the judge sees
(anchor PT, recommendation, matched PT) triplets and each distinct triplet is
judged once, whatever the number of matched items behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpollinate.agents.calls import ask, bounded_map, call_ref, failure_record
from xpollinate.agents.normalize import key
from xpollinate.graphs.state import ItemXPState, Match, Rec, anchor_of, records
from xpollinate.llm import LLM


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
        recs = {r.rec_id: r for r in records(state, "candidates", Rec)}
        triplets: dict[str, tuple[str, str]] = {}
        for m in records(state, "matches", Match):
            rec = recs[m.rec_id]
            triplets.setdefault(triplet_key(anchor_pt, rec.text, m.product_type), (rec.text, m.product_type))

        def judge(item: tuple[str, tuple[str, str]]):  # type: ignore[no-untyped-def]
            _, (rec_text, rec_pt) = item
            return ask(self.llm, self.prompt, {"anchor_pt": anchor_pt, "llm_rec": rec_text, "rec_pt": pt_label(rec_pt, "Unspecified")})

        scores: dict[str, tuple[float, str]] = {}
        failures, provenance = [], {}
        for (k, (rec_text, rec_pt)), result in zip(triplets.items(), bounded_map(judge, triplets.items(), self.workers)):
            if result.ok:
                scores[k] = (result.value.score, result.value.reasoning)
                provenance["judge"] = call_ref(result)
            else:
                failures.append(failure_record(result, "judge", f"{rec_text} -> {rec_pt}"))
        return {"judge_scores": scores, "failures": failures, "provenance": provenance}


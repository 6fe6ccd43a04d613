"""Contextual evaluator, XP paper A.4: score each (anchor, recommendation, explanation); drop < 0.4.

The paper calls the model once per recommendation. Calls run with bounded
concurrency; a failed evaluation drops that recommendation with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpollinate.agents.calls import ask, bounded_map, call_ref, failure_record
from xpollinate.graphs.state import Drop, ItemXPState, Rec, anchor_of, records
from xpollinate.llm import LLM


@dataclass(frozen=True)
class ContextualEvaluator:
    llm: LLM
    prompt: str = "evaluator@v2"
    drop_below: float = 0.4
    workers: int = 4

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        anchor = anchor_of(state)
        recs = records(state, "candidates", Rec)

        def evaluate(rec: Rec):  # type: ignore[no-untyped-def]
            return ask(
                self.llm, self.prompt,
                {"anchor_item": anchor.prompt_text, "recommendation": rec.text, "explanation": rec.explanation or "-"},
            )

        kept: list[Rec] = []
        drops: list[Drop] = []
        failures = []
        provenance = {}
        for rec, result in zip(recs, bounded_map(evaluate, recs, self.workers)):
            if not result.ok:
                failures.append(failure_record(result, "evaluate", rec.text))
                drops.append(Drop(stage="evaluate", reason="evaluation failed", text=rec.text, theme=rec.theme))
                continue
            provenance["evaluate"] = call_ref(result)
            score = result.value.score
            scored = rec.model_copy(update={"evaluator_score": score, "evaluator_reasoning": result.value.reasoning})
            if score < self.drop_below:
                drops.append(Drop(
                    stage="evaluate", reason="evaluator score below threshold", text=rec.text, theme=rec.theme,
                    detail=f"{score:.2f} < {self.drop_below}",
                ))
            else:
                kept.append(scored)
        return {"candidates": kept, "dropped": drops, "failures": failures, "provenance": provenance}

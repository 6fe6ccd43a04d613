"""Contextual evaluator, XP paper A.4: score each (anchor, recommendation, explanation); drop below a threshold.

With the paper's rubric prompt (`evaluator@v2`), two modes:
- `per_rec` (the paper): one call per recommendation, with bounded concurrency;
- `batched`: one call per usage context scoring all its recommendations (same rubric and
  weights, `evaluator_batch@v1`) — about 10x fewer calls and shared prompt tokens.
With a yes/no prompt (`fit@v1`, the lean plan) the score is P(yes) for (anchor, situation,
recommendation), one one-token call per recommendation.
Historical recommendations (from baskets, not from the model) are not evaluated.
A recommendation whose evaluation failed or is missing is dropped with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpollinate.agents.calls import anchor_words, ask, bounded_map, call_ref, failure_record, is_lean
from xpollinate.agents.recommend import GENERAL_CONTEXT
from xpollinate.llm import LLM
from xpollinate.prompts.schemas import EVALUATOR_DROP_BELOW, YesProbability
from xpollinate.records import CallRef, Drop, EvaluatorMode, FailureRecord, ItemXPState, Rec, anchor_of, records


@dataclass(frozen=True)
class ContextualEvaluator:
    llm: LLM
    prompt: str = "evaluator@v2"
    drop_below: float = EVALUATOR_DROP_BELOW
    workers: int = 4
    mode: EvaluatorMode = "per_rec"
    batch_prompt: str = "evaluator_batch@v1"

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        candidates = records(state, "candidates", Rec)
        recs = [r for r in candidates if r.source != "historical"]
        output = self.llm.registry.get(self.prompt).output_model
        probability = output is not None and issubclass(output, YesProbability)
        run = self._per_rec if probability or self.mode == "per_rec" else self._batched
        scored, failures, provenance = run(state, recs)
        kept: list[Rec] = [r for r in candidates if r.source == "historical"]
        drops: list[Drop] = []
        for rec in recs:
            result = scored.get(rec.rec_id)
            if result is None:
                drops.append(Drop(stage="evaluate", reason="evaluation failed", text=rec.text, theme=rec.theme))
            elif result.score < self.drop_below:
                drops.append(
                    Drop(
                        stage="evaluate",
                        reason="evaluator score below threshold",
                        text=rec.text,
                        theme=rec.theme,
                        detail=f"{result.score:.2f} < {self.drop_below}",
                    )
                )
            else:
                kept.append(
                    rec.model_copy(update={"evaluator_score": result.score, "evaluator_reasoning": result.reasoning})
                )
        return {"candidates": kept, "dropped": drops, "failures": failures, "provenance": provenance}

    def _per_rec(self, state: ItemXPState, recs: list[Rec]):  # type: ignore[no-untyped-def]
        anchor = anchor_of(state)

        words = anchor_words(self.llm, self.prompt, anchor)
        wanted = set(self.llm.registry.get(self.prompt).variables)
        probability_prompt = is_lean(self.llm, self.prompt)

        def evaluate(rec: Rec):  # type: ignore[no-untyped-def]
            lean = probability_prompt
            values = {
                "anchor_item": words,
                "recommendation": (rec.label or rec.text) if lean else rec.text,
                "explanation": rec.explanation or "-",
                "context": rec.theme or GENERAL_CONTEXT,
            }
            return ask(self.llm, self.prompt, {k: v for k, v in values.items() if k in wanted})

        scored, failures, provenance = {}, [], {}
        for rec, result in zip(recs, bounded_map(evaluate, recs, self.workers, stage="evaluate")):
            if result.ok:
                scored[rec.rec_id] = result.value
                provenance["evaluate"] = call_ref(result)
            else:
                failures.append(failure_record(result, "evaluate", rec.text))
        return scored, failures, provenance

    def _batched(self, state: ItemXPState, recs: list[Rec]):  # type: ignore[no-untyped-def]
        anchor = anchor_of(state)
        groups: dict[str | None, list[Rec]] = {}
        for rec in recs:
            groups.setdefault(rec.theme, []).append(rec)

        def evaluate(group: list[Rec]):  # type: ignore[no-untyped-def]
            lines = "\n".join(f"{i}. {r.text} - {r.explanation or '-'}" for i, r in enumerate(group, start=1))
            return ask(
                self.llm,
                self.batch_prompt,
                {
                    "anchor_item": anchor.prompt_text,
                    "context": group[0].theme or "general use",
                    "recommendations": lines,
                },
            )

        scored: dict[str, Any] = {}
        failures: list[FailureRecord] = []
        provenance: dict[str, CallRef] = {}
        for group, result in zip(
            groups.values(), bounded_map(evaluate, list(groups.values()), self.workers, stage="evaluate")
        ):
            if not result.ok:
                failures.append(failure_record(result, "evaluate", group[0].theme or ""))
                continue
            provenance["evaluate"] = call_ref(result)
            for entry in result.value.evaluations:
                if 1 <= entry.number <= len(group):
                    scored.setdefault(group[entry.number - 1].rec_id, entry)
        return scored, failures, provenance


def agreement(a: dict[str, float], b: dict[str, float], threshold: float = EVALUATOR_DROP_BELOW) -> dict[str, float]:
    """How often two evaluations of the same recommendations agree on keep/drop, and their mean gap."""
    common = sorted(set(a) & set(b))
    if not common:
        return {"n": 0, "keep_agreement": float("nan"), "mean_abs_diff": float("nan")}
    same = sum((a[k] >= threshold) == (b[k] >= threshold) for k in common)
    return {
        "n": len(common),
        "keep_agreement": same / len(common),
        "mean_abs_diff": sum(abs(a[k] - b[k]) for k in common) / len(common),
    }

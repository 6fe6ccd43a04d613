"""Safety and relevance filtering of placements: a judge reviews the proposed themes before any keyword call.

The cascaded storefront's AI evaluation has two filters: items that do not fit their placement
(`coherence.py`, after retrieval) and placements that should not be on the page at all — unsafe or unfitting
for a grocery home page, or irrelevant to the household and its context. The second is one
`placement_review@v1` call per page over the numbered themes, answered as a constrained yes/no list whose
P(yes) is read at each answer token. A theme under the threshold is dropped with its P(yes) as the reason,
before its keywords are decoded, so a rejected theme also costs no further call. When the judge cannot
answer, every theme is kept and the page says so. The catalog side of safety is structural: excluded
items (tobacco, OTC drugs, coupons, ...) never reach the page (`data.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpollinate.llm import LLM
from xpollinate.storefront.calls import ask, context_text
from xpollinate.storefront.model import LLMCall
from xpollinate.storefront.schemas import PlacementIdea

PROMPT = "placement_review@v1"
REVIEW_THRESHOLD = 0.3  # P(safe and relevant) below which a placement is dropped


@dataclass(frozen=True)
class Reviewed:
    kept: list[PlacementIdea]
    rejected: list[tuple[PlacementIdea, float]]  # with the judge's P(yes)
    p_yes: list[float] | None  # one per idea, in order; None when the judge failed
    failure: str | None


def review_placements(
    llm: LLM,
    ideas: list[PlacementIdea],
    history: list[str],
    context: str | None,
    threshold: float,
    calls: list[LLMCall],
) -> Reviewed:
    """Keep the ideas the judge finds safe and relevant (P(yes) >= `threshold`), in order."""
    if not ideas:
        return Reviewed([], [], [], None)
    result: Any = ask(
        llm,
        PROMPT,
        {
            "placements": "\n".join(f"{i}. {idea.title} ({idea.why})" for i, idea in enumerate(ideas, 1)),
            "history": "\n".join(history),
            "context": context_text(context),
            "n": len(ideas),
        },
        None,
        calls,
    )
    if not result.ok:
        return Reviewed(list(ideas), [], None, f"{PROMPT} failed ({result.kind}: {result.message[:200]})")
    p_yes = [float(a.p_yes) for a in getattr(result.value, "answers", [])]
    if len(p_yes) != len(ideas):  # the schema fixes the count; a backend that ignores it keeps every theme
        return Reviewed(list(ideas), [], None, f"{PROMPT} answered {len(p_yes)} of {len(ideas)} placements")
    kept = [idea for idea, p in zip(ideas, p_yes) if p >= threshold]
    rejected = [(idea, p) for idea, p in zip(ideas, p_yes) if p < threshold]
    return Reviewed(kept, rejected, p_yes, None)

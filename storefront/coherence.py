"""AI evaluation and filtering of placements: a judge asks, per item, whether it fits the placement's theme.

One `placement_coherence@v1` call per placement, answered as a constrained list of yes/no whose P(yes) is
read at each answer token (a small model's generated scores collapse; its probabilities still rank). An
item under the threshold is dropped with its P(yes) as the reason; a placement left with fewer than
`min_items` items is dropped whole. When the judge cannot answer, nothing is dropped and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpollinate.llm import LLM
from xpollinate.storefront.calls import ask
from xpollinate.storefront.model import LLMCall
from xpollinate.storefront.schemas import PlacementIdea

PROMPT = "placement_coherence@v1"
ITEM_THRESHOLD = 0.3  # P(yes) below which an item is dropped
MIN_ITEMS = 2  # a placement with fewer kept items is dropped


@dataclass(frozen=True)
class Judged:
    p_yes: list[float] | None  # one per item, in order; None when the judge failed
    failure: str | None


def judge_items(llm: LLM, idea: PlacementIdea, texts: list[str], calls: list[LLMCall]) -> Judged:
    """P(yes) that each of `texts` fits `idea`, from one call."""
    if not texts:
        return Judged([], None)
    result: Any = ask(
        llm,
        PROMPT,
        {
            "title": idea.title,
            "why": idea.why,
            "n": len(texts),
            "items": "\n".join(f"{i}. {t}" for i, t in enumerate(texts, 1)),
        },
        None,
        calls,
    )
    if not result.ok:
        return Judged(None, f"{PROMPT} failed ({result.kind}: {result.message[:200]})")
    answers = getattr(result.value, "answers", [])
    return Judged([float(a.p_yes) for a in answers], None)

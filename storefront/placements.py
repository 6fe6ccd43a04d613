"""Placement themes: the LLM proposes k themed sections of a household's page from its recent baskets.

The cascaded storefront's first stage. The prompt (`placements@v1`) sees a compact summary of the
household's recent product types with how recently they were bought, and the shopper's context if one
was given; the answer is constrained to exactly k placements with short bounded strings. Titles that
repeat (case folded) are dropped, as the grammar cannot enforce distinctness.
"""

from __future__ import annotations

from dataclasses import dataclass

from xpollinate.llm import LLM
from xpollinate.storefront.calls import ask, context_text
from xpollinate.storefront.model import LLMCall
from xpollinate.storefront.schemas import PlacementIdea, placement_ideas_model

PROMPT = "placements@v1"
DEFAULT_K = 4


@dataclass(frozen=True)
class ThemesOutcome:
    ideas: list[PlacementIdea]
    failure: str | None  # why no placement came back (the page then falls back to popularity)
    repeats: int  # placements dropped as repeats of an earlier title


def propose_placements(
    llm: LLM, history: list[str], context: str | None, k: int, calls: list[LLMCall]
) -> ThemesOutcome:
    """k placement ideas for a household with this `history` summary (distinct titles, the model's order)."""
    result = ask(
        llm,
        PROMPT,
        {"history": "\n".join(history), "context": context_text(context), "k": k},
        placement_ideas_model(k),
        calls,
    )
    if not result.ok:
        return ThemesOutcome([], f"{PROMPT} failed ({result.kind}: {result.message[:200]})", 0)
    seen: set[str] = set()
    ideas = []
    for idea in result.value.placements:
        key = " ".join(idea.title.lower().split())
        if key not in seen:
            seen.add(key)
            ideas.append(PlacementIdea(title=idea.title.strip(), why=idea.why.strip()))
    return ThemesOutcome(ideas, None, len(result.value.placements) - len(ideas))

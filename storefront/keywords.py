"""Constrained keywords per placement: catalog product types chosen from a shortlist of the vocabulary.

The cascaded storefront's second stage. The answer is a JSON-schema enum over the placement's shortlist
(the vocabulary's names nearest its title and reason), so a keyword outside the catalog vocabulary
cannot be decoded; each answer is still checked against the vocabulary and any miss counted, so a
backend that ignores schemas shows up in the page's provenance instead of in its items.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xpollinate.llm import LLM
from xpollinate.storefront.calls import ask, context_text
from xpollinate.storefront.model import LLMCall
from xpollinate.storefront.schemas import PlacementIdea, keywords_model
from xpollinate.storefront.vocabulary import StorefrontVocabulary

PROMPT = "placement_keywords@v1"
DEFAULT_KEYWORDS = 4


@dataclass(frozen=True)
class KeywordsOutcome:
    keywords: list[str]  # distinct display names inside the vocabulary, the model's order
    product_types: list[str]  # their catalog codes
    outside: list[str]  # answered names the vocabulary does not hold (0 when the schema was honoured)
    failure: str | None


def placement_keywords(
    llm: LLM,
    vocabulary: StorefrontVocabulary,
    idea: PlacementIdea,
    shortlist: list[str],
    context: str | None,
    n: int,
    calls: list[LLMCall],
) -> KeywordsOutcome:
    """Up to `n` distinct product types for `idea`, each from `shortlist` (itself from the vocabulary)."""
    result = ask(
        llm,
        PROMPT,
        {
            "shortlist": "\n".join(f"- {name}" for name in shortlist),
            "title": idea.title,
            "why": idea.why,
            "context": context_text(context),
            "n": n,
        },
        keywords_model(shortlist, n),
        calls,
    )
    if not result.ok:
        return KeywordsOutcome([], [], [], f"{PROMPT} failed ({result.kind}: {result.message[:200]})")
    names, codes, outside = in_vocabulary(vocabulary, result.value.keywords)
    return KeywordsOutcome(names, codes, outside, None)


def in_vocabulary(vocabulary: StorefrontVocabulary, answered: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    """The distinct answered names split into (names in the vocabulary, their product-type codes, names outside)."""
    names, codes, outside = [], [], []
    for name in dict.fromkeys(answered):
        code = vocabulary.product_type(name)
        if code is None:
            outside.append(name)
        else:
            names.append(name)
            codes.append(code)
    return names, codes, outside

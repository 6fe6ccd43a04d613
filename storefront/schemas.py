"""The storefront prompts' answers as pydantic models: each is also the JSON schema decoding is constrained by.

Models whose allowed values depend on the request (keywords from a placement's shortlist, ids of the
candidates to re-rank) are built per call, as `prompts.schemas.picks_model` builds grounded picks; the
prompts declare no output model, so the storefront passes these to `LLM.structured` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model

from xpollinate.prompts.schemas import enum_list_model

TITLE_MAX_CHARS = 40
WHY_MAX_CHARS = 80


class PlacementIdea(BaseModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX_CHARS, description="short placement title")
    why: str = Field(min_length=1, max_length=WHY_MAX_CHARS, description="why this household gets it, a few words")


class PlacementIdeas(BaseModel):
    """`placements@v1`: themed placements of one household's page (exactly k, see `placement_ideas_model`)."""

    placements: list[PlacementIdea] = Field(min_length=1, max_length=12)


def placement_ideas_model(k: int) -> type[PlacementIdeas]:
    """`PlacementIdeas` holding exactly `k` placements."""
    if not 1 <= k <= 12:
        raise ValueError(f"a page holds 1 to 12 placements, got {k}")
    return create_model(  # type: ignore[call-overload, no-any-return]
        "PlacementIdeas",
        __base__=PlacementIdeas,
        placements=(list[PlacementIdea], Field(min_length=k, max_length=k)),
    )


class Keywords(BaseModel):
    """`placement_keywords@v1`: catalog product types (display names) that fill one placement."""

    keywords: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(min_length=1, max_length=20)


def keywords_model(names: Sequence[str], max_keywords: int) -> type[Keywords]:
    """`Keywords` whose items must be one of `names` (a JSON-schema enum), so every keyword retrieves items."""
    return enum_list_model(Keywords, "keywords", names, max_keywords, "a keyword answer")


class Ranking(BaseModel):
    """`llm_rerank@v1`: candidate ids, most likely bought first.

    The JSON schema restricts every id to the candidates (an enum, built per call by `ranking_model`), while
    validation accepts any integer: an id outside the candidates can then only come from a backend that
    ignores the schema, and it is counted as a hallucination instead of failing the call."""

    ranking: list[int] = Field(min_length=1, max_length=200)


def ranking_model(candidate_ids: Sequence[int]) -> type[Ranking]:
    """`Ranking` whose schema allows only `candidate_ids`, at most one slot per candidate."""
    ids = list(dict.fromkeys(int(i) for i in candidate_ids))
    if not ids:
        raise ValueError("re-ranking needs at least one candidate")
    schema_items: dict[str, Any] = {"type": "integer", "enum": ids}
    return create_model(  # type: ignore[call-overload, no-any-return]
        "Ranking",
        __base__=Ranking,
        ranking=(
            list[int],
            Field(min_length=1, max_length=len(ids), json_schema_extra={"items": schema_items}),
        ),
    )

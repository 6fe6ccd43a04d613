"""The storefront page as a typed model: what the CLI prints, the HTTP endpoint returns and the page cache keeps."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

PAGE_VERSION = "storefront-v2"  # bump when the pipeline's steps change what a page holds (part of the cache key)


class PageItem(BaseModel):
    item_id: int
    text: str
    product_type: str
    keyword: str = Field(description="the keyword (catalog product type) that retrieved it")
    score: float = Field(description="the ordering score (learned re-ranker, else popularity order)")
    coherence: float | None = Field(None, description="P(yes) that it fits the placement's theme, from the judge")
    bought_before: int = Field(0, description="baskets of this household holding it")


class Placement(BaseModel):
    title: str
    why: str
    keywords: list[str] = Field(description="product types (display names), all from the catalog vocabulary")
    items: list[PageItem]
    coherence: float | None = Field(None, description="mean P(yes) of its kept items")
    review: float | None = Field(None, description="the safety and relevance judge's P(yes) for its theme")
    source: Literal["llm", "popularity"] = "llm"


class Dropped(BaseModel):
    """An item or a whole placement the filters removed, and why."""

    kind: Literal["item", "placement", "keyword"]
    placement: str
    reason: str
    item_id: int | None = None


class LLMCall(BaseModel):
    prompt: str
    prompt_sha256: str
    cached: bool
    ok: bool
    seconds: float
    message: str = ""
    prompt_tokens: int = 0  # 0 when answered from the cache
    generated_tokens: int = 0


class Provenance(BaseModel):
    page_version: str = PAGE_VERSION
    data_build: str
    llm: str
    prompts: dict[str, str] = Field(default_factory=dict, description="prompt ref -> SHA-256 of its text")
    ranker: str = Field(description="what ordered the items: the learned re-ranker, else the fallback order")
    generator: str = Field("teacher", description="what wrote themes and keywords: teacher (the LLM) or student")
    student: str | None = Field(None, description="the student's base model, adapter and format, when it generated")
    ranker_note: str = ""
    llm_calls: list[LLMCall] = Field(default_factory=list)
    cache_hits: int = 0
    fallbacks: list[str] = Field(default_factory=list, description="each recorded fallback, in words")
    keywords_outside_vocabulary: int = 0
    hallucinated_ids: int = 0
    seconds: float = 0.0
    served_from_page_cache: bool = False


class StorefrontPage(BaseModel):
    household_id: int
    context: str | None
    placements: list[Placement]
    dropped: list[Dropped] = Field(default_factory=list)
    history_summary: list[str] = Field(default_factory=list, description="the recent-basket lines the LLM saw")
    provenance: Provenance

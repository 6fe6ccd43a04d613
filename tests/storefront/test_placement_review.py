"""The safety and relevance review of placements (placement_review@v1): a theme the judge rejects is dropped
with its P(yes) before any keyword call; a failed judge keeps every theme and the page says so."""

from __future__ import annotations

import re
from typing import Any

from tests.graphs.scripted import scripted_llm
from tests.storefront.scripted import default_script, storefront
from xpollinate.catalog.store import DataStore
from xpollinate.storefront.model import LLMCall
from xpollinate.storefront.page import PageOptions
from xpollinate.storefront.placement_review import PROMPT, review_placements
from xpollinate.storefront.schemas import PlacementIdea

IDEAS = [
    PlacementIdea(title="Coffee Corner", why="ground coffee every week"),
    PlacementIdea(title="Cocktails for Kids", why="party for the children"),
    PlacementIdea(title="Cookout Night", why="buns and charcoal"),
]


SEEN: list[str] = []


def reviewer(schema: str, prompt: str) -> Any:
    assert schema == "YesProbabilities"
    SEEN.append(prompt)
    lines = re.findall(r"^\d+\. (.+)$", prompt, re.M)
    return [0.04 if "Kids" in line else 0.8 for line in lines]


def test_rejected_theme_is_dropped_with_its_probability() -> None:
    llm, _ = scripted_llm(reviewer)
    calls: list[LLMCall] = []
    out = review_placements(llm, IDEAS, ["- Ground Coffee (this week)"], "hosting a barbecue", 0.3, calls)
    assert [i.title for i in out.kept] == ["Coffee Corner", "Cookout Night"]
    assert [(i.title, round(p, 2)) for i, p in out.rejected] == [("Cocktails for Kids", 0.04)]
    assert out.failure is None and len(calls) == 1 and calls[0].prompt == PROMPT
    assert "Shopping context: hosting a barbecue" in SEEN[-1] and "- Ground Coffee (this week)" in SEEN[-1]


def test_failed_review_keeps_every_theme() -> None:
    llm, _ = scripted_llm(lambda schema, prompt: [0.9])  # one answer for three themes: invalid
    out = review_placements(llm, IDEAS, ["- Ground Coffee"], None, 0.3, [])
    assert out.kept == IDEAS and out.rejected == [] and out.p_yes is None
    assert out.failure and PROMPT in out.failure


def test_page_drops_a_rejected_placement_before_its_keywords(fixture_store: DataStore) -> None:
    def script(schema: str, prompt: str) -> Any:
        if schema == "YesProbabilities" and "home page for one household" in prompt:
            lines = re.findall(r"^\d+\. (.+)$", prompt, re.M)
            return [0.1 if "Cookout" in line else 0.9 for line in lines]
        return default_script(schema, prompt)

    sf, _, _ = storefront(fixture_store, script)
    page = sf.page(1, options=PageOptions(k=2))
    assert [p.title for p in page.placements] == ["Coffee Corner"]
    [drop] = [d for d in page.dropped if d.placement == "Cookout Night"]
    assert drop.kind == "placement" and "P(safe and relevant) 0.10" in drop.reason
    keyword_calls = [c for c in page.provenance.llm_calls if c.prompt == "placement_keywords@v1"]
    assert len(keyword_calls) == 1  # the rejected theme cost no keyword call
    assert PROMPT in page.provenance.prompts


def test_a_keyword_serves_one_placement_only(fixture_store: DataStore) -> None:
    """Two coffee themes: the second is offered the shortlist without the first's keywords, and a repeat the
    model still gives is dropped with the placement that took it; each kept theme carries its review P(yes)."""
    ideas = [{"title": "Coffee Corner", "why": "ground coffee"}, {"title": "Coffee Break", "why": "more coffee"}]
    offered_second: list[list[str]] = []

    def script(schema: str, prompt: str) -> Any:
        if schema == "PlacementIdeas":
            return {"placements": ideas}
        if schema == "Keywords":
            names = re.findall(r"^- (.+)$", prompt, re.M)
            if "Coffee Break" in prompt:
                offered_second.append(names)
            coffee = [n for n in names if "Coffee" in n]
            return {"keywords": (coffee or names)[:2]}
        return default_script(schema, prompt)

    sf, _, _ = storefront(fixture_store, script)
    page = sf.page(1, options=PageOptions(k=2, min_items=1))
    first = next(p for p in page.placements if p.title == "Coffee Corner")
    assert offered_second and not set(first.keywords) & set(offered_second[0])
    seen: list[str] = [k for p in page.placements for k in p.keywords]
    assert len(seen) == len(set(seen))
    assert all(p.review is not None and p.review >= 0.3 for p in page.placements)


def test_a_repeated_keyword_is_dropped_unless_it_is_the_only_one() -> None:
    from xpollinate.storefront.keywords import KeywordsOutcome
    from xpollinate.storefront.model import Dropped
    from xpollinate.storefront.page import _without_repeats

    used = {"Charcoal": "Cookout Night"}
    dropped: list[Dropped] = []
    kw = _without_repeats(KeywordsOutcome(["Charcoal", "Buns"], ["C1", "B1"], [], None), used, "Grill", dropped)
    assert (kw.keywords, kw.product_types) == (["Buns"], ["B1"])
    assert [d.reason for d in dropped] == ["'Charcoal' is already a keyword of 'Cookout Night'"]
    only = KeywordsOutcome(["Charcoal"], ["C1"], [], None)
    assert _without_repeats(only, used, "Grill", dropped) is only and len(dropped) == 1

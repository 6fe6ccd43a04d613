"""The storefront pipeline on the fixture store with a scripted model: placements, constrained keywords,
retrieval deduplicated across placements, the judge's filter with reasons, provenance, the page cache,
and each bad input as a clear error or a recorded fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.storefront.scripted import default_script, storefront
from xpollinate.cache import ResponseCache
from xpollinate.catalog.store import DataStore
from xpollinate.storefront.data import StorefrontData
from xpollinate.storefront.errors import ContextError, UnknownHouseholdError
from xpollinate.storefront.page import POPULAR_TITLE, PageOptions
from xpollinate.storefront.page_cache import PageCache


def test_page_has_distinct_themed_placements_of_vocabulary_keywords(fixture_store: DataStore) -> None:
    sf, provider, _ = storefront(fixture_store)
    page = sf.page(1, options=PageOptions(k=3, items=4))
    titles = [p.title for p in page.placements]
    assert titles == ["Coffee Corner", "Cookout Night"]  # the repeated title was dropped
    assert any(d.kind == "placement" and "repeats" in d.reason for d in page.dropped)
    vocab = sf.vocabulary
    for placement in page.placements:
        assert placement.keywords and all(vocab.product_type(k) is not None for k in placement.keywords)
        for item in placement.items:
            assert item.item_id in sf.data.items.index
            assert sf.data.items.at[item.item_id, "product_type"] == item.product_type
            assert vocab.product_type(item.keyword) == item.product_type
    ids = [i.item_id for p in page.placements for i in p.items]
    assert len(ids) == len(set(ids))  # deduplicated across placements
    assert all(len(p.items) <= 4 for p in page.placements)
    assert page.provenance.keywords_outside_vocabulary == 0
    # the keyword schema is an enum over the shortlist, which is a subset of the vocabulary
    enum = provider.schemas["Keywords"]["properties"]["keywords"]["items"]["enum"]
    assert set(enum) <= set(vocab.names)
    assert provider.schemas["PlacementIdeas"]["properties"]["placements"]["minItems"] == 3
    assert set(page.provenance.prompts) == {
        "placements@v1",
        "placement_review@v1",
        "placement_keywords@v1",
        "placement_coherence@v1",
    }
    assert page.provenance.ranker == "history+popularity" and page.provenance.ranker_note
    assert page.history_summary and page.history_summary[0].startswith("- ")


def test_judge_drops_items_and_thin_placements_with_reasons(fixture_store: DataStore) -> None:
    def script(schema: str, prompt: str) -> Any:
        if schema == "Keywords" and "Cookout" in prompt:
            return {"keywords": ["Fluid Milk White Only", "Charcoal"]}
        if schema == "YesProbabilities" and "Cookout" in prompt:
            return [0.05 if ("Milk" in t or "Charcoal" in t) else 0.9 for t in _numbered(prompt)]
        return default_script(schema, prompt)

    sf, _, _ = storefront(fixture_store, script)
    page = sf.page(1, options=PageOptions(k=2, items=4, min_items=2))
    assert [p.title for p in page.placements] == ["Coffee Corner"]
    items = [d for d in page.dropped if d.kind == "item"]
    assert items and all("judge P(fits theme) 0.05 < 0.3" in d.reason for d in items)
    whole = [d for d in page.dropped if d.kind == "placement" and d.placement == "Cookout Night"]
    assert whole and "a placement needs 2" in whole[0].reason
    assert all(i.coherence is not None and i.coherence >= 0.3 for p in page.placements for i in p.items)


def _numbered(prompt: str) -> list[str]:
    import re

    return re.findall(r"^\d+\. (.+)$", prompt, re.M)


def test_second_generation_hits_the_response_cache_and_the_page_cache(fixture_store: DataStore, tmp_path: Path) -> None:
    sf, provider, _ = storefront(
        fixture_store, cache=ResponseCache(tmp_path / "llm"), page_cache=PageCache(tmp_path / "pages")
    )
    first = sf.page(2)
    assert not first.provenance.served_from_page_cache and first.provenance.cache_hits == 0
    calls = sum(provider.calls.values())
    again = sf.page(2)
    assert again.provenance.served_from_page_cache and sum(provider.calls.values()) == calls
    assert again.placements == first.placements
    raw = sf.cached(2)
    assert raw is not None and raw["provenance"]["served_from_page_cache"] is True
    assert sf.cached(2, context="hosting a barbecue") is None  # another context: another page
    fresh = sf.page(2, refresh=True)
    assert fresh.provenance.cache_hits == len(fresh.provenance.llm_calls) > 0  # every answer from the LLM cache
    assert sum(provider.calls.values()) == calls


def test_context_reaches_the_prompts(fixture_store: DataStore) -> None:
    seen: list[str] = []

    def script(schema: str, prompt: str) -> Any:
        seen.append(prompt)
        return default_script(schema, prompt)

    sf, _, _ = storefront(fixture_store, script)
    page = sf.page(3, context="  hosting   a barbecue ")
    assert page.context == "hosting a barbecue"
    assert "Shopping context: hosting a barbecue" in seen[0]


def test_unknown_household_is_an_error_naming_it(fixture_store: DataStore) -> None:
    sf, _, _ = storefront(fixture_store)
    with pytest.raises(UnknownHouseholdError, match="household 999 is not in the data store"):
        sf.page(999)
    with pytest.raises(UnknownHouseholdError):
        sf.cached(999)


@pytest.mark.parametrize(("context", "message"), [("", "empty"), ("   ", "empty"), ("x" * 201, "201 characters")])
def test_bad_context_is_an_error(fixture_store: DataStore, context: str, message: str) -> None:
    sf, provider, _ = storefront(fixture_store)
    with pytest.raises(ContextError, match=message):
        sf.page(1, context=context)
    assert sum(provider.calls.values()) == 0
    sf.page(1, context="y" * 200)  # the limit itself is fine


def test_empty_history_gets_a_stated_popularity_placement(fixture_store: DataStore) -> None:
    full = StorefrontData.from_store(fixture_store)
    baskets = full.baskets[full.baskets["household_id"] != 5].reset_index(drop=True)
    data = StorefrontData(full.build_id, full.items, baskets, full.household_ids)
    sf, provider, _ = storefront(fixture_store, data=data)
    page = sf.page(5)
    assert [p.title for p in page.placements] == [POPULAR_TITLE] and page.placements[0].source == "popularity"
    assert page.placements[0].items[0].item_id == int(data.items.index[0])  # the most purchased item first
    assert any("empty history" in f for f in page.provenance.fallbacks)
    assert sum(provider.calls.values()) == 0 and page.history_summary == []


def test_failed_themes_fall_back_to_popularity_and_say_why(fixture_store: DataStore) -> None:
    def script(schema: str, prompt: str) -> Any:
        if schema == "PlacementIdeas":
            return "I cannot answer that"
        return default_script(schema, prompt)

    sf, _, _ = storefront(fixture_store, script)
    page = sf.page(1)
    assert page.placements[0].source == "popularity"
    assert any("no placement themes" in f and "invalid_output" in f for f in page.provenance.fallbacks)
    assert page.provenance.llm_calls[0].ok is False


def test_failed_judge_keeps_items_and_records_it(fixture_store: DataStore) -> None:
    def script(schema: str, prompt: str) -> Any:
        if schema == "YesProbabilities":
            return [0.9]  # one answer for several items: the judge fails
        return default_script(schema, prompt)

    sf, _, _ = storefront(fixture_store, script)
    page = sf.page(1, options=PageOptions(k=2))
    assert page.placements and all(i.coherence is None for p in page.placements for i in p.items)
    assert any("not filtered" in f for f in page.provenance.fallbacks)


def test_llm_rerank_option_reorders_placements_and_records_a_partial_answer(fixture_store: DataStore) -> None:
    def script(schema: str, prompt: str) -> Any:
        if schema == "Ranking" and "Hot Dog" in prompt.split("Candidate products")[1]:
            ids = [int(i) for i in _ids(prompt)]
            return {"ranking": ids[-1:]}  # covers one candidate only
        return default_script(schema, prompt)

    sf, _, _ = storefront(fixture_store, script)
    plain = sf.page(1, options=PageOptions(k=2))
    reranked = sf.page(1, options=PageOptions(k=2, llm_rerank=True))
    coffee = [i.item_id for i in plain.placements[0].items]
    assert [i.item_id for i in reranked.placements[0].items] == coffee[::-1]
    assert "llm_rerank@v1" in reranked.provenance.prompts
    assert any("missed" in f and "input order" in f for f in reranked.provenance.fallbacks)
    assert reranked.provenance.hallucinated_ids == 0


def _ids(prompt: str) -> list[str]:
    import re

    return re.findall(r"^(\d+): ", prompt, re.M)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (PageOptions(k=0), "k = 0"),
        (PageOptions(items=2, min_items=3), "min_items"),
        (PageOptions(threshold=2), "0 to 1"),
    ],
)
def test_bad_options_are_errors(fixture_store: DataStore, options: PageOptions, message: str) -> None:
    sf, _, _ = storefront(fixture_store)
    with pytest.raises(Exception, match=message):
        sf.page(1, options=options)

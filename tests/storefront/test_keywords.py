"""Constrained keywords: the schema is an enum over the placement's shortlist of the vocabulary, so 0
keywords fall outside it; a name outside the enum is rejected by validation, never used."""

from __future__ import annotations

from typing import Any

from tests.graphs.scripted import scripted_llm
from tests.storefront.scripted import word_embed
from xpollinate.catalog.store import DataStore
from xpollinate.storefront.data import StorefrontData
from xpollinate.storefront.keywords import placement_keywords
from xpollinate.storefront.model import LLMCall
from xpollinate.storefront.schemas import PlacementIdea
from xpollinate.storefront.vocabulary import StorefrontVocabulary

IDEA = PlacementIdea(title="Coffee Corner", why="ground coffee every week")


def vocabulary(store: DataStore) -> StorefrontVocabulary:
    return StorefrontVocabulary.build(StorefrontData.from_store(store), embed=lambda t: word_embed(t))


def test_vocabulary_is_the_shown_catalog_without_excluded_lines(fixture_store: DataStore) -> None:
    vocab = vocabulary(fixture_store)
    assert "Coffee Filters" in vocab.names and "Ground Coffee" in vocab.names
    assert "Cigarettes" not in vocab.names  # an excluded class (tobacco) is never offered
    assert vocab.product_type("coffee  FILTERS") == "COFFEE FILTERS" and vocab.product_type("Lawn Mowers") is None
    assert vocab.shortlist(["coffee corner: ground coffee"], 2)[0][0] in ("Ground Coffee", "Coffee Filters")


def test_keywords_are_decoded_from_the_shortlist_and_deduplicated(fixture_store: DataStore) -> None:
    vocab = vocabulary(fixture_store)
    shortlist = vocab.shortlist([f"{IDEA.title}: {IDEA.why}"], 5)[0]
    llm, provider = scripted_llm(lambda s, p: {"keywords": ["Coffee Filters", "Ground Coffee", "Coffee Filters"]})
    calls: list[LLMCall] = []
    out = placement_keywords(llm, vocab, IDEA, shortlist, None, 3, calls)
    assert out.keywords == ["Coffee Filters", "Ground Coffee"] and out.outside == []
    assert out.product_types == ["COFFEE FILTERS", "GROUND COFFEE"]
    enum = provider.schemas["Keywords"]["properties"]["keywords"]["items"]["enum"]
    assert enum == shortlist and all(vocab.product_type(n) for n in enum)
    assert provider.schemas["Keywords"]["properties"]["keywords"]["maxItems"] == 3


def test_a_name_outside_the_shortlist_is_rejected_not_used(fixture_store: DataStore) -> None:
    vocab = vocabulary(fixture_store)
    shortlist = ["Coffee Filters", "Ground Coffee"]

    def script(schema: str, prompt: str) -> Any:
        return {"keywords": ["Espresso Machine"]}  # a backend ignoring the schema

    llm, provider = scripted_llm(script)
    out = placement_keywords(llm, vocab, IDEA, shortlist, "new baby", 2, [])
    assert out.keywords == [] and out.failure and "invalid_output" in out.failure
    assert provider.calls["Keywords"] == 2  # asked, then asked again with the validation errors

"""Yes/no prompts answered from the first token's probabilities: folding of token variants, the
request the provider gets, caching, failures, and providers without probabilities."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.graphs.scripted import scripted_llm
from xpollinate.cache import ResponseCache
from xpollinate.errors import XPError
from xpollinate.llm.client import PROBABILITY_ALTERNATIVES, yes_probability
from xpollinate.prompts.schemas import YesProbability, picks_model

VARS = {"anchor_pt": "Ground Coffee (Coffee)", "rec_pt": "Coffee Filters (Coffee Filters)"}


def test_token_variants_are_folded() -> None:
    lp = {
        "Yes": math.log(0.5),
        " yes": math.log(0.1),
        "YES": math.log(0.05),
        "No": math.log(0.2),
        "no.": math.log(0.05),
        "The": math.log(0.1),
    }
    answer = yes_probability(lp)
    assert answer is not None
    assert answer.p_yes == pytest.approx(0.65 / 0.9, abs=1e-6) and answer.mass == pytest.approx(0.9, abs=1e-6)
    assert yes_probability({"Maybe": -0.1, "The": -2.0}) is None
    assert YesProbability(p_yes=0.8, mass=1.0).score == 0.8


def test_probability_request_is_one_token_with_alternatives_and_is_cached(tmp_path: Path) -> None:
    seen: list[Any] = []

    def script(schema: str, prompt: str) -> Any:
        seen.append((schema, prompt))
        return 0.8

    llm, provider = scripted_llm(script, cache=ResponseCache(tmp_path / "cache"))
    first = llm.structured("relevance@v1", VARS)
    again = llm.structured("relevance@v1", VARS)
    assert first.ok and first.value.p_yes == pytest.approx(0.8) and not first.cached
    assert again.ok and again.cached and again.value == first.value
    assert provider.calls["YesProbability"] == 1 and provider.schemas["YesProbability"] is None  # no JSON schema
    assert "Coffee Filters (Coffee Filters)" in seen[0][1] and "Ground Coffee (Coffee)" in seen[0][1]
    assert PROBABILITY_ALTERNATIVES >= 10


def test_no_yes_or_no_among_the_alternatives_is_a_failure_not_a_retry() -> None:
    llm, provider = scripted_llm(lambda schema, prompt: {"Sure": -0.1, "The": -1.0})
    res = llm.structured("relevance@v1", VARS)
    assert not res.ok and res.kind == "invalid_output" and "neither yes nor no" in res.message
    assert provider.calls["YesProbability"] == 1 and res.attempts == 1


def test_a_provider_without_probabilities_is_a_setup_error() -> None:
    llm, provider = scripted_llm(lambda schema, prompt: 0.5)
    provider.supports_logprobs = False
    with pytest.raises(XPError, match="token probabilities"):
        llm.structured("fit@v1", {"anchor_item": "Ground Coffee", "context": "breakfast", "recommendation": "Mugs"})


def test_grounded_picks_schema_is_an_enum_over_the_names() -> None:
    model = picks_model(["Coffee Filters", "Mugs", "Coffee Filters"], 3)
    items = model.model_json_schema()["properties"]["picks"]
    assert items["items"]["enum"] == ["Coffee Filters", "Mugs"] and items["maxItems"] == 3 and items["minItems"] == 1
    assert model(picks=["Mugs"]).picks == ["Mugs"]
    with pytest.raises(ValueError):
        model(picks=["Espresso Machine"])
    with pytest.raises(ValueError):
        picks_model([], 3)


BATCH_VARS = {
    "anchor_pt": "Hot Dog Buns (Baked Bread/Buns/Rolls)",
    "n": 3,
    "products": "1. Charcoal (Charcoal)\n2. Lipstick (Cosmetics)\n3. Paper Plates (Paper Housewares)",
}


def test_yes_no_list_reads_each_answer_token_in_order() -> None:
    from xpollinate.llm.client import yes_probabilities

    tokens = [
        ('{"answers":["', {}),
        ("yes", {"yes": math.log(0.9), "no": math.log(0.1)}),
        ('","', {}),
        ("No", {"No": math.log(0.7), "Yes": math.log(0.3)}),
        ('"]}', {}),
    ]
    answers = yes_probabilities(tokens, 2)
    assert answers is not None and [a.p_yes for a in answers] == pytest.approx([0.9, 0.3])
    assert yes_probabilities(tokens, 3) is None  # fewer answers than asked
    assert yes_probabilities([("yes", {"The": -0.1})], 1) is None  # an answer without yes/no alternatives


def test_yes_no_list_request_is_constrained_to_n_answers_and_cached(tmp_path: Path) -> None:
    llm, provider = scripted_llm(lambda schema, prompt: [0.8, 0.1, 0.6], cache=ResponseCache(tmp_path / "cache"))
    first = llm.structured("relevance_batch@v1", BATCH_VARS)
    again = llm.structured("relevance_batch@v1", BATCH_VARS)
    assert first.ok and [a.p_yes for a in first.value.answers] == pytest.approx([0.8, 0.1, 0.6])
    assert again.ok and again.cached and again.value == first.value
    answers = provider.schemas["YesProbabilities"]["properties"]["answers"]
    assert answers["minItems"] == answers["maxItems"] == 3 and answers["items"]["enum"] == ["yes", "no"]


def test_yes_no_list_with_too_few_answers_is_a_failure_of_the_item() -> None:
    llm, provider = scripted_llm(lambda schema, prompt: [0.8, 0.1])
    res = llm.structured("relevance_batch@v1", BATCH_VARS)
    assert not res.ok and res.kind == "invalid_output" and "3 yes/no tokens" in res.message
    assert provider.calls["YesProbabilities"] == 1

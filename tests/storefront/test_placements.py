"""Placement themes: exactly k asked for in the schema, repeated titles dropped, a failure reported."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphs.scripted import scripted_llm
from xpollinate.storefront.model import LLMCall
from xpollinate.storefront.placements import propose_placements
from xpollinate.storefront.schemas import placement_ideas_model

HISTORY = ["- Ground Coffee (Coffee): 5 of 10 baskets, last 0 weeks ago"]


def test_k_placements_in_the_schema_and_repeats_dropped() -> None:
    answer = {
        "placements": [
            {"title": "Morning Coffee", "why": "ground coffee weekly"},
            {"title": "morning  coffee", "why": "again"},
            {"title": "Grill Night", "why": "charcoal in summer"},
        ]
    }
    llm, provider = scripted_llm(lambda schema, prompt: answer)
    calls: list[LLMCall] = []
    out = propose_placements(llm, HISTORY, "hosting a barbecue", 3, calls)
    assert [i.title for i in out.ideas] == ["Morning Coffee", "Grill Night"] and out.repeats == 1
    schema = provider.schemas["PlacementIdeas"]["properties"]["placements"]
    assert schema["minItems"] == schema["maxItems"] == 3
    assert calls[0].prompt == "placements@v1" and calls[0].ok


def test_wrong_count_is_a_reported_failure() -> None:
    answer = {"placements": [{"title": "Only One", "why": "too few"}]}
    llm, _ = scripted_llm(lambda schema, prompt: answer)
    calls: list[LLMCall] = []
    out = propose_placements(llm, HISTORY, None, 4, calls)
    assert out.ideas == [] and out.failure and "placements@v1 failed (invalid_output" in out.failure
    assert calls[0].ok is False


def test_prompt_holds_history_context_and_k() -> None:
    seen: list[str] = []

    def script(schema: str, prompt: str) -> Any:
        seen.append(prompt)
        return {"placements": [{"title": "A", "why": "b"}, {"title": "C", "why": "d"}]}

    llm, _ = scripted_llm(script)
    propose_placements(llm, HISTORY, None, 2, [])
    assert HISTORY[0] in seen[0] and "Shopping context: none given" in seen[0] and "Propose 2" in seen[0]


def test_k_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="1 to 12"):
        placement_ideas_model(0)

"""The LLM re-ranker: ids constrained to the candidates by the schema, repeats dropped, a partial answer
completed in input order (a recorded fallback), ids outside the candidates counted and never used, a
failed call keeping the input order, and bad input refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.graphs.scripted import scripted_llm
from xpollinate.cache import ResponseCache
from xpollinate.storefront.errors import ContextError, StorefrontError
from xpollinate.storefront.llm_reranker import Candidate, llm_rerank

CANDS = [Candidate(101, "Coffee Filters"), Candidate(102, "Charcoal"), Candidate(103, "Paper Cups")]
HISTORY = ["- Ground Coffee (Coffee): 5 of 10 baskets, last 0 weeks ago"]


def answering(ranking: Any) -> Any:
    return lambda schema, prompt: ranking if isinstance(ranking, str) else {"ranking": ranking}


def test_full_answer_reorders_and_the_schema_is_an_enum_of_the_candidates() -> None:
    llm, provider = scripted_llm(answering([103, 101, 102]))
    out = llm_rerank(llm, CANDS, HISTORY, "hosting a barbecue")
    assert out.order == [103, 101, 102] and out.fallback is None
    assert out.placed_by_llm == 3 and out.completed == [] and out.hallucinated == []
    items = provider.schemas["Ranking"]["properties"]["ranking"]
    assert items["items"]["enum"] == [101, 102, 103] and items["maxItems"] == 3


def test_partial_answer_is_completed_in_input_order_and_recorded() -> None:
    llm, _ = scripted_llm(answering([102, 102]))
    out = llm_rerank(llm, CANDS, HISTORY)
    assert out.order == [102, 101, 103]
    assert out.completed == [101, 103] and out.duplicates == 1
    assert out.fallback is not None and "missed 2 of 3" in out.fallback


def test_ids_outside_the_candidates_are_counted_and_dropped() -> None:
    # a backend that ignores the schema (the scripted one does) answers an id that is not a candidate
    llm, _ = scripted_llm(answering([999, 101]))
    out = llm_rerank(llm, CANDS, HISTORY)
    assert out.hallucinated == [999] and 999 not in out.order
    assert out.order == [101, 102, 103] and sorted(out.order) == [101, 102, 103]


def test_failed_call_keeps_the_input_order() -> None:
    llm, _ = scripted_llm(answering("the best one is the charcoal"))
    out = llm_rerank(llm, CANDS, HISTORY)
    assert out.order == [101, 102, 103] and out.failure and "invalid_output" in (out.fallback or "")
    assert out.calls and out.calls[0].ok is False


def test_answers_come_from_the_cache_the_second_time(tmp_path: Path) -> None:
    llm, provider = scripted_llm(answering([102, 103, 101]), cache=ResponseCache(tmp_path))
    first = llm_rerank(llm, CANDS, HISTORY, "new baby")
    second = llm_rerank(llm, CANDS, HISTORY, "new baby")
    assert first.order == second.order and provider.calls["Ranking"] == 1 and second.calls[0].cached
    llm_rerank(llm, CANDS, HISTORY, "hosting a barbecue")  # another context is another question
    assert provider.calls["Ranking"] == 2


def test_context_changes_the_prompt() -> None:
    prompts: list[str] = []

    def script(schema: str, prompt: str) -> Any:
        prompts.append(prompt)
        return {"ranking": [101]}

    llm, _ = scripted_llm(script)
    llm_rerank(llm, CANDS, HISTORY)
    llm_rerank(llm, CANDS, HISTORY, "new baby")
    assert "Shopping context: none given" in prompts[0] and "Shopping context: new baby" in prompts[1]
    assert "101: Coffee Filters" in prompts[0]


@pytest.mark.parametrize(
    ("cands", "context", "error", "message"),
    [
        ([], None, StorefrontError, "at least one candidate"),
        ([CANDS[0], CANDS[0]], None, StorefrontError, "repeat"),
        ([Candidate(i, "x") for i in range(201)], None, StorefrontError, "at most 200"),
        (CANDS, "", ContextError, "empty"),
        (CANDS, "z" * 201, ContextError, "201 characters"),
    ],
)
def test_bad_input_is_an_error(cands: list[Candidate], context: str | None, error: type, message: str) -> None:
    llm, provider = scripted_llm(answering([101]))
    with pytest.raises(error, match=message):
        llm_rerank(llm, cands, HISTORY, context)
    assert provider.calls["Ranking"] == 0

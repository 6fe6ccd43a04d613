from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from xpollinate.llm import Failure, LLMConfigError, ProviderError, Result, TransientProviderError
from xpollinate.llm.client import extract_json
from xpollinate.llm.pricing import PRICES
from xpollinate.prompts.schemas import ContextualEvaluation, Themes

EVAL_VARS = {"anchor_item": "Ground coffee", "recommendation": "Coffee filters", "explanation": "to brew drip coffee"}
GOOD_EVAL = json.dumps(
    {
        "reasoning": "filters are needed to brew",
        "cross_category_discovery": 8,
        "contextual_relevance": 9,
        "explanation_quality": 7,
        "purchase_likelihood": 6,
    }
)
THEMES = json.dumps({"themes": [{"context": f"Context {i}", "explanation": "a short explanation"} for i in range(5)]})


def test_structured_returns_the_declared_model_with_provenance(make_llm) -> None:
    llm, provider, _ = make_llm([GOOD_EVAL])
    res = llm.structured("evaluator@v2", EVAL_VARS)
    assert isinstance(res, Result) and res.ok and not res.cached
    assert isinstance(res.value, ContextualEvaluation)
    assert res.value.score == pytest.approx(0.4 * 0.8 + 0.3 * 0.9 + 0.2 * 0.7 + 0.1 * 0.6)
    assert res.prompt == "evaluator@v2" and res.prompt_sha256 == llm.registry.get("evaluator@v2").sha256
    assert res.llm == "openai:gpt-4o-mini"
    request = provider.requests[0]
    assert request.schema == ContextualEvaluation.model_json_schema() and request.schema_name == "ContextualEvaluation"
    assert "RECOMMENDATION: Coffee filters" in request.messages[0]["content"]
    assert request.max_tokens == llm.registry.get("evaluator@v2").max_tokens


def test_second_identical_call_makes_no_model_call(make_llm) -> None:
    llm, provider, _ = make_llm([GOOD_EVAL])
    first = llm.structured("evaluator@v2", EVAL_VARS)
    second = llm.structured("evaluator@v2", EVAL_VARS)
    assert provider.calls == 1
    assert second.ok and second.cached and second.value == first.value
    assert second.usage.calls == 0 and second.usage.cost_usd == 0
    llm.structured("evaluator@v2", {**EVAL_VARS, "recommendation": "French press"})
    assert provider.calls == 2  # another input is another key
    llm.structured("evaluator@v2", EVAL_VARS, temperature=0.7)
    assert provider.calls == 3  # other sampling parameters too
    total = llm.usage.total
    assert (total.requests, total.calls, total.cache_hits) == (4, 3, 1)


def test_concurrent_identical_calls_are_computed_once(make_llm) -> None:
    llm, provider, _ = make_llm([GOOD_EVAL])
    provider.delay_s = 0.3
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: llm.structured("evaluator@v2", EVAL_VARS), range(4)))
    assert provider.calls == 1
    assert all(r.ok for r in results) and sum(r.cached for r in results) == 3


def test_invalid_answer_is_repaired_with_the_validation_errors(make_llm) -> None:
    bad = json.dumps({"reasoning": "x", "cross_category_discovery": 12})
    llm, provider, _ = make_llm([bad, "```json\n" + GOOD_EVAL + "\n```"])
    res = llm.structured("evaluator@v2", EVAL_VARS)
    assert res.ok and res.usage.calls == 2
    repair = provider.requests[1].messages
    assert repair[1] == {"role": "assistant", "content": bad}
    assert (
        "cross_category_discovery" in repair[2]["content"]
        and "contextual_relevance: Field required" in repair[2]["content"]
    )


def test_persistently_invalid_output_is_a_failure_and_not_cached(make_llm) -> None:
    llm, provider, _ = make_llm(["I think it is great!"], max_repairs=2)
    res = llm.structured("evaluator@v2", EVAL_VARS)
    assert isinstance(res, Failure) and not res.ok
    assert res.kind == "invalid_output" and res.attempts == 3 and provider.calls == 3
    assert res.raw == "I think it is great!" and "not valid JSON" in res.errors[0]
    llm.structured("evaluator@v2", EVAL_VARS)
    assert provider.calls == 6  # failures are never cached
    assert llm.usage.total.failures == 2 and llm.cache.stats().entries == 0


def test_transient_errors_back_off_then_succeed(make_llm) -> None:
    llm, provider, sleeps = make_llm(
        [TransientProviderError("503"), TransientProviderError("429", retry_after=7.0), THEMES],
        backoff_base_s=1.0,
        backoff_max_s=30.0,
    )
    res = llm.structured("theme@v2", {"anchor_item": "Milk"})
    assert res.ok and isinstance(res.value, Themes) and provider.calls == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0  # first backoff: base with jitter
    assert sleeps[1] == pytest.approx(7.0)  # the server's Retry-After wins when longer


def test_exhausted_retries_are_a_bounded_failure(make_llm) -> None:
    llm, provider, sleeps = make_llm(
        [TransientProviderError("timed out")], max_retries=3, backoff_base_s=1.0, backoff_max_s=2.0
    )
    res = llm.structured("theme@v2", {"anchor_item": "Milk"})
    assert isinstance(res, Failure) and res.kind == "transient" and "timed out" in res.message
    assert provider.calls == 4 and res.attempts == 4
    assert len(sleeps) == 3 and all(s <= 2.0 for s in sleeps) and sleeps[2] >= 1.0
    assert llm.cache.stats().entries == 0


def test_provider_rejection_is_a_failure_but_setup_errors_raise(make_llm) -> None:
    llm, _, _ = make_llm([ProviderError("openai: request rejected (400): context too long")])
    res = llm.structured("theme@v2", {"anchor_item": "Milk"})
    assert isinstance(res, Failure) and res.kind == "provider_error" and "400" in res.message
    llm, _, _ = make_llm([LLMConfigError("openai rejected the API key (401); check OPENAI_API_KEY")])
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY"):
        llm.structured("theme@v2", {"anchor_item": "Milk"})


def test_cost_and_usage_are_accounted_per_model_and_prompt(make_llm) -> None:
    llm, _, _ = make_llm([GOOD_EVAL])
    llm.structured("evaluator@v2", EVAL_VARS)
    llm.structured("evaluator@v2", EVAL_VARS)
    price = PRICES["openai:gpt-4o-mini"]
    summary = llm.usage.summary()
    total = summary["total"]
    assert total["cost_usd"] == pytest.approx(price.cost(1000, 200))
    assert (total["input_tokens"], total["output_tokens"], total["cache_hits"]) == (1000, 200, 1)
    assert summary["by_prompt"]["evaluator@v2"]["requests"] == 2
    assert summary["by_model"]["openai:gpt-4o-mini"]["latency_s"] == pytest.approx(0.5)


def test_prompt_without_output_model_needs_one(make_llm) -> None:
    llm, _, _ = make_llm([GOOD_EVAL])
    with pytest.raises(LLMConfigError, match="evaluator@v1 declares no output model"):
        llm.structured("evaluator@v1", EVAL_VARS)
    assert llm.structured("evaluator@v1", EVAL_VARS, ContextualEvaluation).ok


def test_async_variant(make_llm) -> None:
    llm, provider, _ = make_llm([THEMES], cache=False)

    async def main() -> list:
        return await asyncio.gather(*(llm.astructured("theme@v2", {"anchor_item": a}) for a in ("Milk", "Eggs")))

    results = asyncio.run(main())
    assert all(r.ok for r in results) and provider.calls == 2


def test_extract_json_finds_the_object() -> None:
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('Sure!\n```json\n{"a": 2}\n```') == {"a": 2}
    assert extract_json('Here: {"a": {"b": 3}} done') == {"a": {"b": 3}}
    with pytest.raises(json.JSONDecodeError):
        extract_json("no json here")

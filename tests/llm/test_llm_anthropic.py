"""Anthropic request/response mapping through the real SDK, with an in-process transport (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx2
import pytest

from xpollinate.cache import ResponseCache
from xpollinate.llm import LLM, LLMConfigError, load_settings
from xpollinate.llm.providers.anthropic_api import AnthropicProvider
from xpollinate.prompts.schemas import JudgeEvaluation

JUDGE_VARS = {"anchor_pt": "GROUND COFFEE", "llm_rec": "French press", "rec_pt": "COFFEE MAKERS"}
ANSWER = {
    "reasoning": "a French press brews ground coffee",
    "cross_category_discovery": 7,
    "relevance_coherence": 9,
    "practical_utility": 8,
    "matching_accuracy": 9,
}


def tool_use_response(answer: dict) -> dict:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "tool_use", "id": "toolu_01", "name": "JudgeEvaluation", "input": answer}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 812, "output_tokens": 64},
    }


def make(handler, tmp_path: Path, **settings) -> LLM:
    client = anthropic.Anthropic(
        api_key="sk-ant-test", max_retries=0, http_client=httpx2.Client(transport=httpx2.MockTransport(handler))
    )
    provider = AnthropicProvider("claude-haiku-4-5", client=client)
    s = load_settings(**{"backoff_base_s": 0.0, "backoff_max_s": 0.0, **settings})
    return LLM(provider, s, cache=ResponseCache(tmp_path / "c"))


def test_request_uses_a_forced_tool_and_response_maps_back(tmp_path: Path) -> None:
    seen: list[dict] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/messages"
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=tool_use_response(ANSWER))

    llm = make(handler, tmp_path)
    res = llm.structured("judge@v2", JUDGE_VARS)
    assert res.ok and isinstance(res.value, JudgeEvaluation)
    assert res.value.score == pytest.approx((0.25 * 7 + 0.35 * 9 + 0.25 * 8 + 0.15 * 9) / 10)
    body = seen[0]
    assert (
        body["model"] == "claude-haiku-4-5"
        and body["max_tokens"] == llm.registry.get("judge@v2").max_tokens
        and "temperature" not in body
    )
    assert body["tool_choice"] == {"type": "tool", "name": "JudgeEvaluation"}
    assert body["tools"][0]["input_schema"] == JudgeEvaluation.model_json_schema()
    assert (
        body["messages"][0]["role"] == "user" and "LLM Recommendation: French press" in body["messages"][0]["content"]
    )
    assert (res.usage.input_tokens, res.usage.output_tokens) == (812, 64)
    assert res.usage.cost_usd == pytest.approx((812 * 1.0 + 64 * 5.0) / 1e6)


def test_overloaded_is_retried_and_bad_key_raises(tmp_path: Path) -> None:
    statuses = [529, 200]

    def handler(request: httpx2.Request) -> httpx2.Response:
        status = statuses.pop(0)
        if status != 200:
            return httpx2.Response(
                status, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            )
        return httpx2.Response(200, json=tool_use_response(ANSWER))

    assert make(handler, tmp_path).structured("judge@v2", JUDGE_VARS).ok and statuses == []

    def unauthorized(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            401, json={"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
        )

    with pytest.raises(LLMConfigError, match="check ANTHROPIC_API_KEY"):
        make(unauthorized, tmp_path / "other").structured("judge@v2", JUDGE_VARS)  # a fresh cache: no hit


def test_tool_input_that_breaks_the_schema_is_repaired(tmp_path: Path) -> None:
    answers = [{**ANSWER, "practical_utility": 42}, ANSWER]
    seen: list[dict] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=tool_use_response(answers.pop(0)))

    res = make(handler, tmp_path).structured("judge@v2", JUDGE_VARS)
    assert res.ok and res.usage.calls == 2
    follow_up = seen[1]["messages"]
    assert [m["role"] for m in follow_up] == ["user", "assistant", "user"]
    assert "practical_utility" in follow_up[2]["content"]

"""The `openai` provider through the official SDK against a real OpenAI-compatible server:
llama.cpp's HTTP server (via xllamacpp) with SmolLM2, started and stopped by the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import free_port
from xpollinate.cache import ResponseCache
from xpollinate.llm import LLM, get_llm, load_settings
from xpollinate.prompts.schemas import ContextualEvaluation, Themes


@pytest.fixture(scope="module")
def server_url(smollm2_server: str) -> str:
    return smollm2_server


def make(server_url: str, tmp_path: Path, **settings: object) -> LLM:
    s = load_settings("openai:smollm2-135m-instruct", openai_base_url=server_url, **settings)
    return get_llm(settings=s, cache=ResponseCache(tmp_path / "cache"))


def test_structured_answers_over_http(server_url: str, tmp_path: Path) -> None:
    llm = make(server_url, tmp_path)
    assert llm.spec.provider == "openai"
    themes = llm.structured("theme@v2", {"anchor_item": "Ground coffee"})
    assert themes.ok, themes
    assert isinstance(themes.value, Themes) and len(themes.value.themes) == 5
    evaluation = llm.structured(
        "evaluator@v2",
        {
            "anchor_item": "Ground coffee",
            "recommendation": "Coffee filters",
            "explanation": "needed to brew drip coffee",
        },
    )
    assert evaluation.ok and isinstance(evaluation.value, ContextualEvaluation)
    assert evaluation.usage.input_tokens > 300 and evaluation.usage.output_tokens > 5
    assert not evaluation.usage.priced  # a self-hosted model has no list price


def test_second_call_is_served_by_the_cache(server_url: str, tmp_path: Path) -> None:
    llm = make(server_url, tmp_path)
    calls = []
    original = llm.provider.complete
    llm.provider.complete = lambda request: calls.append(request) or original(request)  # type: ignore[method-assign]
    variables = {"anchor_pt": "HOT DOG BUNS", "llm_rec": "Charcoal grill", "rec_pt": "CHARCOAL"}
    first = llm.structured("judge@v2", variables)
    second = llm.structured("judge@v2", variables)
    assert first.ok and second.cached and len(calls) == first.usage.calls >= 1


def test_unreachable_server_is_a_transient_failure(tmp_path: Path) -> None:
    llm = make(f"http://127.0.0.1:{free_port()}/v1", tmp_path, max_retries=2, backoff_base_s=0.01, backoff_max_s=0.02)
    res = llm.structured("theme@v2", {"anchor_item": "Milk"})
    assert not res.ok and res.kind == "transient" and res.attempts == 3


def test_string_bounds_reach_compatible_servers_but_not_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    """llama.cpp's grammar enforces maxLength, so a small model cannot fill `reasoning` until
    max_tokens cuts the JSON; OpenAI's strict mode rejects the keyword, so it is dropped there."""
    from xpollinate.llm.providers.base import ChatRequest
    from xpollinate.llm.providers.openai_api import OpenAIProvider

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    schema = ContextualEvaluation.model_json_schema()
    request = ChatRequest(({"role": "user", "content": "x"},), schema, "ContextualEvaluation", 10, 0.0, 42)

    def reasoning(provider: OpenAIProvider) -> dict[str, object]:
        fmt = provider._response_format(request)
        assert fmt is not None
        return fmt["json_schema"]["schema"]["properties"]["reasoning"]

    assert reasoning(OpenAIProvider("m", base_url="http://127.0.0.1:9/v1"))["maxLength"] == 500
    assert "maxLength" not in reasoning(OpenAIProvider("gpt-4o-mini"))
    assert "maxLength" not in reasoning(OpenAIProvider("gpt-4o-mini", base_url="https://api.openai.com/v1"))

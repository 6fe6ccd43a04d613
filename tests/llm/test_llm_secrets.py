"""API keys must never reach a cache key or a log line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from xpollinate.cache import ResponseCache
from xpollinate.llm import LLM, load_settings
from xpollinate.llm.providers.openai_api import OpenAIProvider

SECRET = "sk-test-0123456789-secret"


def test_api_key_is_not_part_of_cache_keys_or_logs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    provider = OpenAIProvider("gpt-4o-mini", base_url="http://127.0.0.1:9/v1", timeout_s=0.5)
    settings = load_settings(max_retries=1, backoff_base_s=0.0, backoff_max_s=0.0)
    llm = LLM(provider, settings, cache=ResponseCache(tmp_path / "c"))
    template = llm.registry.get("theme@v2")
    from xpollinate.llm.providers.base import ChatRequest

    request = ChatRequest(({"role": "user", "content": "x"},), {}, "Themes", 10, 0.0, 42)
    key_with = llm._key(template, request, "x")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-another-key")
    other = LLM(OpenAIProvider("gpt-4o-mini", base_url="http://127.0.0.1:9/v1"), settings, cache=llm.cache)
    assert other._key(template, request, "x") == key_with  # the key does not depend on the API key
    with caplog.at_level(logging.DEBUG):
        res = llm.structured("theme@v2", {"anchor_item": "Milk"})  # nothing listens on port 9: connection errors
    assert not res.ok and res.kind == "transient"
    assert SECRET not in caplog.text and SECRET not in json.dumps(res.message)

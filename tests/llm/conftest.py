"""LLM-layer fixtures: a temp run directory, no API keys from the developer's shell, and a
scripted provider (test-only) whose answers and failures a test lists in advance."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from xpollinate.cache import ResponseCache
from xpollinate.llm import LLM, LLMSettings
from xpollinate.llm.providers.base import ChatRequest, Completion
from xpollinate.llm.retry import RetryPolicy


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XP_HOME", str(tmp_path / "xp-home"))
    for var in (
        "XP_LLM",
        "XP_CONFIG",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "XP_LLM_CACHE",
        "XP_LLM_MAX_RETRIES",
        "XP_LLM_THREADS",
    ):
        monkeypatch.delenv(var, raising=False)


Step = str | Exception | Callable[[ChatRequest], str]


class ScriptedProvider:
    """Answers with the next scripted step (a text, an exception to raise, or a function of the request)."""

    structured_mode = "json_schema"

    def __init__(
        self, steps: list[Step], name: str = "openai", model: str = "gpt-4o-mini", delay_s: float = 0.0
    ) -> None:
        self.name, self.model = name, model
        self.steps = list(steps)
        self.requests: list[ChatRequest] = []
        self.delay_s = delay_s
        self._lock = threading.Lock()

    def describe(self) -> dict[str, str]:
        return {"endpoint": "scripted"}

    def complete(self, request: ChatRequest) -> Completion:
        with self._lock:
            self.requests.append(request)
            step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        if isinstance(step, Exception):
            raise step
        text = step(request) if callable(step) else step
        return Completion(text=text, input_tokens=1000, output_tokens=200, latency_s=0.5, model=self.model)

    @property
    def calls(self) -> int:
        return len(self.requests)


@pytest.fixture
def make_llm(tmp_path: Path) -> Callable[..., tuple[LLM, ScriptedProvider, list[float]]]:
    """An LLM around a scripted provider with a temp cache; returns (llm, provider, sleeps)."""

    def make(steps: list[Step], cache: bool = True, **settings: object) -> tuple[LLM, ScriptedProvider, list[float]]:
        provider = ScriptedProvider(steps)
        sleeps: list[float] = []
        s = LLMSettings(**settings)
        policy = RetryPolicy(s.max_retries, s.backoff_base_s, s.backoff_max_s, sleep=sleeps.append)
        llm = LLM(provider, s, cache=ResponseCache(tmp_path / "cache") if cache else None, retry=policy)
        return llm, provider, sleeps

    return make

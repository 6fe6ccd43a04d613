"""A scripted chat provider for graph tests (tests only): answers each prompt kind from a script.

It implements the provider contract of `xpollinate.llm.providers.base`, so the real LLM
layer (validation, repair, cache, usage) runs on top of it; it counts its calls.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from xpollinate.llm import LLM, LLMSettings
from xpollinate.llm.providers.base import ChatRequest, Completion

Script = Callable[[str, str], Any]  # (schema name, prompt text) -> JSON-able answer, or a raw str


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -1e9


def _field(text: str, label: str) -> str:
    m = re.search(rf"{label}\W*(.+)", text)
    return m.group(1).strip() if m else ""


class ScriptedProvider:
    """For a yes/no probability request (`top_logprobs`), the script gets the schema name
    "YesProbability" and returns P(yes) as a float (or a dict of first-token log-probabilities);
    for a yes/no list ("YesProbabilities"), a list of P(yes), one per answer token."""

    name = "scripted"
    model = "script-1"
    structured_mode = "json_schema"
    supports_logprobs = True

    def __init__(self, script: Script) -> None:
        self.script = script
        self.calls: Counter[str] = Counter()
        self.schemas: dict[str, Any] = {}  # the last JSON schema asked per schema name
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> Completion:
        prompt = request.messages[0]["content"]  # the rendered prompt (later messages are repairs)
        with self._lock:
            self.calls[request.schema_name] += 1
            self.schemas[request.schema_name] = request.schema
        answer = self.script(request.schema_name, prompt)
        if request.top_logprobs and isinstance(answer, list):  # a yes/no list: P(yes) per answer
            tokens: list[tuple[str, dict[str, float]]] = [('{"', {}), ("answers", {}), ('":["', {})]
            for i, p in enumerate(answer):
                tokens += [("yes" if p >= 0.5 else "no", {"yes": _log(p), "no": _log(1.0 - p)})]
                tokens += [('","' if i + 1 < len(answer) else '"]}', {})]
            text = "".join(t for t, _ in tokens)
            return Completion(
                text=text,
                input_tokens=len(prompt) // 4,
                output_tokens=len(tokens),
                latency_s=0.0,
                model=self.model,
                token_logprobs=tuple(tokens),
            )
        if request.top_logprobs:
            logprobs = answer if isinstance(answer, dict) else {"Yes": _log(answer), "No": _log(1.0 - answer)}
            return Completion(
                text="Yes",
                input_tokens=len(prompt) // 4,
                output_tokens=1,
                latency_s=0.0,
                model=self.model,
                first_token_logprobs=logprobs,
            )
        text = answer if isinstance(answer, str) else json.dumps(answer)
        return Completion(
            text=text, input_tokens=len(prompt) // 4, output_tokens=len(text) // 4, latency_s=0.0, model=self.model
        )

    def describe(self) -> dict[str, Any]:
        return {"script": True}


def scripted_llm(script: Script, cache: Any = None) -> tuple[LLM, ScriptedProvider]:
    provider = ScriptedProvider(script)
    settings = LLMSettings(llm="openai:script-1", max_retries=0, backoff_base_s=0.0, max_repairs=1)
    return LLM(provider, settings, cache=cache), provider


def rubric(score: int, **overrides: int) -> dict[str, Any]:
    """An evaluator/judge answer with every dimension at `score` (dimension names of both rubrics)."""
    dims = [
        "cross_category_discovery",
        "contextual_relevance",
        "explanation_quality",
        "purchase_likelihood",
        "relevance_coherence",
        "practical_utility",
        "matching_accuracy",
    ]
    return {"reasoning": "scripted", **{d: overrides.get(d, score) for d in dims}}

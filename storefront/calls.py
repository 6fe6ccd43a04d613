"""One LLM call of the storefront, recorded for the page's provenance (prompt, hash, cache hit, seconds)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from xpollinate.llm import LLM, Failure, Result
from xpollinate.storefront.model import LLMCall

T = TypeVar("T", bound=BaseModel)
NO_CONTEXT = "none given"


def ask(
    llm: LLM, prompt: str, variables: Mapping[str, object], output: type[T] | None, calls: list[LLMCall]
) -> Result[T] | Failure:
    """`llm.structured`, with the call appended to `calls` (a failure is recorded there, never raised)."""
    started = time.perf_counter()
    template = llm.registry.get(prompt)
    result: Any = llm.structured(template, variables, output)
    calls.append(
        LLMCall(
            prompt=template.ref,
            prompt_sha256=template.sha256,
            cached=bool(getattr(result, "cached", False)),
            ok=bool(result.ok),
            seconds=round(time.perf_counter() - started, 3),
            message="" if result.ok else f"{result.kind}: {result.message}"[:300],
            prompt_tokens=int(getattr(result.usage, "input_tokens", 0) or 0),
            generated_tokens=int(getattr(result.usage, "output_tokens", 0) or 0),
        )
    )
    return result  # type: ignore[no-any-return]


def context_text(context: str | None) -> str:
    return context if context else NO_CONTEXT

"""Every LLM call as a LangChain run, through langchain-core's callbacks.

`LLM.structured` opens a chat-model run on the callback handlers of the current LangChain
context: the config of the LangGraph node that makes the call (so a call nests under its node
in a trace or in Studio), or callbacks a caller passes (`with traced([handler])`), plus
LangSmith's tracer only when its environment variables turn tracing on. With no handler (the
offline default) nothing is built and nothing is sent anywhere.

A run carries the prompt's name, version and hash, the model, the rendered prompt, the
answer (or the failure), tokens, seconds, cost and whether the response cache answered. The
context reaches worker threads through `langchain_core.runnables.config.ContextThreadPoolExecutor`
(`agents.calls.bounded_map` uses it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import (
    BaseCallbackHandler,
    BaseCallbackManager,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables.config import RunnableConfig, ensure_config, var_child_runnable_config

from xpollinate.errors import XPError

if TYPE_CHECKING:
    from xpollinate.llm.client import Failure, Result
    from xpollinate.llm.providers.base import ChatRequest
    from xpollinate.llm.settings import LLMSpec
    from xpollinate.prompts import PromptTemplate


class LLMCallFailed(XPError):
    """What a traced run reports for a call that produced no valid answer (never raised to callers)."""


@contextmanager
def traced(handlers: Sequence[BaseCallbackHandler]) -> Iterator[None]:
    """Report the LLM calls made inside this block (in this thread and the workers it starts) to `handlers`."""
    config: RunnableConfig = ensure_config()
    callbacks = config.get("callbacks")
    current = callbacks.handlers if isinstance(callbacks, BaseCallbackManager) else list(callbacks or [])
    merged = [*current, *handlers]
    token = var_child_runnable_config.set({**config, "callbacks": merged})
    try:
        yield
    finally:
        var_child_runnable_config.reset(token)


class CallTrace:
    """One LLM call's run on the context's callback handlers (a no-op without handlers)."""

    def __init__(self, run: CallbackManagerForLLMRun | None) -> None:
        self.run = run

    @classmethod
    def start(cls, spec: LLMSpec, template: PromptTemplate, rendered: str, request: ChatRequest) -> CallTrace:
        config = ensure_config()
        if not config.get("callbacks") and not _tracing_env():
            return cls(None)  # the offline default: nothing to build
        metadata = {
            "xp_prompt": template.ref,
            "xp_prompt_sha256": template.sha256,
            "ls_provider": spec.provider,
            "ls_model_name": spec.model,
            "ls_model_type": "chat",
            "ls_temperature": request.temperature,
            "ls_max_tokens": request.max_tokens,
        }
        manager = CallbackManager.configure(
            inheritable_callbacks=config.get("callbacks"),
            inheritable_tags=config.get("tags"),
            local_tags=["xpollinate", template.name],
            inheritable_metadata=config.get("metadata"),
            local_metadata=metadata,
        )
        if not manager.handlers:
            return cls(None)
        runs = manager.on_chat_model_start(
            {"name": f"xp:{spec}", "id": ["xpollinate", "llm", spec.provider]},
            [[HumanMessage(content=m["content"]) for m in request.messages]],
            name=template.ref,
            invocation_params={
                "model": str(spec),
                "temperature": request.temperature,
                "max_tokens": request.max_tokens,
                "seed": request.seed,
                "schema": request.schema_name,
            },
        )
        return cls(runs[0] if runs else None)

    def end(self, outcome: Result[Any] | Failure) -> None:
        if self.run is None:
            return
        usage = outcome.usage
        figures = {
            "xp_cache_hit": usage.cache_hit,
            "model_calls": usage.calls,
            "seconds": round(usage.latency_s, 4),
            "cost_usd": usage.cost_usd if usage.priced else None,
        }
        if not outcome.ok:
            self.run.on_llm_error(LLMCallFailed(f"{outcome.kind}: {outcome.message}"), **figures)  # type: ignore[union-attr]
            return
        text = json.dumps(outcome.value.model_dump(mode="json"))  # type: ignore[union-attr]
        token_usage = {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        }
        message = AIMessage(
            content=text,
            usage_metadata={
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.input_tokens + usage.output_tokens,
            },
        )
        self.run.on_llm_end(
            LLMResult(
                generations=[[ChatGeneration(message=message, generation_info=figures)]],
                llm_output={"token_usage": token_usage, "model_name": outcome.llm, **figures},
            )
        )

    def error(self, exc: BaseException) -> None:
        if self.run is not None:
            self.run.on_llm_error(exc)


def _tracing_env() -> bool:
    """Whether LangSmith tracing is switched on in the environment (off unless a person turns it on)."""
    from langchain_core.utils.env import env_var_is_set

    return any(env_var_is_set(v) for v in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING"))

"""`langchain`: any langchain-core chat model (ChatOllama, Azure, Bedrock, ...) as a backend.

The model is named by an import path, `langchain:MODULE:NAME`, where NAME is a `BaseChatModel`
instance or a callable that returns one, e.g. a file `my_models.py` on the Python path holding
`judge = ChatOllama(model="llama3.1")` and `--judge-llm langchain:my_models:judge`. Calls go
through the same cache, repair loop, retries and failure records as every other backend.

Structured output: `none` (the default) sends the prompt as it is and the client parses and
repairs the answer; `json_schema` binds the schema with the model's `with_structured_output`
(for models that support it). Token counts come from the message's `usage_metadata` when the
model reports them. Errors of the model are provider errors of the item (the client retries
only its own transient kinds).
"""

from __future__ import annotations

import importlib
import json
import time
from typing import Any, Literal, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig

from xpollinate.llm.errors import LLMConfigError, ProviderError
from xpollinate.llm.providers.base import ChatRequest, Completion

ROLES = {"user": HumanMessage, "assistant": AIMessage, "system": SystemMessage}


def load_chat_model(path: str) -> BaseChatModel:
    """The chat model `MODULE:NAME` names (NAME an instance, or a callable that returns one)."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise LLMConfigError(f"langchain model {path!r}: expected MODULE:NAME, e.g. my_models:judge")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LLMConfigError(f"langchain model {path!r}: cannot import {module_name!r} ({exc})") from exc
    target = getattr(module, attr, None)
    if target is None:
        raise LLMConfigError(f"langchain model {path!r}: {module_name} has no {attr!r}")
    model = target if isinstance(target, BaseChatModel) else target() if callable(target) else None
    if not isinstance(model, BaseChatModel):
        raise LLMConfigError(f"langchain model {path!r} is not a langchain-core BaseChatModel")
    return model


def message_text(message: BaseMessage) -> str:
    """A message's text (content may be a list of parts)."""
    if isinstance(message.content, str):
        return message.content
    return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in message.content)


class LangChainProvider:
    name = "langchain"
    supports_logprobs = False

    def __init__(
        self, chat_model: BaseChatModel, model: str, structured: Literal["none", "json_schema"] = "none"
    ) -> None:
        self.chat_model = chat_model
        self.model = model
        self.structured_mode: str = structured

    def describe(self) -> dict[str, Any]:
        """What identifies the backend in cache keys: the class and its model name (never credentials)."""
        named = next(
            (
                str(getattr(self.chat_model, a))
                for a in ("model_name", "model", "model_id")
                if getattr(self.chat_model, a, None)
            ),
            "",
        )
        return {"class": type(self.chat_model).__name__, "model": named, "structured": self.structured_mode}

    def complete(self, request: ChatRequest) -> Completion:
        messages = [ROLES[m["role"]](content=m["content"]) for m in request.messages]
        config: RunnableConfig = {"callbacks": []}  # the client's own run already reports this call (llm.tracing)
        start = time.perf_counter()
        try:
            if self.structured_mode == "json_schema" and request.schema is not None:
                bound = self.chat_model.with_structured_output(
                    {"title": request.schema_name, **request.schema}, method="json_schema", include_raw=True
                )
                answer = cast("dict[str, Any]", bound.invoke(messages, config=config))  # include_raw: a dict
                raw: BaseMessage = answer["raw"]
                parsed = answer.get("parsed")
                text = json.dumps(parsed) if parsed is not None else message_text(raw)
            else:
                raw = self.chat_model.invoke(messages, config=config)
                text = message_text(raw)
        except LLMConfigError:
            raise
        except Exception as exc:  # any backend's error: a failure of this item, with its message
            raise ProviderError(f"langchain {type(self.chat_model).__name__}: {exc}") from exc
        usage = getattr(raw, "usage_metadata", None) or {}
        return Completion(
            text=text,
            input_tokens=int(usage.get("input_tokens", 0)),
            output_tokens=int(usage.get("output_tokens", 0)),
            latency_s=time.perf_counter() - start,
            model=self.model,
        )

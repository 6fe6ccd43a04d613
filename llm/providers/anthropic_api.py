"""`anthropic`: the official SDK; structured output through a forced tool call.

The output schema becomes the input schema of one tool, and `tool_choice` forces the
model to call it, so the answer arrives as a JSON object in the tool_use block.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
from pydantic import SecretStr

from xpollinate.llm.providers.base import ChatRequest, Completion, classify_sdk_error
from xpollinate.llm.settings import API_KEY_ENV, api_key, public_url


def build_messages_request(model: str, request: ChatRequest) -> dict[str, Any]:
    """The Messages API arguments for a chat request (system messages go to `system`).

    The SDK (2.x) has no sampling `temperature` parameter any more: the model's default applies."""
    system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
    kwargs: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages if m["role"] != "system"],
    }
    if system:
        kwargs["system"] = system
    if request.schema is not None:
        kwargs["tools"] = [
            {
                "name": request.schema_name,
                "description": f"Record the answer as a {request.schema_name} object.",
                "input_schema": request.schema,
            }
        ]
        kwargs["tool_choice"] = {"type": "tool", "name": request.schema_name}
    return kwargs


def answer_text(message: Any, tool_name: str | None) -> str:
    """The JSON text of the forced tool call, or the plain text when no tool was asked for."""
    for block in message.content:
        if block.type == "tool_use" and (tool_name is None or block.name == tool_name):
            return json.dumps(block.input)
    return "".join(getattr(block, "text", "") for block in message.content if block.type == "text")


class AnthropicProvider:
    name = "anthropic"
    structured_mode = "tool_use"
    supports_logprobs = False  # the Messages API reports no token probabilities

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        client: anthropic.Anthropic | None = None,
        key: SecretStr | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        if client is None:
            secret = key or api_key("anthropic")
            assert secret is not None  # api_key raises when the key is required and missing
            client = anthropic.Anthropic(
                api_key=secret.get_secret_value(), base_url=base_url, timeout=timeout_s, max_retries=0
            )
        self.client = client

    def describe(self) -> dict[str, Any]:
        return {"endpoint": public_url(self.base_url) or "api.anthropic.com", "structured": "tool_use"}

    def complete(self, request: ChatRequest) -> Completion:
        kwargs = build_messages_request(self.model, request)
        start = time.perf_counter()
        try:
            message = self.client.messages.create(**kwargs)
        except anthropic.APIError as exc:
            raise classify_sdk_error(exc, anthropic, self.name, self.model, API_KEY_ENV[self.name]) from exc
        latency = time.perf_counter() - start
        return Completion(
            text=answer_text(message, request.schema_name if request.schema is not None else None),
            input_tokens=int(message.usage.input_tokens or 0),
            output_tokens=int(message.usage.output_tokens or 0),
            latency_s=latency,
            model=message.model or self.model,
        )

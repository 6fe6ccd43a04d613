"""`openai`: the official SDK, for OpenAI and any OpenAI-compatible server (vLLM, Ollama, llama.cpp).

Structured output uses `response_format` with a strict JSON schema; string length bounds are
dropped for OpenAI itself (it rejects them) and kept for compatible servers, whose grammars
enforce them;
servers without it can be set to `json_object` or `none` (then the answer is parsed).
The SDK's own retries are off: retries are the client layer's, the same for every backend.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

import openai
from pydantic import SecretStr

from xpollinate.llm.errors import ProviderError
from xpollinate.llm.providers.base import ChatRequest, Completion, classify_sdk_error
from xpollinate.llm.providers.schema import openai_strict_schema
from xpollinate.llm.settings import API_KEY_ENV, api_key, public_url

NO_KEY = "sk-no-key-required"  # OpenAI-compatible local servers take any key, but the SDK needs one


class OpenAIProvider:
    name = "openai"
    supports_logprobs = True  # OpenAI, vLLM and llama.cpp's server report them; a server that does not fails the call

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        response_format: str = "json_schema",
        client: openai.OpenAI | None = None,
        key: SecretStr | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.is_openai = base_url is None or urlparse(base_url).hostname == "api.openai.com"
        self.structured_mode = response_format
        # Only api.openai.com insists on a key; a compatible server may run without one.
        if client is None:
            secret = key or api_key("openai", required=base_url is None)
            plain = secret.get_secret_value() if secret is not None else NO_KEY
            client = openai.OpenAI(api_key=plain, base_url=base_url, timeout=timeout_s, max_retries=0)
        self.client = client

    def describe(self) -> dict[str, Any]:
        return {"endpoint": public_url(self.base_url) or "api.openai.com", "response_format": self.structured_mode}

    def _response_format(self, request: ChatRequest) -> dict[str, Any] | None:
        if request.schema is None or self.structured_mode == "none":
            return None
        if self.structured_mode == "json_object":
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {
                "name": request.schema_name,
                "schema": openai_strict_schema(request.schema, keep_lengths=not self.is_openai),
                "strict": True,
            },
        }

    def complete(self, request: ChatRequest) -> Completion:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
        }
        fmt = self._response_format(request)
        if fmt is not None:
            kwargs["response_format"] = fmt
        if request.top_logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = request.top_logprobs
        start = time.perf_counter()
        try:
            resp = self.client.chat.completions.create(**kwargs)
        except openai.APIError as exc:
            raise classify_sdk_error(exc, openai, self.name, self.model, API_KEY_ENV[self.name]) from exc
        latency = time.perf_counter() - start
        if not resp.choices:
            raise ProviderError("openai: the response has no choices")
        message = resp.choices[0].message
        if getattr(message, "refusal", None):
            raise ProviderError(f"openai: the model refused: {message.refusal}")
        usage = resp.usage
        return Completion(
            text=message.content or "",
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_s=latency,
            model=resp.model or self.model,
            first_token_logprobs=first_token_logprobs(resp.choices[0]) if request.top_logprobs else {},
            token_logprobs=token_logprobs(resp.choices[0]) if request.top_logprobs else (),
        )


def first_token_logprobs(choice: Any) -> dict[str, float]:
    """token -> log-probability of the first generated token's alternatives; a server that
    returns none fails the request (the answer cannot be read without them)."""
    tokens = token_logprobs(choice)
    if not tokens or not tokens[0][1]:
        raise ProviderError("openai: the server returned no log-probabilities for a yes/no probability request")
    return tokens[0][1]


def token_logprobs(choice: Any) -> tuple[tuple[str, dict[str, float]], ...]:
    """(token, {alternative: log-probability}) of every generated token."""
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    out = []
    for entry in content:
        alts: dict[str, float] = {}
        for alt in entry.top_logprobs or []:
            alts.setdefault(alt.token, float(alt.logprob))
        out.append((str(entry.token), alts))
    return tuple(out)

"""The provider contract: one chat request in, one completion out, errors classified.

A provider does one model call and nothing else; retries, repair, caching and
accounting live in `xpollinate.llm.client` so that every backend gets the same behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

from xpollinate.llm.errors import LLMConfigError, ProviderError, TransientProviderError


@dataclass(frozen=True)
class ChatRequest:
    """Messages plus the JSON schema the answer must follow (`schema_name` names it for the API)."""

    messages: tuple[dict[str, str], ...]
    schema: dict[str, Any] | None
    schema_name: str
    max_tokens: int
    temperature: float
    seed: int
    top_logprobs: int = 0  # > 0: also return the log-probabilities of this many alternatives of each token


@dataclass(frozen=True)
class Completion:
    """The model's text answer (JSON text for structured calls) and what it cost."""

    text: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    model: str
    stats: dict[str, float] = field(default_factory=dict)  # backend extras, e.g. generation tokens/s
    first_token_logprobs: dict[str, float] = field(default_factory=dict)  # token text -> log-probability
    # every generated token with its alternatives (token text, {alternative: log-probability}), when asked for
    token_logprobs: tuple[tuple[str, dict[str, float]], ...] = ()


class Provider(Protocol):
    """A model backend. `complete` raises `TransientProviderError` for retryable failures,
    `ProviderError` for an item that cannot succeed, `LLMConfigError` for a setup problem."""

    name: str
    model: str
    structured_mode: str  # how the schema is enforced: json_schema, tool_use, json_object, none
    supports_logprobs: bool  # whether `top_logprobs` requests are answered (yes/no probabilities need them)

    def complete(self, request: ChatRequest) -> Completion: ...

    def describe(self) -> dict[str, Any]:
        """What identifies the backend's answers besides the model (e.g. endpoint); no secrets."""
        ...


def retry_after(exc: Exception) -> float | None:
    """Seconds from an HTTP error's Retry-After header (SDK status errors carry `.response`)."""
    try:
        value = exc.response.headers.get("retry-after")  # type: ignore[attr-defined]
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def classify_sdk_error(exc: Exception, sdk: ModuleType, provider: str, model: str, key_env: str) -> Exception:
    """Map an OpenAI/Anthropic SDK error (both SDKs share the class names) to our error kinds:
    timeouts, connection errors, 429, 408/409 and 5xx (529 overloaded) are transient; bad keys
    and unknown models are setup errors; any other 4xx fails just this request."""
    if isinstance(exc, (sdk.APITimeoutError, sdk.APIConnectionError)):
        return TransientProviderError(f"{provider}: {type(exc).__name__}: {exc}")
    if isinstance(exc, (sdk.AuthenticationError, sdk.PermissionDeniedError)):
        return LLMConfigError(f"{provider} rejected the API key ({exc.status_code}); check {key_env}")
    if isinstance(exc, sdk.NotFoundError):
        return LLMConfigError(f"{provider}: model {model!r} not found: {exc.message}")
    if isinstance(exc, sdk.APIStatusError):
        if exc.status_code == 429 or exc.status_code >= 500 or exc.status_code in (408, 409):
            return TransientProviderError(
                f"{provider}: HTTP {exc.status_code}: {exc.message}", retry_after=retry_after(exc)
            )
        return ProviderError(f"{provider}: request rejected ({exc.status_code}): {exc.message}")
    return ProviderError(f"{provider}: {type(exc).__name__}: {exc}")

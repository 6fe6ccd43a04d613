"""Content-addressed cache keys: a SHA-256 over everything that determines an answer.

The key covers the prompt (name, version and the hash of its text), the provider, the
model, the backend's identity (endpoint, decoding mode), the sampling parameters, the
output schema and the rendered input. It never covers credentials: callers pass only
public descriptions (see `xpollinate.llm.settings.public_url`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

KEY_FORMAT = 1  # bump when the key recipe changes, so old entries simply stop matching


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def response_key(
    *,
    prompt_ref: str,
    prompt_sha256: str,
    provider: str,
    model: str,
    backend: dict[str, Any],
    params: dict[str, Any],
    schema: dict[str, Any] | None,
    rendered: str,
) -> str:
    """The cache key of one LLM request."""
    return digest(
        {
            "format": KEY_FORMAT,
            "prompt": prompt_ref,
            "prompt_sha256": prompt_sha256,
            "provider": provider,
            "model": model,
            "backend": backend,
            "params": params,
            "schema_sha256": digest(schema) if schema is not None else None,
            "input_sha256": hashlib.sha256(rendered.encode("utf-8")).hexdigest(),
        }
    )

"""JSON-schema adjustments for backends that accept only a subset of JSON Schema."""

from __future__ import annotations

import copy
from typing import Any

# OpenAI strict structured outputs reject these string keywords; pydantic still checks them.
OPENAI_UNSUPPORTED = ("minLength", "maxLength")


def openai_strict_schema(schema: dict[str, Any], keep_lengths: bool = False) -> dict[str, Any]:
    """A copy fit for OpenAI `strict: true`: closed objects, every property required.

    `keep_lengths` keeps string bounds for compatible servers whose grammar enforces them
    (llama.cpp, vLLM): without them a small model can fill a free-text field until
    `max_tokens` cuts the JSON off.
    """
    out = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            for key in () if keep_lengths else OPENAI_UNSUPPORTED:
                node.pop(key, None)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(out)
    return out

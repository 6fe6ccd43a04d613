"""Price table for cost estimates, in US dollars per million tokens (input, output).

Estimates from the providers' public list prices when this table was written; they drift,
so a config file can override or extend them (`[llm.prices."openai:my-model"]`). Local
models cost nothing per token. A model with no price gets cost 0 and is marked unpriced.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000


PRICES: dict[str, Price] = {
    "openai:gpt-4o": Price(2.50, 10.00),
    "openai:gpt-4o-mini": Price(0.15, 0.60),
    "openai:gpt-4.1": Price(2.00, 8.00),
    "openai:gpt-4.1-mini": Price(0.40, 1.60),
    "openai:gpt-4.1-nano": Price(0.10, 0.40),
    "anthropic:claude-opus-4-1": Price(15.00, 75.00),
    "anthropic:claude-sonnet-4-5": Price(3.00, 15.00),
    "anthropic:claude-haiku-4-5": Price(1.00, 5.00),
    "anthropic:claude-3-5-haiku-latest": Price(0.80, 4.00),
    "local:qwen2.5-coder-1.5b-instruct-q4_k_m": Price(0.0, 0.0),
    "local:smollm2-135m-instruct": Price(0.0, 0.0),
}


def known_models(provider: str, prices: dict[str, Price] | None = None) -> list[str]:
    """Model ids with a price for `provider` (the models the provider is validated against)."""
    table = prices if prices is not None else PRICES
    return sorted(k.split(":", 1)[1] for k in table if k.startswith(provider + ":"))

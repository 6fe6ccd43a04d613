"""Usage accounting: what each call cost (tokens, seconds, dollars) and run totals.

A `CallUsage` describes one structured request (all its model calls, repairs and
retries included); a `UsageLedger` adds them up per provider:model and per prompt,
thread-safely, for the run's report.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from xpollinate.llm.pricing import Price


@dataclass
class CallUsage:
    """One structured request: `calls` model calls (0 for a cache hit)."""

    provider: str
    model: str
    prompt: str
    calls: int = 0
    cache_hit: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    priced: bool = True
    backend_stats: dict[str, float] = field(default_factory=dict)  # the last call's, e.g. llama.cpp tokens/s

    def add_call(
        self,
        input_tokens: int,
        output_tokens: int,
        latency_s: float,
        price: Price | None,
        stats: dict[str, float] | None = None,
    ) -> None:
        self.calls += 1
        self.backend_stats = dict(stats or {})
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.latency_s += latency_s
        if price is None:
            self.priced = False
        else:
            self.cost_usd += price.cost(input_tokens, output_tokens)


@dataclass
class UsageTotals:
    requests: int = 0
    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    unpriced_calls: int = 0

    def add(self, usage: CallUsage, failed: bool) -> None:
        self.requests += 1
        self.calls += usage.calls
        self.cache_hits += int(usage.cache_hit)
        self.failures += int(failed)
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.latency_s += usage.latency_s
        self.cost_usd += usage.cost_usd
        self.unpriced_calls += 0 if usage.priced else usage.calls

    @property
    def output_tokens_per_s(self) -> float:
        return self.output_tokens / self.latency_s if self.latency_s else 0.0


@dataclass
class UsageLedger:
    """Run totals, overall and per provider:model and per prompt version."""

    total: UsageTotals = field(default_factory=UsageTotals)
    by_model: dict[str, UsageTotals] = field(default_factory=dict)
    by_prompt: dict[str, UsageTotals] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, usage: CallUsage, failed: bool = False) -> None:
        with self._lock:
            self.total.add(usage, failed)
            self.by_model.setdefault(f"{usage.provider}:{usage.model}", UsageTotals()).add(usage, failed)
            self.by_prompt.setdefault(usage.prompt, UsageTotals()).add(usage, failed)

    def summary(self) -> dict[str, Any]:
        """Plain data for reports and JSON logs."""
        with self._lock:
            return {
                "total": asdict(self.total),
                "by_model": {k: asdict(v) for k, v in self.by_model.items()},
                "by_prompt": {k: asdict(v) for k, v in self.by_prompt.items()},
            }

"""Bounded retries of transient provider errors: exponential backoff with jitter.

Delay before retry i (0-based) is `min(max_s, base_s * 2**i)` scaled by a random factor in
[0.5, 1] (so concurrent clients spread out), or the server's Retry-After when it asks
for longer (still capped at `max_s`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from xpollinate.llm.errors import TransientProviderError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_s: float = 1.0
    max_s: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        backoff = min(self.max_s, self.base_s * (2**retry)) * self.rng.uniform(0.5, 1.0)
        if retry_after is not None:
            backoff = max(backoff, min(self.max_s, retry_after))
        return backoff


class RetriesExhausted(Exception):
    """Every attempt failed transiently; `last` is the final error, `attempts` how many were made."""

    def __init__(self, last: TransientProviderError, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts: {last}")
        self.last = last
        self.attempts = attempts


def call_with_retries(
    fn: Callable[[], T], policy: RetryPolicy, on_retry: Callable[[int, float, Exception], None] | None = None
) -> tuple[T, int]:
    """`fn()` and the number of attempts it took; `RetriesExhausted` after `1 + max_retries` failures."""
    for attempt in range(policy.max_retries + 1):
        try:
            return fn(), attempt + 1
        except TransientProviderError as exc:
            if attempt == policy.max_retries:
                raise RetriesExhausted(exc, attempt + 1) from exc
            wait = policy.delay(attempt, exc.retry_after)
            if on_retry is not None:
                on_retry(attempt + 1, wait, exc)
            policy.sleep(wait)
    raise AssertionError("unreachable")

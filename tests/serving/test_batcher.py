"""The worker's micro-batcher: concurrent carts share a model call, each keeps its own outcome."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from xpollinate.errors import XPError
from xpollinate.ranking.scorer import ScoreRequest
from xpollinate.serving.batcher import RankerBatcher


class CountingScorer:
    """Scores = candidate ids x 2; refuses a cart holding 0; records each call's size."""

    name = "counting"

    def __init__(self, broken: bool = False):
        self.calls: list[int] = []
        self.broken = broken

    def score_many(self, requests):
        self.calls.append(len(requests))
        if self.broken:
            raise RuntimeError("model exploded")
        return [
            XPError("empty cart") if 0 in list(r.cart_item_ids) else np.asarray(r.candidate_ids, float) * 2
            for r in requests
        ]


async def _client(batcher, scorer, i: int):
    await asyncio.sleep(0)  # like a request task that does some work before it scores
    return await batcher.score(scorer, ScoreRequest([i], [i, i + 1]))


def test_concurrent_requests_share_calls_and_keep_their_own_scores() -> None:
    scorer = CountingScorer()
    batcher = RankerBatcher(max_batch=8, on_batch=lambda n: None)

    async def main():
        return await asyncio.gather(*(_client(batcher, scorer, i) for i in range(1, 21)))

    results = asyncio.run(main())
    for i, r in enumerate(results, start=1):
        assert r.tolist() == [2 * i, 2 * (i + 1)]
    assert sum(scorer.calls) == 20 and max(scorer.calls) == 8  # batched, never above max_batch
    assert len(scorer.calls) == 3


def test_a_lone_request_is_scored_at_once() -> None:
    scorer = CountingScorer()

    async def main():
        return await RankerBatcher(max_batch=16).score(scorer, ScoreRequest([5], [7]))

    assert asyncio.run(main()).tolist() == [14.0] and scorer.calls == [1]


def test_a_refusal_is_that_requests_alone_and_a_failed_call_fails_its_batch() -> None:
    scorer, broken = CountingScorer(), CountingScorer(broken=True)
    batcher = RankerBatcher(max_batch=16)

    async def main():
        return await asyncio.gather(
            batcher.score(scorer, ScoreRequest([0], [1])),
            batcher.score(scorer, ScoreRequest([3], [4])),
            batcher.score(broken, ScoreRequest([3], [4])),
            return_exceptions=True,
        )

    refused, fine, failed = asyncio.run(main())
    assert isinstance(refused, XPError) and fine.tolist() == [8.0]
    assert isinstance(failed, RuntimeError) and "exploded" in str(failed)
    assert scorer.calls == [2] and broken.calls == [1]  # one call per scorer in the same drain


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        RankerBatcher(max_batch=0)

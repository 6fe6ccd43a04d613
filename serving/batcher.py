"""Continuous micro-batching of the trained ranker inside one worker's event loop.

A cart request builds its pool, then awaits its scores here. The first request to arrive
starts a drain: the batcher yields to the event loop a few times, so that every request
task already runnable (parsed while the previous model call held the loop) reaches the
queue, then scores up to `max_batch` of them in one `score_many` call, and repeats while
requests wait. Nothing waits on a timer: an idle worker scores a lone request at once, a
busy one batches what queued during its last call. This is where the trained ranker's
throughput comes from: the cart encoder's small matrix products are cheaper per cart in a
batch (`ranking.fast`): the paper's model scores 1.8x as many carts per second in batches of
8 as one at a time (`bench/ranker_bench.py`), and a served cart costs half the CPU.

The model call runs on the loop, as before batching: it is CPU work with no I/O, and each
worker process has its own core. Requests of different states (a reload swapped the
scorer mid-drain) are scored by their own scorer. A failed batch call fails each of its
requests with that exception (the caller serves the heuristic); one request's refusal
(`XPError`) is that request's alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from xpollinate.ranking.scorer import ScoreRequest


class BatchScorer(Protocol):
    name: str

    def score_many(self, requests: list[ScoreRequest]) -> list[np.ndarray | Exception]: ...


@dataclass
class _Waiting:
    scorer: BatchScorer
    request: ScoreRequest
    future: asyncio.Future = field(repr=False)


class RankerBatcher:
    """Per event loop: `await batcher.score(scorer, request)` -> that request's scores."""

    def __init__(self, max_batch: int = 16, yields: int = 4, on_batch: Callable[[int], None] | None = None):
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch, self.yields = max_batch, yields
        self.on_batch = on_batch  # called with each batch's size (metrics)
        self._waiting: list[_Waiting] = []
        self._draining = False

    async def score(self, scorer: BatchScorer, request: ScoreRequest) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(scorer, request, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                await self._gather()
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                for scorer, group in _by_scorer(batch):
                    self._run(scorer, group)
                await asyncio.sleep(0)  # let the scored requests answer before the next call
        finally:
            self._draining = False

    async def _gather(self) -> None:
        """Yield until no new request joined for two turns of the loop (or `yields` turns), or the batch is full."""
        still = 0
        for _ in range(self.yields):
            if len(self._waiting) >= self.max_batch:
                return
            before = len(self._waiting)
            await asyncio.sleep(0)
            still = still + 1 if len(self._waiting) == before else 0
            if still >= 2:
                return

    def _run(self, scorer: BatchScorer, group: list[_Waiting]) -> None:
        try:
            results = scorer.score_many([w.request for w in group])
        except Exception as exc:
            results = [exc] * len(group)
        if self.on_batch is not None:
            self.on_batch(len(group))
        for w, result in zip(group, results):
            if w.future.done():  # its client went away
                continue
            if isinstance(result, Exception):
                w.future.set_exception(result)
            else:
                w.future.set_result(result)


def _by_scorer(batch: list[_Waiting]) -> list[tuple[BatchScorer, list[_Waiting]]]:
    groups: dict[int, tuple[BatchScorer, list[_Waiting]]] = {}
    for w in batch:
        groups.setdefault(id(w.scorer), (w.scorer, []))[1].append(w)
    return list(groups.values())

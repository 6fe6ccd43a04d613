"""Per-anchor candidate lists held in memory: anchor id -> (item ids, scores), best first.

The one implementation of the lookups shared by the historical candidate table
(`retrieval.candidate_table`) and the item-XP lists the service reads (`serving.sources`).
"""

from __future__ import annotations

import numpy as np

_NO_CANDIDATES = (np.zeros(0, np.int64), np.zeros(0, np.float64))


class AnchorLists:
    """A candidate source (`ranking.pool.ArraySource`) over per-anchor arrays held in memory."""

    def __init__(self, lists: dict[int, tuple[np.ndarray, np.ndarray]]):
        self._lists = lists

    def __contains__(self, anchor_id: int) -> bool:
        return int(anchor_id) in self._lists

    def anchor_ids(self) -> list[int]:
        """Every anchor with a list."""
        return list(self._lists)

    def top_arrays(self, anchor_id: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(item ids, scores) of the anchor's top `k`, best first: views, no copy."""
        ids, scores = self._lists.get(int(anchor_id), _NO_CANDIDATES)
        return ids[:k], scores[:k]

    def top(self, anchor_id: int, k: int) -> list[tuple[int, float]]:
        ids, scores = self.top_arrays(anchor_id, k)
        return list(zip(ids.tolist(), scores.tolist()))

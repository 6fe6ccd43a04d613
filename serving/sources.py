"""Candidate sources of a cart pool: item-XP lists in memory, historical candidates behind them.

`ItemXPLists` holds every anchor's stored item-XP recommendations (the latest run that
finished it), read once from the item-XP store at start or reload. As a `CandidateSource`
it answers (item_id, combined score), best first, without the Poor band (combined below
`min_combined`), which the paper removes before ranking.

`LayeredSource` asks the item-XP lists first and, for an anchor with no item-XP entry,
the precomputed historical table (`ranking.candidate_table.HistoricalSource`). Scores keep
the scale of the source that answered (combined in [0, 1] vs shrunk lift); each pooled
candidate's anchor and source are reported, so a response says which path produced it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xpollinate.ranking.candidate_table import HistoricalSource
from xpollinate.xpstore.item_xp_store import ItemXPStore

ITEM_XP, HISTORICAL, POPULAR = "item_xp", "historical", "popular"


class ItemXPLists:
    """Every anchor's item-XP recommendations, in memory; a `CandidateSource` over them."""

    def __init__(self, recs: dict[int, list[dict[str, Any]]], min_combined: float = 0.4):
        self.recs = recs
        self._lists: dict[int, list[tuple[int, float]]] = {}
        for anchor, rows in recs.items():
            kept = [(int(r["item_id"]), float(r["combined"])) for r in rows if float(r["combined"]) >= min_combined]
            if kept:
                self._lists[int(anchor)] = kept

    @classmethod
    def load(cls, path: Path, min_combined: float = 0.4) -> "ItemXPLists":
        store = ItemXPStore(path)
        try:
            return cls(store.latest_recommendations(), min_combined)
        finally:
            store.close()

    @classmethod
    def empty(cls) -> "ItemXPLists":
        return cls({})

    def __len__(self) -> int:
        return len(self.recs)

    def __contains__(self, anchor_id: int) -> bool:
        return int(anchor_id) in self._lists

    def top(self, anchor_id: int, k: int) -> list[tuple[int, float]]:
        return self._lists.get(int(anchor_id), [])[:k]

    def stored(self, anchor_id: int) -> list[dict[str, Any]]:
        """All stored rows of an anchor (every band), ranked."""
        return self.recs.get(int(anchor_id), [])


class LayeredSource:
    """Item-XP candidates where an anchor has them, historical candidates otherwise."""

    def __init__(self, item_xp: ItemXPLists, historical: HistoricalSource):
        self.item_xp, self.historical = item_xp, historical

    def origin(self, anchor_id: int) -> str | None:
        if anchor_id in self.item_xp:
            return ITEM_XP
        if anchor_id in self.historical:
            return HISTORICAL
        return None

    def top(self, anchor_id: int, k: int) -> list[tuple[int, float]]:
        hit = self.item_xp.top(anchor_id, k)
        return hit if hit else self.historical.top(anchor_id, k)


def popular_gm(n_baskets: np.ndarray, is_gm: np.ndarray, item_ids: np.ndarray, n: int = 500) -> np.ndarray:
    """The `n` most purchased GM items (ids, most purchased first): what an empty cart is shown."""
    rows = np.flatnonzero(is_gm & (n_baskets > 0))
    order = rows[np.lexsort((item_ids[rows], -n_baskets[rows]))][:n]
    return item_ids[order]

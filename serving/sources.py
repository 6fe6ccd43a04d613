"""Candidate sources of a cart pool: item-XP lists in memory, historical candidates behind them.

`ItemXPLists` holds every anchor's stored item-XP recommendations (the latest run that
finished it), read once from the item-XP store at start or reload. A stored list is Item XP:
the model's items and the historical (basket) items merged, each with its `source`. As a
`CandidateSource` it answers (item_id, combined score), best first, without the model's Poor
items (combined below `min_combined`), which the paper removes before ranking; historical
items stay whatever their score, since the baskets are their evidence. The lists are kept as
arrays (`top_arrays`, what the pool reads) and `top` gives the same as tuples.

`LayeredSource` asks the item-XP lists first and, for an anchor with no item-XP entry,
the precomputed historical table (`retrieval.candidate_table.HistoricalSource`). Scores keep
the scale of the source that answered (combined in [0, 1] vs shrunk lift); each pooled
candidate's anchor and source are reported, so a response says which path produced it.
A serving state compiles it once (`compile`: a `ranking.candidate_index.CandidateIndex`
with the same lists) so that a request looks all its anchors up at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xpollinate.judges.bands import POOR_BELOW
from xpollinate.ranking.candidate_index import CandidateIndex
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.retrieval.candidate_lists import AnchorLists
from xpollinate.retrieval.candidate_table import HistoricalSource
from xpollinate.xpstore.item_xp_store import ItemXPStore

ITEM_XP, HISTORICAL, POPULAR = "item_xp", "historical", "popular"


class ItemXPLists(AnchorLists):
    """Every anchor's item-XP recommendations, in memory; a `CandidateSource` over them."""

    def __init__(self, recs: dict[int, list[dict[str, Any]]], min_combined: float = POOR_BELOW):
        self.recs = recs
        lists: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for anchor, rows in recs.items():
            kept = [r for r in rows if float(r["combined"]) >= min_combined or r.get("source", "llm") != "llm"]
            if kept:
                lists[int(anchor)] = (
                    np.array([int(r["item_id"]) for r in kept], dtype=np.int64),
                    np.array([float(r["combined"]) for r in kept], dtype=np.float64),
                )
        super().__init__(lists)

    @classmethod
    def load(cls, path: Path, min_combined: float = POOR_BELOW) -> ItemXPLists:
        store = ItemXPStore(path)
        try:
            return cls(store.latest_recommendations(), min_combined)
        finally:
            store.close()

    @classmethod
    def empty(cls) -> ItemXPLists:
        return cls({})

    def __len__(self) -> int:
        return len(self.recs)

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

    def anchor_ids(self) -> list[int]:
        """Every anchor either layer answers."""
        return self.item_xp.anchor_ids() + self.historical.anchor_ids()

    def compile(self, catalog: CatalogView, k: int) -> CandidateIndex:
        """This source's top `k` of every anchor as one `CandidateIndex` (what a serving state asks)."""
        return CandidateIndex.compile(self, self.anchor_ids(), catalog, k, origin=self.origin)

    def top_arrays(self, anchor_id: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        if anchor_id in self.item_xp:
            return self.item_xp.top_arrays(anchor_id, k)
        return self.historical.top_arrays(anchor_id, k)

    def top(self, anchor_id: int, k: int) -> list[tuple[int, float]]:
        ids, scores = self.top_arrays(anchor_id, k)
        return list(zip(ids.tolist(), scores.tolist()))


def popular_gm(n_baskets: np.ndarray, is_gm: np.ndarray, item_ids: np.ndarray, n: int = 500) -> np.ndarray:
    """The `n` most purchased GM items (ids, most purchased first): what an empty cart is shown."""
    rows = np.flatnonzero(is_gm & (n_baskets > 0))
    order = rows[np.lexsort((item_ids[rows], -n_baskets[rows]))][:n]
    return item_ids[order]

"""The graph's matcher: recommendation texts -> catalog items as graph `Match` records.

It adapts `retrieval.matcher.SemanticMatcher` (which knows nothing of the graph's records):
free text is matched semantically (top k, then `expand` similar items per matched product
type), a recommendation naming a catalog product type gets that type's most purchased items.
`similarity` is always the cosine between the recommendation and the item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xpollinate.records import Match
from xpollinate.retrieval.matcher import Match as CatalogHit
from xpollinate.retrieval.matcher import SemanticMatcher


@dataclass(frozen=True)
class CatalogMatcher:
    matcher: SemanticMatcher

    def match_recommendations(self, texts: Sequence[str], k: int, expand: int) -> list[list[Match]]:
        """Per text, the top `k` items plus `expand` similar items per matched PT (from the PT and its neighbours)."""
        if not texts:
            return []
        vectors = self.matcher.embed_memo(texts)
        found = self.matcher.search(vectors, k)
        if expand > 0:
            found = self.matcher.expand(found, per_pt=expand, neighbour_pts=self.matcher.neighbour_pts)
        return [self._records(q, hits) for q, hits in zip(vectors, found)]

    def match_product_types(self, texts: Sequence[str], product_types: Sequence[str], k: int) -> list[list[Match]]:
        """Per (recommendation, catalog product type), that type's `k` most purchased items: a grounded pick's exact match."""
        if not texts:
            return []
        vectors = self.matcher.embed_memo(texts)
        return [self._records(q, self.matcher.most_purchased(pt, k)) for q, pt in zip(vectors, product_types)]

    def _records(self, query: np.ndarray, hits: list[CatalogHit]) -> list[Match]:
        sims = self.matcher.item_vectors([h.item_id for h in hits]) @ query if hits else np.array([])
        return [
            Match(
                rec_id="",
                item_id=h.item_id,
                item_text=h.text,
                product_type=h.product_type,
                similarity=round(float(s), 6),
                rank=h.rank,
                expanded=h.expanded,
                category=h.category,
            )
            for h, s in zip(hits, sims)
        ]

"""The semantic matcher: recommendation texts -> GM catalog items, with similar-item expansion.

All queries are embedded in one batch and searched in one exact FAISS call over the
catalog index's distinct texts; each text hit lists its items most purchased first
until k items. Only indexed items come back, and the index holds GM items only.

Expansion adds, for each product type (PT) a query matched, the items nearest to its
best match within that PT and within the PTs next to it: the PTs whose centroids
(mean item vector, normalised) are closest to the matched PT's in the same space.
Expanded items carry their provenance (`source_item_id`, `via`).

FAISS runs on one OpenMP thread by default: on 2 cores, 2 threads made small
searches ~10x slower (see `bench/matcher_bench.py`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import Literal

import numpy as np

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.catalog_index import CatalogIndex, IndexScope
from xpollinate.retrieval.embedder import DEFAULT_MODEL, embed, embed_memo

Via = Literal["query", "same_pt", "neighbour_pt"]


@dataclass(frozen=True)
class Match:
    """A catalog item for a query. `score` is the cosine similarity to the query for direct
    matches, and to the source match for expanded items. `rank` is 1-based within the query's list."""

    item_id: int
    score: float
    product_type: str
    text: str
    rank: int
    expanded: bool = False
    source_item_id: int | None = None
    via: Via = "query"
    category: str = ""


class SemanticMatcher:
    """Queries against one catalog index. Thread-compatible for reads (FAISS search is re-entrant)."""

    def __init__(self, index: CatalogIndex, *, threads: int = 1, neighbour_pts: int = 1) -> None:
        self.index = index
        self.threads = threads
        self.neighbour_pts = neighbour_pts  # how many neighbouring product types an expansion visits
        self._items = index.items
        self._text_row = index.text_row
        self._item_ids = self._items["item_id"].to_numpy()
        self._pts = self._items["product_type"].to_numpy(dtype=str)
        self._texts = self._items["text"].to_numpy(dtype=str)
        self._categories = self._items["category"].to_numpy(dtype=str)
        # Item rows grouped by text, each group most purchased first (items are stored in that order).
        order = np.argsort(self._text_row, kind="stable")
        self._text_items = np.split(order, np.flatnonzero(np.diff(self._text_row[order])) + 1)
        self._neighbour_cache: dict[str, tuple[str, ...]] = {}

    @classmethod
    def open(
        cls,
        store: DataStore,
        model: str = DEFAULT_MODEL,
        scope: IndexScope = IndexScope(),
        home: Path | None = None,
        **options: int,
    ) -> SemanticMatcher:
        """The matcher over the built index for the store's current build (an error names the
        command that builds it)."""
        return cls(CatalogIndex.open(store, model, scope, home), **options)

    @property
    def model(self) -> str:
        return self.index.model

    def embed(self, queries: Sequence[str]) -> np.ndarray:
        """Query vectors in one batch, with the index's model."""
        return embed(list(queries), name=self.model)

    def embed_memo(self, queries: Sequence[str]) -> np.ndarray:
        """Query vectors through the process-wide memo (the graph embeds the same texts elsewhere)."""
        return embed_memo(list(queries), name=self.model)

    # --- direct matches ------------------------------------------------------------------------

    def match(self, queries: Sequence[str], k: int = 10, allowed: Collection[int] | None = None) -> list[list[Match]]:
        """Up to `k` items per query, best first; `allowed` (item ids) restricts the catalog."""
        if not queries:
            return []
        return self.search(self.embed(queries), k, allowed)

    def search(self, vectors: np.ndarray, k: int, allowed: Collection[int] | None = None) -> list[list[Match]]:
        """`match` for query vectors already computed (one FAISS call for all of them)."""
        import faiss

        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        mask = self._allowed_mask(allowed)
        faiss.omp_set_num_threads(self.threads)
        if mask is None:
            n_texts = len(self.index.vectors)
            scores, rows = self.index.faiss_index.search(
                np.ascontiguousarray(vectors, dtype=np.float32), min(k, n_texts)
            )
        else:
            text_rows = np.unique(self._text_row[mask]).astype(np.int64)
            if len(text_rows) == 0:
                return [[] for _ in range(len(vectors))]
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(text_rows))  # type: ignore[call-arg]  # SWIG keyword
            scores, rows = self.index.faiss_index.search(
                np.ascontiguousarray(vectors, dtype=np.float32), min(k, len(text_rows)), params=params
            )
        results = []
        for q_scores, q_rows in zip(scores, rows):
            hits = [(int(r), float(s)) for r, s in zip(q_rows, q_scores) if r >= 0]
            hits.sort(key=lambda h: -h[1])  # stable: FAISS order for equal scores
            picked = self._items_of_texts(hits, k, mask, exclude=set())
            results.append([self._match(row, score, rank) for rank, (row, score) in enumerate(picked, start=1)])
        return results

    # --- similar-item expansion ------------------------------------------------------------------

    def expand(
        self,
        matches: list[list[Match]],
        per_pt: int = 2,
        neighbour_pts: int = 1,
        allowed: Collection[int] | None = None,
    ) -> list[list[Match]]:
        """Each query's list followed by, for every matched PT (its best match is the source),
        up to `per_pt` items of that PT nearest to the source, then up to `per_pt` items from
        each of the `neighbour_pts` nearest other PTs. Items already listed are skipped."""
        mask = self._allowed_mask(allowed)
        out: list[list[Match]] = []
        for found in matches:
            listed = list(found)
            seen = {self.index.row_of[m.item_id] for m in found}
            sources: dict[str, Match] = {}
            for m in found:
                if not m.expanded:
                    sources.setdefault(m.product_type, m)
            for pt, source in sources.items():
                src_row = self.index.row_of[source.item_id]
                targets = [("same_pt", pt)] + [("neighbour_pt", p) for p in self.neighbour_pts_of(pt, neighbour_pts)]
                for via, target in targets:
                    for row, score in self._nearest_in_pt(target, src_row, per_pt, mask, seen):
                        seen.add(row)
                        listed.append(self._match(row, score, len(listed) + 1, source.item_id, via))  # type: ignore[arg-type]
            out.append(listed)
        return out

    def pt_row(self, product_type: str) -> int:
        """The row of `product_type` in `pt_centroids`; KeyError if the index holds none of its items."""
        return self._pt_index[product_type]

    def neighbour_pts_of(self, product_type: str, n: int) -> list[str]:
        """The `n` product types whose centroids are nearest to this one's (itself excluded)."""
        if n <= 0 or product_type not in self._pt_index:
            return []
        return list(self._neighbours(product_type)[:n])

    @cached_property
    def _pt_names(self) -> np.ndarray:
        return np.unique(self._pts)

    @cached_property
    def _pt_index(self) -> dict[str, int]:
        return {str(p): i for i, p in enumerate(self._pt_names)}

    @cached_property
    def _pt_rows(self) -> list[np.ndarray]:
        """Item rows per PT, most purchased first."""
        codes = np.searchsorted(self._pt_names, self._pts)
        order = np.argsort(codes, kind="stable")
        return np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)

    @cached_property
    def pt_centroids(self) -> np.ndarray:
        """Mean item vector per PT (rows follow `_pt_names`), L2-normalised."""
        codes = np.searchsorted(self._pt_names, self._pts)
        sums = np.zeros((len(self._pt_names), self.index.vectors.shape[1]), dtype=np.float64)
        np.add.at(sums, codes, self.index.vectors[self._text_row])
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def _neighbours(self, product_type: str) -> tuple[str, ...]:
        """All other PTs by centroid cosine to `product_type`, nearest first (cached per PT)."""
        if product_type not in self._neighbour_cache:
            c = self.pt_centroids
            i = self._pt_index[product_type]
            order = np.argsort(-(c @ c[i]), kind="stable")
            self._neighbour_cache[product_type] = tuple(str(self._pt_names[j]) for j in order if j != i)
        return self._neighbour_cache[product_type]

    def _nearest_in_pt(
        self, product_type: str, src_row: int, limit: int, mask: np.ndarray | None, seen: set[int]
    ) -> list[tuple[int, float]]:
        """Items of one PT nearest to the source item's vector, skipping `seen` and disallowed rows."""
        if limit <= 0 or product_type not in self._pt_index:
            return []
        rows = self._pt_rows[self._pt_index[product_type]]
        text_rows = np.unique(self._text_row[rows])
        scores = self.index.vectors[text_rows] @ self.index.vectors[self._text_row[src_row]]
        order = np.argsort(-scores, kind="stable")
        hits = [(int(text_rows[i]), float(scores[i])) for i in order]
        in_pt = np.zeros(len(self._items), dtype=bool)
        in_pt[rows] = True
        allowed_here = in_pt if mask is None else in_pt & mask
        return self._items_of_texts(hits, limit, allowed_here, exclude=seen)

    # --- shared helpers ----------------------------------------------------------------------------

    def _items_of_texts(
        self, hits: list[tuple[int, float]], limit: int, mask: np.ndarray | None, exclude: set[int]
    ) -> list[tuple[int, float]]:
        """Walk text hits best first, listing each text's items most purchased first, up to `limit`."""
        return list(islice(self._walk(hits, mask, exclude), limit))

    def _walk(
        self, hits: list[tuple[int, float]], mask: np.ndarray | None, exclude: set[int]
    ) -> Iterator[tuple[int, float]]:
        for text_row, score in hits:
            for row in self._text_items[text_row]:
                if row in exclude or (mask is not None and not mask[row]):
                    continue
                yield int(row), score

    def _allowed_mask(self, allowed: Collection[int] | None) -> np.ndarray | None:
        if allowed is None:
            return None
        return np.isin(self._item_ids, np.fromiter((int(i) for i in allowed), dtype=np.int64))

    def _match(self, row: int, score: float, rank: int, source: int | None = None, via: Via = "query") -> Match:
        return Match(
            item_id=int(self._item_ids[row]),
            score=round(score, 6),
            product_type=str(self._pts[row]),
            text=str(self._texts[row]),
            rank=rank,
            expanded=source is not None,
            source_item_id=source,
            via=via,
            category=str(self._categories[row]),
        )

    # --- item-level helpers for callers that build their own records (the item-XP graph) ------------

    def item_vectors(self, item_ids: Sequence[int]) -> np.ndarray:
        """The vectors of indexed items (their texts'), one row per id."""
        rows = [self.index.row_of[int(i)] for i in item_ids]
        return (
            self.index.vectors[self._text_row[rows]] if rows else np.zeros((0, self.index.vectors.shape[1]), np.float32)
        )

    def most_purchased(self, product_type: str, k: int) -> list[Match]:
        """The `k` most purchased indexed items of a product type (none for a type the index does not hold)."""
        if product_type not in self._pt_index:
            return []
        rows = self._pt_rows[self._pt_index[product_type]][:k]
        return [self._match(int(r), 1.0, rank) for rank, r in enumerate(rows, start=1)]

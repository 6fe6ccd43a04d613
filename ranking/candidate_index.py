"""Every anchor's candidate list compiled into flat arrays: the pool's per-request lookups in a few numpy calls.

A cart's pool needs the top-k candidates of its ~17 grocery items, each candidate's
catalog row (for its product type) and the source that answered each anchor. Asking a
layered source anchor by anchor costs a Python call and a dict lookup per anchor, and
the candidates' rows a binary search over the whole catalog per request. The service
compiles the sources once per state instead (`CandidateIndex.compile`, ~0.2 s for the
41k anchors of the historical table): anchors sorted by id, their lists concatenated
(CSR offsets), the rows and each anchor's origin stored beside them. `pairs` then answers
a whole cart with one binary search over the anchors and one gather.

It is an `ArraySource` (`top_arrays`, `top`, `in`), so `build_pool` and the heuristic
take it like any other source, and give the same pool and scores as the sources it was
compiled from (tested); lists are cut at the `k` it was compiled with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.pool import AnchorPairs, ArraySource, Ids, sorted_lookup


@dataclass(frozen=True)
class CandidateIndex:
    """Anchor id -> its top `k` (item id, score, catalog row), best first, with the name of the source that answered."""

    k: int
    anchor_ids: np.ndarray  # int64, sorted
    offsets: np.ndarray  # int64, len(anchor_ids) + 1: anchor a's list is [offsets[a], offsets[a + 1])
    origin_codes: np.ndarray  # int8 per anchor: index into `origins`
    origins: tuple[str, ...]
    item_ids: np.ndarray  # int64
    scores: np.ndarray  # float64
    item_rows: np.ndarray  # int64 catalog rows of the items (-1: not in the catalog)

    @classmethod
    def compile(
        cls,
        source: ArraySource,
        anchors: Iterable[int],
        catalog: CatalogView,
        k: int,
        origin: Callable[[int], str | None] | None = None,
        default_origin: str = "source",
    ) -> CandidateIndex:
        """Read every anchor's top `k` from `source` once; `origin(anchor)` names the layer that answered it."""
        anchor_ids = np.unique(np.fromiter((int(a) for a in anchors), dtype=np.int64))
        ids: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        names: dict[str, int] = {}
        codes = np.zeros(len(anchor_ids), dtype=np.int8)
        kept = np.ones(len(anchor_ids), dtype=bool)
        for pos, anchor in enumerate(anchor_ids.tolist()):
            i, s = source.top_arrays(anchor, k)
            name = origin(anchor) if origin is not None else default_origin
            if name is None:  # the source does not hold this anchor after all
                kept[pos] = False
                continue
            codes[pos] = names.setdefault(name, len(names))
            ids.append(np.asarray(i, dtype=np.int64))
            scores.append(np.asarray(s, dtype=np.float64))
        if len(names) > 127:
            raise ValueError(f"CandidateIndex: {len(names)} source names; at most 127")
        lengths = np.array([len(i) for i in ids], dtype=np.int64)
        flat_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        return cls(
            k=k,
            anchor_ids=anchor_ids[kept],
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            origin_codes=codes[kept],
            origins=tuple(names),
            item_ids=flat_ids,
            scores=np.concatenate(scores) if scores else np.zeros(0, np.float64),
            item_rows=catalog.rows(flat_ids),
        )

    def __len__(self) -> int:
        return len(self.anchor_ids)

    def __contains__(self, anchor_id: int) -> bool:
        return bool(sorted_lookup(self.anchor_ids, np.array([int(anchor_id)], dtype=np.int64))[1][0])

    def origin_names(self, anchors: Ids) -> list[str | None]:
        """The source that answered each anchor (None: no list)."""
        pos, hit = sorted_lookup(self.anchor_ids, np.asarray(anchors, dtype=np.int64))
        origins = self.origins
        return [origins[c] if h else None for c, h in zip(self.origin_codes[pos].tolist(), hit.tolist())]

    def origin(self, anchor_id: int) -> str | None:
        return self.origin_names(np.array([int(anchor_id)], dtype=np.int64))[0]

    def pairs(self, anchors: np.ndarray, k: int) -> AnchorPairs:
        """Every anchor's top `k` (at most the compiled k), concatenated in anchor order, with the items' rows."""
        anchors = np.asarray(anchors, dtype=np.int64)
        pos, hit = sorted_lookup(self.anchor_ids, anchors)
        start = self.offsets[pos]
        n = np.where(hit, np.minimum(self.offsets[pos + 1] - start, k), 0)
        before = np.cumsum(n) - n
        total = int(before[-1] + n[-1]) if len(n) else 0
        idx = np.arange(total, dtype=np.int64) + np.repeat(start - before, n)
        return AnchorPairs(
            self.item_ids[idx],
            self.scores[idx],
            np.repeat(np.arange(len(anchors), dtype=np.int64), n),
            self.item_rows[idx],
        )

    def top_arrays(self, anchor_id: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        p = self.pairs(np.array([int(anchor_id)], dtype=np.int64), k)
        return p.item_ids, p.scores

    def top(self, anchor_id: int, k: int) -> list[tuple[int, float]]:
        ids, scores = self.top_arrays(anchor_id, k)
        return list(zip(ids.tolist(), scores.tolist()))

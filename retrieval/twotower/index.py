"""FAISS maximum-inner-product search over the item embeddings, exact or approximate,
with filtering after search (STARS' ANN-then-filter serving).

`exact` is an `IndexFlatIP`; `hnsw` an `IndexHNSWFlat` with inner-product metric. A
filter (GM only, an allowed list of item ids, in-stock items...) is applied to the
search results: the index is asked for more neighbours than needed (`overfetch`) and,
if the filter leaves fewer than k, asked again with twice as many, up to the whole
catalog; past that (an approximate index returns fewer results than asked for), the
allowed items are scored exactly. A filtered search always returns k allowed items when
k exist. A frequent filter can get an approximate index of its own (`add_partition`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from xpollinate.errors import XPError

IndexKind = Literal["exact", "hnsw"]
KINDS = ("exact", "hnsw")


def set_threads(n: int) -> None:
    """OpenMP threads of FAISS (1 for single-query latency: 2 threads made single queries ~10x slower here)."""
    import faiss

    faiss.omp_set_num_threads(n)


class ItemIndex:
    """Inner-product search over float32 item vectors (rows = item rows of the catalog)."""

    def __init__(
        self,
        vectors: np.ndarray,
        kind: IndexKind = "exact",
        *,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 128,
    ) -> None:
        import faiss

        if kind not in KINDS:
            raise XPError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
        if vectors.ndim != 2 or len(vectors) == 0:
            raise XPError(f"cannot index item vectors of shape {vectors.shape}: need a non-empty 2-D array")
        self.kind = kind
        self.n, self.dim = vectors.shape
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.vectors = vectors
        self.index: faiss.Index
        if kind == "exact":
            self.index = faiss.IndexFlatIP(self.dim)
        else:
            hnsw = faiss.IndexHNSWFlat(self.dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = ef_construction
            hnsw.hnsw.efSearch = ef_search
            self.index = hnsw
        self.index.add(vectors)
        self._params = dict(hnsw_m=hnsw_m, ef_construction=ef_construction, ef_search=ef_search)
        self._partitions: dict[bytes, tuple[np.ndarray, ItemIndex]] = {}

    def add_partition(self, allowed: np.ndarray) -> None:
        """An index of its own (same kind) over the rows of a frequent, selective filter (GM only):
        post-filtering one HNSW graph loses the allowed items that sit deep in the ranking (recall
        0.59 for GM here), and an exact index would re-fetch several times; searching the allowed
        rows' own index avoids both."""
        key = np.packbits(allowed).tobytes()
        if key not in self._partitions:
            rows = np.flatnonzero(allowed)
            self._partitions[key] = (rows, ItemIndex(self.vectors[rows], self.kind, **self._params))  # type: ignore[arg-type]

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, overfetch: int = 4
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (len(queries), k); rows -1 where fewer than k allowed items exist.

        `allowed`: a boolean mask over item rows, applied after search."""
        if k < 1:
            raise XPError(f"k={k}: ask for at least one item")
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise XPError(f"query dimension {queries.shape[1]} does not match the index ({self.dim})")
        if allowed is not None and allowed.shape != (self.n,):
            raise XPError(f"the filter mask has shape {allowed.shape}; expected ({self.n},)")
        if allowed is not None and self._partitions:
            part = self._partitions.get(np.packbits(allowed).tobytes())
            if part is not None:
                rows, sub = part
                scores, found = sub.search(queries, k)
                return scores, np.where(found >= 0, rows[np.maximum(found, 0)], -1)
        n_allowed = self.n if allowed is None else int(allowed.sum())
        want = min(k, n_allowed)
        fetch = min(self.n, k if allowed is None else max(k * overfetch, k))
        scores_out = np.full((len(queries), k), -np.inf, np.float32)
        rows_out = np.full((len(queries), k), -1, np.int64)
        todo = np.arange(len(queries))
        while len(todo):
            scores, rows = self.index.search(queries[todo], fetch)
            ok = rows >= 0
            if allowed is not None:
                ok &= allowed[np.maximum(rows, 0)]
            done = ok.sum(1) >= want
            if fetch >= self.n and not done.all():
                self._exact_subset(queries[todo[~done]], todo[~done], k, allowed, scores_out, rows_out)
                done[:] = True
            for qi in np.flatnonzero(done & (ok.sum(1) >= want)):
                keep = np.flatnonzero(ok[qi])[:k]
                rows_out[todo[qi], : len(keep)] = rows[qi, keep]
                scores_out[todo[qi], : len(keep)] = scores[qi, keep]
            todo = todo[~done]
            fetch = min(self.n, fetch * 2)
        return scores_out, rows_out

    def _exact_subset(
        self,
        queries: np.ndarray,
        slots: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        scores_out: np.ndarray,
        rows_out: np.ndarray,
    ) -> None:
        """Brute-force inner product over the allowed rows (the last resort of a very selective filter)."""
        rows = np.flatnonzero(allowed) if allowed is not None else np.arange(self.n)
        scores = queries @ self.vectors[rows].T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        for i, slot in enumerate(slots):
            rows_out[slot, : top.shape[1]] = rows[top[i]]
            scores_out[slot, : top.shape[1]] = scores[i, top[i]]


def recall_at_k(
    approx: np.ndarray,
    exact: np.ndarray,
    approx_scores: np.ndarray | None = None,
    exact_scores: np.ndarray | None = None,
    tol: float = 1e-5,
) -> float:
    """Mean share of the exact top-k that the approximate search found (padding -1 ignored).

    With scores, ties count: an approximate result whose score reaches the exact k-th score
    is a hit even if the exact search listed another item with that same score (many
    catalog items share a text and thus a vector; which of them fills the last slots is
    arbitrary in both searches)."""
    hits = []
    for q, (a, e) in enumerate(zip(approx, exact)):
        n = max(1, int((e >= 0).sum()))
        if approx_scores is None or exact_scores is None:
            hits.append(len(set(a[a >= 0]) & set(e[e >= 0])) / n)
        else:
            kth = exact_scores[q][e >= 0].min() if (e >= 0).any() else np.inf
            hits.append(min(n, int(((approx_scores[q] >= kth - tol) & (a >= 0)).sum())) / n)
    return float(np.mean(hits)) if hits else 0.0


def round_robin(*lists: np.ndarray, k: int) -> np.ndarray:
    """Interleave candidate lists (one row per query) round-robin, skipping duplicates and -1; (Q, k)."""
    out = np.full((lists[0].shape[0], k), -1, np.int64)
    for q in range(lists[0].shape[0]):
        seen: set[int] = set()
        merged: list[int] = []
        for pos in range(max(lst.shape[1] for lst in lists)):
            for lst in lists:
                if pos < lst.shape[1] and lst[q, pos] >= 0 and int(lst[q, pos]) not in seen:
                    seen.add(int(lst[q, pos]))
                    merged.append(int(lst[q, pos]))
            if len(merged) >= k:
                break
        out[q, : min(k, len(merged))] = merged[:k]
    return out

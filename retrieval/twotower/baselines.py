"""Non-learned baselines for the held-out next baskets, on the same split and scope:
popularity, previous purchases (strong for grocery: households rebuy), and item-KNN
over basket co-occurrence (cosine of co-purchase counts)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from xpollinate.retrieval.twotower.sequences import Sequences

KNN_CHUNK = 128


def _top_allowed(order: np.ndarray, allowed: np.ndarray | None, k: int) -> np.ndarray:
    if allowed is not None:
        order = order[allowed[order]]
    out = np.full(k, -1, np.int64)
    out[: min(k, len(order))] = order[:k]
    return out


def popularity(counts: np.ndarray, n_queries: int, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """The same most-purchased list (training baskets) for everyone."""
    order = np.argsort(-counts, kind="stable")
    return np.tile(_top_allowed(order, allowed, k), (n_queries, 1))


def _fill(first: np.ndarray, fallback: np.ndarray, k: int) -> np.ndarray:
    seen = set(first.tolist())
    rest = [r for r in fallback if r >= 0 and r not in seen]
    return np.array([*first.tolist(), *rest][:k] + [-1] * max(0, k - len(first) - len(rest)), np.int64)


def history_rows(seq: Sequences, baskets: np.ndarray) -> list[np.ndarray]:
    """All item rows the household bought before each basket, oldest first."""
    out = []
    for b in baskets:
        lo = seq.basket_start[seq.household_first[b]]
        out.append(seq.stream[lo : seq.basket_start[b]])
    return out


def previous_purchases(
    seq: Sequences, baskets: np.ndarray, counts: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> np.ndarray:
    """The household's own items, most often bought first (ties: most recent), then popularity."""
    fallback = _top_allowed(np.argsort(-counts, kind="stable"), allowed, k)
    ranked = np.full((len(baskets), k), -1, np.int64)
    for q, hist in enumerate(history_rows(seq, baskets)):
        if allowed is not None:
            hist = hist[allowed[hist]]
        if len(hist):
            items, inv = np.unique(hist, return_inverse=True)
            freq = np.bincount(inv)
            last = np.zeros(len(items), np.int64)
            np.maximum.at(last, inv, np.arange(len(hist)))
            own = items[np.lexsort((-last, -freq))][:k]
        else:
            own = np.zeros(0, np.int64)
        ranked[q] = _fill(own, fallback, k)
    return ranked


class ItemKNN:
    """Item-item cosine similarity of co-purchase counts over training baskets."""

    def __init__(self, seq: Sequences, train_baskets: np.ndarray, n_items: int) -> None:
        lengths = seq.basket_end[train_baskets] - seq.basket_start[train_baskets]
        rows = np.repeat(np.arange(len(train_baskets)), lengths)
        starts = np.repeat(seq.basket_start[train_baskets], lengths)
        cols = seq.stream[starts + np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)]
        x = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(train_baskets), n_items))
        x.data[:] = 1.0
        co = (x.T @ x).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        norm = np.sqrt(np.asarray(x.sum(0)).ravel())
        inv = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
        self.sim = (sp.diags(inv) @ co @ sp.diags(inv)).astype(np.float32).tocsr()
        self.n = n_items

    def rank(
        self, seq: Sequences, baskets: np.ndarray, counts: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> np.ndarray:
        fallback = _top_allowed(np.argsort(-counts, kind="stable"), allowed, k)
        hists = history_rows(seq, baskets)
        ranked = np.full((len(baskets), k), -1, np.int64)
        for start in range(0, len(baskets), KNN_CHUNK):
            chunk = hists[start : start + KNN_CHUNK]
            indptr = np.r_[0, np.cumsum([len(h) for h in chunk])]
            h = sp.csr_matrix(
                (np.ones(indptr[-1], np.float32), np.concatenate(chunk) if chunk else [], indptr),
                shape=(len(chunk), self.n),
            )
            scores = (h @ self.sim).toarray()
            if allowed is not None:
                scores[:, ~allowed] = 0.0
            top = np.argpartition(-scores, min(k, self.n - 1), axis=1)[:, :k]
            for i, row in enumerate(top):
                row = row[np.argsort(-scores[i, row], kind="stable")]
                ranked[start + i] = _fill(row[scores[i, row] > 0], fallback, k)
        return ranked

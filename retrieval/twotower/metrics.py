"""Top-K retrieval metrics over held-out baskets (binary relevance), as in STARS' evaluation.

Recall@K = hits in the top K / relevant items; NDCG@K with binary gains; Hit@K = at least
one hit; Coverage@K = distinct items recommended in anyone's top K / catalog items in scope.
"""

from __future__ import annotations

import numpy as np

from xpollinate.metrics import hits, ndcg, recall

KS = (5, 10, 20)


def topk_metrics(
    ranked: np.ndarray, targets: list[np.ndarray], n_items: int, ks: tuple[int, ...] = KS
) -> dict[str, float]:
    """`ranked` (Q, >=max(ks)) item rows (-1 = empty slot); `targets` one array of relevant rows per query."""
    if len(targets) != len(ranked):
        raise ValueError(f"{len(ranked)} ranked lists but {len(targets)} target sets")
    if ranked.shape[1] < max(ks):
        raise ValueError(f"ranked lists hold {ranked.shape[1]} items; need {max(ks)}")
    out: dict[str, float] = {"queries": float(len(ranked))}
    hit = hits(ranked, targets, max(ks))
    n_rel = np.array([len(t) for t in targets], np.float64)
    ideal = (np.arange(max(ks))[None, :] < n_rel[:, None]).astype(np.float64)  # every relevant item first
    for k in ks:
        h = hit[:, :k]
        out[f"Recall@{k}"] = float(np.mean(recall(h, n_rel)))
        out[f"NDCG@{k}"] = float(np.mean(ndcg(h, ideal, k)))
        out[f"Hit@{k}"] = float(np.mean(h.any(1)))
        top = ranked[:, :k]
        out[f"Coverage@{k}"] = float(len(np.unique(top[top >= 0])) / max(n_items, 1))
    return out

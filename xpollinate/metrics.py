"""NDCG@k with graded (here binary) relevance, the hits of ranked lists against relevant sets, and the
spread over seeds: the one implementation the cart ranker, the two-tower evaluation, the judge
calibration and GroCLM's set metrics share.

`dcg(gains, k)` sums each row's gains in rank order over the log2 position discount; NDCG
divides by the DCG of the same gains sorted best first (the ideal order).
"""

from __future__ import annotations

import numpy as np


def discounts(k: int) -> np.ndarray:
    """1 / log2(position + 1) for positions 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2))


def dcg(gains: np.ndarray, k: int) -> np.ndarray:
    """DCG@k of each row of `gains` (rows in rank order; shorter rows count as padded with zeros)."""
    g = np.atleast_2d(np.asarray(gains, dtype=np.float64))[:, :k]
    return g @ discounts(k)[: g.shape[1]]


def ndcg(ranked_gains: np.ndarray, ideal_gains: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k per row: DCG of the ranking over DCG of the ideal ranking (`ideal_gains` sorted best first);
    0 where no relevant item exists."""
    ideal = dcg(ideal_gains, k)
    return np.divide(dcg(ranked_gains, k), ideal, out=np.zeros_like(ideal), where=ideal > 0)


def hits(ranked: np.ndarray, targets: list[np.ndarray], k: int) -> np.ndarray:
    """(Q, k) booleans: whether each of the first k entries of each ranked row is in its relevant set (-1 is an
    empty slot, never a hit)."""
    if len(targets) != len(ranked):
        raise ValueError(f"{len(ranked)} ranked lists but {len(targets)} target sets")
    top = np.asarray(ranked)[:, :k]
    out = np.zeros(top.shape, bool)
    for q, t in enumerate(targets):
        out[q] = np.isin(top[q], t) & (top[q] >= 0)
    return out


def recall(hit: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Per row: hits over relevant items (0 for a row with none)."""
    return hit.sum(1) / np.maximum(np.asarray(n_relevant, np.float64), 1)


def mean_sd(values: object) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of a run's repeats; sd is NaN for a single value and
    both are NaN for none (a spread of one seed is unknown, not zero)."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else float("nan")

"""NDCG@k with binary relevance over each cart's candidate pool (XP paper 3.2, Table 8)."""

from __future__ import annotations

import numpy as np

from xpollinate.metrics import ndcg

KS = (2, 4, 6)


def ndcg_at_k(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """NDCG@k of one ranked list; -inf/NaN scores rank last, ties broken by position (stable)."""
    s = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-s, kind="stable")[:k]
    gains = np.asarray(labels, dtype=np.float64)
    return float(ndcg(gains[order], np.sort(gains)[::-1], k)[0])


def ndcg_table(score_lists: list[np.ndarray], label_lists: list[np.ndarray], ks: tuple[int, ...] = KS) -> np.ndarray:
    """[n_examples, len(ks)] NDCG values."""
    return np.array([[ndcg_at_k(s, y, k) for k in ks] for s, y in zip(score_lists, label_lists)], dtype=np.float64)


def lift(value: float, baseline: float) -> float:
    """Relative lift in percent over the baseline."""
    return 100.0 * (value - baseline) / baseline if baseline else float("nan")

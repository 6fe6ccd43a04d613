"""NDCG@k with binary relevance over each cart's candidate pool (XP paper 3.2, Table 8)."""

from __future__ import annotations

import numpy as np

KS = (2, 4, 6)


def ndcg_at_k(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """NDCG@k of one ranked list; -inf/NaN scores rank last, ties broken by position (stable)."""
    s = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-s, kind="stable")[:k]
    gains = labels[order].astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, len(order) + 2))
    dcg = float((gains * discounts).sum())
    ideal = np.sort(labels.astype(np.float64))[::-1][:k]
    idcg = float((ideal * discounts[: len(ideal)]).sum())
    return dcg / idcg if idcg > 0 else 0.0


def ndcg_table(score_lists: list[np.ndarray], label_lists: list[np.ndarray], ks: tuple[int, ...] = KS) -> np.ndarray:
    """[n_examples, len(ks)] NDCG values."""
    return np.array([[ndcg_at_k(s, y, k) for k in ks] for s, y in zip(score_lists, label_lists)], dtype=np.float64)


def lift(value: float, baseline: float) -> float:
    """Relative lift in percent over the baseline."""
    return 100.0 * (value - baseline) / baseline if baseline else float("nan")

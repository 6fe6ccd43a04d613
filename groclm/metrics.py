"""Precision, recall and F1 at k of ranked category lists against true category sets (the paper's Tables 2-5).

The paper scores predictions and truth as sets: P@k = hits in the top k / k, R@k = hits / true categories,
F1@k = 2 P R / (P + R) (0 when both are 0), each per basket, then averaged over baskets. Hits come from the
shared `xpollinate.metrics`, and so is the mean ± sd (ddof=1) over seeds.
"""

from __future__ import annotations

import numpy as np

from xpollinate.metrics import hits, recall

KS = (5, 10, 20)


def set_metrics(ranked: np.ndarray, targets: list[np.ndarray], ks: tuple[int, ...] = KS) -> dict[str, float]:
    """{'p@5': ..., 'r@5': ..., 'f1@5': ..., ...}: means over rows of `ranked` (N, >= max(ks))."""
    if len(ranked) == 0:
        raise ValueError("no ranked lists to score")
    if ranked.shape[1] < max(ks):
        raise ValueError(f"ranked lists hold {ranked.shape[1]} categories; need {max(ks)}")
    hit = hits(ranked, targets, max(ks))
    n_true = np.array([len(t) for t in targets], np.float64)
    out: dict[str, float] = {}
    for k in ks:
        h = hit[:, :k]
        p = h.sum(1) / k
        r = recall(h, n_true)
        f1 = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=(p + r) > 0)
        out[f"p@{k}"], out[f"r@{k}"], out[f"f1@{k}"] = float(p.mean()), float(r.mean()), float(f1.mean())
    return out

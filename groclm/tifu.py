"""TIFU-KNN (Hu et al., SIGIR 2020, "Modeling Personalized Item Frequency Information for Next-basket
Recommendation") on category vectors: the strongest simple next-basket baseline, which GroCLM must beat.

A household's vector sums its baskets' 0/1 category vectors with two time decays (the paper's equations):
the history, oldest first, is cut into `groups` consecutive groups of near-equal size (the later groups take
the extra baskets, as the authors' code does; a history shorter than `groups` gives one group per basket);
inside a group of m baskets the j-th (1-based) weighs r_b^(m-j) / m, and group i of g weighs r_g^(g-i) / g,
so the latest basket of the latest group weighs most. The prediction blends the household's vector with the
mean vector of its `neighbours` nearest households (Euclidean): alpha * own + (1 - alpha) * neighbours.

Neighbours are the other households' vectors over the training weeks (the household itself is left out);
a household's own vector uses its whole history before the basket. Defaults are the authors' settings for
Dunnhumby (the Complete Journey's publisher; tuned there on items, not categories): 900 neighbours,
r_b = 0.9, r_g = 0.6, 3 groups, alpha = 0.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from xpollinate.groclm.baskets import CategoryBaskets

CHUNK = 1024  # examples per distance block


class TifuParams(BaseModel):
    """TIFU-KNN's settings (defaults: the authors' for Dunnhumby)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    neighbours: int = Field(900, ge=1, description="k nearest households blended in")
    within_decay: float = Field(0.9, ge=0, le=1, description="r_b: decay of baskets inside a group")
    group_decay: float = Field(0.6, ge=0, le=1, description="r_g: decay of groups")
    groups: int = Field(3, ge=1, description="groups the history is cut into")
    alpha: float = Field(0.2, ge=0, le=1, description="weight of the household's own vector")


def decay_weights(n: int, params: TifuParams) -> np.ndarray:
    """The weight of each of `n` baskets (oldest first) in the household's vector."""
    if n == 0:
        return np.zeros(0)
    g = min(params.groups, n)
    base, extra = divmod(n, g)
    sizes = [base] * (g - extra) + [base + 1] * extra
    parts = []
    for i, m in enumerate(sizes):
        within = params.within_decay ** np.arange(m - 1, -1, -1, dtype=np.float64) / m
        parts.append(within * params.group_decay ** (g - 1 - i) / g)
    return np.concatenate(parts)


def household_vector(cb: CategoryBaskets, start: int, end: int, params: TifuParams) -> np.ndarray:
    """The decayed category-frequency vector of rows [start, end) (one household, time order)."""
    w = decay_weights(end - start, params)
    return np.asarray(cb.matrix[start:end].T @ w).ravel()


@dataclass(frozen=True)
class NeighbourPool:
    """Every household's vector over the training weeks: the neighbours to blend."""

    households: np.ndarray  # (H,)
    vectors: np.ndarray  # (H, C)

    @classmethod
    def build(cls, cb: CategoryBaskets, until_week: int, params: TifuParams) -> NeighbourPool:
        ids, rows = [], []
        for h, (start, end) in cb.households().items():
            stop = start + int(np.searchsorted(cb.week[start:end], until_week, side="right"))
            if stop > start:
                ids.append(h)
                rows.append(household_vector(cb, start, stop, params))
        vectors = np.vstack(rows) if rows else np.zeros((0, cb.n_categories))
        return cls(np.asarray(ids, np.int64), vectors)


def tifu_scores(
    cb: CategoryBaskets, history: np.ndarray, household: np.ndarray, pool: NeighbourPool, params: TifuParams
) -> np.ndarray:
    """(N, C) TIFU-KNN scores of examples with history rows `history` (N, 2) of households `household`."""
    own = np.vstack([household_vector(cb, int(s), int(e), params) for s, e in history]) if len(history) else None
    if own is None:
        return np.zeros((0, cb.n_categories))
    k = min(params.neighbours, len(pool.households) - 1)
    if k < 1 or params.alpha == 1:
        return own
    pool_sq = (pool.vectors**2).sum(1)
    blended = np.empty_like(own)
    for lo in range(0, len(own), CHUNK):
        u = own[lo : lo + CHUNK]
        d2 = (u**2).sum(1)[:, None] + pool_sq[None, :] - 2 * u @ pool.vectors.T
        d2[household[lo : lo + CHUNK, None] == pool.households[None, :]] = np.inf  # not oneself
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        mask = np.zeros_like(d2)
        np.put_along_axis(mask, nearest, 1.0 / k, axis=1)
        blended[lo : lo + CHUNK] = params.alpha * u + (1 - params.alpha) * (mask @ pool.vectors)
    return blended

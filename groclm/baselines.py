"""Non-LM baselines for GroCLM's tasks: each scores every category for every example and returns its top k.

- `popularity`: training-week baskets holding the category (the same list for everyone);
- `top_frequency`: the household's own baskets holding the category, ties to the most recent; households
  with fewer than `min_history` earlier baskets get the popularity list (counted as fallbacks);
- `rebuy_due`: the household's rebuy rate (share of its earlier baskets holding the category) times the
  probability that the category's cycle has elapsed, Phi((days since last purchase - cycle mean) / cycle sd)
  (sd: the cycle mean where the category's sd is unknown; a category with no cycle counts as half due);
  fallbacks as `top_frequency`;
- `tifu_knn`: `groclm.tifu`.

Every list holds k distinct categories: scores tie-break on popularity, then on the category's index, so the
categories a household never bought follow in popularity order. No baseline reads the in-basket task's
given half yet; the LM will (its prompt's current-session context).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.special import ndtr

from xpollinate.groclm.baskets import CategoryBaskets
from xpollinate.groclm.rebuy import Cycles, cycle_stats
from xpollinate.groclm.tasks import Examples
from xpollinate.groclm.tifu import NeighbourPool, TifuParams, tifu_scores

BASELINES = ("popularity", "top_frequency", "rebuy_due", "tifu_knn")


@dataclass(frozen=True)
class Ranked:
    """A baseline's top-k categories per example, and how many examples fell back to popularity."""

    categories: np.ndarray  # (N, k)
    fallbacks: int = 0
    info: dict[str, Any] | None = None  # model-specific counts (the LM's invalid and duplicate rates, timing)


def top_k(scores: np.ndarray, k: int, popularity: np.ndarray) -> np.ndarray:
    """(N, k) category indices by score, then popularity, then index (all descending but the index); beyond the
    C categories the slots are empty (-1), so P@k of a k larger than the vocabulary counts them as misses."""
    n, c = scores.shape
    if k < 1:
        raise ValueError(f"k={k}: choose at least 1")
    order = np.lexsort((np.broadcast_to(-popularity, (n, c)), -scores), axis=-1)[:, :k]
    return order if k <= c else np.hstack([order, np.full((n, k - c), -1, order.dtype)])


class Baseline(Protocol):
    @property
    def name(self) -> str: ...

    def rank(self, ex: Examples, k: int) -> Ranked: ...


@dataclass(frozen=True)
class Popularity:
    popularity: np.ndarray
    name: str = "popularity"

    def rank(self, ex: Examples, k: int) -> Ranked:
        return Ranked(top_k(np.zeros((len(ex), len(self.popularity))), k, self.popularity))


def _too_short(ex: Examples, min_history: int) -> np.ndarray:
    return ex.n_history < min_history


@dataclass(frozen=True)
class TopFrequency:
    popularity: np.ndarray
    min_history: int = 1
    name: str = "top_frequency"

    def rank(self, ex: Examples, k: int) -> Ranked:
        recency = np.where(np.isnan(ex.since), 0.0, 1.0 / (2.0 + np.nan_to_num(ex.since)))  # in (0, 0.5]: ties only
        scores = ex.counts + recency
        short = _too_short(ex, self.min_history)
        scores[short] = 0.0
        return Ranked(top_k(scores, k, self.popularity), int(short.sum()))


@dataclass(frozen=True)
class RebuyDue:
    popularity: np.ndarray
    cycles: Cycles
    min_history: int = 1
    name: str = "rebuy_due"

    def due(self, since: np.ndarray) -> np.ndarray:
        """Probability that each category's cycle has elapsed after `since` days (0.5 without a cycle)."""
        mean, sd = self.cycles.mean, self.cycles.sd
        sd = np.where(np.isfinite(sd) & (sd > 0), sd, np.maximum(np.nan_to_num(mean), 1.0))
        return np.where(np.isnan(mean), 0.5, ndtr((since - np.nan_to_num(mean)) / sd))

    def rank(self, ex: Examples, k: int) -> Ranked:
        rate = ex.counts / np.maximum(ex.n_history, 1)[:, None]
        scores = np.where(np.isnan(ex.since), 0.0, rate * self.due(np.nan_to_num(ex.since)))
        short = _too_short(ex, self.min_history)
        scores[short] = 0.0
        return Ranked(top_k(scores, k, self.popularity), int(short.sum()))


@dataclass(frozen=True)
class TifuKNN:
    cb: CategoryBaskets
    pool: NeighbourPool
    popularity: np.ndarray
    params: TifuParams
    name: str = "tifu_knn"

    def rank(self, ex: Examples, k: int) -> Ranked:
        scores = tifu_scores(self.cb, ex.history, ex.household, self.pool, self.params)
        return Ranked(top_k(scores, k, self.popularity))


def popularity(cb: CategoryBaskets, until_week: int) -> np.ndarray:
    """Training-week baskets holding each category."""
    return np.asarray(cb.matrix[cb.week <= until_week].sum(0)).ravel()


def make_baselines(
    cb: CategoryBaskets, train_until: int, min_history: int = 1, tifu: TifuParams | None = None
) -> list[Baseline]:
    """Every baseline fitted on weeks 1-`train_until`, in the order of BASELINES."""
    pop = popularity(cb, train_until)
    cycles = Cycles.from_stats(cycle_stats(cb, train_until), cb.n_categories)
    params = tifu or TifuParams()
    return [
        Popularity(pop),
        TopFrequency(pop, min_history),
        RebuyDue(pop, cycles, min_history),
        TifuKNN(cb, NeighbourPool.build(cb, train_until, params), pop, params),
    ]

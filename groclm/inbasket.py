"""Baselines for the in-basket task (paper Appendix A) that read the basket's given half.

- `cooccurrence`: for each category c, the mean over the given categories g of P(c | g), the share of the
  training-week baskets holding g that also hold c;
- `cooc_personal`: that score plus `weight` times the household's own rate of c (the share of its earlier
  baskets holding it), so a household's staples rank above what merely goes with the given half.

Nothing is excluded: the hidden half may repeat a given item's category (the target is what the hidden
items are), so a given category stays a candidate, as in the paper. Ties go to popularity (`top_k`).
Households with fewer than `min_history` earlier baskets get the co-occurrence score alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xpollinate.errors import XPError
from xpollinate.groclm.baselines import Ranked, popularity, top_k
from xpollinate.groclm.baskets import CategoryBaskets
from xpollinate.groclm.tasks import Examples


def cooccurrence_matrix(cb: CategoryBaskets, until_week: int) -> np.ndarray:
    """(C, C) P(column | row) over the training-week baskets (rows of never-bought categories are zero)."""
    x = cb.matrix[cb.week <= until_week].astype(np.float64)
    both = np.asarray((x.T @ x).todense())
    held = np.diag(both).copy()
    return both / np.maximum(held, 1.0)[:, None]


@dataclass(frozen=True)
class CoOccurrence:
    """P(c | given half), optionally blended with the household's own rate of c."""

    conditional: np.ndarray  # (C, C) from `cooccurrence_matrix`
    popularity: np.ndarray
    weight: float = 0.0  # 0: co-occurrence alone
    min_history: int = 1

    @property
    def name(self) -> str:
        return "cooccurrence" if self.weight == 0 else "cooc_personal"

    def scores(self, ex: Examples) -> np.ndarray:
        if ex.given is None:
            raise XPError(f"{self.name} reads the basket's given half: it scores the in-basket task only")
        scores = np.zeros((len(ex), self.conditional.shape[0]))
        for i, given in enumerate(ex.given):
            if len(given):
                scores[i] = self.conditional[np.asarray(given, np.int64)].mean(0)
        if self.weight:
            rate = ex.counts / np.maximum(ex.n_history, 1)[:, None]
            rate[ex.n_history < self.min_history] = 0.0
            scores += self.weight * rate
        return scores

    def rank(self, ex: Examples, k: int) -> Ranked:
        return Ranked(top_k(self.scores(ex), k, self.popularity), int((ex.n_history < self.min_history).sum()))


class CoOccurrenceFactory:
    """The co-occurrence matrix and popularity of weeks 1-`train_until`, computed once; models by weight."""

    def __init__(self, cb: CategoryBaskets, train_until: int, min_history: int = 1) -> None:
        self.conditional, self.popularity = cooccurrence_matrix(cb, train_until), popularity(cb, train_until)
        self.min_history = min_history

    def __call__(self, weight: float) -> CoOccurrence:
        if weight < 0:
            raise XPError(f"the personal weight must be 0 or more, got {weight}")
        return CoOccurrence(self.conditional, self.popularity, weight, self.min_history)


def inbasket_baselines(
    cb: CategoryBaskets, train_until: int, weight: float = 1.0, min_history: int = 1
) -> list[CoOccurrence]:
    """The two in-basket baselines fitted on weeks 1-`train_until`: co-occurrence alone, and blended."""
    make = CoOccurrenceFactory(cb, train_until, min_history)
    if weight <= 0:
        raise XPError(f"the personal weight must be positive (0 is cooccurrence alone), got {weight}")
    return [make(0.0), make(weight)]

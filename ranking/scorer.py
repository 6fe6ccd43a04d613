"""What scores a cart's candidates: the `CartScorer` protocol and the non-neural scorers.

Serving contract (stable: the HTTP service builds on it)::

    class CartScorer(Protocol):
        name: str
        def score(self, cart_item_ids, candidate_ids, household_id=None, platform=None) -> np.ndarray

`score` returns one float per candidate, aligned with `candidate_ids`, higher is better.
A candidate the scorer cannot represent (an id not in the catalog, or with no
embedding) gets `-inf`, so it sorts last and is never shown ahead of a real score.
Cart ids not in the catalog are skipped. `household_id=None` means an anonymous
shopper (persona all zeros); `platform` is the store id (unknown -> a shared bucket).

Scorers here: `HeuristicScorer`, the paper's "production" baseline (3.2: persona scores
plus the importance of the cart's product types by their distinct item counts,
regardless of order), and `PopularityScorer`. `load_ranker(home)` returns the trained
neural ranker saved in the run directory (`ranking.artifacts`), or None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.persona import PersonaTable
from xpollinate.ranking.pool import CandidateSource, as_ids, distinct_in_order, gather_pairs


@runtime_checkable
class CartScorer(Protocol):
    name: str

    def score(
        self, cart_item_ids: Sequence[int], candidate_ids: Sequence[int], household_id: int | None = None,
        platform: int | None = None,
    ) -> np.ndarray: ...


class PopularityScorer:
    """Candidates by how many baskets bought them (counted over the weeks it was given)."""

    name = "popularity"

    def __init__(self, catalog: CatalogView, basket_counts: np.ndarray | None = None):
        self.catalog = catalog
        self.counts = catalog.n_baskets.astype(np.float64) if basket_counts is None else basket_counts.astype(np.float64)

    def score(self, cart_item_ids, candidate_ids, household_id=None, platform=None) -> np.ndarray:
        rows = self.catalog.rows(candidate_ids)
        return np.where(rows >= 0, np.log1p(self.counts[np.maximum(rows, 0)]), -np.inf)


class HeuristicScorer:
    """The paper's production ranker, as 3.2 describes it.

    Each cart product type weighs as many as its distinct items in the cart; a candidate
    inherits the total weight of the cart items (anchors) whose candidate lists hold it.
    That weight is multiplied by (1 + the shopper's persona propensity for the candidate's
    category), and the candidate source's own score breaks ties. Cart order is ignored.
    """

    name = "heuristic"

    def __init__(self, catalog: CatalogView, source: CandidateSource, persona: PersonaTable, per_anchor: int = 30):
        self.catalog, self.source, self.persona, self.per_anchor = catalog, source, persona, per_anchor
        self._columns = persona.category_columns(catalog)  # category -> persona column, once, not per request

    def score(self, cart_item_ids, candidate_ids, household_id=None, platform=None) -> np.ndarray:
        cart = distinct_in_order(as_ids(cart_item_ids))
        rows = self.catalog.rows(cart)
        cart, rows = cart[rows >= 0], rows[rows >= 0]
        # Each cart PT weighs as many as its distinct cart items; the grocery items are the anchors.
        _, pt_inverse, pt_count = np.unique(self.catalog.pt_code[rows], return_inverse=True, return_counts=True)
        grocery = self.catalog.is_grocery[rows]
        anchor_weight = pt_count[pt_inverse][grocery].astype(np.float64)
        pairs = gather_pairs(cart[grocery].tolist(), self.source, self.per_anchor)
        listed, inverse = np.unique(pairs.item_ids, return_inverse=True)
        weight = np.bincount(inverse, weights=anchor_weight[pairs.anchor_pos], minlength=len(listed))
        best = np.full(len(listed), -np.inf)
        np.maximum.at(best, inverse, pairs.scores)
        cand = as_ids(candidate_ids)
        w, s = np.zeros(len(cand)), np.zeros(len(cand))
        if len(listed):
            pos = np.minimum(np.searchsorted(listed, cand), len(listed) - 1)
            hit = listed[pos] == cand
            w[hit], s[hit] = weight[pos[hit]], best[pos[hit]]
        cand_rows = self.catalog.rows(cand)
        affinity = self.persona.category_affinity(household_id, cand_rows, self._columns)
        out = w * (1.0 + affinity) + 1e-3 * np.tanh(s / 10.0)
        return np.where(cand_rows >= 0, out, -np.inf)


def load_ranker(home: Path | None = None) -> "CartScorer | None":
    """The trained neural ranker in the run directory (`xp ranker train`), or None if none was saved."""
    from xpollinate.ranking.artifacts import load_current

    return load_current(home)

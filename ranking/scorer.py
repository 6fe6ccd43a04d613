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
regardless of order), and `PopularityScorer`. A scorer may also offer
`score_pool(cart_item_ids, pool, household_id=None, platform=None)`: the same scores for
`pool.item_ids`, reusing what `build_pool` already computed (the service calls it when
present; the heuristic has it). `load_ranker(home)` returns the trained
neural ranker saved in the run directory (`ranking.artifacts`), or None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from xpollinate.errors import XPError
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.persona import PersonaTable
from xpollinate.ranking.pool import (
    PER_ANCHOR,
    CandidatePool,
    CandidateSource,
    Ids,
    as_ids,
    distinct_in_order,
    gather_pairs,
)


@dataclass(frozen=True)
class ScoreRequest:
    """One cart's scoring request, as `CartScorer.score` takes it (a batching scorer's `score_many` takes several)."""

    cart_item_ids: Sequence[int] | np.ndarray
    candidate_ids: Sequence[int] | np.ndarray
    household_id: int | None = None
    platform: int | None = None
    # The candidates' rows in the scorer's own catalog (-1: not in it), when the caller has them already
    # (the service's pool): saves a binary search over the whole catalog per request.
    candidate_rows: np.ndarray | None = None


@runtime_checkable
class CartScorer(Protocol):
    name: str

    def score(
        self,
        cart_item_ids: Ids,
        candidate_ids: Ids,
        household_id: int | None = None,
        platform: int | None = None,
    ) -> np.ndarray: ...


class PopularityScorer:
    """Candidates by how many baskets bought them (counted over the weeks it was given)."""

    name = "popularity"

    def __init__(self, catalog: CatalogView, basket_counts: np.ndarray | None = None):
        self.catalog = catalog
        self.counts = (
            catalog.n_baskets.astype(np.float64) if basket_counts is None else basket_counts.astype(np.float64)
        )

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

    def __init__(
        self, catalog: CatalogView, source: CandidateSource, persona: PersonaTable, per_anchor: int = PER_ANCHOR
    ):
        self.catalog, self.source, self.persona, self.per_anchor = catalog, source, persona, per_anchor
        self._columns = persona.category_columns(catalog)  # category -> persona column, once, not per request

    def score(self, cart_item_ids, candidate_ids, household_id=None, platform=None) -> np.ndarray:
        anchors, weights = self._anchor_weights(cart_item_ids)
        pairs = gather_pairs(anchors.tolist(), self.source, self.per_anchor)
        cand = as_ids(candidate_ids)
        return self._score(
            pairs.item_ids, weights[pairs.anchor_pos], pairs.scores, cand, self.catalog.rows(cand), household_id
        )

    def score_pool(self, cart_item_ids, pool: CandidatePool, household_id=None, platform=None) -> np.ndarray:
        """`score(cart, pool.item_ids)` from the pairs `build_pool` already gathered for this cart (no second lookup).

        `pool` must come from `build_pool(cart, <this scorer's source>, <its catalog>, per_anchor=<its per_anchor>)`,
        as in the service. Its pairs lack only the cart's own items, which are never its candidates: same scores.
        """
        anchors, weights = self._anchor_weights(cart_item_ids)
        weight_of = dict(zip(anchors.tolist(), weights.tolist()))
        try:
            pool_weights = np.array([weight_of[a] for a in pool.anchors_used], dtype=np.float64)
        except KeyError as exc:
            raise XPError(f"score_pool: the pool's anchor {exc} is not a grocery item of this cart") from None
        # The pool grouped the pairs by item already: the weights are one bincount, the best pair score its score.
        weight = np.bincount(pool.pair_union, weights=pool_weights[pool.pair_anchor_pos], minlength=pool.n_union)
        return self._combine(weight[pool.union_pos], pool.score_array, pool.item_rows, household_id)

    def _anchor_weights(self, cart_item_ids) -> tuple[np.ndarray, np.ndarray]:
        """The cart's grocery items (distinct, in cart order) and their weights: distinct cart items of their PT."""
        cart = distinct_in_order(as_ids(cart_item_ids))
        rows = self.catalog.rows(cart)
        cart, rows = cart[rows >= 0], rows[rows >= 0]
        codes = self.catalog.pt_code[rows]
        per_pt = np.bincount(codes)  # distinct cart items per product type (the cart is distinct already)
        grocery = self.catalog.is_grocery[rows]
        return cart[grocery], per_pt[codes[grocery]].astype(np.float64)

    def _score(
        self,
        pair_items: np.ndarray,
        pair_weights: np.ndarray,
        pair_scores: np.ndarray,
        cand: np.ndarray,
        cand_rows: np.ndarray,
        household_id: int | None,
    ) -> np.ndarray:
        """Candidate weight = sum of its pairs' anchor weights, x (1 + persona affinity), + its best pair score as a tie-break."""
        listed, inverse = np.unique(pair_items, return_inverse=True)
        weight = np.bincount(inverse, weights=pair_weights, minlength=len(listed))
        best = np.full(len(listed), -np.inf)
        np.maximum.at(best, inverse, pair_scores)
        w, s = np.zeros(len(cand)), np.zeros(len(cand))
        if len(listed):
            pos = np.minimum(np.searchsorted(listed, cand), len(listed) - 1)
            hit = listed[pos] == cand
            w[hit], s[hit] = weight[pos[hit]], best[pos[hit]]
        return self._combine(w, s, cand_rows, household_id)

    def _combine(
        self, weight: np.ndarray, best: np.ndarray, cand_rows: np.ndarray, household_id: int | None
    ) -> np.ndarray:
        """The one scoring formula: weight x (1 + persona affinity), + the best pair score as a tie-break."""
        affinity = self.persona.category_affinity(household_id, cand_rows, self._columns)
        out = weight * (1.0 + affinity) + 1e-3 * np.tanh(best / 10.0)
        return np.where(cand_rows >= 0, out, -np.inf)


def load_ranker(home: Path | None = None, run_id: str | None = None) -> CartScorer | None:
    """The CURRENT trained neural ranker in the run directory (`xp ranker train`), or saved run `run_id`; None if none."""
    from xpollinate.ranking.artifacts import load_current

    return load_current(home, run_id)

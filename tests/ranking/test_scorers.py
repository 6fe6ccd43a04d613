"""Heuristic and popularity scorers, metrics and losses."""

from __future__ import annotations

import math

import numpy as np
import torch

from tests.ranking.conftest import ScriptedSource
from xpollinate.ranking.losses import listwise_softmax, pairwise_hinge
from xpollinate.ranking.metrics import lift, ndcg_at_k
from xpollinate.ranking.persona import N_PERSONA, PersonaTable
from xpollinate.ranking.scorer import CartScorer, HeuristicScorer, PopularityScorer


def _persona() -> PersonaTable:
    return PersonaTable(np.array([1], dtype=np.int64), np.zeros((1, N_PERSONA), np.float32), ("",) * 47)


def test_heuristic_weights_cart_product_types_by_distinct_items(fixture_catalog) -> None:
    source = ScriptedSource({1: [(11, 1.0)], 2: [(11, 1.0)], 3: [(13, 9.0)]})
    h = HeuristicScorer(fixture_catalog, source, _persona())
    assert isinstance(h, CartScorer)
    s = h.score([1, 2, 3], [11, 13, 15, 999])
    # coffee has 2 distinct items in the cart, each an anchor of 11: 2 + 2 = 4 > buns' 1
    assert s[0] > s[1] > s[2] and s[3] == -math.inf
    # order of the cart does not matter
    assert np.allclose(h.score([3, 2, 1], [11, 13, 15]), s[:3])


def test_heuristic_uses_persona_propensity(fixture_catalog) -> None:
    cat = fixture_catalog.category[fixture_catalog.row(13)]
    scores = np.zeros((2, N_PERSONA), np.float32)
    scores[1, 17] = 0.9  # household 2 buys charcoal's category in 90% of its baskets
    persona = PersonaTable(np.array([1, 2]), scores, (cat,) + ("",) * 46)
    h = HeuristicScorer(fixture_catalog, ScriptedSource({1: [(11, 1.0)], 3: [(13, 1.0)]}), persona)
    plain = h.score([1, 3], [11, 13], household_id=1)
    fan = h.score([1, 3], [11, 13], household_id=2)
    assert plain[1] <= plain[0] + 1e-2 and fan[1] > fan[0]


def test_popularity_orders_by_counts(fixture_catalog) -> None:
    counts = np.zeros(len(fixture_catalog))
    counts[fixture_catalog.row(15)] = 50
    counts[fixture_catalog.row(16)] = 5
    s = PopularityScorer(fixture_catalog, counts).score([1], [16, 15, 424242])
    assert s[1] > s[0] and s[2] == -math.inf


def test_ndcg_and_lift() -> None:
    y = np.array([0, 1, 0, 1])
    assert ndcg_at_k(np.array([4.0, 3, 2, 1]), y, 2) == (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(np.array([0.0, 3, 0, 4]), y, 2) == 1.0
    assert ndcg_at_k(np.array([1.0, np.nan, 0, -np.inf]), y, 2) == 0.0
    assert lift(1.27, 1.0) == 27.000000000000004 or abs(lift(1.27, 1.0) - 27) < 1e-9


def test_losses_match_their_definitions() -> None:
    s = torch.tensor([[2.0, 1.0, -1.0, 0.0]])
    y = torch.tensor([[True, False, True, False]])
    m = torch.tensor([[True, True, True, False]])  # last one is padding
    logp = torch.log_softmax(s[0, :3] / 5.0, 0)
    assert torch.isclose(listwise_softmax(s, y, m, 5.0), -(logp[0] + logp[2]) / 2)
    # pairs (0,1): max(0, 5-1)=4 ; (2,1): max(0, 5+2)=7
    assert torch.isclose(pairwise_hinge(s, y, m, 5.0), torch.tensor(5.5))
    far = torch.tensor([[20.0, 1.0, 30.0, 0.0]])
    assert pairwise_hinge(far, y, m, 5.0) == 0

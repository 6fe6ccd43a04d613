"""Candidate pool: union per grocery anchor, cap by stratified sampling over PTs, anchors kept."""

from __future__ import annotations

import numpy as np

from tests.ranking.conftest import ScriptedSource
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.pool import CandidateSource, PoolConfig, build_pool, stratified_quotas

# fixture catalog: 1,2 ground coffee; 3 buns; 4 milk; 5 eggs (grocery); 11,12 coffee filters;
# 13 charcoal; 15 batteries; 16 gadgets (GM); 21 cigarettes (excluded)
LISTS = {
    1: [(11, 5.0), (12, 4.0), (16, 1.0)],
    3: [(13, 7.0), (16, 2.0)],
    4: [(15, 1.5), (11, 1.0)],
}


def test_pool_unions_grocery_anchors_and_keeps_best_anchor(fixture_catalog: CatalogView) -> None:
    source = ScriptedSource(LISTS)
    assert isinstance(source, CandidateSource)
    pool = build_pool([4, 1, 3, 15, 999], source, fixture_catalog)
    assert source.calls == [4, 1, 3]  # GM item 15 and unknown 999 are not anchors
    assert pool.skipped == [15, 999] and pool.anchors_used == [4, 1, 3]
    assert 15 not in pool.item_ids  # already in the cart
    assert pool.item_ids == [13, 11, 12, 16]  # by best score
    by_id = {c.item_id: c for c in pool.candidates}
    assert by_id[11].anchor_id == 1 and by_id[11].anchors == (4, 1)
    assert by_id[16].anchor_id == 3 and by_id[16].score == 2.0
    assert by_id[13].product_type == "CHARCOAL"


def test_per_anchor_limit(fixture_catalog: CatalogView) -> None:
    pool = build_pool([1], ScriptedSource(LISTS), fixture_catalog, PoolConfig(per_anchor=1))
    assert pool.item_ids == [11]


def test_cap_is_stratified_by_product_type_and_deterministic(fixture_catalog: CatalogView) -> None:
    # 3 coffee-filter-PT candidates (11, 12 and a duplicate-PT pair) vs single-PT ones
    lists = {1: [(11, 9.0), (12, 8.0), (13, 1.0), (15, 0.5), (16, 0.4)]}
    pool = build_pool([1], ScriptedSource(lists), fixture_catalog, PoolConfig(max_pool=4, seed=3))
    assert len(pool) == 4 and pool.n_union == 5
    again = build_pool([1], ScriptedSource(lists), fixture_catalog, PoolConfig(max_pool=4, seed=3))
    assert pool.item_ids == again.item_ids
    assert 11 in pool.item_ids  # the best of the largest stratum survives


def test_quotas_are_proportional_and_capped() -> None:
    rng = np.random.default_rng(0)
    q = stratified_quotas(np.array([100, 50, 50, 2]), 100, rng)
    assert q.sum() == 100 and (q <= [100, 50, 50, 2]).all()
    assert q[0] > q[1] and abs(q[1] - q[2]) <= 1
    assert stratified_quotas(np.array([3, 2]), 10, rng).tolist() == [3, 2]


def test_empty_cart_gives_empty_pool(fixture_catalog: CatalogView) -> None:
    pool = build_pool([], ScriptedSource(LISTS), fixture_catalog)
    assert len(pool) == 0 and pool.n_union == 0

"""The semantic matcher on the fixture catalog (real MiniLM embeddings, six GM items)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.retrieval_index.conftest import FIXTURE_GM_IDS
from xpollinate.catalog.store import DataStore
from xpollinate.records import Match as GraphMatch
from xpollinate.retrieval.matcher import SemanticMatcher


def test_coffee_filter_paper_ranks_the_coffee_filters_first(matcher: SemanticMatcher) -> None:
    coffee, charcoal, batteries = matcher.match(["coffee filter paper", "charcoal briquettes", "AA batteries"], k=3)
    assert {m.item_id for m in coffee[:2]} == {11, 12}
    assert charcoal[0].item_id == 13 and batteries[0].item_id == 15
    assert [m.rank for m in coffee] == [1, 2, 3]
    assert [m.score for m in coffee] == sorted((m.score for m in coffee), reverse=True)
    assert all(not m.expanded and m.via == "query" for m in coffee)


def test_only_gm_items_come_back(matcher: SemanticMatcher, fixture_store: DataStore) -> None:
    queries = ["ground coffee", "fluid milk", "cigarettes", "hot dog buns", "chocolate candy", "coupon"]
    results = matcher.match(queries, k=50)
    for found in results:
        assert {m.item_id for m in found} == FIXTURE_GM_IDS  # k beyond the catalog: every GM item, nothing else
    gm = set(fixture_store.items().query("is_gm")["item_id"])
    assert FIXTURE_GM_IDS <= gm


def test_scores_are_cosine_similarities(matcher: SemanticMatcher) -> None:
    [found] = matcher.match(["paper towels"], k=6)
    q = matcher.embed(["paper towels"])[0]
    vectors = matcher.index.item_vectors()
    for m in found:
        assert m.score == pytest.approx(float(vectors[matcher.index.row_of[m.item_id]] @ q), abs=1e-5)


def test_allowed_items_filter(matcher: SemanticMatcher) -> None:
    [found] = matcher.match(["coffee filter paper"], k=5, allowed={12, 13, 99})
    assert [m.item_id for m in found] == [12, 13]
    assert matcher.match(["coffee"], k=3, allowed=set()) == [[]]


def test_expansion_is_marked_and_stays_in_or_next_to_the_pt(matcher: SemanticMatcher) -> None:
    direct = matcher.match(["coffee filter paper", "charcoal"], k=1)
    expanded = matcher.expand(direct, per_pt=2, neighbour_pts=1)
    for before, after in zip(direct, expanded):
        assert after[: len(before)] == before
        extra = after[len(before) :]
        assert extra and all(m.expanded for m in extra)
        source = before[0]
        neighbours = matcher.neighbour_pts_of(source.product_type, 1)
        for m in extra:
            assert m.source_item_id == source.item_id
            if m.via == "same_pt":
                assert m.product_type == source.product_type
            else:
                assert m.via == "neighbour_pt" and m.product_type in neighbours
        ids = [m.item_id for m in after]
        assert len(ids) == len(set(ids))
        assert [m.rank for m in after] == list(range(1, len(after) + 1))
    coffee = expanded[0]
    assert [m.item_id for m in coffee if m.via == "same_pt"] == [12]  # the other coffee filter


def test_neighbour_pts_are_every_other_pt_once(matcher: SemanticMatcher) -> None:
    pts = set(matcher.index.items["product_type"])
    ranked = matcher.neighbour_pts_of("COFFEE FILTERS", len(pts))
    assert sorted(ranked) == sorted(pts - {"COFFEE FILTERS"})
    c = matcher.pt_centroids
    names = list(np.unique(matcher.index.items["product_type"]))
    sims = [float(c[names.index(p)] @ c[names.index("COFFEE FILTERS")]) for p in ranked]
    assert sims == sorted(sims, reverse=True)
    assert matcher.neighbour_pts_of("NO SUCH TYPE", 3) == []


def test_graph_entry_point(matcher: SemanticMatcher) -> None:
    from xpollinate.graphs.matching import CatalogMatcher

    texts = ["coffee filters", "charcoal grill"]
    graph_matcher = CatalogMatcher(matcher)
    out = graph_matcher.match_recommendations(texts, k=1, expand=1)
    assert len(out) == 2 and all(isinstance(m, GraphMatch) for m in out[0])
    assert out[0][0].item_id in {11, 12} and not out[0][0].expanded
    assert any(m.expanded for m in out[0])
    q = matcher.embed(texts)
    vectors = matcher.index.item_vectors()
    for qv, found in zip(q, out):
        for m in found:  # similarity is to the recommendation, expanded items included
            assert m.similarity == pytest.approx(float(vectors[matcher.index.row_of[m.item_id]] @ qv), abs=1e-5)
    assert graph_matcher.match_recommendations([], 3, 2) == []
    exact = graph_matcher.match_product_types(["coffee filters"], ["COFFEE FILTERS"], 3)[0]
    assert {m.item_id for m in exact} <= {11, 12} and all(m.product_type == "COFFEE FILTERS" for m in exact)

"""Matcher mechanics on a hand-made index (no model): ties by popularity, k over shared texts,
filters, expansion order and PT neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.retrieval_index.conftest import synthetic_index
from xpollinate.retrieval.matcher import SemanticMatcher

# Three texts in 3-d space; items 1-3 share text 0 (same vector), popularity decides their order.
VECTORS = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]])
ROWS = [  # (item_id, product_type, n_baskets, text_row)
    (1, "FILTERS", 5, 0),
    (2, "FILTERS", 40, 0),
    (3, "FILTERS", 5, 0),
    (4, "MUGS", 9, 1),
    (5, "MUGS", 1, 1),
    (6, "BATTERIES", 7, 2),
]


@pytest.fixture
def m(tmp_path: Path) -> SemanticMatcher:
    return SemanticMatcher(synthetic_index(ROWS, VECTORS, tmp_path))


def q(*v: float) -> np.ndarray:
    x = np.array([v], dtype=np.float32)
    return x / np.linalg.norm(x)


def test_identical_items_come_most_purchased_first_and_k_counts_items(m: SemanticMatcher) -> None:
    [found] = m.search(q(1, 0, 0), k=4)
    assert [x.item_id for x in found] == [2, 1, 3, 4]  # 40 baskets, then 5 (lower id), 5, then the next text
    assert [x.score for x in found[:3]] == [1.0, 1.0, 1.0]
    assert found[3].score == pytest.approx(0.8)


def test_k_larger_than_catalog_and_filters(m: SemanticMatcher) -> None:
    [found] = m.search(q(0, 0, 1), k=100)
    assert found[0].item_id == 6 and {x.item_id for x in found[1:]} == {1, 2, 3, 4, 5}  # the rest tie at 0
    [only] = m.search(q(1, 0, 0), k=3, allowed={5, 6})
    assert [x.item_id for x in only] == [5, 6]
    with pytest.raises(ValueError):
        m.search(q(1, 0, 0), k=0)


def test_expansion_within_pt_then_neighbour(m: SemanticMatcher) -> None:
    direct = m.search(q(1, 0, 0), k=1)  # item 2 (FILTERS)
    [out] = m.expand(direct, per_pt=1, neighbour_pts=1)
    assert [(x.item_id, x.via, x.source_item_id) for x in out] == [
        (2, "query", None),
        (1, "same_pt", 2),
        (4, "neighbour_pt", 2),
    ]
    assert m.neighbour_pts_of("FILTERS", 2) == ["MUGS", "BATTERIES"]
    [none] = m.expand(direct, per_pt=1, neighbour_pts=0)
    assert [x.via for x in none] == ["query", "same_pt"]
    [filtered] = m.expand(direct, per_pt=2, neighbour_pts=1, allowed={3, 5})
    assert [x.item_id for x in filtered] == [2, 3, 5]


def test_expansion_sources_are_the_best_match_of_each_pt(m: SemanticMatcher) -> None:
    direct = m.search(q(0.8, 0.6, 0.0), k=3)  # MUGS 4, 5 then FILTERS 2
    [out] = m.expand(direct, per_pt=1, neighbour_pts=0)
    extra = [(x.item_id, x.source_item_id) for x in out if x.expanded]
    assert extra == [(1, 2)]  # MUGS has no item left; FILTERS expands from its best match, item 2

"""The matcher on real Complete Journey items (weeks 1-8 slice): a category subset in the fast
suite, the full GM catalog in the slow one."""

from __future__ import annotations

from pathlib import Path

import pytest

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.catalog_index import IndexScope, build_index
from xpollinate.retrieval.matcher import SemanticMatcher

SUBSET = (
    "COFFEE FILTERS",
    "CHARCOAL AND LIGHTER FLUID",
    "BATTERIES",
    "FD WRAPS/BAGS/TRSH BG",
    "PAPER TOWELS",
    "KITCHEN GADGETS",
    "DISHWASH DETERGENTS",
    "CANDLES/ACCESSORIES",
)
# recommendation -> words one of which the top item's product type must contain
EXPECTED = {
    "coffee filters": ("COFFEE FILTERS",),
    "charcoal briquettes": ("CHARCOAL",),
    "lighter fluid": ("LIGHTER FLUID",),
    "AA batteries": ("BATTERIES",),
    "aluminum foil": ("ALUMINUM FOIL",),
    "trash bags": ("TRASH", "GARBAGE"),
    "paper towels": ("PAPER TOWELS",),
    "dishwasher detergent": ("DISH",),
    "scented candles": ("CANDLES",),
    "freezer bags": ("FREEZER BAGS",),
}


def _check(matcher: SemanticMatcher, real_store: DataStore, min_hits: int) -> None:
    queries = list(EXPECTED)
    results = matcher.match(queries, k=5)
    gm = set(real_store.items().query("is_gm")["item_id"])
    hits = 0
    for q, found in zip(queries, results):
        assert len(found) == 5 and {m.item_id for m in found} <= gm
        hits += any(word in found[0].product_type for word in EXPECTED[q])
    assert hits >= min_hits, [(q, f[0].product_type) for q, f in zip(queries, results)]


def test_real_subset(real_store: DataStore, tmp_path: Path) -> None:
    index, _ = build_index(real_store, scope=IndexScope(categories=SUBSET), home=tmp_path)
    assert set(index.items["category"]) <= set(SUBSET)
    assert index.manifest["n_texts"] < index.manifest["n_items"]  # identical texts embedded once
    matcher = SemanticMatcher(index)
    _check(matcher, real_store, min_hits=len(EXPECTED))
    [out] = matcher.expand(matcher.match(["coffee filters"], k=3), per_pt=3, neighbour_pts=2)
    same = [m for m in out if m.via == "same_pt"]
    assert same and all(m.product_type == "COFFEE FILTERS" for m in same)


@pytest.mark.slow
def test_real_full_gm_catalog(real_store: DataStore, tmp_path: Path) -> None:
    index, _ = build_index(real_store, home=tmp_path)
    items = real_store.items()
    assert index.manifest["n_items"] == int((items["is_gm"] & (items["n_baskets"] > 0)).sum()) > 5_000
    _check(SemanticMatcher(index), real_store, min_hits=len(EXPECTED) - 1)

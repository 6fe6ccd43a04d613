"""Anchor resolution and historical candidates, on the fixture and on real data."""

from pathlib import Path

import pandas as pd
import pytest

from xpollinate.catalog.anchors import resolve
from xpollinate.catalog.store import DataStore
from xpollinate.errors import UnknownAnchorError, XPError
from xpollinate.retrieval.associations import AssocConfig, build_associations
from xpollinate.retrieval.candidates import CandidateConfig, historical_candidates, shrunk_lift
from xpollinate.retrieval.mba import Thresholds

FIXTURE_ASSOC = AssocConfig(
    pt_basket=Thresholds(min_count=5), pt_window=Thresholds(min_count=5), semantic_top_k=3, semantic_min_similarity=0.3
)


@pytest.fixture(scope="module")
def fixture_assoc(fixture_store: DataStore, tmp_path_factory: pytest.TempPathFactory):
    return build_associations(fixture_store, FIXTURE_ASSOC, home=tmp_path_factory.mktemp("assoc"))[0]


def test_resolve_by_id_and_text(fixture_store: DataStore) -> None:
    items = fixture_store.items()
    assert resolve(items, "3")["product_type"] == "HOT DOG BUNS"
    assert resolve(items, " ground coffee ")["item_id"] in (1, 2)
    assert resolve(items, "eggs")["product_type"] == "EGGS - LARGE"  # plural matches singular
    assert resolve(items, "hot dog buns")["item_id"] == 3


def test_unknown_anchor_suggests_closest(fixture_store: DataStore) -> None:
    items = fixture_store.items()
    with pytest.raises(UnknownAnchorError) as info:
        resolve(items, "12345")
    assert "no item with id 12345" in str(info.value) and info.value.suggestions
    with pytest.raises(UnknownAnchorError) as info:
        resolve(items, "charcol")
    assert any("Charcoal" in s for s in info.value.suggestions)
    with pytest.raises(XPError, match="empty"):
        resolve(items, "   ")
    with pytest.raises(XPError, match="at most"):
        resolve(items, "x" * 500)


def test_fixture_candidates_follow_planted_associations(fixture_store: DataStore, fixture_assoc) -> None:
    items = fixture_store.items()
    coffee = historical_candidates(resolve(items, "1"), items, fixture_assoc)
    assert coffee.pt_associations.iloc[0]["product_type"] == "COFFEE FILTERS"
    assert coffee.items.iloc[0]["product_type"] == "COFFEE FILTERS"
    assert coffee.items["is_gm"].all()
    assert coffee.items["score"].is_monotonic_decreasing
    buns = historical_candidates(resolve(items, "hot dog buns"), items, fixture_assoc)
    assert buns.items.iloc[0]["product_type"] == "CHARCOAL"
    small = historical_candidates(resolve(items, "1"), items, fixture_assoc, CandidateConfig(max_candidates=1))
    assert len(small.items) == 1


def test_non_grocery_anchor_is_refused(fixture_store: DataStore, fixture_assoc) -> None:
    items = fixture_store.items()
    with pytest.raises(XPError, match="not grocery"):
        historical_candidates(resolve(items, "11"), items, fixture_assoc)


def test_associations_are_reused_and_keyed_by_settings(fixture_store: DataStore, tmp_path: Path) -> None:
    first, built = build_associations(fixture_store, FIXTURE_ASSOC, home=tmp_path)
    again, built_again = build_associations(fixture_store, FIXTURE_ASSOC, home=tmp_path)
    assert built and not built_again and again.path == first.path
    other, _ = build_associations(fixture_store, FIXTURE_ASSOC.model_copy(update={"window_weeks": 2}), home=tmp_path)
    assert other.path != first.path


def test_shrunk_lift() -> None:
    n_ab = pd.Series([3.0, 200.0, float("nan")])
    lift = pd.Series([60.0, 5.0, float("nan")])
    prior = pd.Series([2.0, 2.0, 2.0])
    score = shrunk_lift(n_ab, lift, prior, k=5.0)
    assert score[0] == pytest.approx((3 + 10) / (3 / 60 + 5))  # few pairs: pulled to the prior
    assert score[1] == pytest.approx((200 + 10) / (40 + 5))  # many pairs: near the raw lift
    assert score[2] == 2.0  # no item-level pair: the PT prior


@pytest.fixture(scope="module")
def real_assoc(real_store: DataStore, real_home: Path):
    return build_associations(real_store, AssocConfig(), home=real_home)[0]


def test_real_slice_coffee_gets_filters(real_store: DataStore, real_assoc) -> None:
    """On real baskets (weeks 1-8), ground coffee's historical candidates include coffee filters."""
    items = real_store.items()
    result = historical_candidates(resolve(items, "ground coffee"), items, real_assoc)
    assert "COFFEE FILTERS" in result.pt_associations["product_type"].head(3).tolist()
    assert "COFFEE FILTERS" in result.items["product_type"].head(10).tolist()


def test_semantic_pt_matching_real(real_assoc) -> None:
    sem = real_assoc.table("pt_semantic")
    coffee = sem[sem["antecedent"] == "GROUND COFFEE"]
    assert "COFFEE FILTERS" in coffee["consequent"].tolist()
    assert sem["similarity"].between(0.5, 1.0).all()

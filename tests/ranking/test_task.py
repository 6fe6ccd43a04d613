"""The ranking task on the fixture dataset: split, labels, context, no test-week leakage."""

from __future__ import annotations

import numpy as np
import pytest

from xpollinate.errors import XPError
from xpollinate.ranking.task import TaskConfig


def test_examples_have_positives_in_their_pool(fixture_task) -> None:
    train = fixture_task.split("train")
    assert len(train) > 20
    catalog = fixture_task.catalog
    for row in train.itertuples():
        labels = np.asarray(row.labels, dtype=bool)
        assert labels.any() and len(row.candidates) == len(labels) <= 300
        positives = set(np.asarray(row.candidates)[labels].tolist())
        assert all(catalog.is_gm[catalog.row(i)] for i in positives)
        assert not positives & set(row.cart)  # the targets are not in the context
        assert len(row.cart) <= 50 and row.n_context >= len(row.cart)
    weeks = fixture_task.meta["weeks"]
    assert weeks == {"train": [1, 8], "val": [9, 10], "test": [11, 12]}
    assert set(fixture_task.split("test")["week"]) <= {11, 12}


def test_candidate_statistics_use_training_weeks_only(fixture_task, rank_home) -> None:
    from xpollinate.retrieval.associations import Associations

    assoc = Associations(rank_home / "assoc" / fixture_task.meta["assoc"])
    assert assoc.meta["config"]["until_week"] == 8
    # popularity counts only training baskets: fewer than the catalog's all-week counts
    assert fixture_task.popularity.sum() < fixture_task.catalog.n_baskets.sum()


def test_planted_association_reaches_the_pool(fixture_task) -> None:
    coffee_filters = {11, 12}
    pools = fixture_task.split("train")["candidates"]
    assert any(coffee_filters & set(p) for p in pools)


def test_bad_split_settings_are_named(fixture_task) -> None:
    with pytest.raises(ValueError, match="train_until"):
        TaskConfig(train_until=10, val_until=5)
    with pytest.raises(XPError, match="split 'holdout'"):
        fixture_task.split("holdout")


def test_seven_day_labels_add_later_purchases(fixture_task, rank_home) -> None:
    from xpollinate.catalog.store import DataStore
    from xpollinate.ranking.task import prepare

    week = prepare(DataStore.open(rank_home), TaskConfig(train_until=8, val_until=10, label="7d"), home=rank_home)
    basket = fixture_task.split("train").set_index("basket_id")
    seven = week.split("train").set_index("basket_id")
    assert set(basket.index) <= set(seven.index)  # every basket-labelled cart is still there
    more = 0
    for bid, row in basket.iterrows():
        b, s = set(np.asarray(row.candidates)[np.asarray(row.labels, bool)]), seven.loc[bid]
        s = set(np.asarray(s.candidates)[np.asarray(s.labels, bool)])
        assert b <= s
        more += len(s - b)
    assert more > 0  # the fixture's households buy the same GM items again within a week


def test_item_xp_lists_replace_their_anchors_pools_only(fixture_task, rank_home) -> None:
    from xpollinate.catalog.store import DataStore
    from xpollinate.ranking.task import lists_fingerprint, prepare
    from xpollinate.retrieval.candidate_lists import AnchorLists

    lists = AnchorLists({1: (np.array([16, 11]), np.array([0.9, 0.8]))})  # ground coffee: gadgets, then filters
    config = TaskConfig(train_until=8, val_until=10, item_xp=f"run-a:{lists_fingerprint(lists)}")
    with pytest.raises(XPError, match="needs both"):
        prepare(DataStore.open(rank_home), config, home=rank_home)
    other = AnchorLists({1: (np.array([16]), np.array([0.9]))})
    with pytest.raises(XPError, match="not the ones"):
        prepare(DataStore.open(rank_home), config, home=rank_home, item_xp=other)
    merged = prepare(DataStore.open(rank_home), config, home=rank_home, item_xp=lists)
    assert merged.path != fixture_task.path and merged.tag == "basket.ixp" and fixture_task.tag == "basket"
    assert merged.source.top(1, 10) == [(16, 0.9), (11, 0.8)]
    for anchor in fixture_task.source.anchor_ids():
        if anchor != 1:
            assert merged.source.top(anchor, 30) == fixture_task.source.top(anchor, 30)
    coffee_carts = merged.split("train")
    coffee_carts = coffee_carts[coffee_carts["cart"].map(lambda c: 1 in set(c))]
    assert len(coffee_carts) and all(16 in set(c) for c in coffee_carts["candidates"])

"""Joint features on a household small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from xpollinate.retrieval.twotower.features import ItemFeatures
from xpollinate.retrieval.twotower.sequences import Sequences
from xpollinate.storefront.candidates import previous_items
from xpollinate.storefront.features import FEATURES, ShopperHistory, history, joint_features


def _items() -> ItemFeatures:
    n = 4
    z = np.zeros(n, np.int64)
    return ItemFeatures(
        item_ids=np.array([10, 20, 30, 40]),
        text_row=z,
        text_vectors=np.zeros((1, 4), np.float32),
        pt=z,
        dept=z,
        category=np.array([1, 1, 2, 0]),  # COFFEE, COFFEE, MILK, none
        price_bucket=z,
        item_class=z,
        private_brand=z,
        is_gm=np.array([False, False, False, True]),
        subclass=z,
        pt_names=[],
        category_names=["COFFEE", "MILK"],
        dept_names=[],
    )


def _shopper() -> ShopperHistory:
    # household 7: day 0 {item 0, item 2}, day 7 {item 0}, day 10 {item 1, item 2} (the basket to predict);
    # household 8: one basket, day 3 {item 3}
    stream = np.array([0, 2, 0, 1, 2, 3])
    start, end = np.array([0, 2, 3, 5]), np.array([2, 3, 5, 6])
    seq = Sequences(
        stream=stream,
        basket_start=start,
        basket_end=end,
        basket_household=np.array([0, 0, 0, 1]),
        household_id=np.array([7, 7, 7, 8]),
        basket_id=np.array([1, 2, 3, 4]),
        week=np.array([1, 2, 2, 1]),
        household_first=np.array([0, 0, 0, 3]),
        last_week=2,
    )
    return ShopperHistory(
        seq=seq,
        items=_items(),
        basket_day=np.array([0, 7, 10, 3]),
        counts=np.array([3, 0, 1, 7]),
        price=np.array([2.0, 4.0, np.nan, 1.5]),
        cycle_days=np.array([np.nan, 6.0, np.nan]),  # COFFEE comes back every 6 days, MILK has no cycle
    )


def test_features_of_a_hand_checked_household() -> None:
    hs = _shopper()
    hist = history(hs.seq, np.array([2]))
    assert hist.item.tolist() == [0, 2, 0] and hist.basket.tolist() == [0, 0, 1]
    items = np.arange(4)
    f = joint_features(
        hs, hist, np.array([10]), np.zeros(4, np.int64), items, np.array([1, np.nan, 2, 3]), items * 0.1, items * 0.2
    )
    assert list(f.columns) == list(FEATURES)
    assert f["hh_item_baskets"].tolist() == [2, 0, 1, 0]
    assert f["hh_baskets"].tolist() == [2, 2, 2, 2]
    assert f["hh_item_share"].tolist() == [1.0, 0.0, 0.5, 0.0]
    assert f["days_since_item"].tolist()[0] == 3 and f["days_since_item"].tolist()[2] == 10
    assert np.isnan(f["days_since_item"][1]) and np.isnan(f["days_since_item"][3])
    # COFFEE last bought on day 7: 3 days ago, half its 6-day cycle; 2 of the 3 purchases were COFFEE
    assert f["days_since_category"][:2].tolist() == [3, 3]
    assert f["cat_due_ratio"][:2].tolist() == [0.5, 0.5]
    assert f["category_affinity"].tolist() == pytest.approx([2 / 3, 2 / 3, 1 / 3, 0.0])
    assert f["days_since_category"][2] == 10 and np.isnan(f["cat_due_ratio"][2])  # MILK: no cycle
    assert np.isnan(f["days_since_category"][3]) and np.isnan(f["cat_due_ratio"][3])  # no category
    assert np.isnan(f["price"][2]) and f["price"][1] == 4.0
    assert f["popularity"].tolist() == pytest.approx(np.log1p([3, 0, 1, 7]).tolist())
    assert np.isnan(f["tt_rank"][1]) and f["tt_score_next"][3] == pytest.approx(0.6)
    assert f["is_gm"].tolist() == [0, 0, 0, 1]


def test_many_households_at_once_match_one_at_a_time() -> None:
    hs = _shopper()
    both = history(hs.seq, np.array([2, 3]), end=np.array([5, 6]))  # everything so far, two households
    q, it = np.array([0, 0, 1, 1]), np.array([0, 3, 0, 3])
    nan = np.full(4, np.nan)
    f = joint_features(hs, both, np.array([20, 20]), q, it, nan, nan, nan)
    one = joint_features(
        hs,
        history(hs.seq, np.array([3]), end=np.array([6])),
        np.array([20]),
        q[:2] * 0,
        it[2:],
        nan[:2],
        nan[:2],
        nan[:2],
    )
    assert f.iloc[2:].reset_index(drop=True).equals(one)
    assert f["hh_item_baskets"].tolist() == [2, 0, 0, 1]
    assert f["hh_baskets"].tolist() == [3, 3, 1, 1]  # household 7 now counts its day-10 basket
    assert f["days_since_item"][3] == 17


def test_previous_items_most_frequent_then_most_recent() -> None:
    hs = _shopper()
    hist = history(hs.seq, np.array([2]), end=np.array([5]))  # items 0, 2, 0, 1, 2
    q, it = previous_items(hist, 4, 2)
    assert q.tolist() == [0, 0]
    assert it.tolist() == [2, 0]  # both twice; item 2 bought last
    assert previous_items(hist, 4, 5)[1].tolist() == [2, 0, 1]

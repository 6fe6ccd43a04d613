"""The offline stand-in metric against a hand-computed example, and its lists."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from xpollinate.evals.offline import HeldOut, anchor_lists, evaluate, mean_ci, novelty, popularity_matched

ITEMS = pd.DataFrame({"item_id": [1, 2, 3, 4, 5], "product_type": ["BUNS", "CHARCOAL", "CUPS", "BATTERIES", "MUGS"]})
# household 10: week 42 buns + charcoal; week 43 cups. household 11: week 44 buns only; week 50 batteries.
# household 12: week 30 buns + mugs (before the held-out weeks: ignored).
BASKETS = pd.DataFrame(
    {
        "household_id": [10, 10, 11, 11, 12],
        "week": [42, 43, 44, 50, 30],
        "item_ids": [[1, 2], [3], [1], [4], [1, 5]],
    }
)


def test_hit_shares_by_hand() -> None:
    held = HeldOut.build(BASKETS, ITEMS, holdout_from=42, window_weeks=3)
    basket, window, events = held.hit_share("BUNS", ["CHARCOAL", "CUPS"])
    # events: hh10 week 42 (basket: charcoal; window 42-44: charcoal, cups) and hh11 week 44 (nothing in 44-46)
    assert events == 2
    assert basket == pytest.approx((1 / 2 + 0) / 2)
    assert window == pytest.approx((2 / 2 + 0) / 2)
    assert held.hit_share("BUNS", ["BATTERIES"])[1] == 0.0  # week 50 is outside hh11's window from week 44
    assert held.hit_share("MUGS", ["BUNS"])[2] == 0  # mugs only before the held-out weeks: no event
    assert np.isnan(held.hit_share("BUNS", [])[0])


def test_lists_and_summary() -> None:
    pool = ["CHARCOAL", "CUPS", "BATTERIES", "MUGS", "PLATES", "NAPKINS"]
    popularity = {"CHARCOAL": 50, "CUPS": 40, "BATTERIES": 30, "MUGS": 20, "PLATES": 10, "NAPKINS": 5}
    lists = anchor_lists(1, "BUNS", ["CUPS", "MUGS", "CUPS"], ["CHARCOAL", "CUPS"], pool, popularity, seed=0)
    assert lists.lists["llm"] == ["CUPS", "MUGS"] and lists.lists["merged"] == ["CUPS", "MUGS", "CHARCOAL"]
    assert len(lists.lists["random"]) == 3 and not set(lists.lists["random"]) & {"CUPS", "MUGS", "CHARCOAL"}
    assert not set(lists.lists["popularity-matched"]) & set(lists.lists["merged"])
    assert novelty([lists]) == pytest.approx(0.5)  # MUGS is new, CUPS is historical
    held = HeldOut.build(BASKETS, ITEMS, holdout_from=42)
    per_anchor, summary = evaluate(held, [lists])
    merged = per_anchor[per_anchor["list"] == "merged"].iloc[0]
    assert merged["window"] == pytest.approx((2 / 3 + 0) / 2) and merged["events"] == 2
    assert list(summary["list"]) == [
        "llm",
        "llm popularity-matched",
        "historical",
        "merged",
        "random",
        "popularity-matched",
    ]
    assert not set(lists.lists["llm popularity-matched"]) & {"CUPS", "MUGS"}


def test_popularity_matched_draws_from_the_same_decile() -> None:
    pool = [f"P{i:02d}" for i in range(40)]
    popularity = {p: 100.0 - i for i, p in enumerate(pool)}
    got = popularity_matched(["P00", "P39"], pool, popularity, random.Random(0), bins=4)
    assert got[0] in pool[1:10] and got[1] in pool[30:39]


def test_mean_ci() -> None:
    mean, low, high = mean_ci([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert mean == pytest.approx(0.35) and low < mean < high
    assert np.isnan(mean_ci([0.2, 0.2, 0.2])[1]) and mean_ci([])[0] != mean_ci([])[0]

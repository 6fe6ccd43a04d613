"""Pair statistics: hand-checked values, equality with mlxtend on real baskets, size adjustment."""

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.associations import AssocConfig, compute_statistics
from xpollinate.retrieval.mba import Thresholds, incidence, pair_statistics
from xpollinate.retrieval.transactions import BasketLines, key_map, side_incidence, transaction_index


def _inc(rows: list[list[int]], n_keys: int) -> "incidence":
    t = np.array([i for i, r in enumerate(rows) for _ in r])
    k = np.array([x for r in rows for x in r])
    return incidence(t, k, len(rows), np.arange(n_keys))


def test_hand_computed_example() -> None:
    # 4 transactions; A0 in t0,t1,t2; B0 in t0,t1,t3 -> n_ab=2, n_a=3, n_b=3, N=4
    og = _inc([[0], [0], [0, 0], []], 1)  # duplicate key in t2 counts once
    gm = _inc([[0], [0], [], [0]], 1)
    row = pair_statistics(og, gm, Thresholds()).iloc[0]
    assert (row["n_a"], row["n_b"], row["n_ab"]) == (3, 3, 2)
    assert row["support"] == pytest.approx(0.5)
    assert row["confidence"] == pytest.approx(2 / 3)
    assert row["lift"] == pytest.approx((2 / 4) / (3 / 4 * 3 / 4))
    assert row["leverage"] == pytest.approx(0.5 - 9 / 16)
    assert row["conviction"] == pytest.approx((1 - 3 / 4) / (1 - 2 / 3))


def test_thresholds_filter_and_validate() -> None:
    og = _inc([[0, 1], [0], [0], [1]], 2)
    gm = _inc([[0], [0], [0], [0]], 1)
    all_pairs = pair_statistics(og, gm, Thresholds())
    assert len(all_pairs) == 2
    kept = pair_statistics(og, gm, Thresholds(min_count=3))  # n_ab: A0=3, A1=2
    assert kept["antecedent"].tolist() == [0]
    assert pair_statistics(og, gm, Thresholds(min_confidence=1.0))["antecedent"].tolist() == [0, 1]
    assert pair_statistics(og, gm, Thresholds(min_support=0.6))["antecedent"].tolist() == [0]
    with pytest.raises(ValidationError, match="min_support"):
        Thresholds(min_support=1.5)
    with pytest.raises(ValidationError, match="min_count"):
        Thresholds(min_count=0)
    with pytest.raises(ValidationError, match="window_weeks"):
        AssocConfig(window_weeks=0)
    with pytest.raises(ValidationError, match="pt_basket.min_confidence"):
        AssocConfig.model_validate({"pt_basket": {"min_confidence": -0.1}})


def test_adjusted_lift_discounts_big_basket_pairs() -> None:
    """B is bought only in big baskets; A too. Plain lift > 1, size-adjusted lift ~ 1."""
    rng = np.random.default_rng(0)
    rows, sizes = [], []
    for t in range(4000):
        big = t % 2 == 0
        items = []
        if rng.random() < (0.5 if big else 0.05):
            items.append(("a", 0))
        if rng.random() < (0.5 if big else 0.05):
            items.append(("b", 0))
        rows.append(items)
        sizes.append(40 if big else 3)
    og = _inc([[k for s, k in r if s == "a"] for r in rows], 1)
    gm = _inc([[k for s, k in r if s == "b"] for r in rows], 1)
    row = pair_statistics(og, gm, Thresholds(), sizes=np.array(sizes)).iloc[0]
    assert row["lift"] > 1.5
    assert row["adjusted_lift"] == pytest.approx(1.0, abs=0.1)


def test_window_transactions_group_household_weeks() -> None:
    baskets = pd.DataFrame({"household_id": [1, 1, 1, 2], "week": [1, 3, 4, 1], "item_ids": [[10], [20], [30], [10]]})
    lines = BasketLines.from_baskets(baskets)
    trans, n = transaction_index(lines, "window", 3)
    assert n == 3  # (hh1, weeks 1-3), (hh1, weeks 4-6), (hh2, weeks 1-3)
    assert trans[0] == trans[1] != trans[2]
    assert transaction_index(lines, "basket", 3)[1] == 4


def test_matches_mlxtend_on_real_baskets(real_store: DataStore) -> None:
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    items = real_store.items()
    baskets = real_store.baskets(columns=["household_id", "week", "item_ids", "has_grocery", "has_gm"])
    sample = baskets[baskets["has_grocery"] & baskets["has_gm"]].sample(3000, random_state=1)
    lines = BasketLines.from_baskets(sample)
    trans, n = transaction_index(lines, "basket", 3)
    og = side_incidence(lines, trans, n, key_map(items, "pt", "grocery"))
    gm = side_incidence(lines, trans, n, key_map(items, "pt", "gm"))
    min_support = 0.005
    ours = pair_statistics(og, gm, Thresholds(min_support=min_support))

    onehot = pd.DataFrame.sparse.from_spmatrix(
        __import__("scipy.sparse", fromlist=["hstack"]).hstack([og.matrix, gm.matrix]).tocsc().astype(bool),
        columns=[f"og:{k}" for k in og.keys] + [f"gm:{k}" for k in gm.keys],
    )
    frequent = fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=2)
    rules = association_rules(frequent, num_itemsets=len(onehot), metric="confidence", min_threshold=0.0)
    single = rules[(rules["antecedents"].map(len) == 1) & (rules["consequents"].map(len) == 1)]
    ante = single["antecedents"].map(lambda s: next(iter(s)))
    cons = single["consequents"].map(lambda s: next(iter(s)))
    theirs = single[ante.str.startswith("og:") & cons.str.startswith("gm:")].assign(
        antecedent=ante.str[3:], consequent=cons.str[3:]
    )
    assert len(theirs) > 20, "the sample should yield a real set of grocery->GM rules"
    merged = ours.merge(theirs, on=["antecedent", "consequent"], how="outer", indicator=True, suffixes=("", "_mlx"))
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    for metric in ("support", "confidence", "lift", "leverage", "conviction"):
        np.testing.assert_allclose(merged[metric], merged[f"{metric}_mlx"], rtol=0, atol=1e-9, err_msg=metric)


def test_full_statistics_on_fixture(fixture_store: DataStore) -> None:
    tables = compute_statistics(
        fixture_store.items(),
        fixture_store.baskets(),
        AssocConfig(pt_basket=Thresholds(min_count=5), pt_window=Thresholds(min_count=5)),
    )
    pt = tables["pt_basket"]
    top = pt[pt["antecedent"] == "GROUND COFFEE"].sort_values("lift", ascending=False).iloc[0]
    assert top["consequent"] == "COFFEE FILTERS" and top["lift"] > 2
    buns = pt[pt["antecedent"] == "HOT DOG BUNS"].sort_values("lift", ascending=False).iloc[0]
    assert buns["consequent"] == "CHARCOAL"
    # grocery never appears as a consequent, GM never as an antecedent, excluded nowhere
    assert "CIGARETTES" not in set(pt["consequent"]) | set(pt["antecedent"])
    assert not set(pt["consequent"]) & {"GROUND COFFEE", "CANDY BAGS-CHOCOCLATE"}
    assert set(tables) == {"pt_basket", "pt_window", "item_basket", "item_window"}
    assert (tables["item_window"]["n_transactions"] < tables["item_basket"]["n_transactions"]).all()

"""Joint household x item features for the learned re-ranker, built for many households at once.

A query is one household at one moment: its purchase history is the stream slice before a basket
(the experiment: the basket to predict) or up to an offset (serving: everything so far), and
`as_of_day` is the day the ranking is for. Per candidate item of a query:

- `hh_item_baskets`: the household's baskets holding the item; `hh_item_share`: that over its baskets;
- `days_since_item`: days from its last purchase of the item to `as_of_day` (NaN: never bought);
- `days_since_category`, `cat_due_ratio`: the same for the item's product category, and that over the
  category's rebuying cycle in days (`groclm.rebuy`, training weeks only; NaN without a cycle);
- `category_affinity`: the share of the household's purchases in the item's category;
- `price`: the item's median paid unit price (the catalog's `unit_price`, NaN if never sold);
- `tt_score_long`, `tt_score_next`, `tt_rank`: the two-tower scores of the long-term and next-basket
  user vectors, and the rank in the retrieval list (NaN when only the history brought the item);
- `popularity`: log(1 + purchases of the item in the training weeks);
- `hh_baskets`: the household's history length; `is_gm`: general merchandise.

Everything is a vectorised pass over (query, item) keys: no Python loop per household.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xpollinate.catalog.store import DataStore
from xpollinate.groclm.baskets import SECONDS_PER_DAY, CategoryBaskets
from xpollinate.groclm.rebuy import cycle_stats
from xpollinate.retrieval.twotower.features import ItemFeatures
from xpollinate.retrieval.twotower.sequences import Sequences

FEATURES = (
    "hh_item_baskets",
    "hh_item_share",
    "days_since_item",
    "days_since_category",
    "cat_due_ratio",
    "category_affinity",
    "price",
    "tt_score_long",
    "tt_score_next",
    "tt_rank",
    "popularity",
    "hh_baskets",
    "is_gm",
)


@dataclass(frozen=True)
class ShopperHistory:
    """What the features read: the baskets as a stream, each basket's day, and per-item tables."""

    seq: Sequences
    items: ItemFeatures
    basket_day: np.ndarray  # (B,) int64 calendar day (days since 1970) of each basket
    counts: np.ndarray  # (N,) purchases per item in the training weeks
    price: np.ndarray  # (N,) float64 median paid unit price, NaN if unknown
    cycle_days: np.ndarray  # (C + 1,) rebuying cycle per category code (0 = none), NaN without one

    @property
    def today(self) -> int:
        """The day after the data's last basket: 'now' when replaying the store."""
        return int(self.basket_day.max()) + 1 if len(self.basket_day) else 0


def basket_days(store: DataStore, seq: Sequences) -> np.ndarray:
    """Calendar day of each basket of `seq` (from the store's timestamps)."""
    frame = store.baskets(["basket_id", "timestamp"])
    ts = pd.Series(
        frame["timestamp"].to_numpy("datetime64[s]").astype(np.int64) // SECONDS_PER_DAY,
        index=frame["basket_id"].to_numpy(np.int64),
    )
    return ts.reindex(seq.basket_id).to_numpy(np.int64)


def category_cycles(store: DataStore, items: ItemFeatures, until_week: int) -> np.ndarray:
    """Each category code's rebuying cycle in days over weeks <= `until_week` (GroCLM's statistics)."""
    cb = CategoryBaskets.from_store(store)
    stats = cycle_stats(cb, until_week)
    by_name = dict(zip(stats["name"], stats["mean_days"].astype(float)))
    return np.array([np.nan] + [by_name.get(n, np.nan) for n in items.category_names], np.float64)


def shopper_history(
    store: DataStore,
    seq: Sequences,
    items: ItemFeatures,
    counts: np.ndarray,
    cycle_days: np.ndarray,
    basket_day: np.ndarray | None = None,
) -> ShopperHistory:
    """The tables the features need (`cycle_days` from `category_cycles` or a saved re-ranker)."""
    price = store.items(["item_id", "unit_price"]).set_index("item_id")["unit_price"]
    return ShopperHistory(
        seq=seq,
        items=items,
        basket_day=basket_days(store, seq) if basket_day is None else basket_day,
        counts=counts,
        price=price.reindex(items.item_ids).to_numpy(np.float64),
        cycle_days=cycle_days,
    )


@dataclass(frozen=True)
class History:
    """The purchases before each query as flat arrays (one row per purchased item)."""

    query: np.ndarray  # (P,) query index
    item: np.ndarray  # (P,) item row
    basket: np.ndarray  # (P,) basket index
    n_queries: int


def history(seq: Sequences, baskets: np.ndarray, end: np.ndarray | None = None) -> History:
    """Every item bought by each query's household before basket `baskets[q]` (or stream offset `end[q]`)."""
    baskets = np.asarray(baskets, np.int64)
    lo = seq.basket_start[seq.household_first[baskets]]
    stop = seq.basket_start[baskets] if end is None else np.asarray(end, np.int64)
    lengths = np.maximum(stop - lo, 0)
    query = np.repeat(np.arange(len(baskets)), lengths)
    pos = np.repeat(lo, lengths) + np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    basket = np.searchsorted(seq.basket_end, pos, side="right")  # first basket ending after the position
    return History(query, seq.stream[pos], basket, len(baskets))


def _group_stats(key: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct keys, their counts and their last day."""
    uniq, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    last = np.full(len(uniq), np.iinfo(np.int64).min, np.int64)
    np.maximum.at(last, inv, day)
    return uniq, cnt, last


def _lookup(uniq: np.ndarray, values: np.ndarray, keys: np.ndarray, missing: float) -> np.ndarray:
    pos = np.clip(np.searchsorted(uniq, keys), 0, max(len(uniq) - 1, 0))
    found = (uniq[pos] == keys) if len(uniq) else np.zeros(len(keys), bool)
    return np.where(found, values[pos] if len(uniq) else missing, missing).astype(np.float64)


def joint_features(
    hs: ShopperHistory,
    hist: History,
    as_of_day: np.ndarray,
    query: np.ndarray,
    item: np.ndarray,
    tt_rank: np.ndarray,
    score_long: np.ndarray,
    score_next: np.ndarray,
) -> pd.DataFrame:
    """One row per candidate (query[i], item[i]) with the columns `FEATURES`, in that order."""
    n_items = hs.items.n
    n_cats = len(hs.items.category_names) + 1
    day = hs.basket_day[hist.basket]
    as_of = np.asarray(as_of_day, np.float64)
    query = np.asarray(query, np.int64)
    item = np.asarray(item, np.int64)

    item_keys, item_cnt, item_last = _group_stats(hist.query * n_items + hist.item, day)
    cand_keys = query * n_items + item
    hh_item = _lookup(item_keys, item_cnt, cand_keys, 0.0)
    last_item = _lookup(item_keys, item_last, cand_keys, np.nan)

    cat_of = hs.items.category
    cat_keys, cat_cnt, cat_last = _group_stats(hist.query * n_cats + cat_of[hist.item], day)
    cand_cat = cat_of[item]
    cand_cat_keys = query * n_cats + cand_cat
    hh_cat = _lookup(cat_keys, cat_cnt, cand_cat_keys, 0.0)
    last_cat = _lookup(cat_keys, cat_last, cand_cat_keys, np.nan)

    purchases = np.bincount(hist.query, minlength=hist.n_queries).astype(np.float64)
    baskets_per_query = np.bincount(
        np.unique(hist.query * hs.seq.n_baskets + hist.basket) // max(hs.seq.n_baskets, 1),
        minlength=hist.n_queries,
    ).astype(np.float64)
    n_baskets = baskets_per_query[query]
    since_cat = as_of[query] - last_cat
    cycle = hs.cycle_days[cand_cat]
    frame = pd.DataFrame(
        {
            "hh_item_baskets": hh_item,
            "hh_item_share": np.divide(hh_item, n_baskets, out=np.zeros_like(hh_item), where=n_baskets > 0),
            "days_since_item": as_of[query] - last_item,
            "days_since_category": since_cat,
            "cat_due_ratio": np.where(cand_cat > 0, since_cat / cycle, np.nan),
            "category_affinity": np.where(
                cand_cat > 0,
                np.divide(hh_cat, purchases[query], out=np.zeros_like(hh_cat), where=purchases[query] > 0),
                0.0,
            ),
            "price": hs.price[item],
            "tt_score_long": np.asarray(score_long, np.float64),
            "tt_score_next": np.asarray(score_next, np.float64),
            "tt_rank": np.asarray(tt_rank, np.float64),
            "popularity": np.log1p(hs.counts[item].astype(np.float64)),
            "hh_baskets": n_baskets,
            "is_gm": hs.items.is_gm[item].astype(np.float64),
        }
    )
    return frame[list(FEATURES)]

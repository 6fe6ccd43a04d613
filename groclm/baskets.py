"""Every basket as a set of product categories (the dataset's `product_category`, grocery and GM).

The tasks, the rebuying statistics and the baselines all read baskets at category level, so the store's
item lists are mapped once: items classed `excluded` (coupons, fuel, tobacco, ...) carry no category and are
dropped. Rows are sorted by household, then time, so a household's history is one contiguous slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError

SECONDS_PER_DAY = 86_400


def categorised(items: pd.DataFrame) -> pd.DataFrame:
    """The items that carry a product category: grocery and GM with a category (excluded ones carry none)."""
    return items[items["item_class"].isin(["grocery", "gm"]) & (items["category"] != "")]


@dataclass(frozen=True)
class CategoryBaskets:
    """Baskets as category sets (a sparse basket x category 0/1 matrix) and, for the in-basket task, each
    basket's items' categories in scan order (one entry per item, repeats kept)."""

    names: tuple[str, ...]  # the category vocabulary, sorted
    basket_id: np.ndarray  # (B,) int64
    household: np.ndarray  # (B,) int64
    week: np.ndarray  # (B,) int64
    day: np.ndarray  # (B,) int64: whole days since the first basket's calendar day
    seconds: np.ndarray  # (B,) int64: time of the basket (orders baskets of one day)
    matrix: sp.csr_matrix  # (B, C) 1 where the basket holds the category
    item_offsets: np.ndarray  # (B + 1,) into item_cats
    item_cats: np.ndarray  # category index of each kept item of each basket

    @property
    def n_categories(self) -> int:
        return len(self.names)

    def categories(self, row: int) -> np.ndarray:
        """The sorted distinct category indices of basket `row`."""
        m = self.matrix
        return np.asarray(m.indices[m.indptr[row] : m.indptr[row + 1]], np.int64)

    def item_categories(self, row: int) -> np.ndarray:
        return self.item_cats[self.item_offsets[row] : self.item_offsets[row + 1]]

    def households(self) -> dict[int, tuple[int, int]]:
        """Household id -> its [start, end) rows."""
        h = self.household
        starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]]) if len(h) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(h)]
        return {int(h[s]): (int(s), int(e)) for s, e in zip(starts, ends)}

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise XPError(f"unknown product category {name!r}") from None

    @classmethod
    def from_frames(cls, baskets: pd.DataFrame, items: pd.DataFrame) -> CategoryBaskets:
        """From the store's `baskets` (basket_id, household_id, week, timestamp, item_ids) and `items`
        (item_id, category, item_class) tables; baskets with no categorised item are dropped."""
        kept = categorised(items)
        names = tuple(sorted(kept["category"].unique()))
        lookup = pd.Series(np.arange(len(names)), index=list(names))
        item_cat = pd.Series(kept["category"].map(lookup).to_numpy(np.int64), index=kept["item_id"].to_numpy())
        b = baskets.sort_values(["household_id", "timestamp", "basket_id"], kind="stable").reset_index(drop=True)
        lengths = b["item_ids"].map(len).to_numpy(np.int64)
        flat = np.concatenate(b["item_ids"].to_numpy()).astype(np.int64) if len(b) else np.zeros(0, np.int64)
        cats = item_cat.reindex(flat).to_numpy()
        valid = ~np.isnan(cats)
        owner = np.repeat(np.arange(len(b)), lengths)[valid]
        cats = cats[valid].astype(np.int64)
        counts = np.bincount(owner, minlength=len(b))
        keep = counts > 0
        remap = np.cumsum(keep) - 1
        owner = remap[owner]
        b = b[keep].reset_index(drop=True)
        offsets = np.r_[0, np.cumsum(counts[keep])].astype(np.int64)
        matrix = sp.csr_matrix((np.ones(len(cats), np.float32), (owner, cats)), shape=(len(b), len(names)))
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        ts = b["timestamp"].to_numpy("datetime64[s]").astype(np.int64)
        first = (ts.min() // SECONDS_PER_DAY) if len(ts) else 0
        return cls(
            names=names,
            basket_id=b["basket_id"].to_numpy(np.int64),
            household=b["household_id"].to_numpy(np.int64),
            week=b["week"].to_numpy(np.int64),
            day=(ts // SECONDS_PER_DAY - first).astype(np.int64),
            seconds=ts,
            matrix=matrix,
            item_offsets=offsets,
            item_cats=cats,
        )

    @classmethod
    def from_store(cls, store: DataStore) -> CategoryBaskets:
        return cls.from_frames(
            store.baskets(columns=["basket_id", "household_id", "week", "timestamp", "item_ids"]),
            store.items(columns=["item_id", "category", "item_class"]),
        )

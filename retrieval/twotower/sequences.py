"""Households' purchase sequences, the time split and history windows.

All baskets are laid out household by household, in time order, as one flat stream of
item rows. A basket's history is then a contiguous slice of the stream just before the
basket's first item: the long-term window is the last `long_history` purchases, the
next-basket window the last `short_baskets` baskets (capped). Windows are gathered with
one vectorised index, no Python loop per example.

Time split: the last `test_weeks` weeks are held out; each household's first basket in
them is its test basket (the "next basket"), with every earlier basket as its history.
Training uses only baskets before the held-out weeks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.retrieval.twotower.features import HouseholdFeatures, ItemFeatures


@dataclass(frozen=True)
class Sequences:
    """Every basket of the store, in household-then-time order, as offsets into one stream."""

    stream: np.ndarray  # int64 item rows
    basket_start: np.ndarray  # (B,) offset of each basket's first item
    basket_end: np.ndarray
    basket_household: np.ndarray  # (B,) household row (HouseholdFeatures), -1 if unknown
    household_id: np.ndarray  # (B,) raw household id
    basket_id: np.ndarray
    week: np.ndarray
    household_first: np.ndarray  # (B,) index of the household's first basket
    last_week: int

    @property
    def n_baskets(self) -> int:
        return len(self.basket_start)

    def windows(
        self, baskets: np.ndarray, length: int, n_baskets: int | None = None, end: np.ndarray | None = None
    ) -> np.ndarray:
        """(len(baskets), length) item rows before each basket (or before `end` offsets), most
        recent last, -1 padded; limited to the household's own baskets and, with `n_baskets`,
        to its last n baskets."""
        stop = self.basket_start[baskets] if end is None else end
        first = self.household_first[baskets]
        lo = self.basket_start[first]
        if n_baskets is not None:
            back = np.maximum(baskets - n_baskets, first) if end is None else np.maximum(baskets + 1 - n_baskets, first)
            lo = np.maximum(lo, self.basket_start[back])
        idx = stop[:, None] - length + np.arange(length)[None, :]
        valid = idx >= lo[:, None]
        return np.where(valid, self.stream[np.clip(idx, 0, max(len(self.stream) - 1, 0))], -1)

    def household_baskets(self, household_id: int) -> np.ndarray:
        return np.flatnonzero(self.household_id == household_id)


def load_sequences(store: DataStore, items: ItemFeatures, households: HouseholdFeatures) -> Sequences:
    frame = store.baskets(["basket_id", "household_id", "week", "timestamp", "item_ids"])
    if frame.empty:
        raise XPError(f"the data store {store.path} holds no baskets; run `xp data build`")
    frame = frame.sort_values(["household_id", "timestamp", "basket_id"], kind="stable").reset_index(drop=True)
    lengths = frame["item_ids"].map(len).to_numpy(np.int64)
    flat = np.concatenate(frame["item_ids"].to_numpy()).astype(np.int64) if len(frame) else np.zeros(0, np.int64)
    rows = items.rows(flat)
    # Items dropped from the catalog cannot be embedded: drop them from the stream.
    keep = rows >= 0
    basket_of = np.repeat(np.arange(len(frame)), lengths)
    rows, basket_of = rows[keep], basket_of[keep]
    counts = np.bincount(basket_of, minlength=len(frame))
    end = np.cumsum(counts)
    start = end - counts
    hh = frame["household_id"].to_numpy(np.int64)
    new_household = np.r_[True, hh[1:] != hh[:-1]]
    first = np.maximum.accumulate(np.where(new_household, np.arange(len(frame)), 0))
    return Sequences(
        stream=rows,
        basket_start=start,
        basket_end=end,
        basket_household=households.rows(hh),
        household_id=hh,
        basket_id=frame["basket_id"].to_numpy(np.int64),
        week=frame["week"].to_numpy(np.int64),
        household_first=first,
        last_week=int(frame["week"].max()),
    )


@dataclass(frozen=True)
class Split:
    """Training baskets and one test basket per household (its first in the held-out weeks)."""

    train: np.ndarray  # basket indices
    test: np.ndarray
    first_test_week: int


def time_split(seq: Sequences, test_weeks: int) -> Split:
    first_test_week = seq.last_week - test_weeks + 1
    if first_test_week <= int(seq.week.min()):
        raise XPError(
            f"test_weeks={test_weeks} holds out every week the store has (weeks {int(seq.week.min())}-{seq.last_week}); "
            "choose fewer test weeks"
        )
    is_test = seq.week >= first_test_week
    nonempty = seq.basket_end > seq.basket_start
    train = np.flatnonzero(~is_test & nonempty)
    cand = np.flatnonzero(is_test & nonempty)
    # the first held-out basket of each household (baskets are in household, time order)
    _, first_pos = np.unique(seq.household_id[cand], return_index=True)
    return Split(train=train, test=cand[first_pos], first_test_week=first_test_week)

"""What the storefront reads from the data store: the catalog it may show, and each household's baskets.

Only items that sold at least once and are not of the `excluded` class are shown: that class holds
tobacco, OTC drugs, coupons, fees and periodicals (the catalog's reviewed class table), so this is the
page's safety filter by construction, before any model sees the catalog.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.vocabulary import display_name
from xpollinate.storefront.errors import UnknownHouseholdError

RECENT_BASKETS = 20  # the household's last baskets summarised for the LLM
SUMMARY_LINES = 12  # product types listed in that summary


@dataclass(frozen=True)
class HouseholdHistory:
    household_id: int
    baskets: pd.DataFrame  # this household's baskets, oldest first (week, item_ids)
    items: pd.DataFrame = field(repr=False)  # the shown catalog, indexed by item_id

    @property
    def empty(self) -> bool:
        return self.baskets.empty

    @cached_property
    def bought(self) -> Counter[int]:
        """item id -> baskets of this household holding it (its whole history)."""
        counts: Counter[int] = Counter()
        for ids in self.baskets["item_ids"]:
            counts.update(int(i) for i in ids)
        return counts

    def summary(self, recent: int = RECENT_BASKETS, lines: int = SUMMARY_LINES) -> list[str]:
        """The recent baskets in a few lines for a prompt: product types by how many of the last `recent` baskets
        held them, with how long ago they were last bought ('- Soft Drinks (Soft Drinks): 7 of 20 baskets, last
        0 weeks ago'). Short on purpose: a small model reads a short prompt better."""
        if self.empty:
            return []
        last = self.baskets.tail(recent)
        now = int(last["week"].max())
        shown = self.items
        n_baskets: Counter[str] = Counter()
        last_week: dict[str, int] = {}
        category: dict[str, str] = {}
        for week, ids in zip(last["week"], last["item_ids"]):
            pts = {}
            for i in ids:
                i = int(i)
                if i in shown.index:
                    pts[shown.at[i, "product_type"]] = shown.at[i, "category"]
            for pt, cat in pts.items():
                n_baskets[pt] += 1
                last_week[pt] = int(week)
                category[pt] = cat
        top = sorted(n_baskets, key=lambda pt: (-n_baskets[pt], now - last_week[pt], pt))[:lines]
        return [
            f"- {display_name(pt)} ({display_name(category[pt])}): {n_baskets[pt]} of {len(last)} baskets, "
            f"last {now - last_week[pt]} weeks ago"
            for pt in top
        ]


@dataclass
class StorefrontData:
    """The shown catalog and the baskets, read once per process (a page reads them many times)."""

    build_id: str
    items: pd.DataFrame  # shown items indexed by item_id: text, product_type, category, n_baskets
    baskets: pd.DataFrame  # household_id, week, timestamp, item_ids
    household_ids: frozenset[int]

    @classmethod
    def from_store(cls, store: DataStore) -> StorefrontData:
        items = store.items(["item_id", "text", "product_type", "category", "item_class", "n_baskets"])
        baskets = store.baskets(["household_id", "week", "timestamp", "item_ids"])
        households = store.households()["household_id"]
        return cls.from_frames(store.build_id, items, baskets, set(households.astype(int)))

    @classmethod
    def from_frames(
        cls, build_id: str, items: pd.DataFrame, baskets: pd.DataFrame, households: set[int]
    ) -> StorefrontData:
        shown = items[(items["item_class"] != "excluded") & (items["n_baskets"] > 0) & (items["product_type"] != "")]
        shown = shown.sort_values(["n_baskets", "item_id"], ascending=[False, True], kind="stable")
        shown = shown.set_index("item_id")[["text", "product_type", "category", "n_baskets"]]
        ordered = baskets.sort_values(["household_id", "week", "timestamp"], kind="stable")
        known = set(households) | set(ordered["household_id"].astype(int))
        return cls(build_id, shown, ordered.reset_index(drop=True), frozenset(known))

    @cached_property
    def _rows_of(self) -> dict[int, np.ndarray]:
        return {int(h): rows for h, rows in self.baskets.groupby("household_id").indices.items()}

    def history(self, household_id: int) -> HouseholdHistory:
        """The household's baskets; an unknown id is an error naming the known range."""
        if household_id not in self.household_ids:
            lo, hi = (min(self.household_ids), max(self.household_ids)) if self.household_ids else (0, 0)
            raise UnknownHouseholdError(
                f"household {household_id} is not in the data store ({len(self.household_ids)} households, "
                f"ids {lo}-{hi})"
            )
        rows = self._rows_of.get(household_id)
        frame = self.baskets.iloc[rows] if rows is not None else self.baskets.iloc[0:0]
        return HouseholdHistory(household_id, frame[["week", "item_ids"]], self.items)

    @cached_property
    def by_product_type(self) -> dict[str, list[int]]:
        """product type -> its shown item ids, most purchased first."""
        return {
            str(pt): [int(i) for i in ids] for pt, ids in self.items.groupby("product_type", sort=False).groups.items()
        }

    def popular(self, n: int, exclude: set[int] | frozenset[int] = frozenset()) -> list[int]:
        """The `n` most purchased shown items (the page of a household without history)."""
        out: list[int] = []
        for i in self.items.index:
            if int(i) not in exclude:
                out.append(int(i))
                if len(out) == n:
                    break
        return out

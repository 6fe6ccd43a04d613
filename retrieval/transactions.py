"""Turn the basket store into transaction x key incidence matrices for market-basket analysis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from xpollinate.retrieval.mba import Incidence, Level, Unit, incidence


@dataclass(frozen=True)
class BasketLines:
    """One entry per (basket, distinct item): parallel arrays, flattened from the list column."""

    basket: np.ndarray  # row index of the basket in the baskets frame
    item: np.ndarray
    household: np.ndarray
    week: np.ndarray
    n_baskets: int

    @classmethod
    def from_baskets(cls, baskets: pd.DataFrame) -> BasketLines:
        lists = pa.array(baskets["item_ids"].to_numpy(), type=pa.list_(pa.int64()))
        lengths = lists.value_lengths().to_numpy(zero_copy_only=False)
        row = np.repeat(np.arange(len(baskets)), lengths)
        return cls(
            basket=row,
            item=lists.flatten().to_numpy(),
            household=baskets["household_id"].to_numpy()[row],
            week=baskets["week"].to_numpy()[row],
            n_baskets=len(baskets),
        )


def transaction_index(lines: BasketLines, unit: Unit, window_weeks: int) -> tuple[np.ndarray, int]:
    """Transaction id per line: the basket itself, or (household, tumbling window of `window_weeks`).

    Windows are aligned to week 1 (weeks 1-3, 4-6, ... for three weeks), so every
    household-window is one transaction and probabilities stay well defined.
    """
    if unit == "basket":
        return lines.basket, lines.n_baskets
    window = (lines.week - 1) // window_weeks
    codes, uniques = pd.factorize(pd.MultiIndex.from_arrays([lines.household, window]))
    return codes.astype(np.int64), len(uniques)


def key_map(items: pd.DataFrame, level: Level, item_class: str) -> pd.Series:
    """item_id -> key label for the items of one class (its product type, or the item itself)."""
    chosen = items[items["item_class"] == item_class]
    if level == "pt":
        chosen = chosen[chosen["product_type"] != ""]
        return pd.Series(chosen["product_type"].to_numpy(), index=chosen["item_id"].to_numpy())
    return pd.Series(chosen["item_id"].to_numpy(), index=chosen["item_id"].to_numpy())


def side_incidence(lines: BasketLines, trans: np.ndarray, n_trans: int, keys_by_item: pd.Series) -> Incidence:
    """Incidence matrix of one side (grocery or GM) of the pairs."""
    pos = pd.Index(keys_by_item.index).get_indexer(lines.item)
    present = pos >= 0
    codes, uniques = pd.factorize(keys_by_item.to_numpy()[pos[present]], sort=True)
    return incidence(trans[present], codes, n_trans, np.asarray(uniques))


def transaction_sizes(lines: BasketLines, trans: np.ndarray, n_trans: int) -> np.ndarray:
    """Distinct items per transaction (all classes), the size used to adjust lift."""
    pairs = np.unique(trans.astype(np.int64) * (int(lines.item.max()) + 1) + lines.item)
    return np.bincount(pairs // (int(lines.item.max()) + 1), minlength=n_trans)

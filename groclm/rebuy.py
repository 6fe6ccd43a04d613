"""Rebuying statistics: how many days a category takes to come back in a household's baskets.

GroCLM's first stage (paper section 3.1) teaches the model each category's rebuying cycle, and the
"due" baseline scores a category by how far a household is into its cycle. Statistics come from the
training weeks only, so nothing of the test weeks leaks into them.

Per household and category, purchases are the distinct calendar days holding the category (two baskets of
one day are one purchase: a gap of 0 days is a split trip, not a cycle). The gaps between consecutive
purchase days give the household's mean gap and its sd (ddof=1, defined from two gaps on). As in the
paper's equation (2), a category's cycle is the mean over its repeating households (at least one gap) of
their mean gaps, and its sd the mean of their sds (households with at least two gaps). Only categories
with at least `min_households` repeating households (5, as in the paper) get a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xpollinate.groclm.baskets import CategoryBaskets

MIN_HOUSEHOLDS = 5


def household_gaps(cb: CategoryBaskets, until_week: int) -> pd.DataFrame:
    """One row per (household, category) with a repeat purchase over weeks <= `until_week`: gaps, mean_gap,
    sd_gap (ddof=1; NaN with a single gap)."""
    rows = np.flatnonzero(cb.week <= until_week)
    sub = cb.matrix[rows].tocoo()
    frame = pd.DataFrame(
        {"household": cb.household[rows][sub.row], "category": sub.col.astype(np.int64), "day": cb.day[rows][sub.row]}
    ).drop_duplicates()
    frame = frame.sort_values(["household", "category", "day"], kind="stable")
    same = (frame["household"].diff() == 0) & (frame["category"].diff() == 0)
    frame["gap"] = frame["day"].diff().where(same)
    gaps = frame.dropna(subset=["gap"])
    grouped = gaps.groupby(["household", "category"])["gap"]
    return pd.DataFrame(
        {"gaps": grouped.size(), "mean_gap": grouped.mean(), "sd_gap": grouped.std(ddof=1)}
    ).reset_index()


def cycle_stats(cb: CategoryBaskets, until_week: int, min_households: int = MIN_HOUSEHOLDS) -> pd.DataFrame:
    """Per category with a cycle: category (index), name, mean_days, sd_days (NaN when no household repeated it
    three times), households (repeating), gaps (all repeat gaps), sorted by category index."""
    per = household_gaps(cb, until_week)
    grouped = per.groupby("category")
    stats = pd.DataFrame(
        {
            "mean_days": grouped["mean_gap"].mean(),
            "sd_days": grouped["sd_gap"].mean(),  # NaN sds (one gap) are skipped
            "households": grouped.size(),
            "gaps": grouped["gaps"].sum(),
        }
    )
    stats = stats[stats["households"] >= min_households].reset_index()
    stats.insert(1, "name", [cb.names[c] for c in stats["category"]])
    return stats


@dataclass(frozen=True)
class Cycles:
    """Each category's cycle as arrays over the vocabulary (NaN where a category has none)."""

    mean: np.ndarray  # (C,)
    sd: np.ndarray  # (C,)

    @classmethod
    def from_stats(cls, stats: pd.DataFrame, n_categories: int) -> Cycles:
        mean = np.full(n_categories, np.nan)
        sd = np.full(n_categories, np.nan)
        idx = stats["category"].to_numpy(np.int64)
        mean[idx] = stats["mean_days"].to_numpy(np.float64)
        sd[idx] = stats["sd_days"].to_numpy(np.float64)
        return cls(mean, sd)


def household_state(cb: CategoryBaskets, start: int, end: int, as_of_day: int) -> tuple[np.ndarray, np.ndarray]:
    """A household's history in rows [start, end): per category, the baskets holding it (count) and the days
    from its last purchase to `as_of_day` (NaN if never bought)."""
    block = cb.matrix[start:end]
    counts = np.asarray(block.sum(0)).ravel()
    last = np.full(cb.n_categories, -1, np.int64)
    coo = block.tocoo()
    np.maximum.at(last, coo.col, cb.day[start:end][coo.row])
    since = np.where(last >= 0, as_of_day - last, np.nan).astype(np.float64)
    return counts, since

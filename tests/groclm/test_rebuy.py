from __future__ import annotations

import math

import numpy as np
import pytest

from tests.groclm.conftest import synthetic
from xpollinate.groclm.rebuy import cycle_stats, household_gaps, household_state


def _cb():  # categories A=0, B=1, C=2
    return synthetic(
        [
            (1, 1, 0, [1, 9]),  # A (and an excluded item)
            (1, 1, 3, [4, 2]),  # A, B
            (1, 1, 3, [1]),  # A again the same day: one purchase day
            (1, 2, 10, [1, 3]),  # A, C
            (1, 9, 40, [1]),  # after the training weeks: not in the cycles
            (2, 1, 0, [1]),
            (2, 1, 4, [1, 2]),
        ]
    )


def test_household_gaps_and_cycles_by_hand() -> None:
    cb = _cb()
    assert cb.names == ("A", "B", "C")
    per = household_gaps(cb, until_week=8).set_index(["household", "category"])
    # household 1, A: purchase days 0, 3, 10 -> gaps 3, 7: mean 5, sd (ddof=1) sqrt(8)
    assert per.loc[(1, 0), "gaps"] == 2 and per.loc[(1, 0), "mean_gap"] == 5.0
    assert per.loc[(1, 0), "sd_gap"] == pytest.approx(math.sqrt(8))
    # household 2, A: days 0, 4 -> one gap of 4, sd undefined
    assert per.loc[(2, 0), "mean_gap"] == 4.0 and math.isnan(per.loc[(2, 0), "sd_gap"])
    assert (1, 1) not in per.index  # B bought once
    stats = cycle_stats(cb, until_week=8, min_households=2)
    assert stats["name"].tolist() == ["A"]
    row = stats.iloc[0]
    assert row["mean_days"] == 4.5  # mean of the households' means (5, 4)
    assert row["sd_days"] == pytest.approx(math.sqrt(8))  # mean of the defined sds
    assert row["households"] == 2 and row["gaps"] == 3
    assert cycle_stats(cb, until_week=8, min_households=3).empty


def test_household_state_as_of_a_day() -> None:
    cb = _cb()
    start, end = cb.households()[1]
    counts, since = household_state(cb, start, start + 4, as_of_day=12)
    assert counts.tolist() == [4.0, 1.0, 1.0]  # baskets holding A, B, C
    assert since.tolist() == [2.0, 9.0, 2.0]
    counts, since = household_state(cb, start, start, as_of_day=12)
    assert counts.sum() == 0 and np.isnan(since).all()


def test_fixture_cycles_need_five_households(fixture_cb) -> None:
    stats = cycle_stats(fixture_cb, until_week=8)
    assert (stats["households"] >= 5).all() and "FLUID MILK PRODUCTS" in set(stats["name"])
    assert (stats["mean_days"] >= 7).all()  # the fixture's baskets of a week share one day

"""Synthetic category baskets for hand-computed checks, and the fixture store's."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from xpollinate.catalog.store import DataStore
from xpollinate.groclm.baskets import CategoryBaskets

START = datetime(2017, 1, 1, 9, 0)
# item id -> category (A, B, C; item 9 is excluded and must vanish)
ITEMS = pd.DataFrame(
    {
        "item_id": [1, 2, 3, 4, 9],
        "category": ["A", "B", "C", "A", "TOBACCO"],
        "item_class": ["grocery", "gm", "grocery", "grocery", "excluded"],
    }
)


def synthetic(baskets: list[tuple[int, int, int, list[int]]]) -> CategoryBaskets:
    """Baskets as (household, week, day, item ids); basket ids in order, times 9:00 + the basket's index in
    minutes on its day."""
    rows = [
        {
            "basket_id": 100 + i,
            "household_id": h,
            "week": w,
            "timestamp": START + timedelta(days=d, minutes=i),
            "item_ids": items,
        }
        for i, (h, w, d, items) in enumerate(baskets)
    ]
    return CategoryBaskets.from_frames(pd.DataFrame(rows), ITEMS)


@pytest.fixture(scope="session")
def fixture_cb(fixture_store: DataStore) -> CategoryBaskets:
    return CategoryBaskets.from_store(fixture_store)


@pytest.fixture(scope="session")
def backbone():
    """The untuned SmolLM2 (GGUF -> torch), loaded once per session (~10-20 s), one torch thread."""
    from xpollinate.groclm.backbone import load_backbone

    return load_backbone(threads=1)

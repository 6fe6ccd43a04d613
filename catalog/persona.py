"""Household demographics as a numeric persona vector.

Ordered attributes (age, income, household size, kids) become one number in
[0, 1] by their rank; unordered ones (home ownership, marital status, household
composition) become one-hot columns. A missing answer is all zeros for that
attribute, and `has_demographics` tells households with no survey apart.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

ORDINAL = ("age", "income", "household_size", "kids_count")
CATEGORICAL = ("home_ownership", "marital_status", "household_comp")

# Fixed level lists keep the vector's layout stable across builds and datasets.
LEVELS: dict[str, tuple[str, ...]] = {
    "age": ("19-24", "25-34", "35-44", "45-54", "55-64", "65+"),
    "income": (
        "Under 15K",
        "15-24K",
        "25-34K",
        "35-49K",
        "50-74K",
        "75-99K",
        "100-124K",
        "125-149K",
        "150-174K",
        "175-199K",
        "200-249K",
        "250K+",
    ),
    "household_size": ("1", "2", "3", "4", "5+"),
    "kids_count": ("0", "1", "2", "3+"),
    "home_ownership": ("Homeowner", "Probable Homeowner", "Renter", "Probable Renter", "Unknown"),
    "marital_status": ("Married", "Unmarried", "Unknown"),
    "household_comp": ("1 Adult No Kids", "1 Adult Kids", "2 Adults No Kids", "2 Adults Kids"),
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def persona_columns() -> list[str]:
    """Names of the persona vector's columns, in order."""
    cols = [f"persona_{a}" for a in ORDINAL]
    for attr in CATEGORICAL:
        cols += [f"persona_{attr}__{_slug(level)}" for level in LEVELS[attr]]
    return cols


def encode(demographics: pd.DataFrame) -> pd.DataFrame:
    """Persona vector per row of `demographics`; unknown level strings count as missing."""
    out: dict[str, np.ndarray] = {}
    for attr in ORDINAL:
        levels = LEVELS[attr]
        rank = demographics[attr].map({lvl: i / (len(levels) - 1) for i, lvl in enumerate(levels)})
        out[f"persona_{attr}"] = rank.fillna(0.0).to_numpy(dtype=np.float32)
    for attr in CATEGORICAL:
        values = demographics[attr]
        for level in LEVELS[attr]:
            out[f"persona_{attr}__{_slug(level)}"] = (values == level).to_numpy(dtype=np.float32)
    return pd.DataFrame(out, index=demographics.index)[persona_columns()]

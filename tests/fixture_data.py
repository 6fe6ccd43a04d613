"""A tiny deterministic dataset in the Complete Journey schema, with planted associations."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

# (product_id, department, product_category, product_type)
FIXTURE_PRODUCTS = [
    (1, "GROCERY", "COFFEE", "GROUND COFFEE"),
    (2, "GROCERY", "COFFEE", "GROUND COFFEE"),
    (3, "GROCERY", "BAKED BREAD/BUNS/ROLLS", "HOT DOG BUNS"),
    (4, "GROCERY", "FLUID MILK PRODUCTS", "FLUID MILK WHITE ONLY"),
    (5, "GROCERY", "EGGS", "EGGS - LARGE"),
    (6, "DRUG GM", "CANDY - PACKAGED", "CANDY BAGS-CHOCOCLATE"),
    (11, "DRUG GM", "COFFEE FILTERS", "COFFEE FILTERS"),
    (12, "DRUG GM", "COFFEE FILTERS", "COFFEE FILTERS"),
    (13, "DRUG GM", "CHARCOAL AND LIGHTER FLUID", "CHARCOAL"),
    (14, "GROCERY", "PAPER TOWELS", "PAPER TOWELS & HOLDERS"),
    (15, "DRUG GM", "BATTERIES", "ALKALINE BATTERIES"),
    (16, "DRUG GM", "KITCHEN GADGETS", "GADGETS/TOOLS"),
    (21, "DRUG GM", "CIGARETTES", "CIGARETTES"),
    (22, "MISCELLANEOUS", None, None),
]
N_HOUSEHOLDS = 12
N_BASKETS = 600


def make_fixture_source(root: Path) -> Path:
    """Write products/transactions/demographics parquet files with planted associations:
    coffee -> coffee filters and hot dog buns -> charcoal; batteries and paper towels random."""
    rng = np.random.default_rng(7)
    root.mkdir(parents=True, exist_ok=True)
    products = pd.DataFrame(FIXTURE_PRODUCTS, columns=["product_id", "department", "product_category", "product_type"])
    products.insert(1, "manufacturer_id", 1)
    products.insert(3, "brand", np.where(products["product_id"] % 2 == 0, "Private", "National"))
    products["package_size"] = "1 CT"
    products.to_parquet(root / "products.parquet", index=False)

    rows = []
    start = datetime(2017, 1, 1, 9, 0)
    for basket in range(N_BASKETS):
        household = 1 + basket % N_HOUSEHOLDS
        week = 1 + basket * 12 // N_BASKETS
        chosen = [4] if rng.random() < 0.8 else []
        if rng.random() < 0.25:
            chosen.append(1 if rng.random() < 0.6 else 2)
            if rng.random() < 0.6:
                chosen.append(11 if rng.random() < 0.7 else 12)
        elif rng.random() < 0.03:
            chosen.append(11)
        if rng.random() < 0.2:
            chosen.append(3)
            if rng.random() < 0.5:
                chosen.append(13)
        elif rng.random() < 0.02:
            chosen.append(13)
        for pid, p in ((5, 0.3), (6, 0.15), (14, 0.2), (15, 0.1), (16, 0.05), (21, 0.05), (22, 0.02)):
            if rng.random() < p:
                chosen.append(pid)
        if not chosen:
            chosen = [5]
        when = start + timedelta(days=7 * (week - 1), minutes=basket)
        for pid in chosen:
            qty = int(rng.integers(1, 3))
            rows.append((household, 100 + household % 3, 10_000 + basket, pid, qty, round(qty * 1.5, 2), week, when))
    rows.append((1, 100, 10_000, 999, 1, 1.0, 1, start))  # a line whose product is not in the catalog
    lines = pd.DataFrame(
        rows,
        columns=[
            "household_id",
            "store_id",
            "basket_id",
            "product_id",
            "quantity",
            "sales_value",
            "week",
            "transaction_timestamp",
        ],
    )
    for col in ("retail_disc", "coupon_disc", "coupon_match_disc"):
        lines.insert(lines.columns.get_loc("week"), col, 0.0)
    lines.to_parquet(root / "transactions.parquet", index=False)

    demographics = pd.DataFrame(
        {
            "household_id": [1, 2, 3, 4, 5],
            "age": ["19-24", "25-34", "45-54", "65+", None],
            "income": ["Under 15K", "50-74K", "250K+", "35-49K", "15-24K"],
            "home_ownership": ["Homeowner", "Renter", None, "Homeowner", "Probable Renter"],
            "marital_status": ["Married", "Unmarried", "Married", None, "Unmarried"],
            "household_size": ["1", "2", "5+", "3", "2"],
            "household_comp": ["1 Adult No Kids", "2 Adults Kids", "2 Adults Kids", "2 Adults No Kids", "1 Adult Kids"],
            "kids_count": ["0", "1", "3+", "0", "1"],
        }
    )
    demographics.to_parquet(root / "demographics.parquet", index=False)
    return root

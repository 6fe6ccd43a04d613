"""Grocery (OG) vs general merchandise (GM), decided per (department, category).

The rule lives as reviewed data in `category_classes.csv`, one row per
(department, product_category) pair of the catalog, with a reason. Three classes:

- `grocery`: food and beverages people eat or drink (including alcohol, pet food,
  candy, baby food and infant formula, wherever the department files them);
- `gm`: non-food merchandise: kitchen and cookware, household paper, cleaning and
  laundry supplies, personal care and cosmetics, baby and pet supplies, batteries,
  hardware, stationery, toys, seasonal decor, apparel, books, floral and garden;
- `excluded`: lines that are neither an anchor nor a recommendation: coupons, fuel,
  deposits, gift and phone cards, tobacco, OTC drugs and supplements, periodicals,
  photofinishing, served restaurant food, and products with no category.

The department alone is not enough: DRUG GM holds candy and baby food next to
cookware and batteries, and GROCERY holds paper towels and laundry detergent.

A category is not always enough either: seasonal, household and party categories file
candy bars, gum, cookies and drinks beside their merchandise. `pt_overrides.csv`, a
reviewed per-product-type table with a reason per row, reclassifies those items; it
applies only to items the category table classes `gm` (food filed under GM).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Literal

import pandas as pd

from xpollinate.errors import SourceDataError

ItemClass = Literal["grocery", "gm", "excluded"]
CLASSES: tuple[str, ...] = ("grocery", "gm", "excluded")
MAPPING_FILE = "category_classes.csv"
OVERRIDES_FILE = "pt_overrides.csv"


@lru_cache(maxsize=2)
def _text(name: str) -> str:
    return resources.files("xpollinate.catalog").joinpath(name).read_text(encoding="utf-8")


def mapping_text() -> str:
    """Both reviewed tables' text, category mapping then PT overrides (its hash is part of the store version)."""
    return _text(MAPPING_FILE) + "\n" + _text(OVERRIDES_FILE)


def load_overrides() -> pd.DataFrame:
    """The reviewed per-PT overrides: product_type, item_class, reason (one row per product type)."""
    from io import StringIO

    frame = pd.read_csv(StringIO(_text(OVERRIDES_FILE)), dtype=str, keep_default_na=False)
    bad = frame.loc[~frame["item_class"].isin(CLASSES), "item_class"].unique().tolist()
    if bad:
        raise SourceDataError(f"{OVERRIDES_FILE} has unknown item_class value(s) {bad}; allowed: {CLASSES}")
    if frame["product_type"].duplicated().any():
        raise SourceDataError(
            f"{OVERRIDES_FILE} lists a product type twice: {frame.loc[frame['product_type'].duplicated(), 'product_type'].tolist()}"
        )
    if (frame["reason"].str.strip() == "").any():
        raise SourceDataError(f"{OVERRIDES_FILE}: every row needs a reason")
    return frame


def load_mapping() -> pd.DataFrame:
    """The reviewed mapping as a frame: department, product_category ('' for none), item_class, reason."""
    from io import StringIO

    frame = pd.read_csv(StringIO(_text(MAPPING_FILE)), dtype=str, keep_default_na=False)
    bad = frame.loc[~frame["item_class"].isin(CLASSES), "item_class"].unique().tolist()
    if bad:
        raise SourceDataError(f"{MAPPING_FILE} has unknown item_class value(s) {bad}; allowed: {CLASSES}")
    dupes = frame.duplicated(["department", "product_category"])
    if dupes.any():
        raise SourceDataError(
            f"{MAPPING_FILE} lists some (department, category) pairs twice: {frame[dupes].values[:3].tolist()}"
        )
    return frame


def classify(products: pd.DataFrame) -> pd.Series:
    """Item class per product row: the category table's class, then the per-PT overrides for items it
    calls `gm` (when `product_type` is given); every (department, category) pair must be reviewed."""
    keys = pd.DataFrame(
        {"department": products["department"].fillna(""), "product_category": products["product_category"].fillna("")}
    )
    merged = keys.merge(load_mapping(), on=["department", "product_category"], how="left")
    unmapped = merged.loc[merged["item_class"].isna(), ["department", "product_category"]].drop_duplicates()
    if len(unmapped):
        pairs = "; ".join(f"{d!r}/{c!r}" for d, c in unmapped.head(10).itertuples(index=False))
        raise SourceDataError(
            f"{len(unmapped)} (department, category) pair(s) are not in {MAPPING_FILE}: {pairs}. "
            "Review them and add a row for each."
        )
    item_class = merged["item_class"].to_numpy(dtype=object)
    if "product_type" in products.columns:
        override = products["product_type"].fillna("").map(load_overrides().set_index("product_type")["item_class"])
        flip = (item_class == "gm") & override.notna().to_numpy()
        item_class[flip] = override.to_numpy()[flip]
    return pd.Series(item_class, index=products.index, name="item_class")

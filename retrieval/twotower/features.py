"""Item and household features of the two towers, as dense integer/float arrays.

Item content text is the product type, category and department (the dataset has no
product names); brand kind and price are separate features, so the ~92k catalog items
share ~3k distinct texts. Each distinct text is embedded once by MiniLM
(`retrieval.embedder.embed`) and cached in the run directory, keyed by the texts' hash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xpollinate.catalog.build import item_text
from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.embedder import DEFAULT_MODEL, cached_embed
from xpollinate.settings import ensure_dir

PRICE_BUCKETS = 16
CLASSES = ("grocery", "gm", "excluded")
EMBED_CHUNK = 256
Progress = Callable[[str, int, int], None]  # (stage, done, total)


def content_text(items: pd.DataFrame) -> pd.Series:
    """The embedded text: the catalog's readable text without brand and size."""
    frame = pd.DataFrame(
        {
            "product_type": items["product_type"],
            "product_category": items["category"],
            "department": items["department"],
            "brand": "",
            "package_size": "",
        }
    )
    return item_text(frame)


def text_vectors(texts: list[str], cache_dir: Path, progress: Progress | None = None) -> np.ndarray:
    """MiniLM vectors of `texts` (distinct), computed once and cached on disk."""
    tick = (lambda done, total: progress("embedding item texts", done, total)) if progress else None
    return cached_embed(texts, ensure_dir(cache_dir), DEFAULT_MODEL, progress=tick, chunk=EMBED_CHUNK)


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes with 0 reserved for 'none' (empty string)."""
    levels = sorted(v for v in values.unique() if v)
    lookup = {v: i + 1 for i, v in enumerate(levels)}
    return values.map(lambda v: lookup.get(v, 0)).to_numpy(np.int64), levels


@dataclass(frozen=True)
class ItemFeatures:
    """One row per catalog item (row order = `item_ids`, sorted)."""

    item_ids: np.ndarray  # int64 (N,)
    text_row: np.ndarray  # int64 (N,) -> text_vectors row
    text_vectors: np.ndarray  # float32 (T, 384), frozen
    pt: np.ndarray  # int64 (N,), 0 = none
    dept: np.ndarray
    category: np.ndarray  # int64 (N,), 0 = none; indexes category tag rows
    price_bucket: np.ndarray  # 0 = unknown price, 1..PRICE_BUCKETS by log-price quantile
    item_class: np.ndarray  # index into CLASSES
    private_brand: np.ndarray  # 0 national, 1 private, 2 other/unknown
    is_gm: np.ndarray  # bool
    subclass: np.ndarray  # int64 (N,): product type, or the category for items without one (hard negatives)
    pt_names: list[str]
    category_names: list[str]
    dept_names: list[str]

    @property
    def n(self) -> int:
        return len(self.item_ids)

    def rows(self, item_ids: np.ndarray) -> np.ndarray:
        """Row of each id; -1 for ids not in the catalog."""
        pos = np.searchsorted(self.item_ids, item_ids)
        pos = np.clip(pos, 0, max(self.n - 1, 0))
        return np.where(self.item_ids[pos] == item_ids, pos, -1)


def item_features(items: pd.DataFrame, cache_dir: Path, progress: Progress | None = None) -> ItemFeatures:
    items = items.sort_values("item_id").reset_index(drop=True)
    texts = content_text(items)
    distinct, text_row = np.unique(texts.to_numpy(dtype=str), return_inverse=True)
    vectors = text_vectors(distinct.tolist(), cache_dir, progress)
    pt, pt_names = _codes(items["product_type"].fillna(""))
    cat, cat_names = _codes(items["category"].fillna(""))
    dept, dept_names = _codes(items["department"].fillna(""))
    price = items["unit_price"].to_numpy(np.float64)
    known = np.isfinite(price) & (price > 0)
    bucket = np.zeros(len(items), np.int64)
    if known.any():
        edges = np.quantile(np.log(price[known]), np.linspace(0, 1, PRICE_BUCKETS + 1)[1:-1])
        bucket[known] = 1 + np.searchsorted(edges, np.log(price[known]), side="right")
    brand = items["brand"].fillna("").map({"National": 0, "Private": 1}).fillna(2).to_numpy(np.int64)
    sub_key = np.where(pt > 0, pt, len(pt_names) + 1 + cat)
    _, subclass = np.unique(sub_key, return_inverse=True)
    return ItemFeatures(
        item_ids=items["item_id"].to_numpy(np.int64),
        text_row=text_row.astype(np.int64),
        text_vectors=vectors,
        pt=pt,
        dept=dept,
        category=cat,
        price_bucket=bucket,
        item_class=items["item_class"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy(np.int64),
        private_brand=brand,
        is_gm=items["is_gm"].to_numpy(bool),
        subclass=subclass.astype(np.int64),
        pt_names=pt_names,
        category_names=cat_names,
        dept_names=dept_names,
    )


@dataclass(frozen=True)
class HouseholdFeatures:
    """Demographics per household: the store's persona vector plus `has_demographics`."""

    household_ids: np.ndarray  # int64 sorted
    persona: np.ndarray  # float32 (H, P+1)
    columns: list[str]

    def rows(self, household_ids: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(self.household_ids, household_ids), 0, max(len(self.household_ids) - 1, 0))
        return np.where(self.household_ids[pos] == household_ids, pos, -1)


def household_features(store: DataStore) -> HouseholdFeatures:
    frame = store.households().sort_values("household_id").reset_index(drop=True)
    cols = [c for c in frame.columns if c.startswith("persona_")]
    persona = np.column_stack([frame[cols].to_numpy(np.float32), frame["has_demographics"].to_numpy(np.float32)])
    return HouseholdFeatures(frame["household_id"].to_numpy(np.int64), persona, [*cols, "has_demographics"])

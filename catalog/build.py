"""`xp data build`: raw Complete Journey tables -> the normalized store.

Tables written (see `catalog.store` for the layout):

- items: item_id, text, product_type, category, department, brand, package_size,
  item_class (grocery | gm | excluded), is_grocery, is_gm, unit_price (median of
  sales_value / quantity over sold lines; NaN if never sold), n_baskets, n_households;
- baskets: basket_id, household_id, store_id, week, timestamp, item_ids (distinct
  product ids, in first-scanned order), n_items, has_grocery, has_gm;
- households: household_id, has_demographics, the raw demographics and the
  persona vector (`catalog.persona`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from xpollinate.catalog import classes, persona
from xpollinate.catalog.source import SourceFiles, locate_source
from xpollinate.catalog.store import DataStore, current_build_id, data_root, prune, publish
from xpollinate.errors import XPError
from xpollinate.publish import publish_dir
from xpollinate.settings import ensure_dir

# Bump when the store's schema or derivation changes: it is part of the build id.
BUILDER_VERSION = "1"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildOptions:
    """What a build reads; equal options and inputs give the same build id."""

    weeks: tuple[int, int] | None = None  # inclusive week range, e.g. (1, 8) for a slice

    def __post_init__(self) -> None:
        if self.weeks is not None:
            lo, hi = self.weeks
            if lo < 1 or hi < lo:
                raise XPError(f"weeks: expected 1 <= first <= last, got {lo}-{hi}")


def build_id_for(source: SourceFiles, options: BuildOptions) -> str:
    parts = [BUILDER_VERSION, source.fingerprint(), hashlib.sha256(classes.mapping_text().encode()).hexdigest()]
    parts.append("all" if options.weeks is None else f"{options.weeks[0]}-{options.weeks[1]}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _title(series: pd.Series) -> pd.Series:
    return series.fillna("").str.strip().str.title()


def item_text(items: pd.DataFrame) -> pd.Series:
    """Readable one-line description from the hierarchy (the dataset has no product names)."""
    pt, cat, dept = _title(items["product_type"]), _title(items["product_category"]), _title(items["department"])
    brand = items["brand"].fillna("").str.strip()
    size = items["package_size"].fillna("").str.strip()
    text = pt.where(pt != "", cat) + " (" + cat + ", " + dept + ")"
    text = text + np.where(brand != "", " - " + brand + " brand", "")
    text = text + np.where(size != "", ", " + size, "")
    return text.str.replace("(, ", "(", regex=False).str.replace(", )", ")", regex=False)


def _items(products: pd.DataFrame, lines: pd.DataFrame, basket_items: pd.DataFrame) -> pd.DataFrame:
    items = products.rename(columns={"product_id": "item_id", "product_category": "category"}).copy()
    items["item_class"] = classes.classify(products).to_numpy()
    items["is_grocery"] = items["item_class"] == "grocery"
    items["is_gm"] = items["item_class"] == "gm"
    items["text"] = item_text(products).to_numpy()
    sold = lines[(lines["quantity"] > 0) & (lines["sales_value"] > 0)]
    price = (sold["sales_value"] / sold["quantity"]).groupby(sold["product_id"]).median()
    items["unit_price"] = items["item_id"].map(price).astype("float64")
    pop = basket_items.groupby("product_id").agg(
        n_baskets=("basket_id", "size"), n_households=("household_id", "nunique")
    )
    items["n_baskets"] = items["item_id"].map(pop["n_baskets"]).fillna(0).astype("int64")
    items["n_households"] = items["item_id"].map(pop["n_households"]).fillna(0).astype("int64")
    for col in ("product_type", "category", "department", "brand", "package_size"):
        items[col] = items[col].fillna("")
    cols = [
        "item_id",
        "text",
        "product_type",
        "category",
        "department",
        "brand",
        "package_size",
        "item_class",
        "is_grocery",
        "is_gm",
        "unit_price",
        "n_baskets",
        "n_households",
    ]
    return items[cols].sort_values("item_id").reset_index(drop=True)


def _baskets(basket_items: pd.DataFrame, item_class: pd.Series) -> pa.Table:
    """One row per basket with a list column of distinct item ids (built from offsets, no Python loop)."""
    bi = basket_items.sort_values(["basket_id", "order"], kind="stable")
    ids = bi["basket_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    offsets = np.r_[starts, len(ids)].astype(np.int32)
    values = bi["product_id"].to_numpy(dtype=np.int64)
    cls = bi["product_id"].map(item_class).to_numpy()
    head = bi.iloc[starts]
    counts = np.diff(offsets)
    has_grocery = np.add.reduceat((cls == "grocery").astype(np.int32), starts) > 0
    has_gm = np.add.reduceat((cls == "gm").astype(np.int32), starts) > 0
    return pa.table(
        {
            "basket_id": head["basket_id"].to_numpy(dtype=np.int64),
            "household_id": head["household_id"].to_numpy(dtype=np.int64),
            "store_id": head["store_id"].to_numpy(dtype=np.int64),
            "week": head["week"].to_numpy(dtype=np.int64),
            "timestamp": pa.array(head["transaction_timestamp"].to_numpy(dtype="datetime64[ns]")),
            "item_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)),
            "n_items": counts.astype(np.int64),
            "has_grocery": has_grocery,
            "has_gm": has_gm,
        }
    )


def _households(household_ids: np.ndarray, demographics: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({"household_id": np.sort(household_ids)})
    frame = frame.merge(demographics, on="household_id", how="left")
    frame["has_demographics"] = frame["household_id"].isin(demographics["household_id"])
    vec = persona.encode(frame)
    raw = [c for c in demographics.columns if c != "household_id"]
    return pd.concat([frame[["household_id", "has_demographics", *raw]], vec], axis=1)


def _write_parquet(table: pa.Table | pd.DataFrame, path: Path) -> None:
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(table, path, compression="zstd")
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def build(
    home: Path | None = None,
    options: BuildOptions | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> tuple[DataStore, bool]:
    """Build the store if its inputs changed (or `force`); returns (store, built_now)."""
    options = options or BuildOptions()
    say = progress or (lambda _msg: None)
    root = ensure_dir(data_root(home))
    source = locate_source()
    say("fingerprinting source files")
    build_id = build_id_for(source, options)
    final = root / "builds" / build_id
    if not force and current_build_id(root) == build_id and (final / "manifest.json").is_file():
        return DataStore.open(home), False

    started = time.perf_counter()
    say("reading products, transactions, demographics")
    products = source.read("products")
    lines = source.read("transactions")
    demographics = source.read("demographics")
    if options.weeks is not None:
        lo, hi = options.weeks
        lines = lines[(lines["week"] >= lo) & (lines["week"] <= hi)]
        if lines.empty:
            raise XPError(f"weeks {lo}-{hi}: no transactions in that range (the data spans weeks 1-53)")
    # A few thousand real lines name products absent from products.parquet: with no
    # hierarchy they cannot be classified, so they are dropped and counted.
    unknown = ~lines["product_id"].isin(products["product_id"])
    dropped_lines = int(unknown.sum())
    lines = lines[~unknown]

    say("classifying items and computing prices and popularity")
    lines = lines.reset_index(drop=True)
    basket_items = lines.assign(order=np.arange(len(lines))).drop_duplicates(["basket_id", "product_id"])[
        ["basket_id", "product_id", "household_id", "store_id", "week", "transaction_timestamp", "order"]
    ]
    items = _items(products, lines, basket_items)
    item_class = items.set_index("item_id")["item_class"]
    say("assembling baskets")
    baskets = _baskets(basket_items, item_class)
    say("encoding household personas")
    households = _households(lines["household_id"].unique(), demographics)

    tmp = ensure_dir(root / "builds") / f".tmp-{build_id}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    say("writing the store")
    _write_parquet(items, tmp / "items.parquet")
    _write_parquet(baskets, tmp / "baskets.parquet")
    _write_parquet(households, tmp / "households.parquet")
    manifest = {
        "build_id": build_id,
        "builder_version": BUILDER_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": str(source.root),
        "weeks": list(options.weeks) if options.weeks else None,
        "seconds": round(time.perf_counter() - started, 2),
        "counts": {**counts(items, baskets.to_pandas(), households), "lines_dropped_unknown_product": dropped_lines},
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    previous = current_build_id(root)
    publish_dir(tmp, final)
    publish(root, build_id)
    prune(root, keep={build_id} | ({previous} if previous else set()))
    return DataStore.open(home), True


def counts(items: pd.DataFrame, baskets: pd.DataFrame, households: pd.DataFrame) -> dict[str, int]:
    """The figures `xp data info` prints."""
    return {
        "items": len(items),
        "items_grocery": int(items["is_grocery"].sum()),
        "items_gm": int(items["is_gm"].sum()),
        "items_excluded": int((items["item_class"] == "excluded").sum()),
        "items_sold": int((items["n_baskets"] > 0).sum()),
        "product_types": int(items.loc[items["product_type"] != "", "product_type"].nunique()),
        "baskets": len(baskets),
        "baskets_with_grocery_and_gm": int((baskets["has_grocery"] & baskets["has_gm"]).sum()),
        "basket_lines": int(baskets["n_items"].sum()),
        "households": len(households),
        "households_with_demographics": int(households["has_demographics"].sum()),
    }

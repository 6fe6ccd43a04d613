"""The ranking task on Complete Journey baskets (what the ranker learns and is scored on).

The paper trains on impression logs: a GM item shown in a cart session, clicked, and added
to cart within 7 days. No public dataset has impressions, so the labels are substituted
with purchases:

- a **basket** that holds grocery and GM items is a cart;
- its **candidates** are the pool of `ranking.pool` for the basket's grocery items
  (historical candidates, top-30 per OG item, at most 300, PT-stratified); with `item_xp`,
  the anchors of a stored item-XP run take their Item XP list (the model's items and the
  historical ones merged, as the service pools them) and the others keep their historical
  candidates, so the ranker learns on the pools it will serve;
- **positives** are the pool's GM items the household bought in that basket (`label =
  "basket"`), or in that basket or any of its baskets in the next 7 days (`label = "7d"`,
  the paper's 7-day window);
- the **context** is the basket's items minus the positives (its OG items and its other GM
  items), in scan order; only the most recent `max_cart` (50) are kept (truncation by
  recency: the first-scanned items are dropped);
- baskets whose pool holds no positive are left out (they cannot be ranked); how many is
  recorded (`pool_recall` in the dataset's meta).

Time split by week (defaults: train 1-41, validation 42-46, test 47-53). Everything the
features and candidates learn from data uses the train weeks only: the association tables
(`--until-week`), hence the candidate pools, the persona propensities, the popularity
counts and the platform vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.publish import publish_dir
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.persona import PersonaTable
from xpollinate.ranking.pool import MAX_POOL, PER_ANCHOR, PoolConfig, build_pool
from xpollinate.retrieval.associations import AssocConfig, Associations, build_associations
from xpollinate.retrieval.candidate_lists import AnchorLists
from xpollinate.retrieval.candidate_table import HistoricalSource, build_table
from xpollinate.settings import ensure_dir, run_home

SPLITS = ("train", "val", "test")
MAX_LIST = 10_000  # longer than any stored list: "all of it"
DATASET_VERSION = "1"
Progress = Callable[[str, int, int], None]


class TaskConfig(BaseModel):
    """Split weeks, label definition, pool sizes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train_until: int = Field(41, ge=1, description="last training week")
    val_until: int = Field(46, ge=2, description="last validation week; the test weeks follow")
    test_until: int | None = Field(None, description="last test week (default: the last week of the data)")
    label: Literal["basket", "7d"] = "basket"
    max_cart: int = Field(50, ge=1, le=500)
    per_anchor: int = Field(PER_ANCHOR, ge=1, le=1000)
    max_pool: int = Field(MAX_POOL, ge=1, le=10_000)
    min_store_baskets: int = Field(50, ge=1, description="stores with fewer training baskets share platform 0")
    sample_baskets: int | None = Field(None, ge=1, description="quick runs: keep this many baskets per split (seeded)")
    seed: int = 0
    item_xp: str | None = Field(
        None, description="the item-XP lists merged into the pools: '<run id>:<fingerprint>' (None: historical only)"
    )

    @model_validator(mode="after")
    def _order(self) -> TaskConfig:
        if not self.train_until < self.val_until:
            raise ValueError(f"train_until ({self.train_until}) must be before val_until ({self.val_until})")
        if self.test_until is not None and self.test_until <= self.val_until:
            raise ValueError(f"test_until ({self.test_until}) must be after val_until ({self.val_until})")
        return self

    def assoc_config(self) -> AssocConfig:
        return AssocConfig(until_week=self.train_until)

    def key(self, build_id: str) -> str:
        payload = json.dumps(
            {"v": DATASET_VERSION, "build": build_id, "task": self.model_dump(mode="json")}, sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TaskData:
    """A prepared task: examples per split and the side tables the rankers need."""

    path: Path
    config: TaskConfig
    meta: dict
    catalog: CatalogView
    persona: PersonaTable
    platforms: dict[int, int]  # store id -> platform index (0 = rare/unknown)
    popularity: np.ndarray  # baskets per catalog row over the training weeks
    source: HistoricalSource

    def split(self, name: str) -> pd.DataFrame:
        if name not in SPLITS:
            raise XPError(f"split {name!r}: choose one of {', '.join(SPLITS)}")
        return pd.read_parquet(self.path / f"{name}.parquet")

    @property
    def tag(self) -> str:
        """The label as run ids carry it: 'basket', or 'basket.ixp' for pools with Item XP."""
        return self.config.label + (".ixp" if self.config.item_xp else "")

    def platform(self, store_id: int | None) -> int:
        return self.platforms.get(int(store_id), 0) if store_id is not None else 0


def task_dir(key: str, home: Path | None = None) -> Path:
    return (home or run_home()) / "ranking" / "datasets" / key


def _positives_7d(baskets: pd.DataFrame, catalog: CatalogView) -> dict[int, set[int]]:
    """GM items each basket's household bought in that basket or within the next 7 days."""
    out: dict[int, set[int]] = {}
    week = pd.Timedelta(days=7)
    for _, group in baskets.sort_values("timestamp").groupby("household_id", sort=False):
        ts = group["timestamp"].to_numpy()
        gm_sets = []
        for ids in group["item_ids"]:
            rows = catalog.rows(np.asarray(ids, dtype=np.int64))
            gm_sets.append({int(i) for i, r in zip(ids, rows) if r >= 0 and catalog.is_gm[r]})
        ends = np.searchsorted(ts, ts + week.to_timedelta64(), side="right")
        for n, bid in enumerate(group["basket_id"].to_numpy()):
            out[int(bid)] = set().union(*gm_sets[n : ends[n]])
    return out


def _split_baskets(baskets: pd.DataFrame, lo: int, hi: int, config: TaskConfig) -> pd.DataFrame:
    part = baskets[(baskets["week"] >= lo) & (baskets["week"] <= hi) & baskets["has_grocery"] & baskets["has_gm"]]
    if config.sample_baskets is not None and len(part) > config.sample_baskets:
        part = part.sample(config.sample_baskets, random_state=config.seed).sort_values("basket_id")
    return part


def make_examples(
    baskets: pd.DataFrame,
    catalog: CatalogView,
    source: HistoricalSource,
    config: TaskConfig,
    later: pd.DataFrame | None = None,
    progress: Progress | None = None,
    label: str = "examples",
) -> tuple[pd.DataFrame, dict]:
    """One example per basket with grocery and GM items whose pool holds a positive."""
    baskets = baskets[baskets["has_grocery"] & baskets["has_gm"]]
    seven = _positives_7d(later if later is not None else baskets, catalog) if config.label == "7d" else None
    pool_config = PoolConfig(per_anchor=config.per_anchor, max_pool=config.max_pool, seed=config.seed)
    rows_out: list[dict] = []
    n_gm_items = n_gm_in_pool = 0
    total = len(baskets)
    for n, b in enumerate(baskets.itertuples(index=False)):
        ids = np.asarray(b.item_ids, dtype=np.int64)
        rows = catalog.rows(ids)
        known = rows >= 0
        ids, rows = ids[known], rows[known]
        grocery = ids[catalog.is_grocery[rows]]
        pool = build_pool(grocery.tolist(), source, catalog, pool_config)
        bought_gm = {int(i) for i, r in zip(ids, rows) if catalog.is_gm[r]}
        n_gm_items += len(bought_gm)
        targets = bought_gm if seven is None else seven.get(int(b.basket_id), set()) | bought_gm
        pool_ids = pool.item_ids
        labels = [1 if i in targets else 0 for i in pool_ids]
        n_pos_basket = sum(1 for i in pool_ids if i in bought_gm)
        n_gm_in_pool += n_pos_basket
        if progress and (n % 1000 == 0 or n == total - 1):
            progress(label, n + 1, total)
        if not any(labels):
            continue
        positives = {i for i, y in zip(pool_ids, labels) if y}
        context = [int(i) for i in ids if int(i) not in positives]
        rows_out.append(
            {
                "basket_id": int(b.basket_id),
                "household_id": int(b.household_id),
                "store_id": int(b.store_id),
                "week": int(b.week),
                "n_context": len(context),
                "cart": context[-config.max_cart :],
                "candidates": pool_ids,
                "labels": labels,
            }
        )
    frame = pd.DataFrame(
        rows_out, columns=["basket_id", "household_id", "store_id", "week", "n_context", "cart", "candidates", "labels"]
    )
    stats = {
        "baskets": int(total),
        "examples": len(frame),
        "gm_items_bought": n_gm_items,
        "gm_items_in_pool": n_gm_in_pool,
        "pool_recall": round(n_gm_in_pool / max(n_gm_items, 1), 4),
    }
    return frame, stats


def lists_fingerprint(lists: AnchorLists) -> str:
    """A short digest of every anchor's (item, score) list: a task prepared on other lists gets another key."""
    digest = hashlib.sha256()
    for anchor in sorted(lists.anchor_ids()):
        ids, scores = lists.top_arrays(anchor, MAX_LIST)
        digest.update(np.int64(anchor).tobytes() + ids.astype(np.int64).tobytes() + scores.astype(np.float64).tobytes())
    return digest.hexdigest()[:12]


def merged_table(historical: pd.DataFrame, item_xp: AnchorLists) -> pd.DataFrame:
    """The candidate table with each item-XP anchor's list in place of its historical one (same columns)."""
    rows = []
    for anchor in item_xp.anchor_ids():
        ids, scores = item_xp.top_arrays(anchor, MAX_LIST)
        rows.append(
            pd.DataFrame({"anchor_id": anchor, "item_id": ids, "score": scores, "rank": np.arange(1, len(ids) + 1)})
        )
    kept = historical[~historical["anchor_id"].isin(item_xp.anchor_ids())]
    columns = ["anchor_id", "item_id", "score", "rank"]
    return pd.concat([kept[columns], *rows], ignore_index=True).astype(
        {"anchor_id": np.int64, "item_id": np.int64, "score": np.float64, "rank": np.int64}
    )


def prepare(
    store: DataStore,
    config: TaskConfig | None = None,
    home: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
    item_xp: AnchorLists | None = None,
) -> TaskData:
    """Build (or reuse) the task's examples and side tables in the run directory; `item_xp` (the lists that
    `config.item_xp` names) replaces the historical candidates of its anchors."""
    config = config or TaskConfig()
    if (config.item_xp is None) != (item_xp is None):
        raise XPError("a task with item-XP pools needs both config.item_xp and the lists it names")
    if item_xp is not None and not str(config.item_xp).endswith(":" + lists_fingerprint(item_xp)):
        raise XPError(f"the item-XP lists given are not the ones config.item_xp names ({config.item_xp})")
    say = progress or (lambda _s, _n, _t: None)
    final = task_dir(config.key(store.build_id), home)
    if not force and (final / "meta.json").is_file():
        return load_task(final, store, home)
    baskets = store.baskets()
    last_week = int(baskets["week"].max()) if len(baskets) else 0
    test_until = config.test_until or last_week
    if config.val_until >= last_week:
        raise XPError(f"val_until={config.val_until} leaves no test weeks: the data ends at week {last_week}")
    say("association tables (train weeks)", 0, 1)
    assoc, _ = build_associations(store, config.assoc_config(), home)
    say("association tables (train weeks)", 1, 1)
    items = store.items()
    catalog = CatalogView.from_items(items)
    ranges = {
        "train": (1, config.train_until),
        "val": (config.train_until + 1, config.val_until),
        "test": (config.val_until + 1, test_until),
    }
    parts = {split: _split_baskets(baskets, lo, hi, config) for split, (lo, hi) in ranges.items()}
    anchors = None
    if config.sample_baskets is not None:
        ids = np.concatenate(
            [np.concatenate(p["item_ids"].to_numpy()) for p in parts.values() if len(p)] or [np.zeros(0, np.int64)]
        )
        rows = catalog.rows(ids.astype(np.int64))
        anchors = sorted({int(i) for i, r in zip(ids, rows) if r >= 0 and catalog.is_grocery[r]})
    table_path = build_table(
        store, assoc, config.per_anchor, home, anchors=anchors, tick=lambda n, t: say("candidate table", n, t)
    )
    merged = merged_table(pd.read_parquet(table_path), item_xp) if item_xp is not None else None
    if merged is not None:
        table_path = final / "candidates.parquet"  # published with the task below
    source = HistoricalSource(merged) if merged is not None else HistoricalSource.load(table_path)
    train_b = baskets[baskets["week"] <= config.train_until]
    persona = PersonaTable.build(store.households(), train_b, catalog, until_week=config.train_until)
    exploded = train_b["item_ids"].explode().dropna().to_numpy(dtype=np.int64)
    pop_rows = catalog.rows(exploded)
    popularity = np.bincount(pop_rows[pop_rows >= 0], minlength=len(catalog)).astype(np.int64)
    store_counts = train_b["store_id"].value_counts()
    kept = sorted(int(s) for s in store_counts[store_counts >= config.min_store_baskets].index)
    platforms = {s: i + 1 for i, s in enumerate(kept)}
    root = ensure_dir(final.parent)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    stats = {}
    for split, (lo, hi) in ranges.items():
        later = baskets[(baskets["week"] >= lo) & (baskets["week"] <= hi + 1)]  # 7-day labels may reach one week on
        frame, stats[split] = make_examples(parts[split], catalog, source, config, later, say, f"examples: {split}")
        frame.to_parquet(tmp / f"{split}.parquet", index=False)
    persona.save(tmp)
    if merged is not None:
        merged.to_parquet(tmp / table_path.name, index=False)
    np.save(tmp / "popularity.npy", popularity)
    meta = {
        "version": DATASET_VERSION,
        "data_build": store.build_id,
        "assoc": assoc.path.name,
        "candidate_table": str(table_path),
        "item_xp_anchors": len(item_xp.anchor_ids()) if item_xp is not None else 0,
        "config": config.model_dump(mode="json"),
        "weeks": {k: list(v) for k, v in ranges.items()},
        "stats": stats,
        "platforms": {str(k): v for k, v in platforms.items()},
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    publish_dir(tmp, final)
    return load_task(final, store, home)


def load_task(path: Path, store: DataStore, home: Path | None = None) -> TaskData:
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    if meta["data_build"] != store.build_id:
        raise XPError(
            f"the task in {path} was prepared on data build {meta['data_build']}, not {store.build_id}; "
            "run `xp ranker prepare --force`"
        )
    table = Path(meta["candidate_table"])
    if not table.is_file():
        raise XPError(f"candidate table {table} is missing; run `xp ranker prepare --force`")
    return TaskData(
        path=path,
        config=TaskConfig.model_validate(meta["config"]),
        meta=meta,
        catalog=CatalogView.from_items(store.items()),
        persona=PersonaTable.load(path),
        platforms={int(k): int(v) for k, v in meta["platforms"].items()},
        popularity=np.load(path / "popularity.npy"),
        source=HistoricalSource.load(table),
    )


def open_assoc(store: DataStore, config: TaskConfig, home: Path | None = None) -> Associations:
    return build_associations(store, config.assoc_config(), home)[0]

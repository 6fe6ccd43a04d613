"""Grocery -> GM association tables, built once per (data build, settings) and kept in the run directory.

Tables (Parquet, under `$XP_HOME/assoc/<key>/`, key = hash of data build id + settings):

- `pt_basket`, `pt_window`: PT-level pair statistics per basket and per household window;
- `item_basket`, `item_window`: the same at item level;
- `pt_semantic`: PT-name similarity pairs.

Each statistics table has antecedent, consequent, n_a, n_b, n_ab, n_transactions,
support, confidence, lift, leverage, conviction, adjusted_lift (see `retrieval.mba`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.publish import publish_dir
from xpollinate.retrieval import mba
from xpollinate.retrieval.pt_semantic import semantic_pairs
from xpollinate.retrieval.transactions import BasketLines, key_map, side_incidence, transaction_index, transaction_sizes
from xpollinate.settings import ensure_dir, run_home

STAT_TABLES = ("pt_basket", "pt_window", "item_basket", "item_window")
Progress = Callable[[str], None]


class AssocConfig(BaseModel):
    """Settings of the association build. Defaults were chosen on the full dataset (see README)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_weeks: int = Field(3, ge=1, le=53, description="household multi-session window, in weeks")
    until_week: int | None = Field(None, ge=1, description="use only transactions up to this week (time splits)")
    pt_basket: mba.Thresholds = mba.Thresholds(min_support=1e-4, min_confidence=0.005, min_count=10)
    pt_window: mba.Thresholds = mba.Thresholds(min_support=5e-4, min_confidence=0.01, min_count=10)
    item_basket: mba.Thresholds = mba.Thresholds(min_count=3)
    item_window: mba.Thresholds = mba.Thresholds(min_count=3)
    semantic_top_k: int = Field(10, ge=0, le=100, description="GM PTs kept per grocery PT by name similarity")
    semantic_min_similarity: float = Field(0.5, ge=-1.0, le=1.0, description="minimum cosine similarity of PT names")

    def key(self, build_id: str) -> str:
        payload = json.dumps({"build": build_id, "config": self.model_dump(mode="json")}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def compute_statistics(
    items: pd.DataFrame, baskets: pd.DataFrame, config: AssocConfig, progress: Progress | None = None
) -> dict[str, pd.DataFrame]:
    """The four pair-statistics tables (no I/O; the benchmark times exactly this)."""
    say = progress or (lambda _m: None)
    if config.until_week is not None:
        baskets = baskets[baskets["week"] <= config.until_week]
    lines = BasketLines.from_baskets(baskets)
    out: dict[str, pd.DataFrame] = {}
    for unit in ("basket", "window"):
        trans, n_trans = transaction_index(lines, unit, config.window_weeks)
        sizes = transaction_sizes(lines, trans, n_trans)
        for level in ("pt", "item"):
            name = f"{level}_{unit}"
            say(f"pair statistics: {name}")
            og = side_incidence(lines, trans, n_trans, key_map(items, level, "grocery"))
            gm = side_incidence(lines, trans, n_trans, key_map(items, level, "gm"))
            out[name] = mba.pair_statistics(og, gm, getattr(config, name), sizes=sizes)
    return out


@lru_cache(maxsize=16)
def _read_table(path: Path, name: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path / f"{name}.parquet")
    except Exception as exc:
        raise XPError(f"cannot read {path / name}.parquet ({exc}); run `xp assoc build --force`") from exc


@dataclass(frozen=True)
class Associations:
    """Read access to one finished association build."""

    path: Path

    def table(self, name: str) -> pd.DataFrame:
        """One table; the small product-type tables are read once per process (a graph asks them per anchor)."""
        if name.startswith("pt_"):
            return _read_table(self.path, name)
        return _read_table.__wrapped__(self.path, name)

    @property
    def meta(self) -> dict:
        return json.loads((self.path / "meta.json").read_text(encoding="utf-8"))


def build_associations(
    store: DataStore,
    config: AssocConfig | None = None,
    home: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> tuple[Associations, bool]:
    """Build (or reuse) the association tables for `store` and `config`; returns (tables, built_now)."""
    config = config or AssocConfig()
    say = progress or (lambda _m: None)
    root = ensure_dir((home or run_home()) / "assoc")
    final = root / config.key(store.build_id)
    if not force and (final / "meta.json").is_file():
        return Associations(final), False
    started = time.perf_counter()
    say("loading the data store")
    items = store.items()
    tables = compute_statistics(items, store.baskets(columns=["household_id", "week", "item_ids"]), config, say)
    if config.semantic_top_k:
        say("embedding product-type names (MiniLM)")
        tables["pt_semantic"] = semantic_pairs(items, config.semantic_top_k, config.semantic_min_similarity)
    else:
        tables["pt_semantic"] = pd.DataFrame({"antecedent": [], "consequent": [], "similarity": []})
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, frame in tables.items():
        frame.to_parquet(tmp / f"{name}.parquet", index=False)
    meta = {
        "data_build": store.build_id,
        "config": config.model_dump(mode="json"),
        "rows": {name: len(frame) for name, frame in tables.items()},
        "seconds": round(time.perf_counter() - started, 2),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    publish_dir(tmp, final)
    _read_table.cache_clear()  # a forced rebuild replaces the tables at the same path
    return Associations(final), True


def open_associations(store: DataStore, config: AssocConfig | None = None, home: Path | None = None) -> Associations:
    """The association tables for `store` and `config`, built on first use."""
    return build_associations(store, config, home)[0]

"""Historical candidates precomputed per grocery item, so a cart's pool is dict lookups.

`retrieval.candidates.historical_candidates` ranks the GM candidates of one anchor; here it
runs once for every grocery item (the one implementation). Each call sees only that
anchor's rows of the association tables (split once up front), and the PT associations
and their GM items are computed once per product type, not once per anchor; an anchor
with no item-level pairs gets its PT's list (the same inputs give the same output). The result is stored as
`$XP_HOME/ranking/candidates/<assoc key>-<k>/table.parquet` (anchor_id, item_id, score, rank),
written to a temporary file and renamed into place.

`HistoricalSource` is the `CandidateSource` of `ranking.pool` over that table.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.associations import Associations
from xpollinate.retrieval.candidate_lists import AnchorLists
from xpollinate.retrieval.candidates import CandidateConfig, historical_candidates, pt_associations
from xpollinate.settings import ensure_dir, run_home

Tick = Callable[[int, int], None]


class _AnchorTables:
    """Duck-typed `Associations` that answers `table(name)` with one anchor's rows only."""

    def __init__(self, groups: dict[str, dict], anchor_id: int, anchor_pt: str, empty: dict[str, pd.DataFrame]):
        self._groups, self._item, self._pt, self._empty = groups, anchor_id, anchor_pt, empty

    def table(self, name: str) -> pd.DataFrame:
        key = self._item if name.startswith("item_") else self._pt
        return self._groups[name].get(key, self._empty[name])


def _split(assoc: Associations) -> tuple[dict[str, dict], dict[str, pd.DataFrame]]:
    groups, empty = {}, {}
    for name in ("pt_basket", "pt_window", "item_basket", "item_window", "pt_semantic"):
        frame = assoc.table(name)
        groups[name] = {k: g for k, g in frame.groupby("antecedent", sort=False)}
        empty[name] = frame.iloc[:0]
    return groups, empty


def compute_table(
    items: pd.DataFrame, assoc: Associations, anchors: Iterable[int], k: int = 30, tick: Tick | None = None
) -> pd.DataFrame:
    """Top-`k` historical candidates of each grocery item in `anchors` (non-grocery ids are skipped)."""
    config = CandidateConfig(max_candidates=k)
    groups, empty = _split(assoc)
    by_id = items.set_index("item_id", drop=False)
    gm = items[items["is_gm"]]
    anchors = [
        a for a in dict.fromkeys(int(a) for a in anchors) if a in by_id.index and bool(by_id.at[a, "is_grocery"])
    ]
    # Anchors of one product type share its PT associations and their GM items: computed once per PT.
    anchors.sort(key=lambda a: (by_id.at[a, "product_type"], a))
    per_pt: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    parts: list[pd.DataFrame] = []
    for n, anchor_id in enumerate(anchors):
        row = by_id.loc[anchor_id]
        view = _AnchorTables(groups, anchor_id, row["product_type"], empty)
        if row["product_type"] not in per_pt:
            pts = pt_associations(view, row["product_type"], config)  # type: ignore[arg-type]
            per_pt.clear()  # anchors are sorted by PT: one PT's entries are enough
            per_pt[row["product_type"]] = (pts, gm[gm["product_type"].isin(pts["product_type"])])
        pts, pt_items = per_pt[row["product_type"]]
        evidenced = anchor_id in groups["item_basket"] or anchor_id in groups["item_window"]
        if evidenced or "plain" not in per_pt:
            cands = historical_candidates(row, pt_items, view, config, pts=pts).items  # type: ignore[arg-type]
            if not evidenced:  # no item-level pairs: the same list for every such anchor of this PT
                per_pt["plain"] = cands  # type: ignore[assignment]
        else:
            cands = per_pt["plain"]  # type: ignore[assignment]
        parts.append(
            pd.DataFrame(
                {
                    "anchor_id": np.full(len(cands), anchor_id, dtype=np.int64),
                    "item_id": cands["item_id"].to_numpy(dtype=np.int64),
                    "score": cands["score"].to_numpy(dtype=np.float64),
                    "rank": np.arange(len(cands), dtype=np.int32),
                }
            )
        )
        if tick and (n % 200 == 0 or n == len(anchors) - 1):
            tick(n + 1, len(anchors))
    if not parts:
        return pd.DataFrame({"anchor_id": [], "item_id": [], "score": [], "rank": []})
    return pd.concat(parts, ignore_index=True)


def table_dir(assoc: Associations, k: int, home: Path | None = None, anchors: list[int] | None = None) -> Path:
    name = f"{assoc.path.name}-{k}"
    if anchors is not None:  # a partial table (quick runs, tests) never stands in for the full one
        name += "-" + hashlib.sha256(",".join(map(str, sorted(anchors))).encode()).hexdigest()[:12]
    return (home or run_home()) / "ranking" / "candidates" / name


def build_table(
    store: DataStore,
    assoc: Associations,
    k: int = 30,
    home: Path | None = None,
    force: bool = False,
    tick: Tick | None = None,
    anchors: list[int] | None = None,
) -> Path:
    """Build (or reuse) the table for every grocery item ever bought (or only `anchors`); returns its path."""
    folder = ensure_dir(table_dir(assoc, k, home, anchors))
    final = folder / "table.parquet"
    if final.is_file() and not force:
        return final
    items = store.items()
    if anchors is None:
        anchors = items.loc[items["is_grocery"] & (items["n_baskets"] > 0), "item_id"].tolist()
    table = compute_table(items, assoc, anchors, k, tick)
    tmp = folder / f".table-{os.getpid()}.parquet"
    table.to_parquet(tmp, index=False)
    os.replace(tmp, final)
    meta = {
        "assoc": assoc.path.name,
        "data_build": store.build_id,
        "k": k,
        "anchors": int(table["anchor_id"].nunique()),
    }
    tmp_meta = folder / f".meta-{os.getpid()}.json"
    tmp_meta.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    os.replace(tmp_meta, folder / "meta.json")
    return final


class HistoricalSource(AnchorLists):
    """`CandidateSource` over a precomputed candidate table: O(1) per anchor."""

    def __init__(self, table: pd.DataFrame):
        table = table.sort_values(["anchor_id", "rank"], kind="stable")
        anchors = table["anchor_id"].to_numpy()
        starts = np.flatnonzero(np.r_[True, anchors[1:] != anchors[:-1]]) if len(anchors) else np.array([], int)
        ends = np.r_[starts[1:], len(anchors)]
        ids = table["item_id"].to_numpy(dtype=np.int64)
        scores = table["score"].to_numpy(dtype=np.float64)
        super().__init__({int(anchors[s]): (ids[s:e], scores[s:e]) for s, e in zip(starts, ends)})

    @classmethod
    def load(cls, path: Path) -> HistoricalSource:
        return cls(pd.read_parquet(path))

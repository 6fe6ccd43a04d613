"""What a worker serves from: one immutable `ServingState`, built aside and swapped whole.

A state is assembled from four parts, each with a version string read cheaply from the
run directory (`versions`): the data store (catalog arrays, persona table, popular GM
items), the historical candidate table, the item-XP lists and the trained ranker. A
reload rebuilds only the parts whose version changed and reuses the others, so a batch
writing new item-XP rows does not re-read the catalog. Anything missing that the config
requires raises `NotReadyError` with every reason at once; the service then reports
them on /readyz and keeps serving the previous state, if it had one.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xpollinate.catalog.store import DataStore, current_build_id, data_root
from xpollinate.errors import XPError
from xpollinate.ranking.artifacts import models_root
from xpollinate.ranking.candidate_index import CandidateIndex
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.persona import PersonaTable
from xpollinate.ranking.scorer import CartScorer, HeuristicScorer, PopularityScorer, load_ranker
from xpollinate.retrieval.associations import AssocConfig
from xpollinate.retrieval.candidate_table import HistoricalSource
from xpollinate.serving.config import ServeConfig
from xpollinate.serving.sources import ItemXPLists, LayeredSource, popular_gm
from xpollinate.xpstore.item_xp_store import store_path


class NotReadyError(XPError):
    """The state cannot be built; `reasons` says what is missing and how to fix it."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("not ready: " + "; ".join(reasons))


@dataclass(frozen=True)
class DataPart:
    build_id: str
    catalog: CatalogView
    persona: PersonaTable
    popular: np.ndarray  # GM item ids, most purchased first


@dataclass(frozen=True)
class ServingState:
    versions: dict[str, str]
    data: DataPart
    historical: HistoricalSource
    item_xp: ItemXPLists
    source: CandidateIndex  # the layered item-XP/historical source, compiled (same lists, one lookup per cart)
    scorer: CartScorer  # the trained ranker, or the heuristic when none is served
    heuristic: HeuristicScorer  # always there: answers when a trained ranker fails a request
    popularity: PopularityScorer
    trained: bool  # False: the heuristic stands in for a missing trained ranker
    loaded_at: float = field(default_factory=time.time)
    load_seconds: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "versions": self.versions,
            "ranker": self.scorer.name,
            "trained_ranker": self.trained,
            "item_xp_anchors": len(self.item_xp),
            "catalog_items": len(self.data.catalog),
            "ranker_hot_candidates": getattr(getattr(self.scorer, "model", None), "hot_rows", None),
            "loaded_at": self.loaded_at,
            "load_seconds": round(self.load_seconds, 3),
            "torch_threads": _torch_threads(),
        }


def _torch_threads() -> int | None:
    """Torch's intra-op threads as seen by the calling thread (the event loop's, from /readyz); None before torch loads."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


def _stat(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_mtime_ns}:{st.st_size}"


def historical_table_path(home: Path, build_id: str, per_anchor: int) -> Path | None:
    """The historical candidate table of this data build with the default association settings (>= per_anchor deep)."""
    root = home / "ranking" / "candidates"
    key = AssocConfig().key(build_id)
    # Full tables only: `<key>-<k>`; a partial one (`<key>-<k>-<anchors hash>`) never stands in for it.
    full = re.compile(rf"^{key}-(\d+)$")
    found = [p for p in root.glob(f"{key}-*/table.parquet") if full.match(p.parent.name)] if root.is_dir() else []
    depth = {p: int(m.group(1)) for p in found if (m := full.match(p.parent.name))}
    deep = [p for p, k in depth.items() if k >= per_anchor]
    return min(deep, key=depth.__getitem__) if deep else None


def versions(config: ServeConfig) -> dict[str, str]:
    """Version of every part, from file names and stats only (cheap enough to poll)."""
    home = config.home
    build = current_build_id(data_root(home)) or "missing"
    table = historical_table_path(home, build, config.per_anchor) if build != "missing" else None
    xp = store_path(home)
    pointer = models_root(home) / "CURRENT"
    if config.ranker == "heuristic":
        ranker = "off"
    elif config.ranker_run:
        ranker = f"{config.ranker_run}@{_stat(models_root(home) / config.ranker_run / 'weights.pt')}"
    else:
        ranker = pointer.read_text(encoding="utf-8").strip() + "@" + _stat(pointer) if pointer.is_file() else "none"
    return {
        "data": build,
        "historical": f"{table.parent.name}@{_stat(table)}" if table else "missing",
        "item_xp": "off" if config.item_xp == "off" else f"{_stat(xp)}+{_stat(xp.with_name(xp.name + '-wal'))}",
        "ranker": ranker,
    }


def _load_data(home: Path) -> DataPart:
    store = DataStore.open(home)
    items = store.items()
    catalog = CatalogView.from_items(items)
    persona = PersonaTable.build(
        store.households(), store.baskets(columns=["basket_id", "household_id", "week", "item_ids"]), catalog
    )
    return DataPart(store.build_id, catalog, persona, popular_gm(catalog.n_baskets, catalog.is_gm, catalog.item_ids))


def _for_serving(trained: CartScorer, config: ServeConfig) -> CartScorer:
    """Torch threads per worker, and the neural ranker's fast path (`ranking.fast`: same scores, less work)."""
    import torch

    torch.set_num_threads(config.threads)
    from xpollinate.ranking.fast import FAST_ARCHS, FastRanker
    from xpollinate.ranking.neural_scorer import NeuralScorer

    if config.fast and isinstance(trained, NeuralScorer) and trained.model.cfg.arch in FAST_ARCHS:
        return trained.with_model(
            FastRanker(trained.model, bf16=config.bf16), name=f"{trained.name}+fast" + ("-bf16" if config.bf16 else "")
        )
    return trained


def _with_hot_candidates(trained: CartScorer, source: CandidateIndex, catalog: CatalogView) -> CartScorer:
    """The fast path with compact candidate tables for every item the index can pool (`FastRanker.with_hot_rows`)."""
    from xpollinate.ranking.fast import FastRanker
    from xpollinate.ranking.neural_scorer import NeuralScorer

    if not (isinstance(trained, NeuralScorer) and isinstance(trained.model, FastRanker)):
        return trained
    rows = trained.catalog.rows(np.unique(source.item_ids)) + 1  # feature-table rows (0: not in its catalog)
    # The serving catalog stands in for the ranker's own when they hold the same items (the same data build):
    # then the pool's candidate rows are the ranker's rows too, and requests pass them (`ScoreRequest.candidate_rows`).
    same = np.array_equal(trained.catalog.item_ids, catalog.item_ids)
    return trained.with_model(trained.model.with_hot_rows(rows[rows > 0]), catalog=catalog if same else None)


def load_state(config: ServeConfig, previous: ServingState | None = None) -> ServingState:
    """Build a full state, reusing the parts of `previous` whose version is unchanged."""
    started = time.perf_counter()
    now = versions(config)
    old = previous.versions if previous else {}
    reasons: list[str] = []
    home = config.home

    data = previous.data if previous and old.get("data") == now["data"] else None
    if data is None:
        try:
            data = _load_data(home)
        except XPError as exc:
            reasons.append(f"data store: {exc}")

    historical = previous.historical if previous and old.get("historical") == now["historical"] else None
    if historical is None and data is not None:
        path = historical_table_path(home, data.build_id, config.per_anchor)
        if path is None:
            reasons.append(
                f"historical candidates: no table for data build {data.build_id} under {home / 'ranking' / 'candidates'}; "
                "run `xp serve --build-missing` (or the cart ranker's candidate build) first"
            )
        else:
            historical = HistoricalSource.load(path)

    item_xp = previous.item_xp if previous and old.get("item_xp") == now["item_xp"] else None
    if item_xp is None:
        path = store_path(home)
        if config.item_xp == "off":
            item_xp = ItemXPLists.empty()
        elif not path.is_file():
            if config.item_xp == "required":
                reasons.append(
                    f"item-XP store: {path} does not exist; run the item-XP batch (`xp batch`), "
                    "or start with --item-xp optional to serve historical candidates only"
                )
            item_xp = ItemXPLists.empty()
        else:
            try:
                item_xp = ItemXPLists.load(path, config.min_combined)
            except XPError as exc:
                reasons.append(f"item-XP store: {exc}")

    trained: CartScorer | None = None
    if previous and previous.trained and old.get("ranker") == now["ranker"]:
        trained = previous.scorer
    elif config.ranker != "heuristic":
        try:
            trained = load_ranker(home, config.ranker_run)
        except Exception as exc:  # a damaged or incompatible model file: say so, never serve it
            reasons.append(f"trained ranker: cannot load {models_root(home) / (config.ranker_run or 'CURRENT')}: {exc}")
        else:
            if trained is None and config.ranker_run:
                reasons.append(
                    f"trained ranker: no saved run {config.ranker_run!r} under {models_root(home)} "
                    "(`xp ranker use` lists them)"
                )
            elif trained is None and config.ranker == "neural":
                reasons.append(
                    f"trained ranker: none saved under {models_root(home)}; train one or start with --ranker auto"
                )

    if reasons or data is None or historical is None or item_xp is None:
        raise NotReadyError(reasons or ["incomplete state"])
    reuse = previous is not None and all(old.get(p) == now[p] for p in ("data", "historical", "item_xp"))
    source = (
        previous.source
        if previous is not None and reuse and previous.source.k == config.per_anchor
        else LayeredSource(item_xp, historical).compile(data.catalog, config.per_anchor)
    )
    loaded = trained is not None and not (previous and trained is previous.scorer)  # not the previous state's
    if trained is not None and loaded:
        trained = _for_serving(trained, config)
    if trained is not None and (loaded or previous is None or source is not previous.source):
        trained = _with_hot_candidates(trained, source, data.catalog)
    heuristic = HeuristicScorer(data.catalog, source, data.persona, config.per_anchor)
    return ServingState(
        versions=now,
        data=data,
        historical=historical,
        item_xp=item_xp,
        source=source,
        scorer=trained if trained is not None else heuristic,
        heuristic=heuristic,
        popularity=PopularityScorer(data.catalog),
        trained=trained is not None,
        load_seconds=time.perf_counter() - started,
    )

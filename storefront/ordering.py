"""How a placement's retrieved items are ordered: the learned re-ranker when one is trained, else a stated
fallback (items this household bought most, then the most purchased), as the page's provenance records."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError

log = logging.getLogger("xpollinate.storefront")
Rank = Callable[[int, list[int]], Any]  # the learned re-ranker's rank(household_id, candidates)
FALLBACK = "history+popularity"
FALLBACK_NOTE = "items this household bought most first, then the catalog's most purchased"


@dataclass
class ItemOrder:
    """Orders candidate items for one household; `name` says which ranker answered, `note` why."""

    items: pd.DataFrame = field(repr=False)  # shown catalog indexed by item_id (n_baskets)
    rank: Rank | None = None
    name: str = FALLBACK
    note: str = FALLBACK_NOTE
    # calls the learned re-ranker could not answer (the page drains them into its fallbacks)
    errors: list[str] = field(default_factory=list)

    def order(self, household_id: int, candidates: Sequence[int], bought: Counter[int]) -> list[tuple[int, float]]:
        """(item id, score) best first, every candidate once."""
        ids = list(dict.fromkeys(int(c) for c in candidates))
        if self.rank is not None and ids:
            try:
                ranked = _pairs(self.rank(household_id, ids))
            except XPError as exc:  # this household or these items cannot be ranked: the fallback, recorded
                self.errors.append(f"learned re-ranker could not rank for household {household_id} ({exc})")
                log.warning("storefront: %s", self.errors[-1])
            else:
                allowed, seen = set(ids), {i for i, _ in ranked}
                return [p for p in ranked if p[0] in allowed] + [(i, float("-inf")) for i in ids if i not in seen]
        pop = self.items["n_baskets"]
        top = 1.0 + float(pop.max() or 1)
        keyed = sorted(ids, key=lambda i: (-bought.get(i, 0), -int(pop.get(i, 0)), i))
        return [(i, float(bought.get(i, 0)) + int(pop.get(i, 0)) / top) for i in keyed]  # own baskets, then share


def _pairs(answer: Any) -> list[tuple[int, float]]:
    """(item id, score) from the re-ranker's answer: pairs, objects with item_id/score, or a frame."""
    if isinstance(answer, pd.DataFrame):
        return [(int(i), float(s)) for i, s in zip(answer["item_id"], answer["score"])]
    out = []
    for entry in answer:
        if isinstance(entry, tuple):
            out.append((int(entry[0]), float(entry[1])))
        elif isinstance(entry, dict):
            out.append((int(entry["item_id"]), float(entry["score"])))
        else:
            out.append((int(entry.item_id), float(entry.score)))
    return out


def item_order(items: pd.DataFrame, store: DataStore | None = None, home: Path | None = None) -> ItemOrder:
    """The learned re-ranker (`LearnedReranker.load`) when it is trained for this store, else the fallback (why: in
    its note). Without a store (tests), the fallback."""
    if store is None:
        return ItemOrder(items, note=f"no data store given; {FALLBACK_NOTE}")
    try:
        from xpollinate.storefront.learned_reranker import LearnedReranker

        reranker = LearnedReranker.load(store, home)
    except ImportError as exc:
        return ItemOrder(items, note=f"no learned re-ranker in this build ({exc.name}); {FALLBACK_NOTE}")
    except XPError as exc:
        return ItemOrder(items, note=f"learned re-ranker not available ({exc}); {FALLBACK_NOTE}")
    return ItemOrder(items, rank=reranker.rank, name=f"learned re-ranker (LightGBM, {reranker.path.name})", note="")

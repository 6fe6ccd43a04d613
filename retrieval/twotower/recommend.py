"""Serving: a household's personalised candidates from the saved model and a FAISS index.

The user vectors are computed from the household's purchase history (all of it, or up to
`as_of_week`) and its demographics; items come from inner-product search over every catalog
item's embedding, filtered after search (GM only, an allowed list). Cold start is explicit
and stated in the response's `path`:

- unknown household -> the most purchased items (popularity);
- known household without history before `as_of_week` -> the user tower on demographics alone;
- one basket of history -> the towers on that basket (long-term and next-basket windows coincide);
- items never seen in training are ranked by their content-only embedding (their delta is zero),
  and flagged `seen_in_training = False`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.retrieval.twotower.baselines import popularity
from xpollinate.retrieval.twotower.evaluate import user_vectors
from xpollinate.retrieval.twotower.features import CLASSES
from xpollinate.retrieval.twotower.index import IndexKind, ItemIndex, round_robin
from xpollinate.retrieval.twotower.training import restore


@dataclass(frozen=True)
class Recommendations:
    household_id: int
    path: str  # how the list was made (personalised, demographics only, popularity cold start)
    history_baskets: int
    items: pd.DataFrame  # rank, item_id, text, product_type, score, is_gm, seen_in_training, source

    def to_dict(self) -> dict:
        return {
            "household_id": self.household_id,
            "path": self.path,
            "history_baskets": self.history_baskets,
            "items": self.items.to_dict(orient="records"),
        }


class Recommender:
    """The saved model, the store's features and an index, loaded once and queried many times."""

    def __init__(
        self, store: DataStore, home: Path | None = None, name: str | None = None, index_kind: IndexKind = "exact"
    ) -> None:
        self.data, self.model, self.saved = restore(store, home, name)
        self.index = ItemIndex(self.saved.item_vectors, index_kind)
        self.index.add_partition(self.data.items.is_gm)  # --gm-only searches a GM graph of its own (hnsw)
        self.items = store.items(["item_id", "text", "product_type"]).sort_values("item_id").reset_index(drop=True)

    def _allowed(self, gm_only: bool, allowed_ids: list[int] | None) -> np.ndarray:
        """Items a response may hold: never `excluded` ones (coupons, fuel, deposits, tobacco, ...),
        which are no recommendation even where households bought them; GM only on request."""
        mask = self.data.items.is_gm.copy() if gm_only else self.data.items.item_class != CLASSES.index("excluded")
        if allowed_ids is not None:
            rows = self.data.items.rows(np.asarray(allowed_ids, np.int64))
            unknown = [i for i, r in zip(allowed_ids, rows) if r < 0]
            if unknown:
                raise XPError(f"allowed item ids not in the catalog: {unknown[:10]}")
            allow = np.zeros(self.data.items.n, bool)
            allow[rows] = True
            mask = mask & allow
        if not mask.any():
            raise XPError("the filter allows no items (check --gm-only and the allowed list)")
        return mask

    def recommend(
        self,
        household_id: int,
        k: int = 10,
        gm_only: bool = False,
        allowed_ids: list[int] | None = None,
        as_of_week: int | None = None,
    ) -> Recommendations:
        if k < 1 or k > 1000:
            raise XPError(f"k={k}: ask for between 1 and 1000 items")
        allowed = self._allowed(gm_only, allowed_ids)
        seq = self.data.seq
        baskets = seq.household_baskets(household_id)
        if len(baskets) == 0:
            rows = popularity(self.data.counts, 1, k, allowed)[0]
            return self._frame(
                household_id,
                "popularity: unknown household (cold start), the most purchased items",
                0,
                rows,
                np.full(len(rows), np.nan),
                ["popularity"] * len(rows),
            )
        if as_of_week is not None:
            baskets = baskets[seq.week[baskets] <= as_of_week] if len(baskets) else baskets
        n_hist = len(baskets)
        if n_hist:
            anchor, end = baskets[-1], seq.basket_end[baskets[-1]]
        else:
            first = seq.household_baskets(household_id)[0]
            anchor, end = first, seq.basket_start[first]
        gen, nxt = user_vectors(
            self.model,
            self.data,
            self.saved.config,
            np.array([anchor]),
            end=np.array([end]),
            item_vectors=self.saved.item_vectors,
        )
        if n_hist == 0:
            path = f"demographics only: no purchases up to week {as_of_week}"
        elif n_hist == 1:
            path = "personalised from one basket (long-term and next-basket windows coincide)"
        else:
            path = f"personalised from {n_hist} baskets"
        gen_scores, gi = self.index.search(gen, k, allowed)
        if nxt is None:
            rows, scores, source = gi[0], gen_scores[0], ["long-term"] * k
        else:
            next_scores, ni = self.index.search(nxt, k, allowed)
            rows = round_robin(ni, gi, k=k)[0]
            lookup = {int(r): (float(s), "next-basket") for r, s in zip(ni[0], next_scores[0]) if r >= 0}
            for r, s in zip(gi[0], gen_scores[0]):
                lookup.setdefault(int(r), (float(s), "long-term"))
            scores = np.array([lookup.get(int(r), (np.nan, ""))[0] for r in rows])
            source = [lookup.get(int(r), (np.nan, ""))[1] for r in rows]
            path += ", long-term and next-basket lists interleaved round-robin"
        return self._frame(household_id, path, n_hist, rows, scores, source)

    def _frame(
        self, household_id: int, path: str, n_hist: int, rows: np.ndarray, scores: np.ndarray, source: list[str]
    ) -> Recommendations:
        keep = rows >= 0
        rows = rows[keep]
        frame = self.items.iloc[rows].reset_index(drop=True)
        frame.insert(0, "rank", np.arange(1, len(rows) + 1))
        frame["score"] = np.round(np.asarray(scores)[keep].astype(float), 4)
        frame["is_gm"] = self.data.items.is_gm[rows]
        frame["seen_in_training"] = self.saved.seen[rows]
        frame["source"] = np.asarray(source, dtype=object)[keep]
        return Recommendations(int(household_id), path, n_hist, frame)

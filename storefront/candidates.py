"""Candidates for re-ranking: a household's top-N two-tower items, with the items it bought before merged in.

The two-tower list is the one `xp twotower recommend` and its evaluation make: the next-basket and
long-term user vectors' FAISS results interleaved round-robin. The household's previously purchased
items are added to the pool (up to `n_history` of them, most often bought first, ties most recent), so
a re-ranker over the pool can always do at least as well as ranking previous purchases. Every
candidate carries both user vectors' scores (history items too) and its rank in the two-tower list
(NaN when only the history brought it).

`pool(...)` builds the candidates of many queries at once (the experiment); `CandidateSource` serves
one household from the saved model (the storefront).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.retrieval.twotower.config import TwoTowerConfig
from xpollinate.retrieval.twotower.evaluate import user_vectors
from xpollinate.retrieval.twotower.features import CLASSES
from xpollinate.retrieval.twotower.index import ItemIndex, round_robin
from xpollinate.retrieval.twotower.model import TwoTower
from xpollinate.retrieval.twotower.training import TrainingData
from xpollinate.storefront.features import History, basket_days, history

N_RETRIEVED = 100
N_HISTORY = 100


@contextmanager
def single_thread() -> Iterator[None]:
    """One torch and one FAISS thread while serving one household, then the previous settings: on 2 shared
    cores the thread pools spin (an exact FAISS query of one household took ~27 ms with the default threads)."""
    import faiss

    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        faiss.omp_set_num_threads(faiss_threads)


class UnknownHouseholdError(XPError):
    """The household has no baskets in the data store."""


@dataclass(frozen=True)
class CandidatePool:
    """Candidates of many queries as flat arrays, one row per (query, item), grouped by query."""

    query: np.ndarray  # (M,) int64 query index, ascending
    item: np.ndarray  # (M,) int64 item row
    tt_rank: np.ndarray  # (M,) float64 1-based rank in the two-tower list; NaN: from the history only
    score_long: np.ndarray  # (M,) float32 long-term user vector . item vector
    score_next: np.ndarray  # (M,) float32 next-basket user vector . item vector (= long-term without one)
    retrieval: np.ndarray  # (Q, n) the two-tower list of each query (item rows, -1 padded)
    history: History  # the purchases before each query (the features read them too)

    @property
    def n_queries(self) -> int:
        return len(self.retrieval)


def previous_items(hist: History, n_items: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(query, item row) of each query's `n` most often bought items (ties: most recently bought first)."""
    key = hist.query * n_items + hist.item
    uniq, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    last = np.zeros(len(uniq), np.int64)
    np.maximum.at(last, inv, np.arange(len(key)))
    q, it = uniq // n_items, uniq % n_items
    order = np.lexsort((-last, -cnt, q))
    q, it = q[order], it[order]
    first = np.searchsorted(q, q, side="left")
    keep = np.arange(len(q)) - first < n
    return q[keep], it[keep]


def pool(
    data: TrainingData,
    model: TwoTower,
    cfg: TwoTowerConfig,
    index: ItemIndex,
    baskets: np.ndarray,
    end: np.ndarray | None = None,
    n: int = N_RETRIEVED,
    n_history: int = N_HISTORY,
    allowed: np.ndarray | None = None,
) -> CandidatePool:
    """The candidates of each query: its household's history before basket `baskets[q]` (or before
    stream offset `end[q]`), top-`n` two-tower items (filtered by `allowed`) + up to `n_history` bought items."""
    if n < 1:
        raise XPError(f"n={n}: retrieve at least one candidate")
    baskets = np.asarray(baskets, np.int64)
    gen, nxt = user_vectors(model, data, cfg, baskets, end=end, item_vectors=index.vectors)
    _, gi = index.search(gen, n, allowed)
    ranked = gi if nxt is None else round_robin(*index.search(nxt, n, allowed)[1:], gi, k=n)
    hist = history(data.seq, baskets, end)
    hq, hi = previous_items(hist, data.items.n, n_history) if n_history > 0 else (np.zeros(0, np.int64),) * 2
    if allowed is not None:
        hq, hi = hq[allowed[hi]], hi[allowed[hi]]
    rq = np.repeat(np.arange(len(baskets)), n)
    rr = np.tile(np.arange(1, n + 1, dtype=np.float64), len(baskets))
    flat = ranked.reshape(-1)
    ok = flat >= 0
    query = np.r_[rq[ok], hq]
    item = np.r_[flat[ok], hi]
    rank = np.r_[rr[ok], np.full(len(hq), np.nan)]
    # one row per (query, item): retrieval rows come first, so the first occurrence keeps its rank
    _, first = np.unique(query * data.items.n + item, return_index=True)
    query, item, rank = query[first], item[first], rank[first]
    vectors = index.vectors
    score_long = np.einsum("ij,ij->i", gen[query], vectors[item])
    score_next = score_long if nxt is None else np.einsum("ij,ij->i", nxt[query], vectors[item])
    return CandidatePool(query, item, rank, score_long, score_next, ranked, hist)


@dataclass(frozen=True)
class Candidates:
    """One household's candidate pool as of a moment (see the module docstring)."""

    household_id: int
    item_ids: np.ndarray  # (M,) int64
    tt_rank: np.ndarray  # (M,) float64, NaN: from the history only
    score_long: np.ndarray
    score_next: np.ndarray
    from_history: np.ndarray  # (M,) bool: the household bought the item before
    history_baskets: int
    as_of_day: int  # the day the ranking is for
    pool: CandidatePool  # the same rows as a one-query pool (what the re-ranker's features read)

    def __len__(self) -> int:
        return len(self.item_ids)


class CandidateSource:
    """The saved two-tower model and its index, loaded once, serving one household's candidates at a time.

    Items classed `excluded` (coupons, fuel, deposits, tobacco) are never candidates."""

    def __init__(
        self,
        store: DataStore,
        home: Path | None = None,
        n: int = N_RETRIEVED,
        n_history: int = N_HISTORY,
        model_name: str | None = None,
    ) -> None:
        from xpollinate.retrieval.twotower.training import restore

        self.data, self.model, self.saved = restore(store, home, model_name)
        self.index = ItemIndex(self.saved.item_vectors, "exact")
        self.allowed = self.data.items.item_class != CLASSES.index("excluded")
        self.basket_day = basket_days(store, self.data.seq)
        self.n, self.n_history = n, n_history

    def household(self, household_id: int, as_of_week: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(anchor basket, history end offset) of a household's history up to `as_of_week` (all by default)."""
        seq = self.data.seq
        baskets = seq.household_baskets(household_id)
        if len(baskets) == 0:
            raise UnknownHouseholdError(
                f"household {household_id} has no baskets in the data store (ids run "
                f"{int(seq.household_id.min())}-{int(seq.household_id.max())})"
            )
        if as_of_week is not None:
            kept = baskets[seq.week[baskets] <= as_of_week]
            if len(kept) == 0:
                return np.array([baskets[0]]), np.array([seq.basket_start[baskets[0]]])
            baskets = kept
        return np.array([baskets[-1]]), np.array([seq.basket_end[baskets[-1]]])

    def candidates(self, household_id: int, as_of_week: int | None = None, as_of_day: int | None = None) -> Candidates:
        """The household's pool from its purchases up to `as_of_week` (default: all), for `as_of_day`
        (default: the day after the store's last basket in the weeks replayed)."""
        anchor, end = self.household(household_id, as_of_week)
        with single_thread():
            p = pool(
                self.data, self.model, self.saved.config, self.index, anchor, end, self.n, self.n_history, self.allowed
            )
        return self.wrap(household_id, p, as_of_day, as_of_week)

    def for_items(self, household_id: int, item_ids: list[int], as_of_week: int | None = None) -> Candidates:
        """A given list of items as the household's candidates, with their two-tower scores and ranks
        (NaN rank where the item is not in the household's top-N)."""
        rows = self.data.items.rows(np.asarray(item_ids, np.int64))
        unknown = [i for i, r in zip(item_ids, rows) if r < 0]
        if unknown:
            raise XPError(f"candidate item ids not in the catalog: {unknown[:10]}")
        full = self.candidates(household_id, as_of_week)
        anchor, end = self.household(household_id, as_of_week)
        with single_thread():
            gen, nxt = user_vectors(
                self.model, self.data, self.saved.config, anchor, end=end, item_vectors=self.index.vectors
            )
        vectors = self.index.vectors[rows]
        rank_of = {int(r): k + 1 for k, r in enumerate(full.pool.retrieval[0]) if r >= 0}
        score_long = vectors @ gen[0]
        p = CandidatePool(
            query=np.zeros(len(rows), np.int64),
            item=rows.astype(np.int64),
            tt_rank=np.array([rank_of.get(int(r), np.nan) for r in rows], np.float64),
            score_long=score_long,
            score_next=score_long if nxt is None else vectors @ nxt[0],
            retrieval=full.pool.retrieval,
            history=full.pool.history,
        )
        return self.wrap(household_id, p, full.as_of_day)

    def wrap(
        self, household_id: int, p: CandidatePool, as_of_day: int | None, as_of_week: int | None = None
    ) -> Candidates:
        bought = np.unique(p.history.item)
        if as_of_day is None:
            in_view = self.data.seq.week <= (as_of_week if as_of_week is not None else self.data.seq.last_week)
            as_of_day = int(self.basket_day[in_view].max()) + 1 if in_view.any() else int(self.basket_day.min())
        return Candidates(
            household_id=int(household_id),
            item_ids=self.data.items.item_ids[p.item],
            tt_rank=p.tt_rank,
            score_long=p.score_long,
            score_next=p.score_next,
            from_history=np.isin(p.item, bought),
            history_baskets=len(np.unique(p.history.basket)),
            as_of_day=int(as_of_day),
            pool=p,
        )

"""The candidate pool for a cart (XP paper 3.3.2).

For each grocery (OG) item in the cart, its top `per_anchor` (30) GM candidates come from
a `CandidateSource`; their union is the pool. A pool larger than `max_pool` (300) is cut
down by stratified sampling over product types: each PT keeps a share of the slots
proportional to its share of the union (largest remainders; the seed breaks ties), and
within a PT the best-scored candidates are kept. Each candidate keeps the anchor (cart
item) whose source score for it was highest, and all anchors that produced it.

Serving contract (stable: the HTTP service builds on it)::

    class CandidateSource(Protocol):
        def top(self, anchor_id: int, k: int) -> list[tuple[int, float]]

    build_pool(cart_item_ids, source, catalog, config=PoolConfig()) -> CandidatePool
    CandidatePool.item_ids / .anchor_ids / .scores / .product_types / .candidates

The union is computed on arrays (one request is ~600 (anchor, candidate) pairs): a
source that also has `top_arrays(anchor_id, k) -> (ids, scores)` (`ArraySource`: the
historical table, the item-XP lists) is read without building tuples; the pool keeps
its columns as arrays (`item_array`, `anchor_array`, `score_array`, `pt_codes`), and
the list views and `PoolCandidate` objects are built only when asked for.

`HistoricalSource` serves the market-basket candidates of `retrieval.candidates`,
precomputed once per grocery item into `$XP_HOME/ranking/candidates/<key>/` (see
`retrieval.candidate_table`) so that a lookup is a dict access.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from xpollinate.ranking.catalog_view import CatalogView


@runtime_checkable
class CandidateSource(Protocol):
    """Ranked GM candidates of one grocery anchor item: (item_id, score), best first."""

    def top(self, anchor_id: int, k: int) -> list[tuple[int, float]]: ...


@runtime_checkable
class ArraySource(Protocol):
    """A `CandidateSource` that also answers with arrays (int64 ids, float64 scores), so a request builds no tuples."""

    def top_arrays(self, anchor_id: int, k: int) -> tuple[np.ndarray, np.ndarray]: ...


Ids = Sequence[int] | np.ndarray  # item ids as a caller has them: a list or an int array


def as_ids(values: Ids) -> np.ndarray:
    """Item ids as a 1-d int64 array (no copy for one already)."""
    if not isinstance(values, np.ndarray):
        values = list(values)
    return np.asarray(values, dtype=np.int64).reshape(-1)


def distinct_in_order(ids: np.ndarray) -> np.ndarray:
    """The distinct ids, each at its first position (a cart's items, duplicates dropped)."""
    return np.fromiter(dict.fromkeys(ids.tolist()), dtype=np.int64)  # a dict keeps first positions; no sort


def sorted_lookup(sorted_set: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's position in the sorted `sorted_set` (by binary search) and whether it is there."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=np.int64), np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return pos, sorted_set[pos] == values


def in_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """`np.isin(values, sorted_set)` for a sorted `sorted_set`, by binary search (a cart is ~20 ids)."""
    return sorted_lookup(sorted_set, values)[1]


@dataclass(frozen=True)
class AnchorPairs:
    """The (anchor, candidate, score) pairs of several anchors' lists, concatenated in anchor order."""

    item_ids: np.ndarray  # int64
    scores: np.ndarray  # float64
    anchor_pos: np.ndarray  # int64: index of the pair's anchor in the anchors looked up
    item_rows: np.ndarray | None = None  # int64 catalog rows of the items, where the source knows them


def gather_pairs(anchors: Sequence[int] | np.ndarray, source: CandidateSource, k: int) -> AnchorPairs:
    """Each anchor's top `k` candidates, concatenated: the one lookup that the pool and the heuristic share.

    A source with `pairs(anchors, k)` (`ranking.candidate_index.CandidateIndex`) answers all anchors at once."""
    whole = getattr(source, "pairs", None)
    if whole is not None:
        return whole(as_ids(anchors), k)
    arrays = getattr(source, "top_arrays", None)
    ids: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for anchor in anchors.tolist() if isinstance(anchors, np.ndarray) else anchors:
        if arrays is not None:
            i, s = arrays(anchor, k)
        else:  # a plain CandidateSource (tests, other callers): its tuples as arrays
            pairs = source.top(anchor, k)
            i = np.array([p[0] for p in pairs], dtype=np.int64)
            s = np.array([p[1] for p in pairs], dtype=np.float64)
        ids.append(i)
        scores.append(s)
    if not ids:
        return AnchorPairs(np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64))
    lengths = [len(i) for i in ids]
    return AnchorPairs(
        np.concatenate(ids).astype(np.int64, copy=False),
        np.concatenate(scores).astype(np.float64, copy=False),
        np.repeat(np.arange(len(ids), dtype=np.int64), lengths),
    )


PER_ANCHOR = 30  # the paper: top-30 GM candidates per grocery item of the cart ...
MAX_POOL = 300  # ... and at most 300 in a cart's pool


class PoolConfig(BaseModel):
    """Pool sizes (the paper: top-30 per OG item, at most 300) and the sampling seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_anchor: int = Field(PER_ANCHOR, ge=1, le=1000, description="candidates taken per grocery item of the cart")
    max_pool: int = Field(
        MAX_POOL, ge=1, le=10_000, description="pool size cap, reached by stratified sampling over PTs"
    )
    seed: int = Field(0, description="breaks ties in the per-PT quotas (the pool is deterministic given it)")


@dataclass(frozen=True)
class PoolCandidate:
    item_id: int
    anchor_id: int  # the cart item whose source score for this candidate was highest
    score: float  # that source score
    product_type: str
    anchors: tuple[int, ...]  # every cart item that produced it, in cart order


@dataclass(frozen=True)
class CandidatePool:
    """The pool, best first, as aligned arrays; list views and `PoolCandidate`s on demand."""

    item_array: np.ndarray  # int64 candidate ids
    anchor_array: np.ndarray  # int64: the cart item whose source score for the candidate was highest
    score_array: np.ndarray  # float64: that score
    pt_codes: np.ndarray  # int64 codes into `pt_names` (-1: not in the catalog)
    item_rows: np.ndarray  # int64 catalog rows of the candidates (-1: not in the catalog)
    pt_names: tuple[str, ...]  # the catalog's product type names
    n_union: int  # size before the cap
    # Every (anchor, candidate, score) pair of the union (cart items dropped), in cart order then list order:
    # what the heuristic re-reads instead of looking the anchors up again.
    pair_items: np.ndarray = field(repr=False)
    pair_scores: np.ndarray = field(repr=False)
    pair_anchor_pos: np.ndarray = field(repr=False)  # index into `anchors_used`
    pair_union: np.ndarray = field(repr=False)  # index of each pair's item among the union (before the cap)
    union_pos: np.ndarray = field(repr=False)  # index of each pool item among the union
    anchors_used: list[int] = field(default_factory=list)  # grocery cart items queried
    skipped: list[int] = field(default_factory=list)  # cart items not queried (not grocery, or unknown)

    @property
    def item_ids(self) -> list[int]:
        return self.item_array.tolist()

    @property
    def anchor_ids(self) -> list[int]:
        return self.anchor_array.tolist()

    @property
    def scores(self) -> list[float]:
        return self.score_array.tolist()

    @property
    def product_types(self) -> list[str]:
        names = self.pt_names
        return [names[c] if c >= 0 else "" for c in self.pt_codes.tolist()]

    @cached_property
    def candidates(self) -> list[PoolCandidate]:
        by_item = np.argsort(self.pair_items, kind="stable")  # an item's anchors stay in cart order
        items = self.pair_items[by_item]
        lo = np.searchsorted(items, self.item_array, side="left").tolist()
        hi = np.searchsorted(items, self.item_array, side="right").tolist()
        anchors = np.asarray(self.anchors_used, dtype=np.int64)[self.pair_anchor_pos[by_item]].tolist()
        return [
            PoolCandidate(item, anchor, score, pt, tuple(anchors[a:b]))
            for item, anchor, score, pt, a, b in zip(
                self.item_ids, self.anchor_ids, self.scores, self.product_types, lo, hi
            )
        ]

    def __len__(self) -> int:
        return len(self.item_array)


@lru_cache(maxsize=64)
def _seed_draws(seed: int) -> np.ndarray:
    draws = np.random.default_rng(seed).random(4096)
    draws.flags.writeable = False
    return draws


class SeedDraws:
    """The uniform draws of `np.random.default_rng(seed)`, in the same order, from a per-seed cache.

    Making a Generator costs ~0.1 ms (seed hashing): as much as the rest of a pool's cap. A pool needs
    only the generator's first few hundred draws, identical for every request with the same seed."""

    def __init__(self, seed: int):
        self.seed, self.used = seed, 0

    def random(self, n: int) -> np.ndarray:
        end = self.used + n
        cached = _seed_draws(self.seed)
        draws = (
            cached[self.used : end] if end <= len(cached) else np.random.default_rng(self.seed).random(end)[self.used :]
        )
        self.used = end
        return draws


def stratified_quotas(sizes: np.ndarray, total: int, rng: np.random.Generator | SeedDraws) -> np.ndarray:
    """Slots per stratum proportional to `sizes`, summing to min(total, sizes.sum()), none above its size."""
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(min(total, sizes.sum()))
    quotas = np.zeros_like(sizes)
    remaining = total
    open_ = sizes > 0
    # Water-filling: give proportional shares, cap at each size, redistribute what is left.
    while remaining > 0 and open_.any():
        weights = np.where(open_, sizes - quotas, 0).astype(np.float64)
        share = weights / weights.sum() * remaining
        base = np.minimum(np.floor(share).astype(np.int64), sizes - quotas)
        left = remaining - int(base.sum())
        if left > 0:
            frac = np.where(open_ & (quotas + base < sizes), share - np.floor(share), -1.0)
            jitter = rng.random(len(sizes)) * 1e-9  # the seed breaks equal remainders
            order = np.argsort(-(frac + jitter), kind="stable")[:left]
            base[order[frac[order] >= 0]] += 1  # distinct indices: one +1 each
        if base.sum() == 0:
            break
        quotas += base
        remaining = total - int(quotas.sum())
        open_ = quotas < sizes
    return quotas


def build_pool(
    cart_item_ids: Ids, source: CandidateSource, catalog: CatalogView, config: PoolConfig | None = None
) -> CandidatePool:
    """Union of the top candidates of every grocery item in the cart, capped by stratified sampling."""
    config = config or PoolConfig()
    cart_ids = as_ids(cart_item_ids)
    distinct = distinct_in_order(cart_ids)  # unknown and non-grocery cart items are not anchors
    rows = catalog.rows(distinct)
    is_anchor = rows >= 0
    is_anchor[is_anchor] = catalog.is_grocery[rows[is_anchor]]
    used = distinct[is_anchor]
    pairs = gather_pairs(used, source, config.per_anchor)
    keep_pair = ~in_sorted(pairs.item_ids, np.sort(cart_ids))  # already in the cart: never recommended back
    p_items, p_scores, p_pos = pairs.item_ids[keep_pair], pairs.scores[keep_pair], pairs.anchor_pos[keep_pair]
    # By item, best score first; lexsort is stable, so equal scores keep cart order and the first anchor wins.
    order = np.lexsort((-p_scores, p_items))
    s_items = p_items[order]
    head = np.ones(len(s_items), dtype=bool)
    head[1:] = s_items[1:] != s_items[:-1]
    first = order[head]
    ids, scores, best_anchor = s_items[head], p_scores[first], used[p_pos[first]]
    pair_union = np.empty(len(order), dtype=np.int64)
    pair_union[order] = np.cumsum(head) - 1
    # Rows from the source where it has them (a compiled index), else one binary search over the catalog.
    item_rows = pairs.item_rows[keep_pair][first] if pairs.item_rows is not None else catalog.rows(ids)
    pts = catalog.pt_codes_of(item_rows)
    keep = np.arange(len(ids))
    if len(ids) > config.max_pool:
        rng = SeedDraws(config.seed)  # the draws of np.random.default_rng(seed), without making one per request
        # The PTs present (ascending codes, -1 first) and each candidate's index among them, by counting codes.
        per_code = np.bincount(pts + 1, minlength=len(catalog.pt_names) + 1)
        counts = per_code[per_code > 0]
        inverse = (np.cumsum(per_code > 0) - 1)[pts + 1]
        quotas = stratified_quotas(counts, config.max_pool, rng)
        # Within each PT the first `quota` by best score, then id (`ids` is ascending): one sort for all strata.
        order = np.lexsort((-scores, inverse))
        rank_in_pt = np.arange(len(order)) - (np.cumsum(counts) - counts)[inverse[order]]
        keep = np.sort(order[rank_in_pt < quotas[inverse[order]]])
    keep = keep[np.argsort(-scores[keep], kind="stable")]  # best first; ties by id, as `keep` is ascending
    return CandidatePool(
        item_array=ids[keep],
        anchor_array=best_anchor[keep],
        score_array=scores[keep],
        pt_codes=pts[keep],
        item_rows=item_rows[keep],
        pt_names=catalog.pt_names,
        n_union=len(ids),
        pair_items=p_items,
        pair_scores=p_scores,
        pair_anchor_pos=p_pos,
        pair_union=pair_union,
        union_pos=keep,
        anchors_used=used.tolist(),
        skipped=distinct[~is_anchor].tolist(),
    )

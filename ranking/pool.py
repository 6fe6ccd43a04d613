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

`HistoricalSource` serves the market-basket candidates of `retrieval.candidates`,
precomputed once per grocery item into `$XP_HOME/ranking/candidates/<key>/` (see
`ranking.candidate_table`) so that a lookup is a dict access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from xpollinate.ranking.catalog_view import CatalogView


@runtime_checkable
class CandidateSource(Protocol):
    """Ranked GM candidates of one grocery anchor item: (item_id, score), best first."""

    def top(self, anchor_id: int, k: int) -> list[tuple[int, float]]: ...


class PoolConfig(BaseModel):
    """Pool sizes (the paper: top-30 per OG item, at most 300) and the sampling seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_anchor: int = Field(30, ge=1, le=1000, description="candidates taken per grocery item of the cart")
    max_pool: int = Field(300, ge=1, le=10_000, description="pool size cap, reached by stratified sampling over PTs")
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
    candidates: list[PoolCandidate]
    n_union: int  # size before the cap
    anchors_used: list[int] = field(default_factory=list)  # grocery cart items queried
    skipped: list[int] = field(default_factory=list)  # cart items not queried (not grocery, or unknown)

    @property
    def item_ids(self) -> list[int]:
        return [c.item_id for c in self.candidates]

    @property
    def anchor_ids(self) -> list[int]:
        return [c.anchor_id for c in self.candidates]

    @property
    def scores(self) -> list[float]:
        return [c.score for c in self.candidates]

    @property
    def product_types(self) -> list[str]:
        return [c.product_type for c in self.candidates]

    def __len__(self) -> int:
        return len(self.candidates)


def stratified_quotas(sizes: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
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
            order = np.argsort(-(frac + jitter), kind="stable")
            for idx in order[:left]:
                if frac[idx] >= 0:
                    base[idx] += 1
        if base.sum() == 0:
            break
        quotas += base
        remaining = total - int(quotas.sum())
        open_ = quotas < sizes
    return quotas


def build_pool(
    cart_item_ids: Sequence[int], source: CandidateSource, catalog: CatalogView, config: PoolConfig | None = None
) -> CandidatePool:
    """Union of the top candidates of every grocery item in the cart, capped by stratified sampling."""
    config = config or PoolConfig()
    best: dict[int, list] = {}  # item -> [score, anchor, anchors]
    used: list[int] = []
    skipped: list[int] = []
    cart_ids = [int(i) for i in cart_item_ids]
    cart = set(cart_ids)
    seen_anchor: set[int] = set()
    cart_rows = catalog.rows(cart_ids).tolist() if cart_ids else []  # one lookup for the whole cart
    is_grocery = catalog.is_grocery
    for anchor, row in zip(cart_ids, cart_rows):
        if anchor in seen_anchor:
            continue
        seen_anchor.add(anchor)
        if row < 0 or not is_grocery[row]:
            skipped.append(anchor)
            continue
        used.append(anchor)
        for item_id, score in source.top(anchor, config.per_anchor):
            item_id = int(item_id)
            if item_id in cart:
                continue  # already in the cart: never recommended back
            entry = best.get(item_id)
            if entry is None:
                best[item_id] = [float(score), anchor, [anchor]]
            else:
                entry[2].append(anchor)
                if score > entry[0]:
                    entry[0], entry[1] = float(score), anchor
    ids = np.fromiter(best.keys(), dtype=np.int64, count=len(best))
    rows = catalog.rows(ids)
    pts = np.where(rows >= 0, catalog.pt_code[np.maximum(rows, 0)], -1)
    scores = np.array([best[int(i)][0] for i in ids], dtype=np.float64)
    keep = np.arange(len(ids))
    if len(ids) > config.max_pool:
        rng = np.random.default_rng(config.seed)
        strata, inverse = np.unique(pts, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(strata))
        quotas = stratified_quotas(counts, config.max_pool, rng)
        # Within each PT the first `quota` by best score, then id: one sort for all strata.
        order = np.lexsort((ids, -scores, inverse))
        rank_in_pt = np.arange(len(order)) - (np.cumsum(counts) - counts)[inverse[order]]
        keep = order[rank_in_pt < quotas[inverse[order]]]
    keep = keep[np.lexsort((ids[keep], -scores[keep]))]
    names = catalog.pt_names
    candidates = []
    for item_id, score, pt in zip(ids[keep].tolist(), scores[keep].tolist(), pts[keep].tolist()):
        entry = best[item_id]
        candidates.append(PoolCandidate(item_id, entry[1], score, names[pt] if pt >= 0 else "", tuple(entry[2])))
    return CandidatePool(candidates=candidates, n_union=len(ids), anchors_used=used, skipped=skipped)

"""One cart request and one item lookup, as pure functions of a `ServingState`.

Cart: pool (`ranking.pool.build_pool` over the layered item-XP/historical source) ->
scores (the trained ranker, else the heuristic) -> `ranking.diversify` -> top k. The service
scores through the worker's micro-batcher (`recommend_cart_batched`): the same plan and
finish, with the trained ranker called for several concurrent carts at once. An
empty pool (empty cart, or no grocery item with candidates) is answered with popular GM
items. The result says which path served it (`served_by`) and why (`fallbacks`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from xpollinate.errors import XPError
from xpollinate.ranking.diversify import diversify_positions
from xpollinate.ranking.pool import CandidatePool, PoolConfig, as_ids, build_pool, distinct_in_order
from xpollinate.ranking.scorer import CartScorer, ScoreRequest
from xpollinate.serving.batcher import BatchScorer, RankerBatcher
from xpollinate.serving.sources import HISTORICAL, ITEM_XP, POPULAR
from xpollinate.serving.state import ServingState

log = logging.getLogger("xpollinate.serving")
POPULAR_POOL = 300


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _score(
    scorer: CartScorer, known: np.ndarray, pool: CandidatePool, household_id: int | None, platform: int | None
) -> np.ndarray:
    """The scorer's `score_pool` where it has one (reuses the pool's lookups), else `score` on the pool's ids."""
    score_pool = getattr(scorer, "score_pool", None)
    if score_pool is not None:
        return score_pool(known, pool, household_id, platform)
    return scorer.score(known, pool.item_array, household_id, platform)


@dataclass(frozen=True)
class CartPlan:
    """A cart request up to scoring: the cart's ids split by what the catalog knows, and its candidate pool."""

    cart: np.ndarray
    known: np.ndarray
    unknown: list[int]
    pool: CandidatePool
    by_origin: dict[str, list[int]]
    origin_of: dict[int, str]


def plan_cart(state: ServingState, pool_config: PoolConfig, item_ids: list[int]) -> CartPlan:
    catalog = state.data.catalog
    cart = distinct_in_order(as_ids(item_ids))
    rows = catalog.rows(cart)
    known = cart[rows >= 0]
    pool = build_pool(known, state.source, catalog, pool_config)
    by_origin: dict[str, list[int]] = {ITEM_XP: [], HISTORICAL: [], "none": []}
    origin_of: dict[int, str] = {}
    for a, o in zip(pool.anchors_used, state.source.origin_names(pool.anchors_used)):
        o = o or "none"
        by_origin[o].append(a)
        origin_of[a] = o
    return CartPlan(cart, known, cart[rows < 0].tolist(), pool, by_origin, origin_of)


def score_request(state: ServingState, plan: CartPlan, household_id: int | None, platform: int | None) -> ScoreRequest:
    """The plan's scoring request; with the pool's catalog rows when the scorer reads the same catalog (no lookup)."""
    rows = plan.pool.item_rows if getattr(state.scorer, "catalog", None) is state.data.catalog else None
    return ScoreRequest(plan.known, plan.pool.item_array, household_id, platform, candidate_rows=rows)


def recommend_cart(
    state: ServingState,
    pool_config: PoolConfig,
    item_ids: list[int],
    k: int,
    max_per_pt: int,
    household_id: int | None = None,
    platform: int | None = None,
) -> dict[str, Any]:
    """Pool -> scores -> diversified top k; arrays throughout, Python objects only for the k returned."""
    plan = plan_cart(state, pool_config, item_ids)
    scored: np.ndarray | Exception | None = None
    if len(plan.pool):
        try:
            many = getattr(state.scorer, "score_many", None)
            scored = (
                many([score_request(state, plan, household_id, platform)])[0]
                if many is not None
                else _score(state.scorer, plan.known, plan.pool, household_id, platform)
            )
        except Exception as exc:  # a faulty model must not fail the request: finish_cart serves the heuristic
            scored = exc
    return finish_cart(state, plan, scored, k, max_per_pt, household_id, platform)


async def recommend_cart_batched(
    state: ServingState,
    pool_config: PoolConfig,
    batcher: RankerBatcher,
    item_ids: list[int],
    k: int,
    max_per_pt: int,
    household_id: int | None = None,
    platform: int | None = None,
) -> dict[str, Any]:
    """`recommend_cart`, with a scorer that can batch (`score_many`) called through the worker's micro-batcher."""
    if not hasattr(state.scorer, "score_many"):
        return recommend_cart(state, pool_config, item_ids, k, max_per_pt, household_id, platform)
    plan = plan_cart(state, pool_config, item_ids)
    scored: np.ndarray | Exception | None = None
    if len(plan.pool):
        try:
            scored = await batcher.score(
                cast(BatchScorer, state.scorer), score_request(state, plan, household_id, platform)
            )
        except Exception as exc:
            scored = exc
    return finish_cart(state, plan, scored, k, max_per_pt, household_id, platform)


def finish_cart(
    state: ServingState,
    plan: CartPlan,
    scored: np.ndarray | Exception | None,
    k: int,
    max_per_pt: int,
    household_id: int | None,
    platform: int | None,
) -> dict[str, Any]:
    """Scores (or the ranker's failure: the heuristic answers) -> diversified top k -> the response body."""
    catalog, pool, cart, known = state.data.catalog, plan.pool, plan.cart, plan.known
    fallbacks: list[str] = []
    anchors: np.ndarray | None
    if len(pool) == 0:
        fallbacks.append("empty_cart" if not len(known) else "no_candidates")
        popular = state.data.popular[: POPULAR_POOL + len(cart)]
        ids = popular[~np.isin(popular, cart)][:POPULAR_POOL]
        scores = state.popularity.score(known, ids)
        rows = catalog.rows(ids)
        pt_codes = catalog.pt_code[rows].astype(np.int64)
        anchors = None
        ranker, candidates_path = state.popularity.name, POPULAR
    else:
        ids, rows, pt_codes, anchors = pool.item_array, pool.item_rows, pool.pt_codes, pool.anchor_array
        ranker = state.scorer.name
        if isinstance(scored, Exception):
            if isinstance(scored, XPError):  # expected refusals (e.g. no cart item the model knows)
                log.warning("ranker %s refused a cart (%s); serving the heuristic", state.scorer.name, scored)
            else:
                log.error("ranker %s failed; serving the heuristic", state.scorer.name, exc_info=scored)
            fallbacks.append("ranker_error")
            scored, ranker = _score(state.heuristic, known, pool, household_id, platform), state.heuristic.name
        assert scored is not None  # a non-empty pool is always scored
        scores = scored
        if not state.trained:
            fallbacks.append("no_trained_ranker")
        if plan.by_origin[HISTORICAL]:
            fallbacks.append("historical_anchors")
        candidates_path = "+".join(p for p in (ITEM_XP, HISTORICAL) if plan.by_origin[p]) or HISTORICAL
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(scores))  # a candidate the ranker cannot represent is never shown
    picked = (
        finite[diversify_positions(scores[finite], pt_codes[finite].tolist(), k=k, max_per_pt=max_per_pt)]
        if len(finite)
        else finite
    )
    pick_ids = ids[picked].tolist()
    pick_rows = rows[picked].tolist()
    pick_anchors = anchors[picked].tolist() if anchors is not None else [None] * len(pick_ids)
    names, origin_of = catalog.pt_names, plan.origin_of
    items = [
        {
            "rank": rank,
            "item_id": item,
            "score": _finite(score),
            "product_type": names[code] if code >= 0 else "",
            "text": catalog.text[row] if row >= 0 else "",
            "anchor_id": anchor,
            "source": POPULAR if anchor is None else origin_of.get(anchor, HISTORICAL),
        }
        for rank, (item, score, code, row, anchor) in enumerate(
            zip(pick_ids, scores[picked].tolist(), pt_codes[picked].tolist(), pick_rows, pick_anchors), start=1
        )
    ]
    return {
        "items": items,
        "served_by": {"candidates": candidates_path, "ranker": ranker, "fallbacks": fallbacks},
        "unknown_item_ids": plan.unknown,
        "non_anchor_item_ids": pool.skipped,
        "anchors": {k_: v for k_, v in plan.by_origin.items() if v},
        "pool_size": len(pool),
        "pool_union": pool.n_union,
        "versions": state.versions,
    }


REC_FIELDS = (
    "item_id",
    "item_text",
    "product_type",
    "theme",
    "recommendation",
    "explanation",
    "evaluator_score",
    "ce",
    "llm",
    "combined",
    "band",
    "source",
)


def item_xp_view(state: ServingState, item_id: int, k: int | None = None) -> dict[str, Any] | None:
    """The stored item-XP recommendations of an anchor; historical candidates where it has none; None if unknown."""
    catalog = state.data.catalog
    row = catalog.row(item_id)
    if row < 0:
        return None
    stored = state.item_xp.stored(item_id)
    run_id = None
    if stored:
        source = ITEM_XP
        run_id = stored[0].get("run_id")
        recs = [
            {"rank": n, **{f: r.get(f) for f in REC_FIELDS}} for n, r in enumerate(stored[:k] if k else stored, start=1)
        ]
    elif item_id in state.historical:
        source = HISTORICAL
        top = state.historical.top(item_id, k or 10_000)
        hrows = catalog.rows([i for i, _ in top])
        recs = [
            {
                "rank": n,
                "item_id": i,
                "item_text": catalog.text[r] if r >= 0 else "",
                "product_type": catalog.pt_names[catalog.pt_code[r]] if r >= 0 else "",
                "score": s,
            }
            for n, ((i, s), r) in enumerate(zip(top, hrows), start=1)
        ]
    else:
        source, recs = "none", []
    return {
        "anchor_id": item_id,
        "anchor_text": catalog.text[row],
        "product_type": catalog.pt_names[catalog.pt_code[row]],
        "is_grocery": bool(catalog.is_grocery[row]),
        "source": source,
        "run_id": run_id,
        "recommendations": recs,
        "versions": state.versions,
    }

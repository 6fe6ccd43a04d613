"""One cart request and one item lookup, as pure functions of a `ServingState`.

Cart: pool (`ranking.pool.build_pool` over the layered item-XP/historical source) ->
scores (the trained ranker, else the heuristic) -> `ranking.diversify` -> top k. An
empty pool (empty cart, or no grocery item with candidates) is answered with popular GM
items. The result says which path served it (`served_by`) and why (`fallbacks`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from xpollinate.errors import XPError
from xpollinate.ranking.diversify import diversify
from xpollinate.ranking.pool import PoolConfig, build_pool
from xpollinate.serving.sources import HISTORICAL, ITEM_XP, POPULAR
from xpollinate.serving.state import ServingState

log = logging.getLogger("xpollinate.serving")
POPULAR_POOL = 300


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def recommend_cart(
    state: ServingState, pool_config: PoolConfig, item_ids: list[int], k: int, max_per_pt: int,
    household_id: int | None = None, platform: int | None = None,
) -> dict[str, Any]:
    catalog = state.data.catalog
    cart = list(dict.fromkeys(item_ids))
    rows = catalog.rows(cart) if cart else np.zeros(0, np.int64)
    unknown = [i for i, r in zip(cart, rows) if r < 0]
    known = [i for i, r in zip(cart, rows) if r >= 0]
    fallbacks: list[str] = []
    pool = build_pool(known, state.source, catalog, pool_config)
    by_origin: dict[str, list[int]] = {ITEM_XP: [], HISTORICAL: [], "none": []}
    origin_of: dict[int, str] = {}
    for a in pool.anchors_used:
        o = state.source.origin(a) or "none"
        by_origin[o].append(a)
        origin_of[a] = o
    unknown_set = set(unknown)
    non_anchor = [i for i in pool.skipped if i not in unknown_set]

    if len(pool) == 0:
        fallbacks.append("empty_cart" if not known else "no_candidates")
        in_cart = set(cart)
        ids = [int(i) for i in state.data.popular[: POPULAR_POOL + len(cart)] if int(i) not in in_cart][:POPULAR_POOL]
        scores = state.popularity.score(known, ids)
        pt_rows = catalog.rows(ids)
        pts = [catalog.pt_names[catalog.pt_code[r]] for r in pt_rows]
        anchors: list[int | None] = [None] * len(ids)
        sources = [POPULAR] * len(ids)
        ranker, candidates_path = state.popularity.name, POPULAR
    else:
        ids, pts = pool.item_ids, pool.product_types
        anchors = pool.anchor_ids  # type: ignore[assignment]
        sources = [origin_of.get(a, HISTORICAL) for a in anchors]  # type: ignore[arg-type]
        ranker = state.scorer.name
        try:
            scores = state.scorer.score(known, ids, household_id, platform)
        except Exception as exc:  # a faulty model must not fail the request: the heuristic answers
            if isinstance(exc, XPError):  # expected refusals (e.g. no cart item the model knows)
                log.warning("ranker %s refused a cart (%s); serving the heuristic", state.scorer.name, exc)
            else:
                log.exception("ranker %s failed; serving the heuristic", state.scorer.name)
            fallbacks.append("ranker_error")
            scores, ranker = state.heuristic.score(known, ids, household_id, platform), state.heuristic.name
        if not state.trained:
            fallbacks.append("no_trained_ranker")
        if by_origin[HISTORICAL]:
            fallbacks.append("historical_anchors")
        candidates_path = "+".join(p for p in (ITEM_XP, HISTORICAL) if by_origin[p]) or HISTORICAL
    scores = np.asarray(scores, dtype=np.float64)
    ok = np.isfinite(scores)
    if not ok.all():
        keep = np.flatnonzero(ok)
        ids = [ids[i] for i in keep]
        pts = [pts[i] for i in keep]
        anchors = [anchors[i] for i in keep]
        sources = [sources[i] for i in keep]
        scores = scores[keep]
    picked = diversify(ids, scores, pts, k=k, max_per_pt=max_per_pt) if len(ids) else []
    pos = {item: n for n, item in enumerate(ids)}
    pick_rows = catalog.rows(picked) if picked else np.zeros(0, np.int64)
    items = []
    for rank, (item, r) in enumerate(zip(picked, pick_rows), start=1):
        n = pos[item]
        items.append({
            "rank": rank, "item_id": item, "score": _finite(scores[n]), "product_type": pts[n],
            "text": catalog.text[r], "anchor_id": anchors[n], "source": sources[n],
        })
    return {
        "items": items,
        "served_by": {"candidates": candidates_path, "ranker": ranker, "fallbacks": fallbacks},
        "unknown_item_ids": unknown,
        "non_anchor_item_ids": non_anchor,
        "anchors": {k_: v for k_, v in by_origin.items() if v},
        "pool_size": len(pool),
        "pool_union": pool.n_union,
        "versions": state.versions,
    }


REC_FIELDS = ("item_id", "item_text", "product_type", "theme", "recommendation", "explanation", "evaluator_score", "ce", "llm", "combined", "band")


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
        recs = [{"rank": n, **{f: r.get(f) for f in REC_FIELDS}} for n, r in enumerate(stored[:k] if k else stored, start=1)]
    elif item_id in state.historical:
        source = HISTORICAL
        top = state.historical.top(item_id, k or 10_000)
        hrows = catalog.rows([i for i, _ in top])
        recs = [
            {"rank": n, "item_id": i, "item_text": catalog.text[r] if r >= 0 else "",
             "product_type": catalog.pt_names[catalog.pt_code[r]] if r >= 0 else "", "score": s}
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

"""Diversified top-k: the carousel shows at most `max_per_pt` items of one product type.

Serving contract (stable: the HTTP service builds on it)::

    diversify(item_ids, scores, product_types, k=10, max_per_pt=2) -> list[int]
    diversify_positions(scores, product_types, k=10, max_per_pt=2) -> list[int]   # indices of the picks

Items are taken in order of score (ties: earlier position first); an item whose product
type already has `max_per_pt` picks is skipped. If fewer than `k` items pass the cap,
the list is shorter: the cap is never relaxed, because a carousel of one product type is
exactly what diversification exists to prevent. NaN scores rank last.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from xpollinate.errors import XPError


def diversify_positions(
    scores: Sequence[float] | np.ndarray,
    product_types: Sequence[Hashable],
    k: int = 10,
    max_per_pt: int = 2,
) -> list[int]:
    """Positions of the picks, best first; `product_types` may be names or any labels (e.g. PT codes)."""
    if k < 1 or max_per_pt < 1:
        raise XPError(f"diversify: k and max_per_pt must be >= 1 (got k={k}, max_per_pt={max_per_pt})")
    if len(scores) != len(product_types):
        raise XPError(f"diversify: {len(scores)} scores and {len(product_types)} product types; they must be aligned")
    s = np.asarray(scores, dtype=np.float64)
    s = np.where(np.isnan(s), -np.inf, s)
    order = np.argsort(-s, kind="stable")
    taken: dict[Hashable, int] = {}
    picked: list[int] = []
    for idx in order.tolist():
        pt = product_types[idx]
        n = taken.get(pt, 0)
        if n >= max_per_pt:
            continue
        taken[pt] = n + 1
        picked.append(idx)
        if len(picked) == k:
            break
    return picked


def diversify(
    item_ids: Sequence[int],
    scores: Sequence[float] | np.ndarray,
    product_types: Sequence[str],
    k: int = 10,
    max_per_pt: int = 2,
) -> list[int]:
    """The top `k` items by score with at most `max_per_pt` per product type."""
    if not (len(item_ids) == len(scores) == len(product_types)):
        raise XPError(
            f"diversify: {len(item_ids)} items, {len(scores)} scores and {len(product_types)} product types; "
            "they must be aligned"
        )
    return [int(item_ids[i]) for i in diversify_positions(scores, product_types, k, max_per_pt)]

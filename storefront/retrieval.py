"""Keywords -> items: each keyword (a catalog product type) retrieves its shown items, the ranker orders
them, and the placement takes them round-robin over its keywords (so one keyword cannot fill it alone),
skipping items an earlier placement already shows."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from xpollinate.storefront.data import StorefrontData
from xpollinate.storefront.ordering import ItemOrder

PER_KEYWORD = 20  # most purchased items of a product type offered to the ranker (plus the household's own)


@dataclass(frozen=True)
class Retrieved:
    item_id: int
    keyword: str  # display name of the product type that retrieved it
    product_type: str
    score: float


def retrieve(
    data: StorefrontData,
    order: ItemOrder,
    household_id: int,
    bought: Counter[int],
    keywords: list[str],
    product_types: list[str],
    n: int,
    taken: set[int],
) -> list[Retrieved]:
    """Up to `n` items for one placement, none in `taken` (the page's items so far), best first per keyword."""
    queues: list[list[Retrieved]] = []
    for name, pt in zip(keywords, product_types):
        items = data.by_product_type.get(pt, [])
        own = [i for i in items if bought.get(i, 0) > 0]
        pool = [i for i in dict.fromkeys(items[:PER_KEYWORD] + own) if i not in taken]
        ranked = order.order(household_id, pool, bought)
        queues.append([Retrieved(i, name, pt, s) for i, s in ranked])
    out: list[Retrieved] = []
    seen = set(taken)
    while len(out) < n and any(queues):
        for queue in queues:
            while queue and queue[0].item_id in seen:
                queue.pop(0)
            if queue and len(out) < n:
                hit = queue.pop(0)
                seen.add(hit.item_id)
                out.append(hit)
    return out

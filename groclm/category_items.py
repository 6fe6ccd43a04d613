"""The two-tower model's items for a household's recommended categories.

GroCLM answers at category level ("cheese", "eggs"); a shopper acts on items. When a two-tower model is
trained on this data build, each listed category gets the household's best items inside it: one FAISS search
per category over that category's items (the user vectors are the household's, the filter is the category),
so the items follow the same personalisation as `xp twotower recommend` and never include excluded items.
Without a model the answer says why instead of guessing items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpollinate.errors import XPError
from xpollinate.groclm.baskets import categorised

MAX_ITEMS = 10  # items per category at most


@dataclass
class CategoryItems:
    """A loaded two-tower recommender and each category's item ids."""

    recommender: Any  # retrieval.twotower.recommend.Recommender
    by_category: dict[str, list[int]]
    model: str  # the two-tower model's folder name

    def for_categories(self, household: int, names: Sequence[str], per_category: int) -> tuple[list[dict], str]:
        """[{category, items: [{item_id, text, score}]}] in the order of `names`, and how the two-tower
        personalised them (its `path`: from the household's baskets, or popularity for a cold start)."""
        if not 1 <= per_category <= MAX_ITEMS:
            raise XPError(f"items {per_category}: choose 1 to {MAX_ITEMS} per category")
        out: list[dict] = []
        path = ""
        for name in names:
            ids = self.by_category.get(name)
            if not ids:
                out.append({"category": name, "items": []})
                continue
            recs = self.recommender.recommend(household, k=per_category, allowed_ids=ids)
            path = path or recs.path
            rows = recs.items[["item_id", "text", "score"]].to_dict(orient="records")
            out.append({"category": name, "items": [_plain(r) for r in rows]})
        return out, path


def _plain(row: dict) -> dict:
    score = row["score"]
    return {"item_id": int(row["item_id"]), "text": str(row["text"]), "score": None if score != score else float(score)}


def open_category_items(store: Any, home: Path | None) -> tuple[CategoryItems | None, str | None]:
    """The two-tower model published on this run directory (its CURRENT), or (None, why there is none)."""
    from xpollinate.retrieval.twotower.recommend import Recommender

    try:
        recommender = Recommender(store, home)
    except XPError as exc:  # no model, or one trained on another data build
        return None, f"no two-tower items: {exc}"
    kept = categorised(store.items(["item_id", "category", "item_class"]))
    by_category = {str(c): [int(i) for i in ids] for c, ids in kept.groupby("category")["item_id"]}
    return CategoryItems(recommender, by_category, recommender.saved.path.name), None

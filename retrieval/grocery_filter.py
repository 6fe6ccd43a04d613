"""Detect recommendations that name groceries ("coffee beans" for a coffee anchor).

Two tests must agree, because either alone misfires ("milk frother" is close to
"Fluid Milk" in embedding space; "box" is a word of both worlds):

- embedding: the nearest product-type name is a grocery one, similar enough to mean it
  (`min_similarity`) and clearly closer (`margin`) than the nearest GM type;
- head noun: the recommendation's last word is a word of that nearest grocery type's
  name ("coffee beans" ~ "Regular Bean" yes; "bread box" ~ "Bread: Party Breads" no).

PT-name vectors are computed once per data build and kept in the run directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xpollinate.catalog.anchors import tokens
from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.embedder import cached_embed, embed_memo
from xpollinate.retrieval.pt_semantic import pt_labels
from xpollinate.settings import ensure_dir, run_home


@dataclass(frozen=True)
class GroceryVerdict:
    is_grocery: bool
    nearest_grocery_pt: str
    grocery_similarity: float
    gm_similarity: float


@dataclass
class GroceryFilter:
    grocery_pts: np.ndarray
    grocery_vectors: np.ndarray
    gm_pts: np.ndarray
    gm_vectors: np.ndarray
    model: str = "minilm"
    min_similarity: float = 0.6
    margin: float = 0.1

    @classmethod
    def for_store(cls, store: DataStore, model: str = "minilm", home: Path | None = None) -> GroceryFilter:
        items = store.items(columns=["product_type", "category", "item_class"])
        grocery, gm = pt_labels(items, "grocery"), pt_labels(items, "gm")
        folder = ensure_dir((home or run_home()) / "index" / "embeddings")
        vectors = cached_embed(pd.concat([grocery["text"], gm["text"]]).tolist(), folder, model)
        return cls(
            grocery["product_type"].to_numpy(dtype=str),
            vectors[: len(grocery)],
            gm["product_type"].to_numpy(dtype=str),
            vectors[len(grocery) :],
            model,
        )

    def check(self, texts: list[str]) -> list[GroceryVerdict]:
        if not texts:
            return []
        q = embed_memo(texts, name=self.model)
        g = q @ self.grocery_vectors.T
        m = q @ self.gm_vectors.T
        best_g, best_m = g.max(axis=1), m.max(axis=1)
        which = g.argmax(axis=1)
        return [
            GroceryVerdict(
                bool(bg >= self.min_similarity and bg > bm + self.margin and head(text) in tokens(self.grocery_pts[i])),
                str(self.grocery_pts[i]),
                float(bg),
                float(bm),
            )
            for text, bg, bm, i in zip(texts, best_g, best_m, which)
        ]


def head(text: str) -> str:
    """The last word, plural folded the way `tokens` folds it ("coffee beans" -> "bean")."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return next(iter(tokens(words[-1])), "") if words else ""

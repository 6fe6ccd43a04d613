"""Per-item model inputs (XP paper 2.2.1): title and product-type text embeddings, log-price
and the OG/GM flag, for every catalog item that was ever bought; plus a popularity prior
(log basket count over the training weeks, scaled to [0, 1]), an extension the model uses
unless `ModelConfig.pop_dim = 0` (the paper's item representation exactly).

Title embeddings come from all-MiniLM-L6-v2 (`retrieval.embedder.embed`; the paper uses
MPNet, 768-d; MiniLM gives 384-d and is the project's default embedder), one per distinct
item text (the catalog has ~92k items but ~17.5k distinct texts among bought ones); PT
embeddings one per product-type name. Both are cached in
`$XP_HOME/ranking/embeddings/<hash of the texts>.npz` (written atomically), so a retrain or
a new process never re-embeds.

Missing values have documented fallbacks: an item never sold has no price, so it gets its
PT's median log-price, else the catalog median. Items with `n_baskets == 0` get no
embedding: they are "unknown" to the ranker (`has_embedding` False) and score -inf.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xpollinate.errors import XPError
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.settings import ensure_dir, run_home

FLAG_GROCERY, FLAG_GM, FLAG_OTHER = 0, 1, 2


@dataclass(frozen=True)
class ItemFeatures:
    """Row r+1 describes catalog row r; row 0 is the padding item (all zeros)."""

    text_index: np.ndarray  # int32 [n+1] -> row of text_vectors
    text_vectors: np.ndarray  # float32 [n_texts+1, dim], row 0 zeros
    pt_index: np.ndarray  # int32 [n+1] -> row of pt_vectors
    pt_vectors: np.ndarray  # float32 [n_pts+1, dim]
    log_price: np.ndarray  # float32 [n+1]
    flag: np.ndarray  # int64 [n+1]
    log_pop: np.ndarray  # float32 [n+1]: log1p(training-week baskets) / log1p(max), row 0 = 0
    has_embedding: np.ndarray  # bool [n+1]
    subset: tuple[int, ...] | None = None  # the item ids embedded, when restricted to a subset

    @property
    def dim(self) -> int:
        return int(self.text_vectors.shape[1])


def _cached_embed(texts: list[str], home: Path | None, embed_fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    """MiniLM vectors from the run directory's cache; a substitute `embed_fn` (tests) caches under its own name."""
    from xpollinate.retrieval.embedder import DEFAULT_MODEL, cached_embed

    name = DEFAULT_MODEL if embed_fn is None else f"fn-{embed_fn.__module__}.{embed_fn.__qualname__}"
    return cached_embed(texts, ensure_dir((home or run_home()) / "ranking" / "embeddings"), name, embed_fn)


def popularity_prior(basket_counts: np.ndarray) -> np.ndarray:
    """log1p(count) / log1p(max count) per catalog row, with the padding row 0 first."""
    counts = np.asarray(basket_counts, dtype=np.float64)
    if counts.ndim != 1 or (len(counts) and (~np.isfinite(counts) | (counts < 0)).any()):
        raise XPError("popularity: expected one finite, non-negative basket count per catalog item")
    top = np.log1p(counts.max()) if len(counts) and counts.max() > 0 else 1.0
    return np.r_[0.0, np.log1p(counts) / top].astype(np.float32)


def build_item_features(
    catalog: CatalogView,
    popularity: np.ndarray,
    home: Path | None = None,
    embed_fn=None,
    item_ids: np.ndarray | None = None,
) -> ItemFeatures:
    """Features for every catalog row (embeddings for bought items, or only `item_ids`); cached embeddings reused.

    `popularity` is the basket count of every catalog row over the training weeks only
    (`TaskData.popularity`), so the prior never sees validation or test baskets.
    """
    if len(popularity) != len(catalog):
        raise XPError(f"popularity has {len(popularity)} counts for {len(catalog)} catalog items")
    n = len(catalog)
    bought = catalog.n_baskets > 0
    if item_ids is not None:
        rows = catalog.rows(np.asarray(item_ids, dtype=np.int64))
        bought = bought & np.isin(np.arange(n), rows[rows >= 0])
    text_codes, texts = pd.factorize(pd.Series(catalog.text[bought]), sort=True)
    text_vecs = _cached_embed([str(t) for t in texts], home, embed_fn)
    dim = text_vecs.shape[1] if len(text_vecs) else 384
    pt_used = np.unique(catalog.pt_code[bought])  # PT names of the embedded items only
    pt_names = [(catalog.pt_names[c] or "unknown").title() for c in pt_used]
    pt_vecs = np.zeros((len(catalog.pt_names), dim), np.float32)
    if len(pt_used):
        pt_vecs[pt_used] = _cached_embed(pt_names, home, embed_fn)
    text_index = np.zeros(n + 1, dtype=np.int32)
    text_index[1:][bought] = text_codes + 1
    price = np.log1p(np.where(catalog.unit_price > 0, catalog.unit_price, np.nan))
    frame = pd.DataFrame({"pt": catalog.pt_code, "p": price})
    price = frame["p"].fillna(frame.groupby("pt")["p"].transform("median"))
    price = price.fillna(np.nanmedian(frame["p"]) if frame["p"].notna().any() else 0.0).to_numpy(np.float32)
    flag = np.where(catalog.is_grocery, FLAG_GROCERY, np.where(catalog.is_gm, FLAG_GM, FLAG_OTHER))
    return ItemFeatures(
        text_index=text_index,
        text_vectors=np.vstack([np.zeros((1, dim), np.float32), text_vecs.astype(np.float32)]),
        pt_index=np.r_[0, catalog.pt_code + 1].astype(np.int32),
        pt_vectors=np.vstack([np.zeros((1, dim), np.float32), pt_vecs.astype(np.float32)]),
        log_price=np.r_[0.0, price].astype(np.float32),
        flag=np.r_[FLAG_OTHER, flag].astype(np.int64),
        log_pop=popularity_prior(popularity),
        has_embedding=np.r_[False, bought],
        subset=None if item_ids is None else tuple(sorted(int(i) for i in np.asarray(item_ids).ravel())),
    )

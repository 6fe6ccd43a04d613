"""The keyword vocabulary: every product type the page can show, as the names a model may answer with.

Keywords are decoded under a JSON-schema enum over these names, so each keyword names a product type
with shown items and retrieves something. The whole vocabulary (~2,200 names) would make a large
schema and prompt, so each placement gets a shortlist: the names whose MiniLM vectors are closest to
its title and reason. Vectors are computed once per data build and kept in the run directory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from xpollinate.retrieval.embedder import DEFAULT_MODEL, cached_embed
from xpollinate.retrieval.vocabulary import display_name
from xpollinate.settings import run_home
from xpollinate.storefront.data import StorefrontData

Embed = Callable[[list[str]], np.ndarray]
SHORTLIST = 30  # names offered per placement


@dataclass(frozen=True)
class StorefrontVocabulary:
    product_types: tuple[str, ...]  # catalog codes, most purchased first
    names: tuple[str, ...]  # display names, one per code
    texts: tuple[str, ...]  # "Name (Category)": what is embedded
    vectors: np.ndarray = field(repr=False)  # one L2-normalised row per product type
    embed: Embed = field(repr=False)

    @classmethod
    def build(
        cls, data: StorefrontData, embed: Embed | None = None, folder: Path | None = None
    ) -> StorefrontVocabulary:
        """From the shown catalog; `embed` replaces MiniLM (tests), `folder` holds the cached vectors."""
        items = data.items
        popularity = items.groupby("product_type")["n_baskets"].sum().sort_values(ascending=False, kind="stable")
        category = items.groupby("product_type")["category"].agg(lambda s: s.value_counts().index[0])
        by_name: dict[str, str] = {}
        for pt in popularity.index:  # two codes with one display name: the more purchased keeps it
            by_name.setdefault(display_name(str(pt)), str(pt))
        pts = tuple(by_name.values())
        names = tuple(by_name)
        texts = tuple(f"{n} ({display_name(str(category[pt]))})" for n, pt in zip(names, pts))
        fn: Embed = embed or _minilm
        if embed is None:
            vectors = cached_embed(list(texts), folder or run_home() / "index" / "embeddings", DEFAULT_MODEL)
        else:
            vectors = np.asarray(fn(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return cls(pts, names, texts, vectors / np.where(norms > 0, norms, 1.0), fn)

    def __len__(self) -> int:
        return len(self.names)

    @cached_property
    def _code_of(self) -> dict[str, str]:
        return {n.lower(): pt for n, pt in zip(self.names, self.product_types)}

    def product_type(self, name: str) -> str | None:
        """The catalog code of a display name (case and spacing folded); None when it is not in the vocabulary."""
        return self._code_of.get(" ".join(name.split()).lower())

    def shortlist(self, queries: Sequence[str], k: int = SHORTLIST) -> list[list[str]]:
        """Per query, the `k` display names closest to it, best first."""
        if not queries:
            return []
        q = np.asarray(self.embed(list(queries)), dtype=np.float32)
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        q = (q / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        sims = q @ self.vectors.T
        k = min(k, len(self.names))
        return [[self.names[j] for j in np.argsort(-row, kind="stable")[:k]] for row in sims]


def _minilm(texts: list[str]) -> np.ndarray:
    from xpollinate.retrieval.embedder import embed_memo

    return embed_memo(texts, DEFAULT_MODEL)

"""An anchor's shortlist of GM product types: what a grounded recommendation may choose from.

Two sources, as the XP paper's candidate generation has two:
- history: the anchor product type's associated GM product types (co-purchase in baskets and
  household windows, ranked by adjusted lift, then PT-name similarity; paper 2.1.1), which
  bring complements that do not look alike (hot dog buns -> charcoal);
- semantics: the product types whose centroids are nearest to the anchor's name and to
  "anchor: situation" for each usage situation the context agent gave.

The same historical product types are the historical half of Item XP (`graphs` merges them
with the model's picks), so one per-anchor-PT computation serves both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xpollinate.retrieval.associations import Associations
from xpollinate.retrieval.candidates import CandidateConfig, pt_associations
from xpollinate.retrieval.vocabulary import GMVocabulary

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class HistoricalPT:
    """One associated GM product type and the evidence for it."""

    product_type: str
    strength: float  # adjusted lift of the co-purchase (1.0 for a name match alone)
    source: str  # co-purchase | co-purchase+semantic | semantic


class HistoricalPTs:
    """The historical GM product types of an anchor product type, computed once per product type."""

    def __init__(self, associations: Associations, max_pts: int = 10) -> None:
        self.associations = associations
        self.config = CandidateConfig(max_pts=max_pts)
        self._memo: dict[str, list[HistoricalPT]] = {}
        self._lock = threading.Lock()

    @property
    def until_week(self) -> int | None:
        """The last week of transactions the associations saw (None: all of them)."""
        return self.associations.meta.get("config", {}).get("until_week")

    def of(self, anchor_pt: str) -> list[HistoricalPT]:
        with self._lock:
            if anchor_pt not in self._memo:
                frame = pt_associations(self.associations, anchor_pt, self.config)
                self._memo[anchor_pt] = [
                    HistoricalPT(str(r.product_type), float(r.strength) if pd.notna(r.strength) else 1.0, str(r.source))
                    for r in frame.itertuples(index=False)
                ]
            return self._memo[anchor_pt]


@dataclass(frozen=True)
class Shortlister:
    """Builds an anchor's shortlist (display names) from history and semantics."""

    vocabulary: GMVocabulary
    history: HistoricalPTs | None = None
    embed: Embed | None = field(default=None, repr=False)  # default: the process-wide MiniLM memo
    per_anchor: int = 10
    per_theme: int = 5

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        if self.embed is not None:
            return self.embed(texts)
        from xpollinate.retrieval.embedder import embed_memo

        return embed_memo(list(texts), name=self.vocabulary.model)

    def shortlist(self, anchor_name: str, anchor_pt: str, themes: Sequence[str], size: int) -> list[str]:
        """Up to `size` display names: historical product types first, then the nearest to the anchor and to each situation."""
        chosen: list[str] = []
        if self.history is not None:
            chosen += [h.product_type for h in self.history.of(anchor_pt) if h.product_type in self.vocabulary]
        queries = [anchor_name] + [f"{anchor_name}: {t}" for t in themes]
        ks = [self.per_anchor] + [self.per_theme] * len(themes)
        vectors = self._vectors(queries)
        for found, k in zip(self.vocabulary.nearest(vectors, max(ks)), ks):
            fresh = [pt for pt in found if pt not in chosen][:k]
            chosen += fresh
        return [self.vocabulary.name(pt) for pt in dict.fromkeys(chosen)][:size]

"""The grounding vocabulary: the catalog's GM product types as names a model may answer with.

Catalog-grounded generation constrains the recommendation agent's answer to these names
(a JSON-schema enum over an anchor's shortlist of them), so a small model can neither
invent an item nor copy a prompt's example, and matching a name to catalog items is exact.
The vocabulary is derived from the catalog index of the store's current data build (the
index refuses to open for another build and names the command that rebuilds it), so it
can never be stale. A product type whose name also labels grocery items is ambiguous and
left out, as the PT-name associations do.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from xpollinate.errors import XPError
from xpollinate.records import typed_label
from xpollinate.retrieval.matcher import SemanticMatcher


class VocabularyError(XPError):
    """The grounding vocabulary cannot be used (empty, or a name outside it)."""


def display_name(product_type: str) -> str:
    """'COFFEE FILTERS' -> 'Coffee Filters': how a catalog product type is shown to a model. Edge punctuation
    goes ('MISC. ORAL HYGN.' -> 'Misc. Oral Hygn'), as the agents' cleaning of an answer removes it."""
    return " ".join(product_type.split()).title().strip(" .;:-")


@dataclass(frozen=True)
class GMVocabulary:
    """GM product types (codes and display names, most purchased first) and their centroid vectors."""

    product_types: tuple[str, ...]
    names: tuple[str, ...]
    vectors: np.ndarray = field(repr=False)  # one L2-normalised row per product type, in the index's space
    model: str = "minilm"
    categories: tuple[str, ...] = ()  # each product type's most common catalog category ('' when unknown)

    @classmethod
    def from_matcher(cls, matcher: SemanticMatcher, grocery_pts: Collection[str]) -> GMVocabulary:
        """The indexed GM product types that name no grocery item, with the matcher's PT centroids."""
        items = matcher.index.items
        popularity = items.groupby("product_type")["n_baskets"].sum()
        category = items.groupby("product_type")["category"].agg(lambda s: s.value_counts().index[0])
        ambiguous = set(grocery_pts)
        chosen = [
            pt
            for pt in popularity.sort_values(ascending=False, kind="stable").index
            if pt and str(pt).strip() and pt not in ambiguous
        ]
        names: dict[str, str] = {}
        for pt in chosen:  # two codes with one display name: the more purchased keeps it
            names.setdefault(display_name(str(pt)), str(pt))
        if not names:
            raise VocabularyError(
                "the grounding vocabulary is empty: the catalog index holds no GM product type. "
                "Rebuild it with `xp index build --force` (after `xp data build`), or run with --grounding free."
            )
        pts = tuple(names.values())
        rows = [matcher.pt_row(pt) for pt in pts]
        return cls(pts, tuple(names), matcher.pt_centroids[rows], matcher.model, tuple(str(category[pt]) for pt in pts))

    def __len__(self) -> int:
        return len(self.names)

    @cached_property
    def _by_name(self) -> dict[str, str]:
        return {name.lower(): pt for name, pt in zip(self.names, self.product_types)}

    @cached_property
    def _row(self) -> dict[str, int]:
        return {pt: i for i, pt in enumerate(self.product_types)}

    def product_type(self, name: str) -> str | None:
        """The catalog code of a display name (case and spacing folded), None if it is not one."""
        return self._by_name.get(" ".join(name.split()).lower())

    def name(self, product_type: str) -> str:
        return display_name(product_type)

    def label(self, name: str) -> str:
        """A display name with its category ('Scoop Litter (Cat Litter)'), for yes/no questions; the name if unknown."""
        pt = self.product_type(name)
        if pt is None or not self.categories:
            return name
        return typed_label(self.name(pt), self.categories[self._row[pt]])

    def __contains__(self, product_type: object) -> bool:
        return product_type in self._row

    def nearest(self, query_vectors: np.ndarray, k: int, exclude: Collection[str] = ()) -> list[list[str]]:
        """Per query vector, the `k` product types (codes) with the closest centroids, best first."""
        if k <= 0 or len(query_vectors) == 0:
            return [[] for _ in range(len(query_vectors))]
        sims = np.asarray(query_vectors, dtype=np.float32) @ self.vectors.T
        skip = {self._row[pt] for pt in exclude if pt in self._row}
        out = []
        for row in sims:
            order = [int(j) for j in np.argsort(-row, kind="stable")[: k + len(skip)] if int(j) not in skip]
            out.append([self.product_types[j] for j in order[:k]])
        return out

    def check(self, names: Sequence[str]) -> list[str]:
        """Codes of `names`; a name outside the vocabulary is an error naming it."""
        out = []
        for n in names:
            pt = self.product_type(n)
            if pt is None:
                raise VocabularyError(f"{n!r} is not a GM product type of the catalog index")
            out.append(pt)
        return out

"""Array view of the catalog that the ranking code looks items up in, O(1) per id.

The rankers, the candidate pool and the heuristic all need "what is item 123's product
type, price, class?" thousands of times per request; a pandas row lookup each time is
far too slow, so the items table is turned once into numpy arrays indexed by a dense
row number (`rows(ids)`), with -1 for ids the catalog does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

SMALL = 64  # up to this many ids, `rows` looks them up in a dict (~0.1 us each) instead of by binary search


@dataclass(frozen=True)
class CatalogView:
    """Columns of the items table as arrays; row `r` describes item `item_ids[r]`."""

    item_ids: np.ndarray  # int64, sorted
    pt_code: np.ndarray  # int32 index into `pt_names`
    pt_names: tuple[str, ...]
    department: np.ndarray  # object
    category: np.ndarray  # object
    is_grocery: np.ndarray  # bool
    is_gm: np.ndarray  # bool
    unit_price: np.ndarray  # float64, NaN where never sold
    n_baskets: np.ndarray  # int64
    text: np.ndarray  # object

    @classmethod
    def from_items(cls, items: pd.DataFrame) -> CatalogView:
        items = items.sort_values("item_id").reset_index(drop=True)
        codes, names = pd.factorize(items["product_type"].fillna(""), sort=True)
        return cls(
            item_ids=items["item_id"].to_numpy(dtype=np.int64),
            pt_code=codes.astype(np.int32),
            pt_names=tuple(str(n) for n in names),
            department=items["department"].to_numpy(dtype=object),
            category=items["category"].fillna("").to_numpy(dtype=object),
            is_grocery=items["is_grocery"].to_numpy(dtype=bool),
            is_gm=items["is_gm"].to_numpy(dtype=bool),
            unit_price=items["unit_price"].to_numpy(dtype=np.float64),
            n_baskets=items["n_baskets"].to_numpy(dtype=np.int64),
            text=items["text"].to_numpy(dtype=object),
        )

    def __len__(self) -> int:
        return len(self.item_ids)

    @cached_property
    def _row_of(self) -> dict[int, int]:
        return dict(zip(self.item_ids.tolist(), range(len(self.item_ids))))

    @cached_property
    def _pt_code_or_missing(self) -> np.ndarray:
        """`pt_code` with -1 appended: indexed by a row, or by -1 (not in the catalog) which reads the -1."""
        return np.append(self.pt_code, -1).astype(np.int64)

    def pt_codes_of(self, rows: np.ndarray) -> np.ndarray:
        """int64 product type code of each row, -1 for row -1."""
        return self._pt_code_or_missing[rows]

    def rows(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """Row of each id, -1 for ids not in the catalog."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim == 1 and len(ids) <= SMALL:  # a cart: dict lookups beat a binary search over the whole catalog
            get = self._row_of.get
            return np.fromiter((get(i, -1) for i in ids.tolist()), dtype=np.int64, count=len(ids))
        n = len(self.item_ids)
        if n == 0:
            return np.full(ids.shape, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.item_ids, ids), n - 1)  # int64 already: no copy, no clip
        return np.where(self.item_ids[pos] == ids, pos, -1)

    def row(self, item_id: int) -> int:
        return int(self.rows([item_id])[0])

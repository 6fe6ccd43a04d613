"""64 persona scores per household, in [0, 1] (XP paper Appendix C: "64 behavioral persona
scores ... like cooking propensity, new parent, pet ownership").

Complete Journey has no such scores, so they are built from what it has:

- 17 from the demographics survey: the store's `persona_*` vector (ordered answers as
  ranks, the others one-hot) and `has_demographics` (801 of 2,469 households answered);
- 47 behavioural propensities: the share of the household's baskets holding an item of
  each of the 47 GM categories bought in the most baskets (pet supplies, baby care,
  kitchen gadgets, ...), counted only over baskets up to `until_week`, so that a time
  split never lets test weeks shape the features.

An unknown household (anonymous shopper) gets all zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xpollinate.catalog.persona import persona_columns
from xpollinate.ranking.catalog_view import CatalogView

N_PERSONA = 64
N_DEMOGRAPHIC = len(persona_columns()) + 1
N_BEHAVIOURAL = N_PERSONA - N_DEMOGRAPHIC


@dataclass(frozen=True)
class PersonaTable:
    household_ids: np.ndarray  # int64, sorted
    scores: np.ndarray  # float32 [n_households, 64]
    categories: tuple[str, ...]  # the GM categories of the behavioural columns

    @classmethod
    def build(
        cls, households: pd.DataFrame, baskets: pd.DataFrame, catalog: CatalogView, until_week: int | None = None
    ) -> PersonaTable:
        """Scores for every household of `households`; behaviour from `baskets` (week <= until_week)."""
        if until_week is not None:
            baskets = baskets[baskets["week"] <= until_week]
        hh = households.sort_values("household_id").reset_index(drop=True)
        demo = hh[persona_columns()].to_numpy(dtype=np.float32)
        has = hh["has_demographics"].to_numpy(dtype=np.float32)[:, None]
        lines = baskets[["basket_id", "household_id", "item_ids"]].explode("item_ids").dropna()
        rows = catalog.rows(lines["item_ids"].to_numpy(dtype=np.int64))
        ok = rows >= 0
        lines = lines[ok].assign(row=rows[ok])
        lines = lines[catalog.is_gm[lines["row"].to_numpy()]]
        lines = lines.assign(category=catalog.category[lines["row"].to_numpy()])
        per_cat = lines.drop_duplicates(["basket_id", "category"])
        top = per_cat["category"].value_counts().index[:N_BEHAVIOURAL].tolist()
        n_baskets = baskets.groupby("household_id").size()
        counts = (
            per_cat[per_cat["category"].isin(top)].groupby(["household_id", "category"]).size().unstack(fill_value=0)
        )
        counts = counts.reindex(index=hh["household_id"], columns=top, fill_value=0)
        denom = n_baskets.reindex(hh["household_id"]).fillna(0).to_numpy(dtype=np.float64)
        behaviour = counts.to_numpy(dtype=np.float64) / np.maximum(denom, 1.0)[:, None]
        if behaviour.shape[1] < N_BEHAVIOURAL:  # tiny datasets: pad so the vector keeps its layout
            behaviour = np.pad(behaviour, ((0, 0), (0, N_BEHAVIOURAL - behaviour.shape[1])))
            top = top + [""] * (N_BEHAVIOURAL - len(top))
        scores = np.concatenate([demo, has, behaviour.astype(np.float32)], axis=1)
        return cls(hh["household_id"].to_numpy(dtype=np.int64), np.clip(scores, 0.0, 1.0), tuple(top))

    def vector(self, household_id: int | None) -> np.ndarray:
        """The 64 scores of one household; zeros when unknown or None."""
        if household_id is None:
            return np.zeros(N_PERSONA, dtype=np.float32)
        pos = np.searchsorted(self.household_ids, household_id)
        if pos < len(self.household_ids) and self.household_ids[pos] == household_id:
            return self.scores[pos]
        return np.zeros(N_PERSONA, dtype=np.float32)

    def category_columns(self, catalog: CatalogView) -> np.ndarray:
        """For every catalog row, the behavioural column of its category (-1 outside the 47): once per catalog.

        One more entry, -1, follows the last row, so that indexing with row -1 (not in the catalog) reads -1."""
        index = {c: i for i, c in enumerate(self.categories) if c}
        columns = np.fromiter((index.get(c, -1) for c in catalog.category), dtype=np.int64, count=len(catalog))
        return np.append(columns, -1)

    def category_affinity(self, household_id: int | None, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """The household's propensity for each candidate row's category (0 outside the 47, and for rows < 0).

        `columns` is `category_columns(catalog)`, computed once by the caller, not per request.
        """
        # A trailing 0 after the behavioural scores: column -1 (no category, or row -1) reads it.
        vec = np.zeros(N_BEHAVIOURAL + 1, dtype=np.float64)
        vec[:N_BEHAVIOURAL] = self.vector(household_id)[N_DEMOGRAPHIC:]
        return vec[columns[np.asarray(rows, dtype=np.int64)]]

    def save(self, path) -> None:
        frame = pd.DataFrame(self.scores, columns=[f"p{i}" for i in range(N_PERSONA)])
        frame.insert(0, "household_id", self.household_ids)
        frame.attrs = {}
        cats = pd.DataFrame({"category": list(self.categories)})
        frame.to_parquet(path / "persona.parquet", index=False)
        cats.to_parquet(path / "persona_categories.parquet", index=False)

    @classmethod
    def load(cls, path) -> PersonaTable:
        frame = pd.read_parquet(path / "persona.parquet")
        cats = pd.read_parquet(path / "persona_categories.parquet")["category"].tolist()
        return cls(frame["household_id"].to_numpy(np.int64), frame.iloc[:, 1:].to_numpy(np.float32), tuple(cats))

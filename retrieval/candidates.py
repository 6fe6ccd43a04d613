"""Historical cross-category candidates for one grocery anchor (XP paper 2.1.1).

1. PT associations of the anchor's product type: co-purchase pairs (basket and
   household-window statistics that met the thresholds) ranked by adjusted lift,
   then PT-name semantic matches not already found.
2. Candidates: the most purchased GM items of each associated PT, plus any item
   of those PTs with its own item-level co-purchase statistics with the anchor.
3. Ranking by item-level lift (anchor item -> candidate), shrunk toward the PT's
   association strength so that a pair seen three times cannot outrank a strong
   PT association on chance alone:

       score = (n_AB + k * L_pt) / (E_AB + k)

   with n_AB the anchor-item/candidate basket co-occurrences, E_AB = n_AB / lift
   their expectation under independence, L_pt the PT-level adjusted lift (1 for a
   semantic-only PT) and k the `shrinkage` pseudo-count. An item with no
   item-level pair above the thresholds scores L_pt. Ties go to popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from xpollinate.errors import XPError
from xpollinate.retrieval.associations import Associations

STAT_COLS = ["n_ab", "support", "confidence", "lift", "adjusted_lift"]


class CandidateConfig(BaseModel):
    """How many associated PTs and items to keep."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_pts: int = Field(10, ge=1, le=200, description="associated GM product types kept")
    semantic_max_pts: int = Field(3, ge=0, le=50, description="of those, at most this many from name similarity alone")
    items_per_pt: int = Field(5, ge=1, le=100, description="most purchased items taken per associated PT")
    max_candidates: int = Field(30, ge=1, le=1000, description="candidates returned")
    shrinkage: float = Field(5.0, ge=0.0, le=1000.0, description="pseudo-count pulling item lift toward the PT's")


@dataclass(frozen=True)
class Candidates:
    anchor: pd.Series
    pt_associations: pd.DataFrame
    items: pd.DataFrame


def _stats(table: pd.DataFrame, antecedent: object, suffix: str) -> pd.DataFrame:
    rows = table.loc[table["antecedent"] == antecedent, ["consequent", *STAT_COLS]]
    return rows.set_index("consequent").add_suffix(suffix)


def pt_associations(assoc: Associations, anchor_pt: str, config: CandidateConfig) -> pd.DataFrame:
    """Associated GM PTs of `anchor_pt`, ranked, with the statistics that justify each."""
    basket = _stats(assoc.table("pt_basket"), anchor_pt, "")
    window = _stats(assoc.table("pt_window"), anchor_pt, "_window")
    sem = assoc.table("pt_semantic")
    sem = sem.loc[sem["antecedent"] == anchor_pt, ["consequent", "similarity"]].set_index("consequent")
    co = basket.join(window, how="outer")
    co["strength"] = np.fmax(co["adjusted_lift"], co["adjusted_lift_window"])
    co = co.sort_values("strength", ascending=False).join(sem, how="left")
    co["source"] = np.where(co["similarity"].notna(), "co-purchase+semantic", "co-purchase")
    sem_only = sem.loc[~sem.index.isin(co.index)].head(config.semantic_max_pts).assign(source="semantic", strength=1.0)
    n_co = max(config.max_pts - len(sem_only), 0) if len(co) >= config.max_pts else len(co)
    frame = pd.concat([co.head(n_co), sem_only])
    frame.index.name = "product_type"
    return frame.head(config.max_pts).reset_index()


def historical_candidates(
    anchor: pd.Series,
    items: pd.DataFrame,
    assoc: Associations,
    config: CandidateConfig | None = None,
    pts: pd.DataFrame | None = None,
) -> Candidates:
    """Ranked GM candidates for a grocery `anchor` row of the items table.

    `pts` may pass `pt_associations(assoc, anchor PT, config)` computed once for many anchors
    of the same product type (the batch precompute in `retrieval.candidate_table` does).
    """
    config = config or CandidateConfig()
    if not bool(anchor["is_grocery"]):
        raise XPError(
            f"anchor {int(anchor['item_id'])} ({anchor['text']}) is {anchor['item_class']}, not grocery; "
            "historical candidates start from a grocery item"
        )
    if pts is None:
        pts = pt_associations(assoc, anchor["product_type"], config)
    gm = items[items["is_gm"] & items["product_type"].isin(pts["product_type"])]
    popular = (
        gm[gm["n_baskets"] > 0]
        .sort_values("n_baskets", ascending=False)
        .groupby("product_type")
        .head(config.items_per_pt)
    )
    item_id = int(anchor["item_id"])
    item_basket = _stats(assoc.table("item_basket"), item_id, "_item")
    item_window = _stats(assoc.table("item_window"), item_id, "_item_window")
    evidenced = gm[gm["item_id"].isin(item_basket.index.union(item_window.index))]
    cands = pd.concat([popular, evidenced]).drop_duplicates("item_id")
    cands = cands.join(item_basket, on="item_id").join(item_window, on="item_id")
    pt_info = pts.set_index("product_type")[["source", "strength", "lift", "adjusted_lift", "confidence", "similarity"]]
    cands = cands.join(pt_info.add_prefix("pt_"), on="product_type")
    cands["pt_rank"] = cands["product_type"].map({pt: i for i, pt in enumerate(pts["product_type"])})
    cands["score"] = shrunk_lift(cands["n_ab_item"], cands["lift_item"], cands["pt_strength"], config.shrinkage)
    cands = cands.sort_values(["score", "pt_rank", "n_baskets"], ascending=[False, True, False])
    return Candidates(
        anchor=anchor, pt_associations=pts, items=cands.head(config.max_candidates).reset_index(drop=True)
    )


def shrunk_lift(n_ab: pd.Series, lift: pd.Series, prior: pd.Series, k: float) -> pd.Series:
    """(n_AB + k * prior) / (E_AB + k), and the prior itself where there is no item-level pair."""
    expected = n_ab / lift
    score = (n_ab + k * prior) / (expected + k)
    return score.where(n_ab.notna(), prior)

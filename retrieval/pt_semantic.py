"""PT-name semantic matching: grocery product types -> GM product types by embedding similarity.

The paper's second PT-association method (2.1.1). Product-type names are
abbreviated upper-case codes ("COFFEE FILTERS", "FRZN BRD STICK/PORTON"), so
each is embedded with its category for context, e.g. "Coffee Filters (Coffee Filters)".

A GM product type whose name also labels grocery items (62 such names, e.g.
"GROUND FLVR REG COFFEE" filed once under appliances) is ambiguous and is not
offered as a semantic match: it would recommend groceries back to a grocery anchor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xpollinate.retrieval.embedder import embed


def pt_labels(items: pd.DataFrame, item_class: str) -> pd.DataFrame:
    """Distinct product types of one class with their most common category, and the text to embed."""
    chosen = items[(items["item_class"] == item_class) & (items["product_type"] != "")]
    top_category = chosen.groupby("product_type")["category"].agg(lambda s: s.value_counts().index[0])
    frame = top_category.rename("category").reset_index()
    frame["text"] = frame["product_type"].str.title() + " (" + frame["category"].str.title() + ")"
    return frame


def semantic_pairs(items: pd.DataFrame, top_k: int, min_similarity: float, model: str = "minilm") -> pd.DataFrame:
    """For each grocery PT, its `top_k` most similar GM PTs with cosine similarity >= `min_similarity`."""
    og, gm = pt_labels(items, "grocery"), pt_labels(items, "gm")
    gm = gm[~gm["product_type"].isin(og["product_type"])].reset_index(drop=True)
    if og.empty or gm.empty:
        return pd.DataFrame({"antecedent": [], "consequent": [], "similarity": []})
    vectors = embed(pd.concat([og["text"], gm["text"]]).tolist(), name=model)
    sim = vectors[: len(og)] @ vectors[len(og) :].T
    k = min(top_k, sim.shape[1])
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(len(og)), k)
    cols = top.ravel()
    frame = pd.DataFrame(
        {
            "antecedent": og["product_type"].to_numpy()[rows],
            "consequent": gm["product_type"].to_numpy()[cols],
            "similarity": sim[rows, cols].astype(np.float64),
        }
    )
    frame = frame[frame["similarity"] >= min_similarity]
    return frame.sort_values(["antecedent", "similarity"], ascending=[True, False]).reset_index(drop=True)

"""Resolve what a user typed (an item id or free text) to one catalog item."""

from __future__ import annotations

import difflib
import re

import numpy as np
import pandas as pd

from xpollinate.errors import UnknownAnchorError, XPError

MAX_QUERY_CHARS = 200


def tokens(text: str) -> set[str]:
    """Lower-case word tokens with a naive plural strip ("eggs" ~ "egg")."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words}


def describe(row: pd.Series) -> str:
    return f"{int(row['item_id'])}  {row['text']}"


def resolve(items: pd.DataFrame, query: str | int) -> pd.Series:
    """The item a query names: an id, or the most purchased item whose product type best matches the text.

    Raises UnknownAnchorError (with the closest items) when nothing matches.
    """
    text = str(query).strip()
    if not text:
        raise XPError("anchor: empty; give an item id or a product description such as 'ground coffee'")
    if len(text) > MAX_QUERY_CHARS:
        raise XPError(f"anchor: {len(text)} characters; at most {MAX_QUERY_CHARS}")
    if text.isdigit():
        return _by_id(items, int(text))
    return _by_text(items, text)


def _by_id(items: pd.DataFrame, item_id: int) -> pd.Series:
    hit = items.index[items["item_id"] == item_id]
    if len(hit):
        return items.loc[hit[0]]
    sold = items[items["n_baskets"] > 0]
    near = sold.iloc[np.argsort(np.abs(sold["item_id"].to_numpy() - item_id))[:5]]
    raise UnknownAnchorError(f"anchor: no item with id {item_id}", [describe(r) for _, r in near.iterrows()])


def _by_text(items: pd.DataFrame, text: str) -> pd.Series:
    """Match at product-type level (2k names, not 90k items), then take that type's best seller."""
    pool = items[items["n_baskets"] > 0]
    grocery_first = pool.sort_values(["is_grocery", "n_baskets"], ascending=False)
    types = grocery_first.drop_duplicates("product_type")[["product_type", "category"]]
    query = tokens(text)
    best_score, best_type = 0.0, None
    for pt, category in types.itertuples(index=False):
        pt_tokens, cat_tokens = tokens(pt), tokens(category)
        in_pt = len(query & pt_tokens)
        in_cat = len((query - pt_tokens) & cat_tokens)
        score = (in_pt + 0.5 * in_cat) / len(query) if query else 0.0
        # Ties go to the type listed first (grocery, then most purchased).
        if score > best_score:
            best_score, best_type = score, pt
    if best_type is None:
        names = types["product_type"].str.lower().tolist()
        close = difflib.get_close_matches(text.lower(), names, n=5, cutoff=0.3)
        rows = [grocery_first[grocery_first["product_type"].str.lower() == c].iloc[0] for c in close]
        raise UnknownAnchorError(f"anchor: nothing in the catalog matches {text!r}", [describe(r) for r in rows])
    return grocery_first[grocery_first["product_type"] == best_type].iloc[0]

"""Grocery detection of recommendation texts on the real catalog's product-type names."""

from pathlib import Path

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.grocery_filter import GroceryFilter, head


def test_head_noun() -> None:
    assert head("Coffee Beans") == "bean" and head("bread box") == "box" and head("") == ""


def test_real_catalog_verdicts(real_store: DataStore, real_home: Path) -> None:
    flt = GroceryFilter.for_store(real_store, home=real_home)
    texts = [
        "coffee beans",
        "whole wheat bread",
        "orange juice",
        "cheddar cheese",
        "coffee filters",
        "bread box",
        "milk frother",
        "cheese grater",
        "egg poacher",
        "charcoal grill",
    ]
    verdicts = dict(zip(texts, (v.is_grocery for v in flt.check(texts))))
    assert [t for t, g in verdicts.items() if g] == [
        "coffee beans",
        "whole wheat bread",
        "orange juice",
        "cheddar cheese",
    ]
    # the PT-name vectors are cached on disk (keyed by model and texts) and reused
    cached = list((real_home / "index" / "embeddings").glob("minilm-*.npy"))
    again = GroceryFilter.for_store(real_store, home=real_home)
    assert (again.grocery_vectors == flt.grocery_vectors).all()
    assert cached and list((real_home / "index" / "embeddings").glob("minilm-*.npy")) == cached

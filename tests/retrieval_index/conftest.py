"""Catalog-index fixtures: the fixture dataset's GM index, built once per session in its own run
directory (tests that rebuild or break an index build their own in `tmp_path`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.catalog_index import ITEM_COLUMNS, CatalogIndex, build_index
from xpollinate.retrieval.matcher import SemanticMatcher

FIXTURE_GM_IDS = {11, 12, 13, 14, 15, 16}  # coffee filters x2, charcoal, paper towels, batteries, gadgets


@pytest.fixture(scope="session")
def index_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index-home")


@pytest.fixture(scope="session")
def fixture_index(fixture_store: DataStore, index_home: Path) -> CatalogIndex:
    index, built = build_index(fixture_store, home=index_home)
    assert built
    return index


@pytest.fixture(scope="session")
def matcher(fixture_index: CatalogIndex) -> SemanticMatcher:
    return SemanticMatcher(fixture_index)


def synthetic_index(rows: list[tuple[int, str, int, int]], vectors: np.ndarray, path: Path) -> CatalogIndex:
    """An in-memory index without a model: rows are (item_id, product_type, n_baskets, text_row);
    they are stored most purchased first, as a build stores them."""
    items = pd.DataFrame(rows, columns=["item_id", "product_type", "n_baskets", "text_row"])
    items = items.sort_values(["n_baskets", "item_id"], ascending=[False, True]).reset_index(drop=True)
    items["text"] = [f"item {i}" for i in items["item_id"]]
    for col in ("category", "department", "brand", "package_size"):
        items[col] = ""
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    manifest = {"model": "minilm", "dim": vectors.shape[1], "n_items": len(items), "n_texts": len(vectors)}
    return CatalogIndex(path, manifest, items[[*ITEM_COLUMNS, "text_row"]], vectors.astype(np.float32))

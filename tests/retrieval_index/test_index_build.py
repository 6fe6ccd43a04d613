"""Building the catalog index: what is indexed, persistence in chroma, idempotence, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.retrieval_index.conftest import FIXTURE_GM_IDS
from xpollinate.catalog.store import DataStore
from xpollinate.retrieval import catalog_index
from xpollinate.retrieval.catalog_index import (
    CatalogIndex,
    IndexNotBuiltError,
    IndexScope,
    build_index,
    index_path,
    indexed_items,
    read_chroma_vectors,
)


def _items(rows: list[tuple[int, str, bool, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["item_id", "item_class", "is_gm", "n_baskets"])
    frame["text"] = "t" + frame["item_id"].astype(str)
    frame["category"] = np.where(frame["item_id"] % 2 == 0, "EVEN", "ODD")
    for col in ("product_type", "department", "brand", "package_size"):
        frame[col] = ""
    return frame


def test_only_gm_items_sold_ones_by_default_most_purchased_first() -> None:
    items = _items(
        [
            (1, "grocery", False, 50),
            (2, "gm", True, 3),
            (3, "gm", True, 0),
            (4, "excluded", False, 9),
            (5, "gm", True, 7),
            (6, "gm", True, 7),
        ]
    )
    assert indexed_items(items, IndexScope())["item_id"].tolist() == [5, 6, 2]
    assert indexed_items(items, IndexScope(sold_only=False))["item_id"].tolist() == [5, 6, 2, 3]
    assert indexed_items(items, IndexScope(categories=("EVEN",)))["item_id"].tolist() == [6, 2]


def test_fixture_index_holds_the_gm_items_and_their_manifest(
    fixture_index: CatalogIndex, fixture_store: DataStore
) -> None:
    assert set(fixture_index.items["item_id"]) == FIXTURE_GM_IDS
    classes = fixture_store.items().set_index("item_id").loc[list(fixture_index.items["item_id"]), "item_class"]
    assert set(classes) == {"gm"}
    m = fixture_index.manifest
    assert (m["model"], m["recipe"], m["data_build"]) == (
        "minilm",
        catalog_index.RECIPE_VERSION,
        fixture_store.build_id,
    )
    assert m["n_items"] == 6 and fixture_index.vectors.shape == (m["n_texts"], 384)
    norms = np.linalg.norm(fixture_index.vectors, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)
    assert fixture_index.path == index_path(fixture_store, "minilm", IndexScope(), fixture_index.path.parent.parent)


def test_chroma_round_trips_the_vectors_and_metadata(fixture_index: CatalogIndex) -> None:
    ids = fixture_index.items["item_id"].to_numpy()
    stored = read_chroma_vectors(fixture_index.path / "chroma", ids)
    assert stored.dtype == np.float32
    assert np.array_equal(stored, fixture_index.item_vectors())  # bit-exact
    col = fixture_index.collection()
    assert col.count() == len(ids)
    got = col.get(ids=["11"], include=["metadatas", "documents"])
    assert got["metadatas"][0]["product_type"] == "COFFEE FILTERS"
    assert got["documents"][0].startswith("Coffee Filters")
    assert col.metadata["model"] == "minilm"
    # chroma answers a query with our vectors the way FAISS does (top hit of an item's own vector)
    hit = col.query(query_embeddings=stored[:1], n_results=1)
    assert hit["ids"][0][0] == str(ids[0])
    # No embedding function is attached: texts are refused instead of triggering chroma's
    # default function (which would download a model).
    with pytest.raises(ValueError, match="embedding function"):
        col.query(query_texts=["coffee"], n_results=1)


def test_rebuild_is_a_no_op(fixture_index: CatalogIndex, fixture_store: DataStore, index_home: Path) -> None:
    before = (fixture_index.path / "manifest.json").read_text()
    again, built = build_index(fixture_store, home=index_home)
    assert not built
    assert again.path == fixture_index.path
    assert (again.path / "manifest.json").read_text() == before


def test_interrupted_build_leaves_the_previous_index_usable(
    fixture_store: DataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = build_index(fixture_store, home=tmp_path)
    created = first.manifest["created_at"]
    # A hard-killed earlier build left a temporary folder behind.
    leftover = tmp_path / "index" / f".tmp-{first.path.name}-999999"
    leftover.mkdir()

    def killed(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(catalog_index, "write_chroma", killed)
    with pytest.raises(KeyboardInterrupt):
        build_index(fixture_store, home=tmp_path, force=True)
    reopened = CatalogIndex.open(fixture_store, home=tmp_path)
    assert reopened.manifest["created_at"] == created
    assert np.array_equal(reopened.vectors, first.vectors)
    assert read_chroma_vectors(reopened.path / "chroma", reopened.items["item_id"].to_numpy()).shape[0] == 6
    assert not leftover.exists()  # cleaned by the next build, under the lock
    assert not list((tmp_path / "index").glob(".tmp-*"))


def test_forced_rebuild_replaces_the_index(fixture_store: DataStore, tmp_path: Path) -> None:
    first, _ = build_index(fixture_store, home=tmp_path)
    first.collection()  # an open chroma client on the old folder is released before the swap
    second, built = build_index(fixture_store, home=tmp_path, force=True)
    assert built and second.path == first.path
    assert np.array_equal(second.vectors, first.vectors)
    assert second.collection().count() == 6
    assert [p.name for p in (tmp_path / "index").iterdir() if not p.name.endswith(".lock")] == [first.path.name]


def test_missing_index_names_the_command(fixture_store: DataStore, tmp_path: Path) -> None:
    with pytest.raises(IndexNotBuiltError, match=r"xp index build --model mpnet --all-items"):
        CatalogIndex.open(fixture_store, "mpnet", IndexScope(sold_only=False), home=tmp_path)
    with pytest.raises(IndexNotBuiltError, match=r"Run `xp index build` to build it"):
        CatalogIndex.open(fixture_store, home=tmp_path)


def test_key_depends_on_model_and_scope(fixture_store: DataStore, tmp_path: Path) -> None:
    paths = {
        index_path(fixture_store, model, scope, tmp_path)
        for model in ("minilm", "mpnet")
        for scope in (IndexScope(), IndexScope(sold_only=False), IndexScope(categories=("BATTERIES",)))
    }
    assert len(paths) == 6


def test_damaged_index_is_reported(fixture_index: CatalogIndex, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("items.parquet", "vectors.npy"):
        (copy / name).write_bytes((fixture_index.path / name).read_bytes())
    manifest = {**fixture_index.manifest, "n_texts": fixture_index.manifest["n_texts"] + 1}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexNotBuiltError, match="inconsistent"):
        CatalogIndex.load(copy)

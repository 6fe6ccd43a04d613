"""The catalog embedding index: GM items embedded once, kept in chromadb, searched with FAISS.

One index per (data build, embedding model, text recipe, scope), under
`$XP_HOME/index/catalog-<model>-<key>/`::

    manifest.json    what was built from what, counts and timings
    items.parquet    one row per indexed item, most purchased first; `text_row` = its vector
    vectors.npy      one float32 L2-normalised vector per distinct text (inner product = cosine)
    chroma/          chromadb PersistentClient store: one record per item (id, vector, text, metadata)

The dataset has no product names, only hierarchy, brand and size: ~22k sold GM items
have ~4.9k distinct texts. Each distinct text is embedded once and searched once;
items with the same text share its vector exactly, so searching texts and then listing
their items (most purchased first) is exact, ~4x less work than searching items, and
breaks ties between identical items by popularity rather than by float noise.

chromadb is the persisted vector store (per-item records for other readers, with its
own HNSW index); the matcher loads `vectors.npy` into a FAISS `IndexFlatIP` because
reading ~30k vectors back from chroma takes ~1.5 s against milliseconds for the `.npy`.
Every build reads the chroma copy back and checks it equals the item vectors exactly.

A build is written to a temporary folder and renamed into place under a file lock, so
an interrupted build never leaves a half index in use, and an unchanged key is a no-op.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.publish import publish_dir
from xpollinate.retrieval.embedder import DEFAULT_MODEL, MODELS, embed
from xpollinate.settings import ensure_dir, run_home

if TYPE_CHECKING:
    import faiss
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Metadata

# Bump when the text embedded per item changes: it is part of the index key.
RECIPE_VERSION = "text-v1"
COLLECTION = "gm_items"
ITEM_COLUMNS = ["item_id", "text", "product_type", "category", "department", "brand", "package_size", "n_baskets"]
ENCODE_CHUNK = 512  # texts per progress step (the model batches 64 at a time inside)

Progress = Callable[[int, int], None]  # (texts embedded so far, total)


class IndexNotBuiltError(XPError):
    """No finished catalog index for this data build, model and scope."""


@dataclass(frozen=True)
class IndexScope:
    """Which GM items are indexed.

    `sold_only` (default): only items bought at least once in the store's baskets. About
    29% of GM products never appear in two years of 2,469 households' transactions; they
    are likely delisted, have no price or popularity for the rankers, and mostly repeat
    the text of a sold twin. `categories` restricts to a subset (tests, quick benchmarks).
    """

    sold_only: bool = True
    categories: tuple[str, ...] | None = None

    def label(self) -> str:
        parts = ["sold" if self.sold_only else "all"]
        if self.categories is not None:
            parts.append("categories=" + ",".join(sorted(self.categories)))
        return ";".join(parts)


def build_command(model: str, scope: IndexScope) -> str:
    """The command that builds this index (used in error messages)."""
    cmd = "xp index build" + ("" if model == DEFAULT_MODEL else f" --model {model}")
    if not scope.sold_only:
        cmd += " --all-items"
    return cmd if scope.categories is None else f"{cmd} (with categories={list(scope.categories)} from Python)"


def document_texts(items: pd.DataFrame) -> pd.Series:
    """The text embedded per item (recipe `text-v1`): the store's readable line, which already
    joins product type, category, department, brand and size ("Coffee Filters (Coffee Filters,
    Drug Gm) - National brand, 100 CT"). On 50 recommendation-like queries it ranked the right
    product type first as often as the bare "type (category)" variants, and it is the text the
    judges see."""
    return items["text"].astype(str)


def indexed_items(items: pd.DataFrame, scope: IndexScope) -> pd.DataFrame:
    """The GM rows in scope, most purchased first: FAISS keeps the lower row on equal scores,
    so among items with the same text the most purchased one is returned first."""
    rows = items[items["is_gm"].astype(bool)]
    if scope.sold_only:
        rows = rows[rows["n_baskets"] > 0]
    if scope.categories is not None:
        rows = rows[rows["category"].isin(scope.categories)]
    rows = rows.sort_values(["n_baskets", "item_id"], ascending=[False, True], kind="stable")
    return rows[ITEM_COLUMNS].reset_index(drop=True)


def index_key(build_id: str, model: str, scope: IndexScope) -> str:
    raw = "|".join([build_id, model, RECIPE_VERSION, scope.label()])
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def index_root(home: Path | None = None) -> Path:
    return (home or run_home()) / "index"


def index_path(store: DataStore, model: str, scope: IndexScope, home: Path | None = None) -> Path:
    return index_root(home) / f"catalog-{model}-{index_key(store.build_id, model, scope)}"


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise XPError(f"unknown embedding model {model!r}; choose one of {sorted(MODELS)}")


def encode_texts(texts: pd.Series, model: str, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Embed each distinct text once (shortest first, so batches pad little); returns
    (one vector per distinct text, the row of each input's text in it)."""
    uniq, inverse = np.unique(texts.to_numpy(dtype=str), return_inverse=True)
    order = np.argsort([len(t) for t in uniq], kind="stable")
    vectors: np.ndarray | None = None
    for start in range(0, len(order), ENCODE_CHUNK):
        chunk = order[start : start + ENCODE_CHUNK]
        part = embed([str(t) for t in uniq[chunk]], name=model)
        if vectors is None:
            vectors = np.empty((len(uniq), part.shape[1]), dtype=np.float32)
        vectors[chunk] = part
        if progress is not None:
            progress(min(start + ENCODE_CHUNK, len(uniq)), len(uniq))
    assert vectors is not None
    return vectors, inverse.astype(np.int32)


# --- chromadb: one client per path per process ------------------------------------------------

_clients: dict[str, ClientAPI] = {}
_clients_lock = threading.Lock()


def chroma_client(path: Path) -> ClientAPI:
    """The process's client for a chroma folder (chroma keeps one system per path)."""
    import chromadb
    from chromadb.config import Settings

    key = str(path.resolve())
    with _clients_lock:
        if key not in _clients:
            _clients[key] = chromadb.PersistentClient(path=key, settings=Settings(anonymized_telemetry=False))
        return _clients[key]


def release_chroma_client(path: Path) -> None:
    """Close the process's client for `path` (before its folder is renamed or removed)."""
    with _clients_lock:
        client = _clients.pop(str(path.resolve()), None)
    if client is not None:
        client.close()  # type: ignore[attr-defined]  # the concrete Client has close(); ClientAPI omits it


def _collection(client: ClientAPI) -> Collection:
    # embedding_function=None always: chroma's default function downloads a model.
    return client.get_collection(COLLECTION, embedding_function=None)


def write_chroma(path: Path, items: pd.DataFrame, vectors: np.ndarray, metadata: dict[str, str]) -> None:
    """Store ids, our vectors, the embedded texts and item metadata in a new chroma collection."""
    client = chroma_client(path)
    # Space "ip": our vectors are unit length, so inner product ranks as cosine, and chroma keeps
    # them bit-exact ("cosine" renormalises them on write, moving the last bits).
    col = client.create_collection(
        COLLECTION, embedding_function=None, metadata=metadata, configuration={"hnsw": {"space": "ip"}}
    )
    docs = document_texts(items).tolist()
    meta_cols = ["product_type", "category", "department", "brand", "package_size"]
    metas: list[Metadata] = [
        {"item_id": int(i), "n_baskets": int(n), **{c: str(v) for c, v in zip(meta_cols, rest)}}
        for i, n, *rest in zip(items["item_id"], items["n_baskets"], *(items[c] for c in meta_cols))
    ]
    ids = [str(int(i)) for i in items["item_id"]]
    step = client.get_max_batch_size()
    for s in range(0, len(ids), step):
        col.add(
            ids=ids[s : s + step],
            embeddings=vectors[s : s + step],
            metadatas=metas[s : s + step],
            documents=docs[s : s + step],
        )


def read_chroma_vectors(path: Path, item_ids: np.ndarray) -> np.ndarray:
    """The vectors chroma holds for `item_ids`, in that order (paged reads)."""
    col = _collection(chroma_client(path))
    found: dict[str, np.ndarray] = {}
    page = 5000
    for offset in range(0, col.count(), page):
        got = col.get(include=["embeddings"], limit=page, offset=offset)
        found.update(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32)))
    missing = [int(i) for i in item_ids if str(int(i)) not in found]
    if missing:
        raise XPError(f"chroma store {path} lacks {len(missing)} items (e.g. {missing[:3]})")
    return np.stack([found[str(int(i))] for i in item_ids])


# --- the index ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogIndex:
    """A finished index: item rows, the distinct-text vectors and the chroma store beside them."""

    path: Path
    manifest: dict[str, Any]
    items: pd.DataFrame  # ITEM_COLUMNS + text_row, most purchased first
    vectors: np.ndarray  # one row per distinct text

    @classmethod
    def open(
        cls, store: DataStore, model: str = DEFAULT_MODEL, scope: IndexScope = IndexScope(), home: Path | None = None
    ) -> CatalogIndex:
        """The index for the store's current build; an error naming the build command if missing."""
        _check_model(model)
        path = index_path(store, model, scope, home)
        if not _complete(path):
            raise IndexNotBuiltError(
                f"No catalog index for data build {store.build_id} with model {model} ({scope.label()}) under "
                f"{path.parent}. Run `{build_command(model, scope)}` to build it."
            )
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> CatalogIndex:
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            items = pd.read_parquet(path / "items.parquet")
            vectors = np.load(path / "vectors.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexNotBuiltError(
                f"the catalog index {path} is unreadable ({exc}); rebuild it with --force"
            ) from exc
        if (
            vectors.dtype != np.float32
            or vectors.shape != (manifest["n_texts"], manifest["dim"])
            or len(items) != manifest["n_items"]
        ):
            raise IndexNotBuiltError(
                f"the catalog index {path} is inconsistent (vectors {vectors.shape}, "
                f"{len(items)} items); rebuild it with --force"
            )
        return cls(path, manifest, items, vectors)

    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    @property
    def text_row(self) -> np.ndarray:
        """For each item row, the row of its vector."""
        return self.items["text_row"].to_numpy()

    def item_vectors(self) -> np.ndarray:
        """One vector per item row (a copy: rows of items that share a text are equal)."""
        return self.vectors[self.text_row]

    @cached_property
    def faiss_index(self) -> faiss.IndexFlatIP:
        """Exact inner-product search over the distinct-text vectors (ids = rows of `vectors`)."""
        import faiss

        index = faiss.IndexFlatIP(self.vectors.shape[1])
        index.add(self.vectors)
        return index

    @cached_property
    def row_of(self) -> dict[int, int]:
        return {int(i): r for r, i in enumerate(self.items["item_id"])}

    def collection(self) -> Collection:
        """The chroma collection of this index (for readers that want chroma's own API)."""
        return _collection(chroma_client(self.path / "chroma"))


def _complete(path: Path) -> bool:
    return all((path / f).exists() for f in ("manifest.json", "items.parquet", "vectors.npy", "chroma"))


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def build_index(
    store: DataStore,
    model: str = DEFAULT_MODEL,
    scope: IndexScope = IndexScope(),
    *,
    force: bool = False,
    home: Path | None = None,
    progress: Progress | None = None,
) -> tuple[CatalogIndex, bool]:
    """Build the index if missing (or `force`); returns (index, built_now). Safe with several
    processes (a file lock per key; the loser finds the finished index)."""
    _check_model(model)
    root = ensure_dir(index_root(home))
    final = index_path(store, model, scope, home)
    if not force and _complete(final):
        return CatalogIndex.load(final), False
    with (root / f".{final.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and _complete(final):
            return CatalogIndex.load(final), False
        for stale in [*root.glob(f".tmp-{final.name}-*"), *root.glob(f".old-{final.name}-*")]:
            shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted build (we hold the lock)
        items = indexed_items(store.items(), scope)
        if items.empty:
            raise XPError(f"no GM items to index in data build {store.build_id} ({scope.label()})")
        tmp = root / f".tmp-{final.name}-{os.getpid()}"
        tmp.mkdir()
        try:
            _build_into(tmp, store, items, model, scope, progress)
            _publish(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone after a publish; a failed build's leftovers
    return CatalogIndex.load(final), True


def _build_into(
    tmp: Path, store: DataStore, items: pd.DataFrame, model: str, scope: IndexScope, progress: Progress | None
) -> None:
    """Embed, write the tables and the chroma store, check chroma round-trips, write the manifest."""
    embed(["warm-up"], name=model)  # load the model outside the timed part (texts/s in the manifest)
    started = time.perf_counter()
    vectors, text_row = encode_texts(document_texts(items), model, progress)
    embed_s = time.perf_counter() - started
    n_texts = len(vectors)
    items = items.assign(text_row=text_row)
    _write_tables(tmp, items, vectors)
    meta = {"model": model, "recipe": RECIPE_VERSION, "data_build": store.build_id, "scope": scope.label()}
    chroma_started = time.perf_counter()
    try:
        write_chroma(tmp / "chroma", items, vectors[text_row], meta)
        if not np.array_equal(read_chroma_vectors(tmp / "chroma", items["item_id"].to_numpy()), vectors[text_row]):
            raise XPError(f"chroma did not return the vectors written to {tmp / 'chroma'}")
    finally:
        release_chroma_client(tmp / "chroma")
    manifest = {
        **meta,
        "key": index_key(store.build_id, model, scope),
        "scope_sold_only": scope.sold_only,
        "scope_categories": list(scope.categories) if scope.categories is not None else None,
        "dim": int(vectors.shape[1]),
        "n_items": len(items),
        "n_texts": n_texts,
        "n_product_types": int(items["product_type"].nunique()),
        "embed_seconds": round(embed_s, 2),
        "texts_per_second": round(n_texts / embed_s, 1) if embed_s > 0 else None,
        "chroma_seconds": round(time.perf_counter() - chroma_started, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _write_tables(folder: Path, items: pd.DataFrame, vectors: np.ndarray) -> None:
    items.to_parquet(folder / "items.parquet", index=False)
    np.save(folder / "vectors.npy", vectors, allow_pickle=False)
    for name in ("items.parquet", "vectors.npy"):
        _fsync_file(folder / name)


def _publish(tmp: Path, final: Path) -> None:
    """Move the finished folder into place; an older one (forced rebuild) is swapped out first."""
    release_chroma_client(final / "chroma")
    publish_dir(tmp, final)


__all__ = [
    "CatalogIndex",
    "IndexNotBuiltError",
    "IndexScope",
    "RECIPE_VERSION",
    "build_index",
    "document_texts",
    "index_path",
    "indexed_items",
    "read_chroma_vectors",
]

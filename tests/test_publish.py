"""Atomic publishing of artifacts and the on-disk embedding cache: the one implementation of each."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xpollinate.publish import publish_dir, read_pointer, write_file, write_pointer
from xpollinate.retrieval.embedder import cached_embed


def test_publish_dir_replaces_an_older_folder_and_can_keep_it(tmp_path: Path) -> None:
    final = tmp_path / "artifact"
    for version, keep in (("v1", None), ("v2", None), ("v3", tmp_path / "previous")):
        tmp = tmp_path / f".tmp-{version}"
        tmp.mkdir()
        (tmp / "weights").write_text(version)
        publish_dir(tmp, final, keep=keep)
        assert (final / "weights").read_text() == version and not tmp.exists()
    assert (tmp_path / "previous" / "weights").read_text() == "v2"  # kept on request
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact", "previous"]  # no leftovers


def test_pointer_and_file(tmp_path: Path) -> None:
    assert read_pointer(tmp_path) is None
    write_pointer(tmp_path, "build-1")
    write_pointer(tmp_path, "build-2")
    assert read_pointer(tmp_path) == "build-2" and (tmp_path / "CURRENT").read_text() == "build-2\n"
    write_file(tmp_path / "x.bin", b"abc")
    assert (tmp_path / "x.bin").read_bytes() == b"abc" and [p.name for p in tmp_path.glob(".*")] == []


def test_embedding_cache_is_keyed_by_model_and_texts(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def fake(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.full((len(texts), 4), len(calls), np.float32)

    first = cached_embed(["a", "b"], tmp_path, "model-a", fake)
    again = cached_embed(["a", "b"], tmp_path, "model-a", fake)
    other = cached_embed(["a", "b"], tmp_path, "model-b", fake)  # another model: never the same entry
    assert len(calls) == 2 and (first == again).all() and not (first == other).all()
    assert cached_embed(["a", "c"], tmp_path, "model-a", fake).shape == (2, 4) and len(calls) == 3

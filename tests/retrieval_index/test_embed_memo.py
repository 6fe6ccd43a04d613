"""The embedding memo encodes each text once per process and returns what `embed` returns."""

from __future__ import annotations

import numpy as np
import pytest

from xpollinate.retrieval import embedder


def test_memo_encodes_only_unseen_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[list[str]] = []

    def fake_embed(texts, name="minilm", batch_size=64):  # type: ignore[no-untyped-def]
        encoded.append(list(texts))
        return np.array([[len(t), ord(t[0]), 1.0] for t in texts], dtype=np.float32)

    monkeypatch.setattr(embedder, "embed", fake_embed)
    monkeypatch.setattr(embedder, "_memo", {})
    first = embedder.embed_memo(["mug", "filters", "mug"], name="test")
    assert encoded == [["mug", "filters"]]  # duplicates within a call encoded once
    second = embedder.embed_memo(["filters", "kettle"], name="test")
    assert encoded[1] == ["kettle"]
    np.testing.assert_array_equal(second[0], first[1])
    np.testing.assert_array_equal(first, fake_embed(["mug", "filters", "mug"]))
    monkeypatch.setattr(embedder, "MEMO_SIZE", 2)
    embedder.embed_memo(["a", "b", "c"], name="test")
    assert len(embedder._memo["test"]) == 2 and "c" in embedder._memo["test"]

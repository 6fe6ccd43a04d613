"""FAISS indexes: exact vs brute force, HNSW recall, filtering after search, round-robin, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from xpollinate.errors import XPError
from xpollinate.retrieval.twotower.index import ItemIndex, recall_at_k, round_robin, set_threads


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    rng = np.random.default_rng(3)
    v = rng.normal(size=(3000, 16)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_exact_matches_brute_force_and_hnsw_recall(vectors: np.ndarray) -> None:
    set_threads(1)
    q = vectors[:50] + 0.1
    exact = ItemIndex(vectors, "exact")
    scores, rows = exact.search(q, 10)
    brute = np.argsort(-(q @ vectors.T), axis=1)[:, :10]
    assert np.array_equal(rows, brute)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    approx_scores, approx = ItemIndex(vectors, "hnsw").search(q, 10)
    assert recall_at_k(approx, rows) >= 0.95
    # ties: an equal-score item in the last slot counts as found
    assert recall_at_k(np.array([[1, 9]]), np.array([[1, 2]]), np.array([[0.9, 0.5]]), np.array([[0.9, 0.5]])) == 1.0
    assert recall_at_k(np.array([[1, 9]]), np.array([[1, 2]]), np.array([[0.9, 0.4]]), np.array([[0.9, 0.5]])) == 0.5


def test_filter_after_search_returns_only_allowed_items(vectors: np.ndarray) -> None:
    allowed = np.zeros(len(vectors), bool)
    allowed[::97] = True  # 31 allowed items: needs several re-fetches
    for kind in ("exact", "hnsw"):
        _, rows = ItemIndex(vectors, kind).search(vectors[:5], 10, allowed)  # type: ignore[arg-type]
        assert (rows >= 0).all() and allowed[rows].all()
    hnsw = ItemIndex(vectors, "hnsw")
    hnsw.add_partition(allowed)
    exact_scores, exact_rows = ItemIndex(vectors).search(vectors[:5], 10, allowed)
    part_scores, part_rows = hnsw.search(vectors[:5], 10, allowed)
    assert allowed[part_rows].all() and recall_at_k(part_rows, exact_rows, part_scores, exact_scores) >= 0.95
    few = np.zeros(len(vectors), bool)
    few[[1, 2]] = True
    _, rows = ItemIndex(vectors).search(vectors[:1], 5, few)
    assert sorted(rows[0][:2].tolist()) == [1, 2] and (rows[0][2:] == -1).all()


def test_bad_index_input_is_refused(vectors: np.ndarray) -> None:
    with pytest.raises(XPError, match="index kind"):
        ItemIndex(vectors, "annoy")  # type: ignore[arg-type]
    with pytest.raises(XPError, match="non-empty"):
        ItemIndex(np.zeros((0, 4), np.float32))
    index = ItemIndex(vectors)
    with pytest.raises(XPError, match="dimension"):
        index.search(np.zeros((1, 3), np.float32), 5)
    with pytest.raises(XPError, match="at least one"):
        index.search(vectors[:1], 0)
    with pytest.raises(XPError, match="filter mask"):
        index.search(vectors[:1], 5, np.ones(3, bool))


def test_round_robin_interleaves_and_skips_duplicates() -> None:
    a = np.array([[1, 2, 3, 4]])
    b = np.array([[2, 5, 1, 6]])
    assert round_robin(a, b, k=5).tolist() == [[1, 2, 5, 3, 4]]
    assert round_robin(np.array([[1, -1]]), np.array([[1, -1]]), k=3).tolist() == [[1, -1, -1]]

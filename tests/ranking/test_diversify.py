from __future__ import annotations

import math

import pytest

from xpollinate.errors import XPError
from xpollinate.ranking.diversify import diversify


def test_at_most_m_per_product_type() -> None:
    ids = [1, 2, 3, 4, 5, 6]
    scores = [9, 8, 7, 6, 5, math.nan]
    pts = ["a", "a", "a", "b", "b", "c"]
    assert diversify(ids, scores, pts, k=4, max_per_pt=2) == [1, 2, 4, 5]
    assert diversify(ids, scores, pts, k=10, max_per_pt=1) == [1, 4, 6]  # NaN last, cap never relaxed


def test_bad_arguments_are_named() -> None:
    with pytest.raises(XPError, match="aligned"):
        diversify([1, 2], [1.0], ["a", "b"])
    with pytest.raises(XPError, match="k and max_per_pt"):
        diversify([1], [1.0], ["a"], k=0)

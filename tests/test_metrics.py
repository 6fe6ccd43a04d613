"""NDCG, the one implementation, against hand-computed values; the spread over seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xpollinate.metrics import dcg, mean_sd, ndcg
from xpollinate.ranking.metrics import ndcg_at_k


def test_ndcg_by_hand() -> None:
    # relevant at ranks 2 and 3 of 3, two relevant in all: DCG = 1/log2(3) + 1/log2(4); ideal = 1 + 1/log2(3)
    got = ndcg(np.array([[0, 1, 1]]), np.array([[1, 1, 0]]), 3)[0]
    assert got == pytest.approx((1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3)))
    assert dcg(np.array([1, 0, 0, 1]), 2)[0] == pytest.approx(1.0)  # cut at k
    assert ndcg(np.zeros((1, 3)), np.zeros((1, 3)), 3)[0] == 0.0  # nothing relevant


def test_cart_ndcg_ranks_scores_and_puts_nan_last() -> None:
    labels = np.array([0, 1, 0, 1])
    assert ndcg_at_k(np.array([0.1, 0.9, 0.2, 0.8]), labels, 2) == pytest.approx(1.0)
    assert ndcg_at_k(np.array([0.9, np.nan, 0.8, 0.1]), labels, 4) == pytest.approx(
        (1 / math.log2(5) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    )


def test_mean_sd_is_the_sample_spread_and_unknown_for_one_seed() -> None:
    mean, sd = mean_sd([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2) and sd == pytest.approx(0.1)  # ddof=1: sqrt(0.02 / 2)
    one = mean_sd([0.5])
    assert one[0] == 0.5 and math.isnan(one[1])
    assert all(math.isnan(v) for v in mean_sd([]))

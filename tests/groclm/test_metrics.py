from __future__ import annotations

import math

import numpy as np
import pytest

from xpollinate.groclm.metrics import set_metrics
from xpollinate.metrics import mean_sd


def test_set_metrics_by_hand() -> None:
    ranked = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, -1]])
    targets = [np.array([2, 5, 9]), np.array([7])]
    m = set_metrics(ranked, targets, ks=(2, 5))
    # row 1: @2 one hit (2): P 1/2, R 1/3, F1 0.4; @5 two hits (2, 5): P 2/5, R 2/3, F1 0.5
    # row 2: @2 one hit (7): P 1/2, R 1, F1 2/3; @5 the same hit: P 1/5, R 1, F1 1/3
    assert m["p@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert m["r@2"] == pytest.approx((1 / 3 + 1) / 2)
    assert m["f1@2"] == pytest.approx((0.4 + 2 / 3) / 2)
    assert m["p@5"] == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert m["r@5"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["f1@5"] == pytest.approx((0.5 + 1 / 3) / 2)


def test_no_hit_gives_zero_f1_and_short_lists_fail() -> None:
    m = set_metrics(np.array([[1, 2]]), [np.array([3])], ks=(2,))
    assert m == {"p@2": 0.0, "r@2": 0.0, "f1@2": 0.0}
    with pytest.raises(ValueError, match="need 5"):
        set_metrics(np.array([[1, 2]]), [np.array([3])], ks=(5,))


def test_mean_sd_uses_ddof_1() -> None:
    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    mean, sd = mean_sd([0.5])
    assert mean == 0.5 and math.isnan(sd)

from __future__ import annotations

import numpy as np
import pytest

from tests.groclm.conftest import synthetic
from xpollinate.errors import XPError
from xpollinate.groclm.baselines import BASELINES, make_baselines, top_k
from xpollinate.groclm.tasks import TaskConfig, build_examples
from xpollinate.groclm.tifu import NeighbourPool, TifuParams, decay_weights, tifu_scores

FIXTURE = dict(train_until=8, val_until=10, max_households=None, max_examples=None)  # test weeks 11-12


def test_next_examples_have_strictly_earlier_histories(fixture_cb) -> None:
    ex = build_examples(fixture_cb, TaskConfig(task="next", **FIXTURE))
    assert len(ex) > 0 and set(fixture_cb.week[ex.rows]) <= {11, 12}
    for i, r in enumerate(ex.rows):
        start, stop = ex.history[i]
        assert (fixture_cb.household[start:stop] == ex.household[i]).all()
        assert (fixture_cb.seconds[start:stop] < fixture_cb.seconds[r]).all()
        assert ex.counts[i].sum() == fixture_cb.matrix[start:stop].sum()
        assert np.array_equal(ex.targets[i], fixture_cb.categories(int(r)))


def test_inbasket_splits_items_in_half_with_the_seed(fixture_cb) -> None:
    config = TaskConfig(task="inbasket", **FIXTURE)
    ex = build_examples(fixture_cb, config)
    assert ex.given is not None
    for i, r in enumerate(ex.rows):
        items = fixture_cb.item_categories(int(r))
        assert len(items) >= 2 and len(ex.targets[i]) >= 1 and len(ex.given[i]) >= 1
        assert set(ex.targets[i]) | set(ex.given[i]) == set(items)
    again = build_examples(fixture_cb, config)
    assert all(np.array_equal(a, b) for a, b in zip(ex.targets, again.targets))


def test_subsample_is_seeded_and_capped(fixture_cb) -> None:
    small = {**FIXTURE, "max_households": 3, "max_examples": 5}
    a = build_examples(fixture_cb, TaskConfig(seed=0, **small))
    b = build_examples(fixture_cb, TaskConfig(seed=0, **small))
    c = build_examples(fixture_cb, TaskConfig(seed=1, **small))
    assert len(a) == 5 and len(set(a.household)) <= 3 and np.array_equal(a.rows, b.rows)
    assert not np.array_equal(a.rows, c.rows)
    with pytest.raises(XPError, match="household 999 is not in the data store"):
        build_examples(fixture_cb, TaskConfig(households=(999,), **FIXTURE))
    with pytest.raises(XPError, match="leaves no test weeks"):
        build_examples(fixture_cb, TaskConfig(train_until=8, val_until=12))


@pytest.mark.parametrize("task", ["next", "inbasket"])
def test_each_baseline_returns_k_distinct_valid_categories(fixture_cb, task) -> None:
    ex = build_examples(fixture_cb, TaskConfig(task=task, **FIXTURE))
    models = make_baselines(fixture_cb, 8, tifu=TifuParams(neighbours=3))
    assert [m.name for m in models] == list(BASELINES)
    for k in (5, fixture_cb.n_categories):
        for model in models:
            ranked = model.rank(ex, k).categories
            assert ranked.shape == (len(ex), k), model.name
            assert all(len(set(row)) == k for row in ranked.tolist()), model.name
            assert ((ranked >= 0) & (ranked < fixture_cb.n_categories)).all(), model.name
    padded = models[0].rank(ex, fixture_cb.n_categories + 2).categories
    assert (padded[:, -2:] == -1).all()


def test_top_frequency_breaks_ties_by_recency_and_falls_back_to_popularity(fixture_cb) -> None:
    cb = synthetic(
        [
            (1, 1, 0, [1]),  # household 1: A on day 0, B on day 1, then its test basket
            (1, 1, 1, [2]),
            (1, 9, 60, [3]),
            (2, 1, 0, [3]),  # household 2 makes C the most popular
            (2, 2, 8, [3]),
        ]
    )
    ex = build_examples(cb, TaskConfig(train_until=7, val_until=8, max_households=None, max_examples=None))
    pop, top_freq, *_ = make_baselines(cb, 7, tifu=TifuParams(neighbours=1))
    assert top_freq.rank(ex, 3).categories.tolist() == [[1, 0, 2]]  # B (more recent), A, then C by popularity
    assert pop.rank(ex, 3).categories.tolist() == [[2, 0, 1]]  # C, then A and B tied: by index
    ex = build_examples(fixture_cb, TaskConfig(**FIXTURE))
    _, top_freq, *_ = make_baselines(fixture_cb, 8, min_history=10_000)
    ranked = top_freq.rank(ex, 3)
    assert ranked.fallbacks == len(ex)  # nobody has 10,000 earlier baskets: everyone gets the popularity list
    assert (ranked.categories == ranked.categories[0]).all()
    assert top_k(np.zeros((1, 3)), 3, np.array([1.0, 5.0, 3.0])).tolist() == [[1, 2, 0]]


def test_tifu_weights_follow_the_paper() -> None:
    p = TifuParams(within_decay=0.5, group_decay=0.1, groups=3)
    # 7 baskets -> groups of 2, 2, 3 (the later groups take the extra basket)
    w = decay_weights(7, p)
    expected = [0.01 * 0.5 / 2, 0.01 / 2, 0.1 * 0.5 / 2, 0.1 / 2, 0.25 / 3, 0.5 / 3, 1 / 3]
    assert w == pytest.approx(np.array(expected) / 3)
    assert decay_weights(2, p) == pytest.approx([0.1 / 2, 1 / 2])  # one group per basket when fewer than groups


def test_tifu_with_one_neighbour_is_the_hand_computed_blend() -> None:
    cb = synthetic(
        [
            (1, 1, 0, [1]),  # household 1: A, then A B
            (1, 2, 7, [1, 2]),
            (1, 9, 60, [3]),  # its test basket
            (2, 1, 1, [2]),  # household 2: B, then B C
            (2, 2, 8, [2, 3]),
            (3, 1, 2, [3]),  # household 3: C
        ]
    )
    params = TifuParams(neighbours=1, within_decay=0.9, group_decay=0.6, groups=3, alpha=0.2)
    pool = NeighbourPool.build(cb, until_week=8, params=params)
    # two baskets -> two groups of one: the older weighs r_g / 2 = 0.3, the newer 1 / 2
    vectors = dict(zip(pool.households.tolist(), pool.vectors.tolist()))
    assert vectors[1] == pytest.approx([0.8, 0.5, 0.0])
    assert vectors[2] == pytest.approx([0.0, 0.8, 0.5])
    assert vectors[3] == pytest.approx([0.0, 0.0, 1.0])
    # household 1's own vector (0.8, 0.5, 0): nearest other household is 2 (squared distance 0.98 vs 1.89)
    scores = tifu_scores(cb, np.array([[0, 2]]), np.array([1]), pool, params)
    assert scores[0] == pytest.approx(0.2 * np.array([0.8, 0.5, 0.0]) + 0.8 * np.array([0.0, 0.8, 0.5]))

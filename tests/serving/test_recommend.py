"""The request pipeline in process: layered source, Poor band, ranker failures, incremental reloads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.serving.conftest import write_item_xp
from xpollinate.errors import XPError
from xpollinate.ranking.pool import ArraySource, PoolConfig
from xpollinate.serving.config import ServeConfig
from xpollinate.serving.recommend import recommend_cart
from xpollinate.serving.state import ServingState, load_state


@pytest.fixture(scope="module")
def state(serve_home: Path) -> ServingState:
    return load_state(ServeConfig(home=serve_home, watch_s=0))


def test_layered_source_prefers_item_xp_and_drops_poor(state: ServingState) -> None:
    src = state.source
    assert src.origin(1) == "item_xp" and src.origin(3) == "historical" and src.origin(999) is None
    assert src.top(1, 30) == [(16, 0.8), (15, 0.65)]  # 13 is Poor (0.3): stored, never pooled
    assert src.top(3, 1) == [(13, 7.0)]
    assert isinstance(src, ArraySource)  # what the pool reads: the same lists as arrays
    for anchor, k in ((1, 30), (3, 1), (999, 30)):
        ids, scores = src.top_arrays(anchor, k)
        assert ids.dtype == np.int64 and list(zip(ids.tolist(), scores.tolist())) == src.top(anchor, k)
    assert [r["item_id"] for r in state.item_xp.stored(1)] == [16, 15, 13]


class Exploding:
    name = "broken"

    def score(self, *args, **kwargs) -> np.ndarray:
        raise RuntimeError("boom")


class Refusing:
    name = "picky"

    def score(self, *args, **kwargs) -> np.ndarray:
        raise XPError("no cart item the model knows")


@pytest.mark.parametrize("scorer", [Exploding(), Refusing()])
def test_a_failing_ranker_is_answered_by_the_heuristic(state: ServingState, scorer) -> None:
    broken = dataclasses.replace(state, scorer=scorer, trained=True)
    out = recommend_cart(broken, PoolConfig(), [1, 3], k=5, max_per_pt=2)
    assert out["served_by"]["ranker"] == "heuristic" and out["served_by"]["fallbacks"] == [
        "ranker_error",
        "historical_anchors",
    ]
    assert out["items"] == recommend_cart(state, PoolConfig(), [1, 3], k=5, max_per_pt=2)["items"]


def test_reload_reuses_unchanged_parts(own_home: Path) -> None:
    config = ServeConfig(home=own_home, watch_s=0)
    first = load_state(config)
    write_item_xp(own_home, "run-2", {5: [(13, 0.9, "Excellent")]})
    second = load_state(config, previous=first)
    assert second.data is first.data and second.historical is first.historical  # catalog not re-read
    assert second.item_xp is not first.item_xp and second.source.origin(5) == "item_xp"
    assert second.versions["item_xp"] != first.versions["item_xp"] and second.versions["data"] == first.versions["data"]
    assert load_state(config, previous=second).source is second.source  # nothing changed: the compiled index is kept


def test_a_loaded_state_is_frozen_out_of_the_cyclic_collector(own_home: Path) -> None:
    import gc

    from xpollinate.serving.holder import StateHolder

    holder = StateHolder(ServeConfig(home=own_home, watch_s=0))
    try:
        gc.unfreeze()
        assert holder.reload().reloaded
        frozen = gc.get_freeze_count()
        assert frozen > 1000
        assert gc.get_freeze_count() == frozen  # a collection now walks only what came after
        old = holder.state
        write_item_xp(own_home, "run-2", {5: [(13, 0.9, "Excellent")]})
        assert holder.reload().reloaded and holder.state is not old
        assert gc.get_freeze_count() > 1000  # unfrozen, collected and frozen again with the new state
    finally:
        gc.unfreeze()


def test_item_xp_lists_keep_historical_items_whatever_their_score() -> None:
    from xpollinate.serving.sources import ItemXPLists

    rows = [
        {"item_id": 1, "combined": 0.8, "source": "llm"},
        {"item_id": 2, "combined": 0.2, "source": "llm"},
        {"item_id": 3, "combined": 0.1, "source": "historical"},
        {"item_id": 4, "combined": 0.3, "source": "both"},
    ]
    lists = ItemXPLists({7: rows})
    ids, _ = lists.top_arrays(7, 10)
    assert ids.tolist() == [1, 3, 4]  # the model's Poor item (2) is out; the baskets' items stay

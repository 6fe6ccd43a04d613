"""Settings chosen on the validation weeks (42-46 by default), never on the test weeks: TIFU-KNN's few
parameters and the in-basket blend's personal weight (small grids, numpy only, seconds each), and the pick
of the LM's decoding among evaluated rows. Each tuner returns the chosen setting and every grid row, so the
results page can show what was tried; ties go to the earlier grid entry (the paper's defaults first)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xpollinate.groclm.baselines import Baseline, TifuKNN, popularity
from xpollinate.groclm.baskets import CategoryBaskets
from xpollinate.groclm.evaluate import evaluate
from xpollinate.groclm.inbasket import CoOccurrenceFactory
from xpollinate.groclm.tasks import TaskConfig
from xpollinate.groclm.tifu import NeighbourPool, TifuParams

METRIC = "f1@10"
TIFU_GRID: tuple[TifuParams, ...] = tuple(
    TifuParams(neighbours=n, alpha=a, within_decay=rb, group_decay=rg)
    for rb, rg in ((0.9, 0.6), (1.0, 0.9))
    for n in (900, 300, 100)
    for a in (0.2, 0.5, 0.8)
)
WEIGHTS: tuple[float, ...] = (1.0, 0.25, 0.5, 2.0, 4.0)


def _score(cb: CategoryBaskets, config: TaskConfig, seeds: Sequence[int], model: Baseline) -> float:
    ev = evaluate(cb, config, tuple(seeds), (10,), baselines=[model])
    return float(ev.summary()[model.name][METRIC]["mean"])


def tune_tifu(
    cb: CategoryBaskets, val: TaskConfig, seeds: Sequence[int], grid: Sequence[TifuParams] = TIFU_GRID
) -> tuple[TifuParams, list[dict[str, Any]]]:
    """The grid entry with the best validation F1@10 (`val`: a next-basket config on the val split)."""
    pop = popularity(cb, val.train_until)
    pools: dict[tuple[float, float, int], NeighbourPool] = {}
    rows = []
    for params in grid:
        key = (params.within_decay, params.group_decay, params.groups)
        pool = pools.get(key)
        if pool is None:
            pool = pools[key] = NeighbourPool.build(cb, val.train_until, params)
        rows.append({**params.model_dump(), METRIC: _score(cb, val, seeds, TifuKNN(cb, pool, pop, params))})
    best = max(range(len(rows)), key=lambda i: (rows[i][METRIC], -i))
    return grid[best], rows


def tune_weight(
    cb: CategoryBaskets, val: TaskConfig, seeds: Sequence[int], weights: Sequence[float] = WEIGHTS, min_history: int = 1
) -> tuple[float, list[dict[str, Any]]]:
    """The personal weight of `cooc_personal` with the best validation F1@10 (`val`: in-basket, val split)."""
    make = CoOccurrenceFactory(cb, val.train_until, min_history)
    rows = [{"weight": w, METRIC: _score(cb, val, seeds, make(w))} for w in weights]
    best = max(range(len(rows)), key=lambda i: (rows[i][METRIC], -i))
    return float(weights[best]), rows


def pick(summary: dict[str, dict[str, dict[str, Any]]], names: Sequence[str], metric: str = METRIC) -> str:
    """Of `names` (rows of one evaluation), the one with the best mean `metric`; ties to the earlier."""
    return max(names, key=lambda n: (summary[n][metric]["mean"], -names.index(n)))

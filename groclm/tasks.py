"""The two GroCLM tasks on Complete Journey baskets, with the cart ranker's time split.

- **next**: for a basket of the evaluated split, the household's history is every basket it made strictly
  before (any week); predict the set of categories in the basket.
- **inbasket**: half the basket's items (n // 2, drawn with the seed) are given; predict the categories of
  the other half (the paper's Appendix A). The target may repeat a given item's category: it is what the
  hidden items are, as in the paper.

Split by week: train 1-`train_until` (41), validation to `val_until` (46), test after (47-53). Everything
learned from data (rebuying cycles, popularity, TIFU-KNN's neighbours) uses the training weeks only; a
household's own history reaches up to the basket, as a live system's would.

The evaluation subsamples with its seed: `max_households` households among those with a basket in the
split, then at most `max_examples` of their baskets, so a run takes seconds to a minute on 2 cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from xpollinate.errors import XPError
from xpollinate.groclm.baskets import CategoryBaskets
from xpollinate.groclm.rebuy import household_state

TaskName = Literal["next", "inbasket"]
TASKS: tuple[TaskName, ...] = ("next", "inbasket")


class TaskConfig(BaseModel):
    """Which baskets become examples: the task, split weeks and the seeded subsample."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: TaskName = "next"
    train_until: int = Field(41, ge=1, description="last training week")
    val_until: int = Field(46, ge=2, description="last validation week; the test weeks follow")
    split: Literal["val", "test"] = "test"
    max_households: int | None = Field(500, ge=1, description="households sampled (None: all)")
    max_examples: int | None = Field(5000, ge=1, description="baskets sampled among theirs (None: all)")
    households: tuple[int, ...] | None = Field(None, description="only these households")
    seed: int = 0

    @model_validator(mode="after")
    def _order(self) -> TaskConfig:
        if not self.train_until < self.val_until:
            raise ValueError(f"train_until ({self.train_until}) must be before val_until ({self.val_until})")
        return self

    def weeks(self, last_week: int) -> tuple[int, int]:
        """The evaluated split's inclusive week range."""
        if self.split == "val":
            return self.train_until + 1, self.val_until
        if self.val_until >= last_week:
            raise XPError(f"val_until={self.val_until} leaves no test weeks: the data ends at week {last_week}")
        return self.val_until + 1, last_week


@dataclass(frozen=True)
class Examples:
    """Evaluation examples: per basket its household, history slice and history features, and the target."""

    task: TaskName
    rows: np.ndarray  # (N,) rows of the CategoryBaskets
    household: np.ndarray  # (N,)
    day: np.ndarray  # (N,) the basket's day
    history: np.ndarray  # (N, 2) [start, end) rows of the household's earlier baskets
    counts: np.ndarray  # (N, C) earlier baskets holding each category
    since: np.ndarray  # (N, C) days since the category's last purchase (NaN: never)
    targets: list[np.ndarray]  # category indices to predict
    given: list[np.ndarray] | None  # inbasket: the given items' categories
    meta: dict[str, int]  # counts of the sampling

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def n_history(self) -> np.ndarray:
        return self.history[:, 1] - self.history[:, 0]


def _rng(seed: int, stream: int) -> np.random.Generator:
    """Independent streams per use, so the household sample does not depend on the task."""
    return np.random.default_rng([seed, stream])


def _sample(values: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    if cap is None or len(values) <= cap:
        return values
    return np.sort(rng.choice(values, size=cap, replace=False))


def build_examples(cb: CategoryBaskets, config: TaskConfig) -> Examples:
    """The examples of `config.split` for `config.task`, subsampled with `config.seed`."""
    if len(cb.week) == 0:
        raise XPError("the data store holds no basket with a categorised item")
    lo, hi = config.weeks(int(cb.week.max()))
    rows = np.flatnonzero((cb.week >= lo) & (cb.week <= hi))
    if config.task == "inbasket":
        rows = rows[np.diff(cb.item_offsets)[rows] >= 2]  # a basket to split needs two items
    if config.households is not None:
        known = set(np.unique(cb.household).tolist())
        unknown = sorted(set(config.households) - known)
        if unknown:
            raise XPError(
                f"household {', '.join(map(str, unknown))} is not in the data store "
                f"({len(known)} households, ids {min(known)}-{max(known)})"
            )
        rows = rows[np.isin(cb.household[rows], list(config.households))]
    if len(rows) == 0:
        raise XPError(f"no basket to evaluate in weeks {lo}-{hi} ({config.split} split, task {config.task})")
    in_split = np.unique(cb.household[rows])
    chosen = _sample(in_split, config.max_households, _rng(config.seed, 0))
    rows = rows[np.isin(cb.household[rows], chosen)]
    n_rows = len(rows)
    rows = _sample(rows, config.max_examples, _rng(config.seed, 1))
    spans = cb.households()
    split_rng = _rng(config.seed, 2)
    n, c = len(rows), cb.n_categories
    history = np.zeros((n, 2), np.int64)
    counts = np.zeros((n, c), np.float64)
    since = np.full((n, c), np.nan)
    targets: list[np.ndarray] = []
    given: list[np.ndarray] = []
    for i, r in enumerate(rows):
        start, end = spans[int(cb.household[r])]
        stop = start + int(np.searchsorted(cb.seconds[start:end], cb.seconds[r], side="left"))
        history[i] = (start, stop)
        counts[i], since[i] = household_state(cb, start, stop, int(cb.day[r]))
        if config.task == "next":
            targets.append(cb.categories(int(r)))
        else:
            items = cb.item_categories(int(r))
            order = split_rng.permutation(len(items))
            half = len(items) // 2
            given.append(np.unique(items[order[:half]]))
            targets.append(np.unique(items[order[half:]]))
    return Examples(
        task=config.task,
        rows=rows,
        household=cb.household[rows],
        day=cb.day[rows],
        history=history,
        counts=counts,
        since=since,
        targets=targets,
        given=given if config.task == "inbasket" else None,
        meta={
            "households_in_split": len(in_split),
            "households": len(chosen),
            "baskets_of_those": n_rows,
            "examples": n,
            "first_week": lo,
            "last_week": hi,
        },
    )

"""Every baseline on the test split for several seeds (a seed is a subsample, and the in-basket split):
P/R/F1 at each k as mean ± sd (ddof=1) over the seeds, per baseline, as in the paper's Tables 2-5."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xpollinate.groclm.baselines import Baseline, make_baselines
from xpollinate.groclm.baskets import CategoryBaskets
from xpollinate.groclm.metrics import KS, set_metrics
from xpollinate.groclm.tasks import TaskConfig, build_examples
from xpollinate.groclm.tifu import TifuParams
from xpollinate.metrics import mean_sd

SEEDS = (0, 1, 2)
MAX_K = 100  # the paper stops at 20; longer lists are no recommendation
Progress = Callable[[str, int, int], None]


@dataclass
class Evaluation:
    """Per baseline and metric the per-seed values; the examples' sampling counts per seed."""

    config: TaskConfig
    seeds: tuple[int, ...]
    ks: tuple[int, ...]
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    fallbacks: dict[str, list[int]] = field(default_factory=dict)
    samples: list[dict[str, int]] = field(default_factory=list)
    info: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per model with info, per seed

    def metrics(self) -> list[str]:
        return [f"{m}@{k}" for k in self.ks for m in ("p", "r", "f1")]

    def summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{baseline: {'p@5': {'mean', 'sd', 'per_seed'}, ...}}."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for name, per in self.values.items():
            out[name] = {}
            for metric in self.metrics():
                mean, sd = mean_sd(per[metric])
                out[name][metric] = {"mean": mean, "sd": None if np.isnan(sd) else sd, "per_seed": per[metric]}
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.config.task,
            "split": self.config.split,
            "train_until": self.config.train_until,
            "val_until": self.config.val_until,
            "max_households": self.config.max_households,
            "max_examples": self.config.max_examples,
            "seeds": list(self.seeds),
            "ks": list(self.ks),
            "samples": self.samples,
            "fallbacks": self.fallbacks,
            "baselines": self.summary(),
            **({"info": self.info} if self.info else {}),
        }


def evaluate(
    cb: CategoryBaskets,
    config: TaskConfig,
    seeds: tuple[int, ...] = SEEDS,
    ks: tuple[int, ...] = KS,
    min_history: int = 1,
    tifu: TifuParams | None = None,
    baselines: list[Baseline] | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Score every baseline on `config`'s split once per seed (the seed replaces `config.seed`)."""
    if not seeds:
        raise ValueError("no seed to evaluate")
    if min(ks) < 1 or max(ks) > MAX_K:
        raise ValueError(f"k must be 1 to {MAX_K}, got {', '.join(map(str, ks))}")
    say = progress or (lambda _s, _n, _t: None)
    models = baselines if baselines is not None else make_baselines(cb, config.train_until, min_history, tifu)
    result = Evaluation(config, tuple(seeds), tuple(ks))
    total = len(seeds) * len(models)
    say("baselines x seeds", 0, total)
    for i, seed in enumerate(seeds):
        ex = build_examples(cb, config.model_copy(update={"seed": seed}))
        result.samples.append({"seed": seed, **ex.meta, "without_history": int((ex.n_history == 0).sum())})
        for j, model in enumerate(models):
            ranked = model.rank(ex, max(ks))
            scores = set_metrics(ranked.categories, ex.targets, ks)
            per = result.values.setdefault(model.name, {})
            for metric, value in scores.items():
                per.setdefault(metric, []).append(value)
            result.fallbacks.setdefault(model.name, []).append(ranked.fallbacks)
            if ranked.info is not None:
                result.info.setdefault(model.name, []).append(ranked.info)
            say("baselines x seeds", i * len(models) + j + 1, total)
    return result

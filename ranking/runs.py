"""One training run end to end (train, test, save), and the baselines' test scores.

A run's id names what it is: `<arch>[+pre][+cos|+wsd][+pop]-<loss>-<label>[.ixp]-c<max_cart>-s<seed>[-<recipe>]`
(`.ixp`: trained on pools with Item XP, `TaskData.tag`)
(`+pre`: pre-norm cart encoder, `ModelConfig.norm_first`; `+cos`, `+wsd`: cosine or
warm-up-stable-decay learning-rate schedule, `TrainConfig.schedule`; `+pop`: with the
popularity prior, `ModelConfig.pop_dim > 0`;
the recipe: each training setting that differs from `TrainConfig`'s default, e.g.
`-e20-p20-b64-lr0.002`, `-do0` for a dropout other than 0.1, and `-fit15` when a 15-minute
budget sets the epochs, see `recipe_tag`). Training the same settings again replaces that run.
The time budget (unless it sets the epochs), threads and workers are not in the id: they change
when training stops or its random streams, not the recipe. Test metrics are NDCG@2/4/6 over every test cart,
overall and per cart-size bucket (context items before truncation), with the per-cart
values kept so that tables can compute lifts and spreads later (`ranking.report`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from xpollinate.ranking.artifacts import models_root, save_run
from xpollinate.ranking.batches import Encoded
from xpollinate.ranking.item_features import ItemFeatures, build_item_features
from xpollinate.ranking.metrics import ndcg_table
from xpollinate.ranking.model import TRANSFORMER_ARCHS, ModelConfig
from xpollinate.ranking.report import SCHEDULE_TAGS
from xpollinate.ranking.scorer import CartScorer, HeuristicScorer, PopularityScorer
from xpollinate.ranking.task import TaskData
from xpollinate.ranking.train import (
    EpochReport,
    Tick,
    TrainConfig,
    encode_split,
    model_scores,
    ndcg_summary,
    scorer_scores,
    train,
)

BUCKETS = (
    (0, 10, "<10"),
    (10, 20, "10-20"),
    (20, 30, "20-30"),
    (30, 40, "30-40"),
    (40, 50, "40-50"),
    (50, 10**9, "50+"),
)


# training settings that shape the model, in id order, with their id letters
RECIPE = (
    ("epochs", "e"),
    ("patience", "p"),
    ("batch_size", "b"),
    ("neg_per_cart", "n"),
    ("lr", "lr"),
    ("weight_decay", "wd"),
    ("warmup", "wu"),
    ("decay", "dc"),
    ("temperature", "tau"),
    ("margin", "m"),
    ("max_train", "t"),
    ("max_val", "v"),
)


def recipe_tag(train_cfg: TrainConfig, model: ModelConfig | None = None) -> str:
    """The settings that differ from the defaults, e.g. 'e20-p20-n32-lr0.002' ('' for the defaults);
    numbers are written positionally (no exponent: '-' separates the parts). The model's dropout
    is a training setting too (the paper gives none): 'do0' when it is not the default 0.1."""
    default = TrainConfig()
    parts = []
    for field, letter in RECIPE:
        value = getattr(train_cfg, field)
        if value != getattr(default, field):
            parts.append(letter + ("all" if value is None else np.format_float_positional(value, trim="-")))
    if model is not None and model.dropout != ModelConfig().dropout:
        parts.append("do" + np.format_float_positional(model.dropout, trim="-"))
    if train_cfg.fit_budget:  # the budget sets the epochs
        parts.append("fit" + np.format_float_positional(train_cfg.max_minutes, trim="-"))
    return "-".join(parts)


def run_id(model: ModelConfig, train_cfg: TrainConfig, task: TaskData) -> str:
    variant = (
        ("+pre" if model.norm_first and model.arch in TRANSFORMER_ARCHS else "")
        + SCHEDULE_TAGS.get(train_cfg.schedule, "")
        + ("+pop" if model.pop_dim else "")
    )
    recipe = recipe_tag(train_cfg, model)
    return f"{model.arch}{variant}-{train_cfg.loss}-{task.tag}-c{model.max_cart}-s{train_cfg.seed}" + (
        f"-{recipe}" if recipe else ""
    )


def bucket_summary(table: np.ndarray, n_context: np.ndarray) -> dict[str, dict]:
    out = {}
    for lo, hi, name in BUCKETS:
        sel = (n_context >= lo) & (n_context < hi)
        if sel.any():
            out[name] = {"carts": int(sel.sum()), **ndcg_summary(table[sel])}
    return out


def test_metrics(score_lists: list[np.ndarray], enc: Encoded) -> dict:
    table = ndcg_table(score_lists, enc.labels)
    return {
        "carts": len(enc),
        **ndcg_summary(table),
        "by_cart_size": bucket_summary(table, enc.n_context),
        "per_cart": np.round(table, 5).tolist(),
    }


def train_and_save(
    task: TaskData,
    model_config: ModelConfig,
    train_config: TrainConfig,
    home: Path | None = None,
    features: ItemFeatures | None = None,
    tick: Tick | None = None,
    test_enc: Encoded | None = None,
    make_current: bool = True,
    on_epoch: EpochReport | None = None,
) -> tuple[Path, dict]:
    features = features or build_item_features(task.catalog, task.popularity, home)
    model_config = model_config.model_copy(update={"n_platforms": max(len(task.platforms) + 1, 1)})
    result = train(task, features, model_config, train_config, tick, on_epoch=on_epoch)
    test_enc = test_enc or encode_split(task, "test")
    test = test_metrics(model_scores(result.model, test_enc, model_config.max_cart), test_enc)
    metrics = {
        "parameters": result.parameters,
        "train_carts": result.n_train,
        "best_epoch": result.best_epoch,
        "seconds": round(result.seconds, 1),
        "seconds_to_best": round(result.seconds_to_best, 1),
        "val": result.best_val,
        "curve": result.curve,
        "test": test,
    }
    rid = run_id(model_config, train_config, task)
    files = {
        "config": {"model": model_config.model_dump(mode="json"), "train": train_config.model_dump(mode="json")},
        "metrics": metrics,
        "data": {
            "data_build": task.meta["data_build"],
            "assoc": task.meta["assoc"],
            "task_path": str(task.path),
            "task": task.config.model_dump(mode="json"),
            "weeks": task.meta["weeks"],
            "feature_items": None if features.subset is None else list(features.subset),
        },
    }
    return save_run(rid, files, result.model.state_dict(), home, make_current=make_current), metrics


def baseline_metrics(task: TaskData, test_enc: Encoded | None = None) -> dict[str, dict]:
    """Test metrics of the heuristic and popularity scorers, cached next to the task's examples."""
    path = task.path / "baselines.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    test_enc = test_enc or encode_split(task, "test")
    scorers: list[CartScorer] = [
        HeuristicScorer(task.catalog, task.source, task.persona, task.config.per_anchor),
        PopularityScorer(task.catalog, task.popularity),
    ]
    out = {s.name: test_metrics(scorer_scores(s, test_enc), test_enc) for s in scorers}
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(out), encoding="utf-8")
    os.replace(tmp, path)
    return out


def saved_runs(home: Path | None = None) -> dict[str, dict]:
    """Every saved run's metrics, by run id."""
    root = models_root(home)
    out = {}
    if root.is_dir():
        for run in sorted(root.iterdir()):
            if (run / "metrics.json").is_file() and not run.name.startswith("."):
                out[run.name] = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    return out

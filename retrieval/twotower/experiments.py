"""Train-and-save, held-out evaluation against the baselines, and the STARS-style ablation:
the runs behind `xp twotower train|eval`, the benchmark and the README tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.twotower import artifacts
from xpollinate.retrieval.twotower.baselines import ItemKNN
from xpollinate.retrieval.twotower.config import EXTENSIONS, TwoTowerConfig
from xpollinate.retrieval.twotower.evaluate import SCOPES, baseline_rankings, model_rankings, scope, score
from xpollinate.retrieval.twotower.index import IndexKind, ItemIndex
from xpollinate.retrieval.twotower.metrics import KS
from xpollinate.retrieval.twotower.model import TwoTower
from xpollinate.retrieval.twotower.training import TrainingData, TrainResult, prepare, train

Progress = Callable[[str, int, int], None]
Metrics = dict[str, dict[str, dict[str, float]]]  # scope -> method -> metric -> value


def train_and_save(
    store: DataStore,
    cfg: TwoTowerConfig,
    home: Path | None = None,
    progress: Progress | None = None,
    threads: int | None = 1,
    data: TrainingData | None = None,
    name: str | None = None,
    publish: bool = True,
    purpose: str | None = None,
) -> tuple[TrainResult, Path, TrainingData]:
    """Train on the time split's training baskets and save the artifact: published as the model in use, or
    (`publish=False`) kept under `name` beside it, e.g. a twin cut earlier for another model's training data."""
    data = data or prepare(store, cfg, home, progress)
    result = train(data, cfg, progress, threads)
    manifest = {
        "build_id": data.build_id,
        "tags": data.tag_source if cfg.extensions.tags else None,
        "extensions": cfg.extensions.label(),
        "losses": [round(x, 4) for x in result.losses],
        "train_seconds": round(result.seconds, 1),
        "examples": result.examples,
        "train_baskets": int(len(data.split.train)),
        "first_test_week": data.split.first_test_week,
        "items": int(data.items.n),
        "items_seen_in_training": int(data.seen.sum()),
    }
    if purpose:
        manifest["purpose"] = purpose
    tags = data.tags if cfg.extensions.tags else None
    path = artifacts.save(cfg, result.model, result.item_vectors, data.seen, tags, manifest, home, name, publish)
    return result, path, data


def evaluate_model(
    data: TrainingData,
    model: TwoTower,
    cfg: TwoTowerConfig,
    item_vectors: np.ndarray,
    index_kind: IndexKind = "exact",
    baselines: bool = True,
    knn: ItemKNN | None = None,
) -> Metrics:
    """Metrics@{5,10,20} of the model (and the baselines) on each scope's held-out next baskets."""
    index = ItemIndex(item_vectors, index_kind)
    index.add_partition(data.items.is_gm)
    out: Metrics = {}
    if baselines and knn is None:
        knn = ItemKNN(data.seq, data.split.train, data.items.n)
    for name in SCOPES:
        sc = scope(data, name)
        rankings = model_rankings(model, data, cfg, index, sc, max(KS))
        if baselines:
            rankings.update(baseline_rankings(data, sc, max(KS), knn))
        out[name] = score(rankings, sc)
    return out


def ablation(
    store: DataStore,
    cfg: TwoTowerConfig,
    home: Path | None = None,
    progress: Progress | None = None,
    threads: int | None = 1,
    data: TrainingData | None = None,
) -> Metrics:
    """The full model and each extension removed in turn, same data and settings: scope -> variant -> metrics."""
    data = data or prepare(store, cfg, home, progress)
    variants = [cfg] + [
        cfg.model_copy(update={"extensions": cfg.extensions.without(e)})
        for e in EXTENSIONS
        if getattr(cfg.extensions, e)
    ]
    out: Metrics = {name: {} for name in SCOPES}
    for variant in variants:
        label = variant.extensions.label()
        result = train(data, variant, _prefixed(progress, label) if progress else None, threads)
        metrics = evaluate_model(data, result.model, variant, result.item_vectors, baselines=False)
        for name in SCOPES:
            first = next(iter(metrics[name].values()))  # the model's main ranking (RR when dual)
            out[name][label] = {**first, "train_seconds": result.seconds}
    return out


def _prefixed(progress: Callable[[str, int, int], None], label: str) -> Callable[[str, int, int], None]:
    """`progress` with each stage name prefixed by the variant's label."""
    return lambda stage, done, total: progress(f"{label}: {stage}", done, total)

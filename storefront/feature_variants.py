"""Item-feature variants of the two-tower model measured with experiment 5's protocol (same data, seed, epochs).

Experiments 1 (item enrichment) and 4 (occasion labels) change only what the item tower reads: its text
vectors, or the multi-hot rows of the `tags` extension. Each variant is the project's two-tower model trained
on the weeks before the validation weeks by `dual_head`'s baseline path (`dual_head_model`, `train`), scored by
its validation InfoNCE loss (`dual_head.validation_loss`) and by `evaluate_model`'s next-basket
Recall/NDCG/Hit@5/10/20 on each household's first basket from the validation weeks on, exactly as the
dual-head page measures its variants.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.retrieval.twotower.config import TwoTowerConfig
from xpollinate.retrieval.twotower.features import content_text, text_vectors
from xpollinate.retrieval.twotower.training import TrainingData

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Setup:
    """The training data and settings shared by every variant, and the validation baskets."""

    data: TrainingData
    cfg: TwoTowerConfig
    valid: np.ndarray
    items: pd.DataFrame  # catalog items sorted by item_id (the feature rows' order)
    settings: dict[str, Any]


def validation_setup(
    store: DataStore, epochs: int, home: Path | None = None, base: TwoTowerConfig | None = None
) -> Setup:
    """Experiment 5's split: the model in use's settings (or the defaults) with the validation weeks held out
    too, trained `epochs`; tags off (a variant switches them on with its own rows)."""
    from xpollinate.retrieval.twotower.artifacts import ModelNotTrainedError, load
    from xpollinate.retrieval.twotower.training import prepare
    from xpollinate.storefront.evaluate import VALIDATION_WEEKS, default_two_tower_config

    if epochs < 1:
        raise XPError(f"--epochs {epochs}: train at least one epoch")
    if base is None:
        try:
            base = load(home).config
        except ModelNotTrainedError:
            base = default_two_tower_config()
    ext = base.extensions.model_copy(update={"tags": False})
    cfg = base.model_copy(
        update={"test_weeks": base.test_weeks + VALIDATION_WEEKS, "epochs": epochs, "extensions": ext}
    )
    data = prepare(store, cfg, home, need_tags=False)
    seq = data.seq
    first_valid, last_valid = data.split.first_test_week, seq.last_week - base.test_weeks
    in_valid = (seq.week >= first_valid) & (seq.week <= last_valid) & (seq.basket_end > seq.basket_start)
    valid = np.flatnonzero(in_valid)
    if len(valid) < 2:
        raise XPError(f"only {len(valid)} baskets in the validation weeks {first_valid}-{last_valid}")
    settings: dict[str, Any] = {
        "data_build": store.build_id,
        "two_tower": cfg.model_dump(mode="json"),
        "training_weeks": f"{int(seq.week.min())}-{first_valid - 1}",
        "validation_weeks": f"{first_valid}-{last_valid}",
        "training_baskets": int(len(data.split.train)),
        "validation_baskets": int(len(valid)),
        "next_basket_queries": int(len(data.split.test)),
        "items": int(data.items.n),
    }
    items = store.items().sort_values("item_id").reset_index(drop=True)
    return Setup(data, cfg, valid, items, settings)


def with_texts(data: TrainingData, texts: pd.Series, cache_dir: Path, progress: Progress | None = None) -> TrainingData:
    """`data` whose item tower reads MiniLM vectors of `texts` (one per item row) instead of the template's."""
    if len(texts) != data.items.n:
        raise XPError(f"{len(texts)} item texts for {data.items.n} items")
    distinct, text_row = np.unique(texts.to_numpy(dtype=str), return_inverse=True)
    vectors = text_vectors(distinct.tolist(), cache_dir, progress)
    items = dataclasses.replace(data.items, text_row=text_row.astype(np.int64), text_vectors=vectors)
    return dataclasses.replace(data, items=items)


def with_tag_rows(data: TrainingData, rows: np.ndarray, source: str) -> TrainingData:
    """`data` whose `tags` extension reads the multi-hot `rows` (one per item row)."""
    if rows.shape[0] != data.items.n:
        raise XPError(f"{rows.shape[0]} multi-hot rows for {data.items.n} items")
    return dataclasses.replace(data, tags=rows.astype(np.float32), tag_source=source)


def template_texts(items: pd.DataFrame) -> pd.Series:
    """The item tower's usual content text (product type, category, department), one per sorted item row."""
    return content_text(items).reset_index(drop=True)


@dataclass
class VariantScore:
    label: str
    valid_loss: float
    train_losses: list[float]
    metrics: dict[str, float]  # Recall/NDCG/Hit@5/10/20 of the two-tower model
    distinct_texts: int
    seconds: float


def run_variant(
    setup: Setup,
    label: str,
    data: TrainingData,
    tags: bool = False,
    progress: Progress | None = None,
    threads: int | None = 1,
) -> VariantScore:
    """Train the two-tower model on `data` (tags extension on when `tags`) and score it as experiment 5 does."""
    from xpollinate.retrieval.twotower.experiments import evaluate_model
    from xpollinate.retrieval.twotower.training import train
    from xpollinate.storefront.dual_head import dual_head_model, validation_loss

    cfg = setup.cfg
    if tags:
        if data.tags is None:
            raise XPError(f"variant {label!r} switches the tags extension on but has no multi-hot rows")
        cfg = cfg.model_copy(update={"extensions": cfg.extensions.model_copy(update={"tags": True})})
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)  # same initial weights as `train` would build
    result = train(data, cfg, progress, threads, model=dual_head_model(data, cfg, "baseline"))
    loss = validation_loss(result.model, data, cfg, setup.valid, seed=cfg.seed)
    metrics = evaluate_model(data, result.model, cfg, result.item_vectors, baselines=False)["all"]
    first = next(iter(metrics.values()))
    return VariantScore(
        label=label,
        valid_loss=loss,
        train_losses=result.losses,
        metrics=dict(first),
        distinct_texts=int(len(data.items.text_vectors)),
        seconds=time.perf_counter() - started,
    )

"""One small real end-to-end run: real baskets (weeks 1-8), real MiniLM embeddings, a few
hundred carts, one epoch of the paper's model, evaluated against the heuristic baseline."""

from __future__ import annotations

import numpy as np
import pytest

from xpollinate.catalog.store import DataStore
from xpollinate.ranking.item_features import build_item_features
from xpollinate.ranking.model import ModelConfig
from xpollinate.ranking.runs import baseline_metrics, train_and_save
from xpollinate.ranking.scorer import load_ranker
from xpollinate.ranking.task import TaskConfig, prepare
from xpollinate.ranking.train import TrainConfig


def test_real_baskets_end_to_end(real_home, real_store: DataStore) -> None:
    task = prepare(real_store, TaskConfig(train_until=5, val_until=6, sample_baskets=60), home=real_home)
    stats = task.meta["stats"]
    assert stats["train"]["examples"] >= 10 and 0 < stats["train"]["pool_recall"] < 1
    train = task.split("train")
    assert train["candidates"].map(len).max() <= 300 and train["cart"].map(len).max() <= 50
    needed = np.unique(
        np.concatenate(
            [
                np.concatenate(task.split(s)[c].to_numpy())
                for s in ("train", "val", "test")
                for c in ("cart", "candidates")
            ]
        )
    )
    features = build_item_features(task.catalog, task.popularity, real_home, item_ids=needed)
    path, metrics = train_and_save(
        task, ModelConfig(arch="xp"), TrainConfig(epochs=1, seed=0, neg_per_cart=32), real_home, features
    )
    assert 1_100_000 < metrics["parameters"] < 1_300_000
    assert metrics["test"]["carts"] == stats["test"]["examples"]
    base = baseline_metrics(task)
    # a handful of test carts after one epoch: NDCG may be 0, but every cart is scored
    assert 0 < base["heuristic"]["ndcg@4"] < 1
    assert metrics["test"]["ndcg@4"] == pytest.approx(
        np.mean([row[1] for row in metrics["test"]["per_cart"]]), abs=1e-4
    )
    assert len(metrics["test"]["per_cart"]) == stats["test"]["examples"]
    assert np.isfinite(metrics["curve"][0]["loss"])
    ranker = load_ranker(real_home)
    ex = task.split("test").iloc[0]
    scores = ranker.score(list(ex["cart"]), list(ex["candidates"]), int(ex["household_id"]), int(ex["store_id"]))
    assert np.isfinite(scores).all()

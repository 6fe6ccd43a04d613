"""Experiment 5: a dual-head item tower, a semantic head and the trainable tower mixed by a learned gate.

Question (from the LLM-integration codebase): does training the item MLP wash out what the sentence
embeddings know, and does a semantic head kept beside it recover that? The item vector becomes

    v = normalize(alpha * s + (1 - alpha) * t),   alpha = sigmoid(g), g learned (starts at 0: alpha 0.5)

with `t` the project's item tower (all features, trained as usual) and `s` the MiniLM text vector
projected to the tower's size by its first `dim` principal directions (over the catalog's distinct
texts), L2-normalised. Variants: `frozen` keeps that projection fixed, `trainable` lets it learn from the
same start; the baseline is the tower alone. Everything else (data, InfoNCE with the popularity prior
and negatives, seed, epochs) is the two-tower training of `retrieval.twotower.training`.

Validation: the model is trained on the weeks before the validation weeks; its InfoNCE loss is measured
on the validation weeks' baskets (one positive per basket, fixed seed, the training loss's negatives), and
Recall@10 / NDCG@10 on each household's first basket there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.retrieval.twotower.config import TwoTowerConfig
from xpollinate.retrieval.twotower.losses import info_nce, popularity_prior
from xpollinate.retrieval.twotower.model import ItemTower, TwoTower
from xpollinate.retrieval.twotower.training import TrainingData, build_model, train, user_inputs

Variant = Literal["baseline", "frozen", "trainable"]
VARIANTS: tuple[Variant, ...] = ("baseline", "frozen", "trainable")
Progress = Callable[[str, int, int], None]


def principal_directions(vectors: np.ndarray, k: int) -> np.ndarray:
    """(D, k) first principal directions of the rows (centred), for a semantic projection to k dims."""
    centred = vectors - vectors.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    out = np.zeros((vectors.shape[1], k), np.float64)
    out[:, : min(k, vt.shape[0])] = vt[:k].T
    return out.astype(np.float32)


class DualHeadItemTower(nn.Module):
    """The item tower beside a semantic head, mixed by alpha = sigmoid(gate)."""

    def __init__(self, tower: ItemTower, projection: np.ndarray, trainable_semantic: bool) -> None:
        super().__init__()
        self.tower = tower
        proj = torch.from_numpy(projection)
        if trainable_semantic:
            self.projection = nn.Parameter(proj)
        else:
            self.register_buffer("projection", proj)
        self.gate = nn.Parameter(torch.zeros(()))

    # what the training loop and the evaluation read from an item tower
    @property
    def delta(self) -> nn.Embedding | None:
        return self.tower.delta

    @property
    def head(self) -> nn.Sequential:
        return self.tower.head

    @property
    def text_row(self) -> torch.Tensor:
        return self.tower.text_row

    @property
    def alpha(self) -> float:
        return float(torch.sigmoid(self.gate).detach())

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        texts, inverse = torch.unique(self.tower.text_row[rows], return_inverse=True)
        semantic = nn.functional.normalize(self.tower.text_vectors[texts] @ self.projection, dim=-1)[inverse]
        a = torch.sigmoid(self.gate)
        return nn.functional.normalize(a * semantic + (1 - a) * self.tower(rows), dim=-1)


def dual_head_model(data: TrainingData, cfg: TwoTowerConfig, variant: Variant) -> TwoTower:
    """The project's two-tower model, its item tower wrapped in the dual head (unchanged for `baseline`)."""
    model = build_model(data, cfg)
    if variant != "baseline":
        projection = principal_directions(data.items.text_vectors, cfg.dim)
        model.items = DualHeadItemTower(model.items, projection, variant == "trainable")  # type: ignore[assignment]
    return model


@torch.no_grad()
def validation_loss(
    model: TwoTower, data: TrainingData, cfg: TwoTowerConfig, baskets: np.ndarray, seed: int = 0
) -> float:
    """Mean InfoNCE over `baskets` (one positive drawn per basket, seeded): in-batch and sampled negatives and the
    popularity prior as in training (no same-type hard negatives), summed over both user vectors when dual."""
    model.eval()
    rng = np.random.default_rng(seed)
    seq, items = data.seq, data.items
    lengths = seq.basket_end[baskets] - seq.basket_start[baskets]
    targets = seq.stream[seq.basket_start[baskets] + (rng.random(len(baskets)) * lengths).astype(np.int64)]
    prior = (
        torch.from_numpy(popularity_prior(data.counts, cfg.gamma, cfg.prior_alpha))
        if cfg.extensions.pop_prior
        else None
    )
    total, n = 0.0, 0
    for s in range(0, len(baskets), cfg.batch_size):
        b, t = baskets[s : s + cfg.batch_size], targets[s : s + cfg.batch_size]
        if len(b) < 2:
            continue
        long, short, persona = user_inputs(data, cfg, b)
        sampled_ids = (
            torch.from_numpy(rng.integers(0, items.n, cfg.sampled_negatives)) if cfg.sampled_negatives else None
        )
        h_gen, h_next = model.users(
            long, short, persona, lambda rows: model.items(rows.reshape(-1)).reshape(*rows.shape, -1)
        )
        pos_ids = torch.from_numpy(t)
        pos = model.items(pos_ids)
        sampled = model.items(sampled_ids) if sampled_ids is not None else None
        loss = info_nce(
            h_gen, pos, pos_ids, temperature=cfg.temperature, prior=prior, sampled=sampled, sampled_ids=sampled_ids
        )
        if h_next is not None:
            loss = loss + info_nce(
                h_next, pos, pos_ids, temperature=cfg.temperature, prior=prior, sampled=sampled, sampled_ids=sampled_ids
            )
        total += float(loss) * len(b)
        n += len(b)
    return total / max(n, 1)


@dataclass
class VariantResult:
    variant: Variant
    alpha: float | None  # the semantic head's weight (None for the baseline)
    train_losses: list[float]
    valid_loss: float
    recall10: float
    ndcg10: float
    seconds: float


def run_variant(
    data: TrainingData,
    cfg: TwoTowerConfig,
    variant: Variant,
    valid_baskets: np.ndarray,
    progress: Progress | None = None,
    threads: int | None = 1,
) -> VariantResult:
    """Train one variant on the training weeks and measure it on the validation weeks."""
    from xpollinate.retrieval.twotower.experiments import evaluate_model

    started = time.perf_counter()
    torch.manual_seed(cfg.seed)  # the tower starts from the weights `train` would build
    result = train(data, cfg, progress, threads, model=dual_head_model(data, cfg, variant))
    loss = validation_loss(result.model, data, cfg, valid_baskets, seed=cfg.seed)
    metrics = evaluate_model(data, result.model, cfg, result.item_vectors, baselines=False)["all"]
    first = next(iter(metrics.values()))
    items = result.model.items
    return VariantResult(
        variant=variant,
        alpha=items.alpha if isinstance(items, DualHeadItemTower) else None,
        train_losses=result.losses,
        valid_loss=loss,
        recall10=first["Recall@10"],
        ndcg10=first["NDCG@10"],
        seconds=time.perf_counter() - started,
    )


@dataclass
class DualHeadRun:
    results: list[VariantResult]
    settings: dict[str, Any]


def run_dual_head(
    store: DataStore,
    epochs: int = 1,
    home: Path | None = None,
    progress: Progress | None = None,
    threads: int | None = 1,
    base: TwoTowerConfig | None = None,
    variants: tuple[Variant, ...] = VARIANTS,
) -> DualHeadRun:
    """Each variant trained on the weeks before the validation weeks (the settings of the model in use, or
    the defaults) for `epochs`, then its alpha, validation loss and next-basket Recall/NDCG@10."""
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
    cfg = base.model_copy(update={"test_weeks": base.test_weeks + VALIDATION_WEEKS, "epochs": epochs})
    data = prepare(store, cfg, home, need_tags=cfg.extensions.tags)
    seq = data.seq
    first_valid = data.split.first_test_week
    last_valid = seq.last_week - base.test_weeks
    in_valid = (seq.week >= first_valid) & (seq.week <= last_valid) & (seq.basket_end > seq.basket_start)
    valid = np.flatnonzero(in_valid)
    if len(valid) < 2:
        raise XPError(f"only {len(valid)} baskets in the validation weeks {first_valid}-{last_valid}")
    results = [
        run_variant(data, cfg, v, valid, _prefixed(progress, v) if progress else None, threads) for v in variants
    ]
    settings: dict[str, Any] = {
        "data_build": store.build_id,
        "two_tower": cfg.model_dump(mode="json"),
        "training_weeks": f"{int(seq.week.min())}-{first_valid - 1}",
        "validation_weeks": f"{first_valid}-{last_valid}",
        "training_baskets": int(len(data.split.train)),
        "validation_baskets": int(len(valid)),
        "next_basket_queries": int(len(data.split.test)),
        "semantic_projection": f"first {cfg.dim} principal directions of {len(data.items.text_vectors):,} MiniLM text vectors",
    }
    return DualHeadRun(results, settings)


def _prefixed(progress: Progress, label: str) -> Progress:
    return lambda stage, done, total: progress(f"{label}: {stage}", done, total)

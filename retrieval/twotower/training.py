"""Training the two towers: data preparation, the InfoNCE loop, and the saved artifact.

One epoch draws `targets_per_basket` positive items from every training basket; the user
side of each example is the household's history windows just before that basket and its
persona. Deterministic for a seed (numpy generator + torch seed, single process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.retrieval.twotower.config import TwoTowerConfig
from xpollinate.retrieval.twotower.features import HouseholdFeatures, ItemFeatures, household_features, item_features
from xpollinate.retrieval.twotower.losses import info_nce, popularity_prior
from xpollinate.retrieval.twotower.model import TwoTower
from xpollinate.retrieval.twotower.sequences import Sequences, Split, load_sequences, time_split
from xpollinate.retrieval.twotower.tags import load_tags, tag_matrix
from xpollinate.settings import run_home

if TYPE_CHECKING:
    from xpollinate.retrieval.twotower.artifacts import SavedModel

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainingData:
    """Everything a training run and its evaluation read, built once per store."""

    items: ItemFeatures
    households: HouseholdFeatures
    seq: Sequences
    split: Split
    counts: np.ndarray  # (N,) purchases of each item in training baskets
    tags: np.ndarray | None  # (N, V) multi-hot, or None without a tag table
    tag_source: str | None
    build_id: str

    @property
    def seen(self) -> np.ndarray:
        return self.counts > 0


def prepare(
    store: DataStore,
    cfg: TwoTowerConfig,
    home: Path | None = None,
    progress: Progress | None = None,
    need_tags: bool | None = None,
) -> TrainingData:
    """Features, sequences and the time split; the tag table is required when the tags extension is on."""
    home = home or run_home()
    items_frame = store.items()
    items = item_features(items_frame, home / "twotower" / "text", progress)
    households = household_features(store)
    seq = load_sequences(store, items, households)
    split = time_split(seq, cfg.test_weeks)
    if len(split.train) == 0:
        raise XPError("no training baskets before the held-out weeks; lower test_weeks")
    train_rows = seq.stream[_basket_positions(seq, split.train)]
    counts = np.bincount(train_rows, minlength=items.n).astype(np.int64)
    tags, source = None, None
    if cfg.extensions.tags if need_tags is None else need_tags:
        table, path = load_tags(home)
        by_row = items_frame.sort_values("item_id")["category"].fillna("")
        tags, source = (
            tag_matrix(by_row, table),
            f"{path.name} ({table['llm'].iloc[0] if len(table) else 'empty'}, {len(table)} categories)",
        )
    return TrainingData(items, households, seq, split, counts, tags, source, store.build_id)


def _basket_positions(seq: Sequences, baskets: np.ndarray) -> np.ndarray:
    """Stream offsets of every item of `baskets` (vectorised ragged ranges)."""
    lengths = seq.basket_end[baskets] - seq.basket_start[baskets]
    starts = np.repeat(seq.basket_start[baskets], lengths)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return starts + within


def user_inputs(
    data: TrainingData, cfg: TwoTowerConfig, baskets: np.ndarray, end: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """(long window, next-basket window or None, persona) before `baskets` (or before stream offsets `end`)."""
    seq = data.seq
    long = torch.from_numpy(seq.windows(baskets, cfg.long_history, end=end))
    short = None
    if cfg.extensions.dual_user:
        short = torch.from_numpy(seq.windows(baskets, cfg.short_history, n_baskets=cfg.short_baskets, end=end))
    rows = seq.basket_household[baskets]
    persona = np.where(rows[:, None] >= 0, data.households.persona[np.maximum(rows, 0)], 0.0).astype(np.float32)
    return long, short, torch.from_numpy(persona)


def build_model(data: TrainingData, cfg: TwoTowerConfig) -> TwoTower:
    return TwoTower(
        data.items, data.tags if cfg.extensions.tags else None, data.seen, data.households.persona.shape[1], cfg
    )


def restore(
    store: DataStore, home: Path | None = None, name: str | None = None
) -> tuple[TrainingData, TwoTower, SavedModel]:
    """The saved model with the store's features: (data, model in eval mode, saved artifact)."""
    import dataclasses

    from xpollinate.retrieval.twotower.artifacts import load

    saved = load(home, name)
    if saved.manifest.get("build_id") != store.build_id:
        raise XPError(
            f"the two-tower model {saved.path.name} was trained on data build {saved.manifest.get('build_id')}, "
            f"but the store in use is {store.build_id}; run `xp twotower train` again"
        )
    data = dataclasses.replace(prepare(store, saved.config, home, need_tags=False), tags=saved.tags)
    model = build_model(data, saved.config)
    model.load_state_dict(saved.state_dict())
    model.eval()
    return data, model, saved


@dataclass
class TrainResult:
    model: TwoTower
    item_vectors: np.ndarray
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    seconds: float = 0.0
    examples: int = 0


def train(
    data: TrainingData,
    cfg: TwoTowerConfig,
    progress: Progress | None = None,
    threads: int | None = 1,
    model: TwoTower | None = None,
) -> TrainResult:
    """Train the towers; `threads` sets torch's CPU threads for the run (1 by default: on this shared
    2-core machine one thread ran a training step ~10x faster than two, which spin against other work).
    `model`: a variant built by the caller (e.g. another item tower) instead of `build_model`'s (the
    caller seeds torch before building it, for the same initial weights)."""
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = build_model(data, cfg) if model is None else model
    ext = cfg.extensions
    prior = torch.from_numpy(popularity_prior(data.counts, cfg.gamma, cfg.prior_alpha)) if ext.pop_prior else None
    seq, items = data.seq, data.items
    order = np.argsort(items.subclass, kind="stable")
    sub_start = np.searchsorted(items.subclass[order], np.arange(items.subclass.max() + 1 if items.n else 0))
    sub_count = np.bincount(items.subclass, minlength=len(sub_start))
    sparse = [model.items.delta.weight] if model.items.delta is not None else []
    dense = [p for p in model.parameters() if all(p is not q for q in sparse)]
    # the per-item delta table gets sparse gradients (only the rows a batch touches are updated)
    opts = [torch.optim.Adam(dense, lr=cfg.lr, weight_decay=cfg.weight_decay)] + (
        [torch.optim.SparseAdam(sparse, lr=cfg.lr)] if sparse else []
    )
    train_baskets = data.split.train
    lengths = seq.basket_end[train_baskets] - seq.basket_start[train_baskets]
    started = time.perf_counter()
    result = TrainResult(model, np.zeros((0, cfg.dim), np.float32))
    n_pairs = len(train_baskets) * cfg.targets_per_basket
    steps = max(1, -(-n_pairs // cfg.batch_size))
    for epoch in range(cfg.epochs):
        model.train()
        baskets = np.repeat(train_baskets, cfg.targets_per_basket)
        pick = (rng.random(len(baskets)) * np.repeat(lengths, cfg.targets_per_basket)).astype(np.int64)
        targets = seq.stream[seq.basket_start[baskets] + pick]
        perm = rng.permutation(len(baskets))
        baskets, targets = baskets[perm], targets[perm]
        total = 0.0
        for step in range(steps):
            sl = slice(step * cfg.batch_size, (step + 1) * cfg.batch_size)
            b, t = baskets[sl], targets[sl]
            if len(b) < 2:
                continue
            long, short, persona = user_inputs(data, cfg, b)
            pos_ids = torch.from_numpy(t)
            sampled_ids = (
                torch.from_numpy(rng.integers(0, items.n, cfg.sampled_negatives)) if cfg.sampled_negatives else None
            )
            hard_ids = None
            if ext.hard_negatives:
                sub = items.subclass[t]
                r = (rng.random((len(t), cfg.hard_negatives)) * sub_count[sub][:, None]).astype(np.int64)
                hard_ids = torch.from_numpy(order[sub_start[sub][:, None] + r])
            # one item-tower pass over the distinct items of histories, positives and negatives
            parts = (
                [pos_ids]
                + ([sampled_ids] if sampled_ids is not None else [])
                + ([hard_ids.reshape(-1)] if hard_ids is not None else [])
            )
            history = [long.reshape(-1)] + ([short.reshape(-1)] if short is not None else [])
            uniq = torch.unique(torch.cat(parts + history).clamp(min=0))
            table = model.items(uniq)
            h_gen, h_next = model.users(
                long, short, persona, lambda rows, table=table, uniq=uniq: table[torch.searchsorted(uniq, rows)]
            )
            vecs = table[torch.searchsorted(uniq, torch.cat(parts))]
            pos = vecs[: len(t)]
            sampled = vecs[len(t) : len(t) + len(sampled_ids)] if sampled_ids is not None else None
            hard = (
                vecs[len(vecs) - hard_ids.numel() :].reshape(len(t), cfg.hard_negatives, -1)
                if hard_ids is not None
                else None
            )
            loss_of = partial(
                info_nce,
                temperature=cfg.temperature,
                prior=prior,
                sampled=sampled,
                sampled_ids=sampled_ids,
                hard=hard,
                hard_ids=hard_ids,
            )
            loss = loss_of(h_gen, pos, pos_ids)
            if h_next is not None:
                loss = loss + loss_of(h_next, pos, pos_ids)
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in opts:
                opt.step()
            total += loss.detach().item()
            if progress:
                progress(f"epoch {epoch + 1}/{cfg.epochs}", step + 1, steps)
        result.losses.append(total / steps)
    result.item_vectors = model.item_vectors()
    result.seconds = time.perf_counter() - started
    result.examples = n_pairs * cfg.epochs
    return result

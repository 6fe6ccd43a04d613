"""Training and evaluation of the neural rankers, and evaluation of any CartScorer.

Training: AdamW over batches of carts of similar length (shuffled; less padding for the
cart encoder to process); each cart keeps all its positives and, per epoch, a
fresh sample of `neg_per_cart` negatives from its pool (the full pool is used for
validation and test). After every epoch NDCG@4 on the validation carts (scored through
`FastRanker`, `fast_scores`) decides the best state, which is what is saved; training stops
at `epochs`, after `patience` epochs without improvement, or when `max_minutes` is spent. Everything random draws from
`seed` (torch, numpy, negative sampling, subsampling, dropout masks), so a run is repeatable
(for the same `workers`).

Data-parallel (`workers` > 1, `ranking.parallel`): each process takes every workers-th cart
of each batch, draws its own negatives and dropout masks, and the gradients are summed
(weighted by share) before each AdamW step, so `batch_size` stays the carts per update.

Learning rate: constant (`schedule="constant"`), or `"cosine"`: a linear warm-up over the
first `warmup` of the planned steps, then a cosine decay to zero at the end of epoch
`epochs`, or `"wsd"` (warm-up, stable, decay): the same warm-up, the peak rate, then a linear
decay to zero over the last `decay` of the planned steps (more steps at the peak rate in the
same plan: in 15 minutes on the README's machine it beat cosine by 9-11% validation NDCG@4).
The decay is planned in steps, not seconds, so a run does not depend on the machine's speed;
pick `epochs` so that they fit in `max_minutes`, or set `fit_budget`: after the first epoch
the plan is cut to the epochs that fit in the budget at that epoch's pace
(`epochs` stays the cap), and after the second epoch it is planned again at the second
epoch's pace: the first carries start-up costs (spawning, first allocations) and ran 5-37%
slower than the rest on the README's machine, so planning from it alone left minutes of the
budget unused. The decay then ends inside the budget instead of being cut off half-way; the
warm-up has passed by then, and the decay is re-planned from where it is. A wsd run plans again
after every epoch until its decay begins (`replan`), from the mean pace of the epochs after the first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from xpollinate.ranking.batches import Encoded, collate, encode
from xpollinate.ranking.fast import FastRanker
from xpollinate.ranking.item_features import ItemFeatures
from xpollinate.ranking.losses import LOSSES
from xpollinate.ranking.metrics import KS, ndcg_table
from xpollinate.ranking.model import CartRanker, ModelConfig, count_parameters
from xpollinate.ranking.parallel import Rank, run_ranks
from xpollinate.ranking.scorer import CartScorer
from xpollinate.ranking.task import TaskData

Tick = Callable[[str, int, int], None]
EpochReport = Callable[[dict], None]  # called with each epoch's curve row as soon as it is measured
Schedule = Literal["constant", "cosine", "wsd"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    loss: Literal["listwise", "pairwise"] = "listwise"
    temperature: float = Field(5.0, gt=0, description="listwise softmax temperature (paper: 5)")
    margin: float = Field(5.0, gt=0, description="pairwise hinge margin (paper: 5)")
    epochs: int = Field(6, ge=1, le=200)
    patience: int = Field(2, ge=1, le=50)
    batch_size: int = Field(32, ge=1, le=4096)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    neg_per_cart: int | None = Field(64, ge=1, description="negatives sampled per cart per epoch (None: all)")
    max_train: int | None = Field(None, ge=1, description="subsample this many training carts (seeded)")
    max_val: int | None = Field(1500, ge=1, description="validation carts used for model selection (seeded)")
    max_minutes: float = Field(12.0, gt=0, description="wall-clock budget for training")
    threads: int = Field(2, ge=1, le=64, description="torch CPU threads in all (split over the workers)")
    workers: int = Field(1, ge=1, le=16, description="data-parallel processes; each takes its share of every batch")
    schedule: Schedule = Field("constant", description="learning-rate schedule")
    warmup: float = Field(0.05, ge=0, lt=1, description="cosine, wsd: warm-up share of the planned steps")
    decay: float = Field(0.2, gt=0, le=1, description="wsd: share of the planned steps spent decaying to zero")
    fit_budget: bool = Field(
        False,
        description="after epochs 1 and 2 (wsd: and each epoch at the peak rate), "
        "plan only the epochs that fit in max_minutes",
    )
    seed: int = 0


@dataclass
class TrainResult:
    model: CartRanker
    curve: list[dict]
    best_epoch: int
    best_val: dict[str, float]
    seconds: float
    seconds_to_best: float
    parameters: int
    n_train: int


def lr_factor(step: int, total: int, schedule: str, warmup: float, decay: float = 0.2) -> float:
    """The learning-rate multiplier at optimiser step `step` (0-based) of `total` planned steps.

    cosine: warm-up, then a cosine decay to zero at `total`; wsd (warm-up, stable, decay): warm-up,
    the peak rate until the last `decay` share of the steps, then a linear decay to zero at `total`."""
    if schedule == "constant":
        return 1.0
    warm, start = schedule_bounds(total, warmup, decay)
    if step < warm:
        return (step + 1) / warm
    if schedule == "wsd":
        return 1.0 if step < start else max(0.0, (total - step) / max(total - start, 1))
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(total - warm, 1))))


def schedule_bounds(total: int, warmup: float, decay: float) -> tuple[int, int]:
    """(the step the warm-up ends at, the step a wsd decay starts at) for `total` planned steps."""
    warm = int(warmup * total)
    return warm, max(warm, total - int(decay * total))


def budget_epochs(done: int, elapsed: float, pace: float, budget_seconds: float, cap: int, margin: float = 0.04) -> int:
    """How many epochs fit in the budget: the `done` ones (`elapsed` seconds so far) and as many more
    as fit at `pace` seconds an epoch, kept `margin` short of the budget (the pace varies a few %
    from epoch to epoch); at least the ones done, at most `cap`."""
    spare = budget_seconds * (1.0 - margin) - elapsed
    return max(done, min(cap, done + int(spare // max(pace, 1e-9))))


def replan(epoch: int, step: int, planned_epochs: int, fitted: int, steps_per_epoch: int, config: TrainConfig) -> int:
    """The epochs to plan after `epoch` (`step` optimiser steps done) when `fitted` fit in the budget.

    Every schedule takes the fitted plan after epochs 1 and 2. A wsd run also takes it after any
    later epoch while its peak-rate phase lasts (the old plan's decay has not begun, the new plan's
    warm-up is over): nothing done so far depends on the plan then, and an epoch's pace drifts
    (on the README's Zen 4 VM a 23-s second epoch planned 36 epochs that ~28-s epochs could not
    finish, cutting the decay half-way). A cosine plan is kept after epoch 2: moving it later
    would bend a decay already under way."""
    if epoch <= 2:
        return fitted
    if config.schedule != "wsd":
        return planned_epochs
    _, old_decay_start = schedule_bounds(planned_epochs * steps_per_epoch, config.warmup, config.decay)
    new_warm_end, _ = schedule_bounds(fitted * steps_per_epoch, config.warmup, config.decay)
    return fitted if new_warm_end <= step < old_decay_start else planned_epochs


def cart_lengths(enc: Encoded, max_cart: int) -> np.ndarray:
    return np.array([min(len(c), max_cart) for c in enc.cart], dtype=np.int64)


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, window: int = 50
) -> list[np.ndarray]:
    """Shuffled batches of carts of similar length: padding (wasted transformer work) shrinks,
    the order stays random. Carts are shuffled, sorted by length within windows of
    `window` batches, cut into batches, and the batches shuffled again."""
    order = rng.permutation(len(lengths))
    span = batch_size * window
    batches: list[np.ndarray] = []
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _by_length(
    enc: Encoded, max_cart: int, batch_size: int, score: Callable[[np.ndarray], list[np.ndarray]]
) -> list[np.ndarray]:
    """`score(idx)` over batches of carts of similar length (less padding), one array per cart in
    `enc`'s order."""
    out: list[np.ndarray | None] = [None] * len(enc)
    order = np.argsort(cart_lengths(enc, max_cart), kind="stable")
    for start in range(0, len(enc), batch_size):
        idx = order[start : start + batch_size]
        for i, s in zip(idx, score(idx)):
            out[i] = s
    return out  # type: ignore[return-value]


def batch_scores(model: CartRanker, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's scores [B, C] for a `collate`d batch."""
    return model(batch["cart_rows"], batch["cart_mask"], batch["cand_rows"], batch["persona"], batch["platform"])


def model_scores(model: CartRanker, enc: Encoded, max_cart: int, batch_size: int = 64) -> list[np.ndarray]:
    """Scores of every candidate of every cart (eval mode, no grad), one array per cart.

    Carts are batched by length (less padding); padding does not change a score (tested)."""
    model.eval()

    def score(idx: np.ndarray) -> list[np.ndarray]:
        b = collate(enc, idx, max_cart)
        s = batch_scores(model, b).numpy()
        return [s[i, : len(enc.cands[j])] for i, j in enumerate(idx)]

    with torch.inference_mode():
        return _by_length(enc, max_cart, batch_size, score)


def fast_scores(model: CartRanker, enc: Encoded, max_cart: int, batch_size: int = 64) -> list[np.ndarray]:
    """`model_scores` through `FastRanker` (equal to float rounding, tested), for validation after each
    epoch: the per-item work is done once per distinct item of `enc`, not once per candidate slot."""
    rows = np.concatenate([*enc.cart, *enc.cands]) if len(enc) else np.zeros(0, dtype=np.int64)
    fast = FastRanker(model, rows=rows)  # puts `model` in eval mode
    return _by_length(
        enc,
        max_cart,
        batch_size,
        lambda idx: fast.score_many(
            [enc.cart[i][-max_cart:] for i in idx], [enc.cands[i] for i in idx], enc.persona[idx], enc.platform[idx]
        ),
    )


def scorer_scores(scorer: CartScorer, enc: Encoded) -> list[np.ndarray]:
    return [
        np.asarray(
            scorer.score(enc.cart_ids[i].tolist(), enc.cand_ids[i].tolist(), int(enc.household[i]), int(enc.store[i])),
            dtype=np.float64,
        )
        for i in range(len(enc))
    ]


def ndcg_summary(table: np.ndarray) -> dict[str, float]:
    return {f"ndcg@{k}": float(table[:, n].mean()) if len(table) else float("nan") for n, k in enumerate(KS)}


def _subsample(enc: Encoded, n: int | None, seed: int) -> Encoded:
    if n is None or n >= len(enc):
        return enc
    idx = np.sort(np.random.default_rng(seed).choice(len(enc), n, replace=False))
    return enc.subset(idx)


def encode_split(task: TaskData, split: str) -> Encoded:
    return encode(task.split(split), task.catalog, task.persona, task.platforms)


def train(
    task: TaskData,
    features: ItemFeatures,
    model_config: ModelConfig,
    config: TrainConfig,
    tick: Tick | None = None,
    train_enc: Encoded | None = None,
    val_enc: Encoded | None = None,
    on_epoch: EpochReport | None = None,
) -> TrainResult:
    """Train one model; with `config.workers` > 1 the work is data-parallel (`ranking.parallel`)."""
    train_enc = _subsample(train_enc or encode_split(task, "train"), config.max_train, config.seed)
    val_enc = _subsample(val_enc or encode_split(task, "val"), config.max_val, config.seed + 1)
    if len(train_enc) == 0:
        from xpollinate.errors import XPError

        raise XPError("no training carts with a positive in their pool; widen the training weeks")
    threads = max(1, config.threads // config.workers)
    return run_ranks(
        _fit,
        config.workers,
        threads,
        (train_enc, val_enc, features, model_config, config),
        {"tick": tick, "on_epoch": on_epoch},
    )


def _fit(
    rank: Rank,
    train_enc: Encoded,
    val_enc: Encoded,
    features: ItemFeatures,
    model_config: ModelConfig,
    config: TrainConfig,
    tick: Tick | None = None,
    on_epoch: EpochReport | None = None,
) -> TrainResult | None:
    """The training loop of one rank; every rank takes the same decisions, rank 0 reports and returns."""
    say = tick or (lambda _s, _n, _t: None)
    torch.manual_seed(config.seed)  # the same initial weights on every rank
    np.random.seed(config.seed)
    rng = np.random.default_rng(config.seed)  # batch order: the same on every rank
    neg_rng = rng if rank.world == 1 else np.random.default_rng([config.seed, rank.rank])
    model = CartRanker(model_config)
    model.set_features(features)
    model.seed_dropout(config.seed if rank.world == 1 else [config.seed, rank.rank])
    if rank.world > 1:
        torch.manual_seed(config.seed + 1_000_003 * rank.rank)  # torch's own dropout draws differ per rank
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    loss_fn = LOSSES[config.loss]
    loss_arg = config.temperature if config.loss == "listwise" else config.margin
    started = time.perf_counter()
    curve: list[dict] = []
    best: tuple[float, int, dict[str, Any] | None, dict[str, float], float] = (-1.0, 0, None, {}, 0.0)
    lengths = cart_lengths(train_enc, model_config.max_cart)
    steps_per_epoch = math.ceil(len(train_enc) / config.batch_size)
    epochs = config.epochs
    planned = epochs * steps_per_epoch
    val_part = np.asarray(rank.share(range(len(val_enc))), dtype=np.int64)
    val_own = val_enc.subset(val_part) if rank.world > 1 else val_enc
    step = 0
    epoch = 0
    while epoch < epochs:
        epoch += 1
        model.train()
        batches = bucketed_batches(lengths, config.batch_size, rng)
        n_batches = len(batches)
        total, over = 0.0, False
        for b_i, whole in enumerate(batches):
            idx: np.ndarray = np.asarray(rank.share(whole))
            weight = len(idx) / len(whole)
            opt.zero_grad()
            if len(idx):
                batch = collate(train_enc, idx, model_config.max_cart, config.neg_per_cart, neg_rng)
                loss = loss_fn(batch_scores(model, batch), batch["labels"], batch["cand_mask"], loss_arg)
                loss.backward()
                loss_value = float(loss.detach())
            else:
                loss_value = 0.0
            over_here = time.perf_counter() - started > config.max_minutes * 60
            loss_sum, stop = rank.reduce_gradients(model, weight, (weight * loss_value, float(over_here)))
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0, foreach=True)
            for group in opt.param_groups:
                group["lr"] = config.lr * lr_factor(step, planned, config.schedule, config.warmup, config.decay)
            opt.step()
            step += 1
            total += loss_sum
            if rank.lead:
                say(f"epoch {epoch}", b_i + 1, n_batches)
            if stop > 0:
                over = True
                break
        val_started = time.perf_counter()
        val = _validate(model, val_own, model_config.max_cart, rank)
        now = time.perf_counter()
        elapsed, val_seconds = now - started, now - val_started
        if config.fit_budget and (epoch <= 2 or config.schedule == "wsd"):
            # the pace: epoch 1's own seconds, then the mean of the epochs after it (start-up costs)
            pace = elapsed if epoch == 1 else (elapsed - curve[0]["seconds"]) / (epoch - 1)
            fitted = budget_epochs(epoch, elapsed, pace, config.max_minutes * 60, config.epochs) if rank.lead else 0
            fitted = int(rank.reduce([float(fitted)])[0])  # rank 0's pace decides for all
            epochs = replan(epoch, step, epochs, fitted, steps_per_epoch, config)
            planned = epochs * steps_per_epoch
        curve.append(
            {
                "epoch": epoch,
                "loss": total / max(b_i + 1, 1),
                **val,
                "seconds": round(elapsed, 1),
                "val_seconds": round(val_seconds, 1),
                "lr": opt.param_groups[0]["lr"],
                "planned_epochs": epochs,
            }
        )
        if on_epoch is not None and rank.lead:
            on_epoch(curve[-1])
        if val["ndcg@4"] > best[0]:
            state = {k: v.detach().clone() for k, v in model.state_dict().items()} if rank.lead else None
            best = (val["ndcg@4"], epoch, state, val, elapsed)
        over = over or rank.reduce([float(elapsed > config.max_minutes * 60)])[0] > 0
        if epoch - best[1] >= config.patience or over:
            break
    if not rank.lead:
        return None
    assert best[2] is not None  # the lead rank keeps every best epoch's state
    model.load_state_dict(best[2])
    return TrainResult(
        model, curve, best[1], best[3], time.perf_counter() - started, best[4], count_parameters(model), len(train_enc)
    )


def _validate(model: CartRanker, val_own: Encoded, max_cart: int, rank: Rank) -> dict[str, float]:
    """NDCG on the validation carts, each rank scoring its share; the per-rank sums and counts are
    reduced (not means), so all ranks agree on the mean over all carts."""
    table = ndcg_table(fast_scores(model, val_own, max_cart), val_own.labels)
    sums = rank.reduce([*table.sum(0).tolist(), float(len(table))] if len(table) else [0.0] * len(KS) + [0.0])
    n = sums[-1]
    return {f"ndcg@{k}": sums[i] / n if n else float("nan") for i, k in enumerate(KS)}

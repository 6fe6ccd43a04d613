"""Benchmark: one training step of the paper's model, eager float32 (the baseline) against
bfloat16 autocast and `torch.compile`, on the same real batches.

Why: a 15-minute training run is bound by its step time (forward and backward are ~90% of it),
so any faster way to run the same step is worth measuring on the machine at hand. Each mode
builds the model afresh with the same seed, then runs the same batches (length-bucketed, as
training draws them; `--carts` carts with `--neg` negatives each) on one torch thread, as each
of `--workers 2` does. The median excludes the first `--warm` steps (compilation, allocator
warm-up); the first step's time is shown on its own.

- eager: `CartRanker` in training mode, float32, dropout masks from numpy (what training runs);
- bf16: the same under `torch.autocast("cpu", torch.bfloat16)` (AVX512-BF16 or AMX needed to gain);
- compile: `torch.compile(dynamic=True)` of forward, loss and backward, with torch's own dropout
  (inductor draws it in-kernel) in place of the numpy masks.

    python bench/train_step_bench.py [--steps 60] [--carts 32] [--neg 32] [--modes eager bf16 compile]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch.nn import functional as F

from xpollinate.catalog.store import DataStore
from xpollinate.ranking import dropout
from xpollinate.ranking.batches import Encoded, collate
from xpollinate.ranking.item_features import ItemFeatures, build_item_features
from xpollinate.ranking.losses import listwise_softmax
from xpollinate.ranking.model import CartRanker, ModelConfig
from xpollinate.ranking.task import TaskConfig, prepare
from xpollinate.ranking.train import batch_scores, bucketed_batches, cart_lengths, encode_split

MODES = ("eager", "bf16", "compile")


@contextlib.contextmanager
def torch_dropout() -> Iterator[None]:
    """FastDropout computed by F.dropout for the duration (a compiled graph cannot call numpy)."""
    saved = dropout.FastDropout.forward
    dropout.FastDropout.forward = lambda self, x: F.dropout(x, self.p, self.training)  # type: ignore[method-assign]
    try:
        yield
    finally:
        dropout.FastDropout.forward = saved  # type: ignore[method-assign]


def time_mode(
    mode: str, enc: Encoded, features: ItemFeatures, n_platforms: int, batches: list[np.ndarray], neg: int
) -> list[float]:
    """Seconds per training step (forward, loss, backward, AdamW) over `batches`."""
    torch.manual_seed(0)
    model = CartRanker(ModelConfig(pop_dim=0, n_platforms=n_platforms))
    model.set_features(features)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)

    def step(b: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
            scores = batch_scores(model, b)
        loss = listwise_softmax(scores.float(), b["labels"], b["cand_mask"], 5.0)
        loss.backward()
        return loss

    run: Callable[[dict[str, torch.Tensor]], torch.Tensor] = (
        torch.compile(step, dynamic=True) if mode == "compile" else step
    )
    rng = np.random.default_rng(1)
    times = []
    with torch_dropout() if mode == "compile" else contextlib.nullcontext():
        for idx in batches:
            batch = collate(enc, idx, 50, neg, rng)
            started = time.perf_counter()
            opt.zero_grad()
            run(batch)
            opt.step()
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warm", type=int, default=10, help="first steps left out of the median")
    parser.add_argument("--carts", type=int, default=32, help="carts per step (one worker's share of a batch of 64)")
    parser.add_argument("--neg", type=int, default=32, help="negatives per cart")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args()
    if args.steps <= args.warm:
        parser.error(f"--steps ({args.steps}) must exceed --warm ({args.warm})")
    torch.set_num_threads(1)
    console = Console(stderr=True)
    console.print("loading the task and item features ...")
    task = prepare(DataStore.open(), TaskConfig())
    features = build_item_features(task.catalog, task.popularity)
    enc = encode_split(task, "train")
    batches = bucketed_batches(cart_lengths(enc, 50), args.carts, np.random.default_rng(0))[: args.steps]
    rows = []
    for mode in ["eager", *[m for m in args.modes if m != "eager"]]:  # the baseline first, always
        console.print(f"{mode}: {len(batches)} steps ...")
        times = time_mode(mode, enc, features, len(task.platforms) + 1, batches, args.neg)
        rows.append((mode, times[0], float(np.median(times[args.warm :])), float(np.mean(times[args.warm :]))))
    table = Table(title=f"training step, paper's model: {args.carts} carts x {args.neg} negatives, 1 thread")
    for col in ("mode", "first step s", "median ms", "mean ms", "vs eager (median)"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    base = rows[0][2]
    for mode, first, median, mean in rows:
        table.add_row(mode, f"{first:.2f}", f"{median * 1000:.1f}", f"{mean * 1000:.1f}", f"{base / median:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()

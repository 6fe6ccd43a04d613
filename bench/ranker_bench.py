"""Benchmark: cart-XP ranker inference (and the training time of its saved run).

Inference: a cart of 20 and of 50 items against 300 GM candidates, the paper's model
(arch xp, ~1.2M parameters) on the real item features. Two implementations in the same
process, same weights, same requests:

- eager: the plain `CartRanker` forward (the baseline);
- fast: `ranking.fast.FastRanker` (per-item projections and attention queries precomputed
  in the embedding store; cart/persona/platform part of the first MLP layer once per request);
- fast bf16: the same with its matrix products in bfloat16 (`FastRanker(bf16=True)`).

Single requests (batch 1, 1 torch thread): p50 / p99 latency. Batched (batches of
--batch requests, --threads threads): requests per second. Weights: the CURRENT trained
run if its arch is xp, else a fresh initialisation (speed does not depend on the values).
Training time: read from the saved xp runs' metrics (`xp ranker train` measures it).

    python bench/ranker_bench.py [--requests 300] [--batch 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from xpollinate.catalog.store import DataStore
from xpollinate.ranking.artifacts import current_run, read_json
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.fast import FastRanker
from xpollinate.ranking.item_features import build_item_features
from xpollinate.ranking.model import CartRanker, ModelConfig, count_parameters
from xpollinate.ranking.runs import saved_runs
from xpollinate.ranking.task import TaskConfig, prepare


def requests(features, catalog: CatalogView, cart: int, n: int, seed: int = 0) -> list[tuple]:
    rng = np.random.default_rng(seed)
    known = np.flatnonzero(features.has_embedding)
    gm = known[catalog.is_gm[known - 1]]
    grocery = known[catalog.is_grocery[known - 1]]
    out = []
    for _ in range(n):
        out.append((rng.choice(grocery, cart, replace=False), rng.choice(gm, 300, replace=False),
                    rng.random(64).astype(np.float32), int(rng.integers(0, 50))))
    return out


def batch(reqs: list[tuple]) -> tuple[torch.Tensor, ...]:
    cart = torch.from_numpy(np.stack([r[0] for r in reqs]))
    cands = torch.from_numpy(np.stack([r[1] for r in reqs]))
    persona = torch.from_numpy(np.stack([r[2] for r in reqs]))
    platform = torch.tensor([r[3] for r in reqs])
    return cart, torch.ones_like(cart, dtype=torch.bool), cands, persona, platform


def single(fn, reqs) -> tuple[float, float]:
    for r in reqs[:10]:
        fn(*batch([r]))
    times = []
    for r in reqs:
        args = batch([r])
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return float(np.percentile(times, 50) * 1000), float(np.percentile(times, 99) * 1000)


def throughput(fn, reqs, size: int) -> float:
    batches = [batch(reqs[i : i + size]) for i in range(0, len(reqs) - size + 1, size)]
    fn(*batches[0])
    t = time.perf_counter()
    for b in batches:
        fn(*b)
    return len(batches) * size / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    console = Console(width=160)
    task = prepare(DataStore.open(), TaskConfig())  # the prepared task (cached): catalog and training-week popularity
    catalog = task.catalog
    features = build_item_features(catalog, task.popularity)
    run = current_run()
    config = read_json(run, "config")["model"] if run else None
    if config and config["arch"] == "xp":
        model = CartRanker(ModelConfig.model_validate(config))
        model.load_state_dict(torch.load(run / "weights.pt", weights_only=True))
        source = f"trained run {run.name}"
    else:
        model = CartRanker(ModelConfig(arch="xp"))
        source = "fresh initialisation"
    model.set_features(features)
    model.eval()
    fast = FastRanker(model)
    fast_bf16 = FastRanker(model, bf16=True)

    def eager(*a):
        with torch.inference_mode():
            return model(*a)

    table = Table(title=f"cart-XP ranker inference, 300 candidates ({count_parameters(model):,} parameters, {source})")
    for col in ("cart", "implementation", "p50 ms (1 req)", "p99 ms (1 req)", f"req/s (batch {args.batch})",
                "req/s vs eager"):
        table.add_column(col, justify="left" if col in ("implementation",) else "right")
    for cart in (20, 50):
        reqs = requests(features, catalog, cart, args.requests)
        rows = {}
        for name, fn in (("eager (baseline)", eager), ("fast (precomputed)", fast), ("fast, bf16", fast_bf16)):
            torch.set_num_threads(1)
            p50, p99 = single(fn, reqs)
            torch.set_num_threads(args.threads)
            rps = throughput(fn, reqs * max(1, 2048 // len(reqs)), args.batch)
            rows[name] = (p50, p99, rps)
        base = rows["eager (baseline)"][2]
        for name, (p50, p99, rps) in rows.items():
            table.add_row(str(cart), name, f"{p50:.2f}", f"{p99:.2f}", f"{rps:,.0f}", f"{rps / base:.2f}x")
    console.print(table)

    runs = {k: v for k, v in saved_runs().items() if k.startswith(("xp-", "xp+pop-"))}
    if runs:
        t = Table(title="training time of saved xp runs (measured by xp ranker train)")
        for col in ("run", "train carts", "best epoch", "s to best val", "s total", "val NDCG@4"):
            t.add_column(col, justify="left" if col == "run" else "right")
        for rid, m in runs.items():
            t.add_row(rid, f"{m['train_carts']:,}", str(m["best_epoch"]), f"{m['seconds_to_best']:.0f}",
                      f"{m['seconds']:.0f}", f"{m['val']['ndcg@4']:.4f}")
        console.print(t)


if __name__ == "__main__":
    main()

"""Benchmark: cart-XP ranker inference (and the training time of its saved runs).

A cart of 20 and of 50 items against 300 GM candidates, on the real item features, for the
paper's model (arch xp, ~1.2M parameters) and any other arch asked for (`--arch`). Every
implementation runs in the same process on the same weights and requests:

- eager: the plain `CartRanker` forward, one request at a time (the baseline);
- fast: `ranking.fast.FastRanker` (per-item projections and attention queries precomputed
  in the embedding store; cart/persona/platform part of the first MLP layer once per
  request), one request at a time;
- fast, micro-batch: `FastRanker.score_many` over --micro requests at once on one thread,
  what the service's micro-batcher does under load (one torch thread per worker);
- fast, micro-batch, processes: --threads processes, each running `score_many` over --micro
  requests at a time on one torch thread: the service's layout (`xp serve --workers 2`);
- fast, batch: the same over --batch requests in one process with --threads torch threads;
- with --bf16, the fast path in bfloat16 as well (useful only on CPUs with AVX512-BF16/AMX).

Candidates (`--candidates`): `catalog` (default) draws them from every GM item, so the fast path
reads its full per-item tables (DRAM-bound gathers); `pool` draws them from the items of the
training carts' candidate pools, and the fast path reads compact copies of their rows
(`FastRanker.with_hot_rows`), as `xp serve` does for every item its candidate index can pool.

Single requests (1 torch thread): p50 / p99 latency and req/s (1 / mean). Weights: the saved
run `<arch>+pop-listwise-basket-c50-s0` (else the CURRENT run if its arch matches, else a fresh
initialisation: speed does not depend on the values). Training time: read from the saved
runs' metrics (`xp ranker train` measures it).

    python bench/ranker_bench.py [--arch xp --arch deepfm] [--requests 300] [--micro 8] [--batch 64] [--threads 2] [--candidates pool]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from xpollinate.catalog.store import DataStore
from xpollinate.ranking.artifacts import current_run, models_root, read_json
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.fast import FAST_ARCHS, FastRanker
from xpollinate.ranking.item_features import build_item_features
from xpollinate.ranking.model import CartRanker, ModelConfig, count_parameters
from xpollinate.ranking.runs import saved_runs
from xpollinate.ranking.task import TaskConfig, prepare


def requests(
    features, catalog: CatalogView, cart: int, n: int, seed: int = 0, pool: np.ndarray | None = None
) -> list[tuple]:
    """`n` requests: `cart` random grocery items, 300 candidates drawn from `pool` (feature rows; default: all GM
    items with an embedding), a random persona and platform."""
    rng = np.random.default_rng(seed)
    known = np.flatnonzero(features.has_embedding)
    candidates = known[catalog.is_gm[known - 1]] if pool is None else pool
    grocery = known[catalog.is_grocery[known - 1]]
    return [
        (
            rng.choice(grocery, cart, replace=False),
            rng.choice(candidates, 300, replace=False),
            rng.random(64).astype(np.float32),
            int(rng.integers(0, 50)),
        )
        for _ in range(n)
    ]


def pool_rows(task, features) -> np.ndarray:
    """Feature rows of every item in the training carts' candidate pools that has an embedding: the items a
    service's candidate index can pool (the historical table of the training weeks)."""
    ids = np.unique(np.concatenate([np.asarray(c, dtype=np.int64) for c in task.split("train")["candidates"]]))
    rows = task.catalog.rows(ids) + 1
    rows = rows[rows > 0]
    return rows[features.has_embedding[rows]]


def batch(reqs: list[tuple]) -> tuple[torch.Tensor, ...]:
    cart = torch.from_numpy(np.stack([r[0] for r in reqs]))
    cands = torch.from_numpy(np.stack([r[1] for r in reqs]))
    persona = torch.from_numpy(np.stack([r[2] for r in reqs]))
    platform = torch.tensor([r[3] for r in reqs])
    return cart, torch.ones_like(cart, dtype=torch.bool), cands, persona, platform


def single(fn, reqs) -> tuple[float, float, float]:
    """p50 ms, p99 ms, requests/s of one request at a time."""
    for r in reqs[:10]:
        fn(*batch([r]))
    times = []
    for r in reqs:
        args = batch([r])
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return float(np.percentile(times, 50) * 1000), float(np.percentile(times, 99) * 1000), len(times) / sum(times)


def throughput(fn, reqs, size: int) -> float:
    batches = [batch(reqs[i : i + size]) for i in range(0, len(reqs) - size + 1, size)]
    fn(*batches[0])
    t = time.perf_counter()
    for b in batches:
        fn(*b)
    return len(batches) * size / (time.perf_counter() - t)


def micro_args(reqs: list[tuple], size: int) -> list[tuple]:
    """`score_many` arguments for consecutive groups of `size` requests (a last, shorter group is dropped)."""
    groups = [reqs[i : i + size] for i in range(0, len(reqs) - size + 1, size)]
    return [
        ([r[0] for r in g], [r[1] for r in g], np.stack([r[2] for r in g]), np.array([r[3] for r in g])) for g in groups
    ]


def micro(fast: FastRanker, reqs, size: int) -> float:
    """Requests/s of `score_many` over groups of `size` requests (the service's micro-batches)."""
    as_args = micro_args(reqs, size)
    fast.score_many(*as_args[0])
    t = time.perf_counter()
    for a in as_args:
        fast.score_many(*a)
    return len(as_args) * size / (time.perf_counter() - t)


def micro_processes(fast: FastRanker, reqs, size: int, procs: int) -> float:
    """Requests/s of `procs` processes, each scoring its share in micro-batches of `size` on one torch thread.

    The service's layout: `xp serve --workers 2`, one torch thread per worker, micro-batched. The processes are
    forked with the model loaded (copy-on-write), warm up, wait on a barrier, and report when they finish;
    requests/s is all requests over the time from the barrier to the last finish."""
    ctx = mp.get_context("fork")
    barrier, done = ctx.Barrier(procs + 1), ctx.Queue()
    shares = [reqs[i::procs] for i in range(procs)]

    def work(share: list[tuple]) -> None:
        torch.set_num_threads(1)
        as_args = micro_args(share, size)
        fast.score_many(*as_args[0])
        barrier.wait()
        for a in as_args:
            fast.score_many(*a)
        done.put((len(as_args) * size, time.perf_counter()))  # CLOCK_MONOTONIC: comparable across processes

    workers = [ctx.Process(target=work, args=(share,)) for share in shares]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    results = [done.get(timeout=600) for _ in workers]
    for w in workers:
        w.join()
    return sum(n for n, _ in results) / (max(t for _, t in results) - start)


def load_model(arch: str, features) -> tuple[CartRanker, str]:
    run = models_root() / f"{arch}+pop-listwise-basket-c50-s0"
    if not (run / "weights.pt").is_file():
        run = current_run()
    config = read_json(run, "config")["model"] if run else None
    if config and config["arch"] == arch:
        model = CartRanker(ModelConfig.model_validate(config))
        model.load_state_dict(torch.load(run / "weights.pt", weights_only=True))
        source = f"trained run {run.name}"
    else:
        model = CartRanker(ModelConfig(arch=arch))
        source = "fresh initialisation"
    model.set_features(features)
    return model.eval(), source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", action="append", choices=list(FAST_ARCHS), help="archs to time (default: xp)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--micro", type=int, default=8, help="micro-batch size, one thread (the service's setting)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="also time the fast path in bfloat16")
    parser.add_argument(
        "--candidates",
        choices=["catalog", "pool"],
        default="catalog",
        help=(
            "catalog: candidates drawn from every GM item, read from the full per-item tables; pool: drawn from the items "
            "of the training carts' candidate pools, with the fast path's compact tables for them (`with_hot_rows`), as "
            "`xp serve` runs"
        ),
    )
    args = parser.parse_args()
    console = Console(width=180)
    task = prepare(DataStore.open(), TaskConfig())  # the prepared task (cached): catalog and training-week popularity
    catalog = task.catalog
    features = build_item_features(catalog, task.popularity)
    pool = pool_rows(task, features) if args.candidates == "pool" else None
    if pool is not None:
        console.print(f"candidates: {len(pool):,} pool items, compact tables (as `xp serve`)")
    table = Table(title="cart-XP ranker inference, 300 candidates; eager one request at a time is the baseline")
    for col in (
        "model",
        "cart",
        "implementation",
        "p50 ms (1 req)",
        "p99 ms (1 req)",
        "req/s 1 thread",
        f"req/s {args.threads} threads",
        "req/s vs eager",
    ):
        table.add_column(col, justify="left" if col in ("model", "implementation") else "right")
    for arch in args.arch or ["xp"]:
        model, source = load_model(arch, features)
        fasts = {"fast": FastRanker(model)} | ({"fast, bf16": FastRanker(model, bf16=True)} if args.bf16 else {})
        if pool is not None:
            fasts = {name: fast.with_hot_rows(pool) for name, fast in fasts.items()}
        console.print(f"{arch}: {count_parameters(model):,} parameters, {source}")

        def eager(*a, model=model):
            with torch.inference_mode():
                return model(*a)

        for cart in (20, 50):
            reqs = requests(features, catalog, cart, args.requests, pool=pool)
            torch.set_num_threads(1)
            p50, p99, base = single(eager, reqs)
            rows = [("eager (baseline), 1 request", f"{p50:.2f}", f"{p99:.2f}", base, None)]
            for name, fast in fasts.items():
                p50, p99, rps = single(fast, reqs)
                rows.append((f"{name}, 1 request", f"{p50:.2f}", f"{p99:.2f}", rps, None))
                rows.append((f"{name}, micro-batch {args.micro}", "", "", micro(fast, reqs, args.micro), None))
                rows.append(
                    (
                        f"{name}, micro-batch {args.micro}, {args.threads} processes x 1 thread",
                        "",
                        "",
                        None,
                        micro_processes(fast, reqs * max(1, 2048 // len(reqs)), args.micro, args.threads),
                    )
                )
                torch.set_num_threads(args.threads)
                rows.append(
                    (
                        f"{name}, batch {args.batch}",
                        "",
                        "",
                        None,
                        throughput(fast, reqs * max(1, 2048 // len(reqs)), args.batch),
                    )
                )
                torch.set_num_threads(1)
            for name, p50, p99, one, many in rows:
                rps = one if one is not None else many
                table.add_row(
                    arch,
                    str(cart),
                    name,
                    p50,
                    p99,
                    f"{one:,.0f}" if one is not None else "",
                    f"{many:,.0f}" if many is not None else "",
                    f"{rps / base:.2f}x",
                )
    console.print(table)

    runs = saved_runs()
    if runs:
        t = Table(title="training time of saved runs (measured by xp ranker train)")
        for col in ("run", "train carts", "best epoch", "s to best val", "s total", "val NDCG@4"):
            t.add_column(col, justify="left" if col == "run" else "right")
        for rid, m in runs.items():
            t.add_row(
                rid,
                f"{m['train_carts']:,}",
                str(m["best_epoch"]),
                f"{m['seconds_to_best']:.0f}",
                f"{m['seconds']:.0f}",
                f"{m['val']['ndcg@4']:.4f}",
            )
        console.print(t)


if __name__ == "__main__":
    main()

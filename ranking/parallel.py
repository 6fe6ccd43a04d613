"""Data-parallel training over local processes (gloo over the loopback interface).

Why: on the README's 2-core CPU, one process with 2 torch threads runs a training step
only ~1.4x faster than with 1 thread (the cart encoder's matrices are small; much of a
step is single-threaded bookkeeping). Two processes of 1 thread each, each taking half
of every batch, keep both cores busy the whole step.

Every rank holds the same model (same seed, same updates). After each backward pass one
all-reduce sums every gradient, weighted by the rank's share of the batch, so the update
equals the single-process one over the whole batch; the same buffer carries the rank's
loss and a "stop" flag (time budget spent), so every rank takes the same decisions
without another round trip. Ranks rendezvous through a file store in a private temp
folder, and gloo binds to the loopback interface only (`GLOO_SOCKET_IFNAME=lo`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from xpollinate.errors import XPError

Shareable = TypeVar("Shareable", Sequence[int], np.ndarray)  # a batch's carts: a list, a range or an array

TIMEOUT = timedelta(seconds=300)  # the longest a rank waits for the others at one collective
START_POLL_S = 0.05  # how often the lead checks on ranks that have not started yet


@dataclass(frozen=True)
class Rank:
    """This process's place in the group: rank 0 is the caller's own process (it reports and saves)."""

    rank: int = 0
    world: int = 1

    @property
    def lead(self) -> bool:
        return self.rank == 0

    def share(self, items: Shareable) -> Shareable:
        """This rank's part of a batch (or of the validation carts): every world-th item."""
        return items[self.rank :: self.world]

    def reduce(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum over the ranks (identity for one process)."""
        if self.world == 1:
            return list(values)
        buf = torch.tensor(list(values), dtype=torch.float64)
        dist.all_reduce(buf)
        return buf.tolist()

    def reduce_gradients(self, model: nn.Module, weight: float, extras: Sequence[float]) -> list[float]:
        """Replace each gradient by sum over ranks of weight * gradient; returns the summed `extras`.

        A parameter without a gradient contributes zeros, on every rank alike."""
        if self.world == 1:
            return list(extras)
        params = [p for p in model.parameters() if p.requires_grad]
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) * weight for p in params]
            + [torch.tensor(list(extras), dtype=params[0].dtype)]
        )
        dist.all_reduce(flat)
        at = 0
        for p in params:
            n = p.numel()
            if p.grad is None:
                p.grad = torch.empty_like(p)
            p.grad.copy_(flat[at : at + n].view_as(p))
            at += n
        return flat[at:].tolist()


def _join_group(rank: Rank, store_dir: str) -> None:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    store = dist.FileStore(os.path.join(store_dir, "rendezvous"), rank.world)
    dist.init_process_group("gloo", store=store, rank=rank.rank, world_size=rank.world, timeout=TIMEOUT)


def _ready_file(store_dir: str, rank: int) -> str:
    return os.path.join(store_dir, f"ready-{rank}")


def _worker(fn: Callable[..., Any], rank: Rank, store_dir: str, threads: int, args: tuple) -> None:
    torch.set_num_threads(threads)
    open(_ready_file(store_dir, rank.rank), "w").close()
    _join_group(rank, store_dir)
    try:
        fn(rank, *args)
    finally:
        dist.destroy_process_group()


def run_ranks(fn: Callable[..., Any], world: int, threads: int, args: tuple, lead_kwargs: dict | None = None) -> Any:
    """fn(Rank(r, world), *args) in `world` processes; rank 0 runs here, also gets `lead_kwargs`
    (callbacks need not pickle), and its return value is returned.

    The other ranks are spawned (fresh interpreters: no forked thread pools) with `args`
    pickled; each uses `threads` torch threads. If any rank fails, the others are stopped
    and an XPError names the failed ranks."""
    lead_kwargs = lead_kwargs or {}
    if world == 1:
        torch.set_num_threads(threads)
        return fn(Rank(), *args, **lead_kwargs)
    ctx = mp.get_context("spawn")
    store_dir = tempfile.mkdtemp(prefix="xp-ranks-")
    procs = [
        ctx.Process(target=_worker, args=(fn, Rank(r, world), store_dir, threads, args), daemon=True)
        for r in range(1, world)
    ]
    old_threads = torch.get_num_threads()
    try:
        for p in procs:
            p.start()
        _await_start(procs, store_dir)
        torch.set_num_threads(threads)
        _join_group(Rank(0, world), store_dir)
        try:
            result = fn(Rank(0, world), *args, **lead_kwargs)
        except (RuntimeError, dist.DistBackendError) as e:
            for p in procs:
                p.join(timeout=10)
            dead = [f"rank {r} (exit {p.exitcode})" for r, p in enumerate(procs, 1) if p.exitcode not in (None, 0)]
            if dead:
                raise XPError(
                    f"data-parallel training failed: {', '.join(dead)} stopped; see its traceback above"
                ) from e
            raise
        finally:
            dist.destroy_process_group()
        for p in procs:
            p.join(timeout=60)
        return result
    finally:
        torch.set_num_threads(old_threads)
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)
        shutil.rmtree(store_dir, ignore_errors=True)


def _await_start(procs: list, store_dir: str) -> None:
    """Wait until every spawned rank is about to join the group; a rank that dies first (e.g. a
    script that starts training at import, without an `if __name__ == "__main__":` guard, which
    spawned interpreters re-run) is an error now, not a rendezvous that hangs until TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT.total_seconds()
    waiting = dict(enumerate(procs, 1))
    while waiting:
        for r, p in list(waiting.items()):
            if os.path.exists(_ready_file(store_dir, r)):
                del waiting[r]
            elif p.exitcode is not None:
                raise XPError(
                    f"data-parallel training failed: rank {r} (exit {p.exitcode}) stopped before it started "
                    "training; see its traceback above (a script that trains with workers > 1 must do so "
                    'under `if __name__ == "__main__":`)'
                )
        if waiting and time.monotonic() > deadline:
            raise XPError(
                f"data-parallel training failed: ranks {sorted(waiting)} did not start within "
                f"{TIMEOUT.total_seconds():.0f} s"
            )
        if waiting:
            time.sleep(START_POLL_S)

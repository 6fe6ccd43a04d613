"""Where anchors run: a thread pool in this process, or a Dask `distributed` cluster.

Both take (job, anchor) tasks, keep a bounded number in flight, and hand each finished
`AnchorOutcome` back to the driver as it completes; neither writes the store. Dask is
an existing engine, not a scheduler of ours: a `LocalCluster` on 127.0.0.1 by default,
or any scheduler given by address.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Literal, Protocol

from xpollinate.batch.jobs import BatchJob, is_fatal, run_task
from xpollinate.errors import XPError
from xpollinate.records import Anchor
from xpollinate.xpstore.item_xp_store import AnchorOutcome

Task = tuple[BatchJob, Anchor]
ExecutorKind = Literal["local", "dask"]


class Executor(Protocol):
    name: str

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, AnchorOutcome]]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """`concurrency` worker threads; each thread has its own graph over shared parts."""

    name = "local"

    def __init__(self, concurrency: int = 2) -> None:
        if concurrency < 1:
            raise XPError(f"--concurrency must be at least 1, got {concurrency}")
        self.concurrency = concurrency

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, AnchorOutcome]]:
        pending = iter(tasks)
        if self.concurrency == 1:  # no pool: the plain loop
            for task in pending:
                yield task, run_task(*task)
            return
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="xp-anchor")
        in_flight: dict[Future[AnchorOutcome], Task] = {}
        try:
            for task in pending:
                in_flight[pool.submit(run_task, *task)] = task
                if len(in_flight) >= self.concurrency:
                    break
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = in_flight.pop(fut)
                    yield task, fut.result()
                    nxt = next(pending, None)
                    if nxt is not None:
                        in_flight[pool.submit(run_task, *nxt)] = nxt
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pass


class DaskExecutor:
    """Anchors as Dask tasks; outcomes come back to the driver (the single writer of the store)."""

    name = "dask"

    def __init__(
        self, address: str | None = None, workers: int = 2, threads_per_worker: int = 1, in_flight_per_thread: int = 2
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise XPError("--executor dask needs the `distributed` package (pip install distributed)") from exc
        self.cluster: Any = None
        try:
            if address:
                self.client = Client(address, timeout="20s")
            else:
                self.cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=threads_per_worker,
                    host="127.0.0.1",
                    dashboard_address=None,
                    processes=True,
                    silence_logs=40,
                )
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as exc:
            raise XPError(f"cannot reach the Dask scheduler {address or 'LocalCluster'}: {exc}") from exc
        n_threads = sum(self.client.nthreads().values()) or 1
        self.window = max(1, n_threads * in_flight_per_thread)

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, AnchorOutcome]]:
        from distributed import as_completed

        pending = iter(tasks)
        futures: dict[Any, Task] = {}
        for task in pending:
            futures[self.client.submit(run_task, *task, pure=False)] = task
            if len(futures) >= self.window:
                break
        stream = as_completed(list(futures))
        try:
            for fut in stream:
                task = futures.pop(fut)
                try:
                    outcome = fut.result()
                except Exception as exc:
                    if is_fatal(exc):
                        raise
                    outcome = lost_task(task, exc)
                fut.release()
                nxt = next(pending, None)
                if nxt is not None:
                    new = self.client.submit(run_task, *nxt, pure=False)
                    futures[new] = nxt
                    stream.add(new)
                yield task, outcome
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(kind: ExecutorKind, concurrency: int, address: str | None = None, workers: int = 2) -> Executor:
    if kind == "local":
        return LocalExecutor(concurrency)
    if kind == "dask":
        return DaskExecutor(address, workers=workers, threads_per_worker=concurrency)
    raise XPError(f"--executor: {kind!r}; choose local or dask")


def lost_task(task: Task, exc: BaseException) -> AnchorOutcome:
    """The failure record of an anchor whose worker died before it returned (retried on the next run)."""
    _, anchor = task
    return AnchorOutcome(
        anchor_id=anchor.item_id if anchor.item_id is not None else -1,
        anchor_text=anchor.text,
        anchor_pt=anchor.product_type,
        results=[],
        audit={},
        seconds=0.0,
        error=f"worker lost: {type(exc).__name__}: {exc}"[:500],
    )

"""The batch driver: skip what is finished, run the rest on an executor, write each outcome.

The driver is the store's only writer: each finished anchor is saved in one SQLite
transaction as soon as it comes back, so a kill at any point loses at most the anchors
in flight, and their finished model calls are in the response cache. A re-run skips
the anchors finished in the same run (same settings hash).
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from xpollinate.batch.executors import Executor, Task
from xpollinate.batch.jobs import BatchJob, is_fatal
from xpollinate.batch.run_index import unchanged_anchors
from xpollinate.batch.summary import BatchSummary
from xpollinate.errors import XPError
from xpollinate.records import Anchor
from xpollinate.settings import ensure_dir
from xpollinate.xpstore.item_xp_store import AnchorOutcome, ItemXPStore


class RateColumn(ProgressColumn):
    """Anchors per hour since the start."""

    def render(self, task) -> Text:  # type: ignore[no-untyped-def]
        elapsed = task.elapsed or 0.0
        rate = 3600.0 * task.completed / elapsed if elapsed > 0 and task.completed else 0.0
        return Text(f"{rate:,.0f} anchors/h", style="progress.data.speed")


@dataclass
class BatchResult:
    summary: BatchSummary
    summary_path: Path | None


def check_writable(folder: Path) -> None:
    """Fail early, with the folder named, when the run directory cannot be written."""
    ensure_dir(folder)
    probe = folder / f".write-probe-{time.time_ns()}"
    try:
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        raise XPError(
            f"the run directory {folder} is not writable ({exc.strerror}); set XP_HOME to a writable folder"
        ) from exc


def plan_tasks(jobs: Sequence[BatchJob], anchors: Sequence[Anchor], skip: dict[str, set[int]], seed: int) -> list[Task]:
    """(job, anchor) tasks, anchor by anchor; with several jobs (A/B arms) each anchor's job order is
    drawn at random (seeded), so neither arm always runs first."""
    rng = random.Random(seed)
    tasks: list[Task] = []
    for anchor in anchors:
        order = list(jobs)
        if len(order) > 1:
            rng.shuffle(order)
        tasks += [(job, anchor) for job in order if anchor.item_id not in skip[job.run_id]]
    return tasks


def _save(store: ItemXPStore, run_id: str, outcome) -> None:  # type: ignore[no-untyped-def]
    try:
        store.save(run_id, outcome)
    except (sqlite3.Error, OSError) as exc:
        reason = "the disk is full" if "full" in str(exc).lower() else str(exc)
        raise XPError(
            f"cannot write anchor {outcome.anchor_id} to the item-XP store {store.path}: {reason}. "
            "Anchors saved before are intact; free space (or fix permissions) and re-run the same command to resume."
        ) from exc


def run_batch(
    jobs: Sequence[BatchJob],
    anchors: Sequence[Anchor],
    executor: Executor,
    store: ItemXPStore,
    *,
    incremental: bool = False,
    retry_failed: bool = True,
    show_progress: bool = True,
    seed: int = 0,
    summary_dir: Path | None = None,
    console: Console | None = None,
) -> BatchResult:
    """Run `anchors` through every job in `jobs` (one job for `xp batch`, two arms for `xp ab`)."""
    if not jobs:
        raise XPError("no job to run")
    summary = BatchSummary(run_ids=[j.run_id for j in jobs], selected=len(anchors), executor=executor.name)
    skip: dict[str, set[int]] = {}
    wanted = {a.item_id for a in anchors}
    for job in jobs:
        store.start_run(
            job.run_id,
            job.kind,
            str(job.settings.get("llm", "")),
            job.settings,
            str(job.settings.get("data_build", "")),
        )
        finished = store.finished(job.run_id) & wanted
        summary.skipped_finished += len(finished)
        skip[job.run_id] = set(finished)
        if not retry_failed:
            skip[job.run_id] |= _failed(store, job.run_id) & wanted
        if incremental:
            unchanged = (set(unchanged_anchors(store.path, job.settings)) & wanted) - skip[job.run_id]
            summary.skipped_unchanged += len(unchanged)
            skip[job.run_id] |= unchanged
    tasks = plan_tasks(jobs, anchors, skip, seed)
    positions = {(id(t[0]), t[1].item_id): i for i, t in enumerate(tasks)}
    first_of_anchor: dict[int | None, int] = {}
    for i, (_job, anchor) in enumerate(tasks):
        first_of_anchor.setdefault(anchor.item_id, i)

    started = time.perf_counter()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        disable=not show_progress,
        transient=False,
    )
    try:
        with progress:
            bar = progress.add_task(", ".join(summary.run_ids), total=len(tasks), failed=0)
            for (job, anchor), outcome in _guarded(executor.run(tasks)):
                outcome.audit["arm_position"] = positions[(id(job), anchor.item_id)] - first_of_anchor[anchor.item_id]
                _save(store, job.run_id, outcome)
                summary.add(job.run_id, outcome)
                progress.update(bar, advance=1, failed=summary.failed)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        summary.wall_s = time.perf_counter() - started
        path = _write_summary(summary, summary_dir)
    return BatchResult(summary, path)


def _guarded(stream: Iterator[tuple[Task, AnchorOutcome]]) -> Iterator[tuple[Task, AnchorOutcome]]:
    """Errors of the run directory raised by a worker, as one clear message."""
    try:
        yield from stream
    except Exception as exc:
        if is_fatal(exc):
            raise XPError(
                f"the batch stopped: {exc}. Finished anchors are saved; fix the run directory and re-run to resume."
            ) from exc
        raise


def _failed(store: ItemXPStore, run_id: str) -> set[int]:
    from xpollinate.batch.run_index import failures

    return {int(f["anchor_id"]) for f in failures(store.path, run_id)}


def _write_summary(summary: BatchSummary, folder: Path | None) -> Path | None:
    if folder is None:
        return None
    try:
        ensure_dir(folder)
        path = folder / f"batch-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**6:06d}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary.as_dict(), indent=2, default=str), encoding="utf-8")
        tmp.replace(path)
        return path
    except (OSError, XPError):
        return None

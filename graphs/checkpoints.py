"""The SQLite checkpointer behind `xp run --thread ID`, and which anchor and settings each thread belongs to.

One file in the run directory, `$XP_HOME/checkpoints.sqlite`, holds LangGraph's checkpoints (one per
super-step of a run: its state, the writes of finished tasks, a pending interrupt) and a small
table of threads. A thread is one anchor's run under one run id (the settings hash): resuming
it with another anchor or other settings would mix two runs' states, so that is refused.

Checkpoints are what make a failed or paused run continue where it stopped, and let any step be
replayed; the LLM response cache (which makes batches resumable) still answers repeated calls.
"""

from __future__ import annotations

import inspect
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel

from xpollinate import records as _records
from xpollinate.errors import XPError
from xpollinate.settings import ensure_dir, run_home

CHECKPOINTS_FILE = "checkpoints.sqlite"
# The state's records are the only classes a checkpoint may revive (besides LangGraph's own safe types).
STATE_TYPES: tuple[type, ...] = tuple(
    cls
    for _, cls in inspect.getmembers(_records, inspect.isclass)
    if issubclass(cls, BaseModel) and cls.__module__ == _records.__name__
)


def checkpoints_path(home: Path | None = None) -> Path:
    return (home or run_home()) / CHECKPOINTS_FILE


def serializer() -> JsonPlusSerializer:
    """LangGraph's serializer, allowed to revive exactly the item-XP records."""
    return JsonPlusSerializer(allowed_msgpack_modules=STATE_TYPES)


@dataclass(frozen=True)
class ThreadRecord:
    """Whose run a thread holds."""

    thread_id: str
    anchor_id: int
    run_id: str
    settings: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class CheckpointRow:
    """One checkpoint of a thread, as `xp run --history` lists it."""

    checkpoint_id: str
    parent_id: str | None
    step: int
    source: str  # input (the run's input), loop (after a step), fork (a replay's copy of its start), update
    ran: tuple[str, ...]  # the nodes whose step produced it
    next: tuple[str, ...]  # the nodes a resume or replay from it runs
    created_at: str
    interrupted: bool  # paused at an interrupt (the review step)


def _differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _differences(x, y, f"{prefix}{key}.")
        elif x != y:
            out.append(f"{prefix}{key} {json.dumps(x)} vs {json.dumps(y)}")
    return out


class Checkpoints:
    """The checkpoint file: a LangGraph `SqliteSaver` (`.saver`, for `build_graph(checkpointer=...)`) and the
    thread table. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path) -> None:
        ensure_dir(path.parent)
        self.path = path
        try:
            # LangGraph writes checkpoints from its worker threads; the saver serializes access with a lock.
            self._conn = sqlite3.connect(str(path), check_same_thread=False)
            self.saver = SqliteSaver(self._conn, serde=serializer())
            self.saver.setup()
            with self.saver.lock, self._conn:
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS xp_threads (thread_id TEXT PRIMARY KEY, anchor_id INTEGER NOT NULL, "
                    "run_id TEXT NOT NULL, settings TEXT NOT NULL, created_at REAL NOT NULL)"
                )
        except sqlite3.Error as exc:
            raise XPError(f"cannot open the checkpoint file {path}: {exc}") from exc

    @classmethod
    def open(cls, home: Path | None = None) -> Checkpoints:
        return cls(checkpoints_path(home))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def thread(self, thread_id: str) -> ThreadRecord | None:
        with self.saver.lock:
            row = self._conn.execute(
                "SELECT thread_id, anchor_id, run_id, settings, created_at FROM xp_threads WHERE thread_id = ?",
                (thread_id,),
            ).fetchone()
        return None if row is None else ThreadRecord(row[0], int(row[1]), row[2], json.loads(row[3]), float(row[4]))

    def threads(self) -> list[str]:
        with self.saver.lock:
            return [r[0] for r in self._conn.execute("SELECT thread_id FROM xp_threads ORDER BY created_at")]

    def known(self, thread_id: str) -> ThreadRecord:
        """The thread's record, or an error naming the threads that exist."""
        record = self.thread(thread_id)
        if record is None:
            known = self.threads()
            raise XPError(
                f"unknown thread {thread_id!r}: no run was checkpointed under it in {self.path} "
                + (f"(threads: {', '.join(known[-10:])})" if known else "(no threads yet)")
                + f"; start one with `xp run --anchor ... --thread {thread_id}`"
            )
        return record

    def claim(self, thread_id: str, anchor_id: int, run_id: str, settings: dict[str, Any]) -> ThreadRecord:
        """Register the thread for this anchor and run, or check that it already is theirs."""
        record = self.thread(thread_id)
        if record is None:
            record = ThreadRecord(thread_id, anchor_id, run_id, settings, time.time())
            with self.saver.lock, self._conn:
                self._conn.execute(
                    "INSERT INTO xp_threads VALUES (?, ?, ?, ?, ?)",
                    (
                        thread_id,
                        anchor_id,
                        run_id,
                        json.dumps(settings, sort_keys=True, default=str),
                        record.created_at,
                    ),
                )
            return record
        if record.anchor_id != anchor_id:
            raise XPError(
                f"thread {thread_id!r} holds the run of anchor {record.anchor_id}, not {anchor_id}: "
                "pick another --thread, or leave out --anchor to continue it"
            )
        if record.run_id != run_id:
            changed = _differences(record.settings, json.loads(json.dumps(settings, default=str)))
            raise XPError(
                f"thread {thread_id!r} holds run {record.run_id}, whose settings differ from this command's "
                f"(run {run_id}): {'; '.join(changed[:6]) or 'see the settings'}. Pick another --thread, "
                "or leave out --anchor and the options to continue it with its own settings"
            )
        return record

    @staticmethod
    def config(thread_id: str, checkpoint_id: str | None = None, **configurable: Any) -> RunnableConfig:
        given = {"thread_id": thread_id, **configurable}
        if checkpoint_id:
            given["checkpoint_id"] = checkpoint_id
        return {"configurable": given}

    def require_checkpoint(self, thread_id: str, checkpoint_id: str) -> None:
        if self.saver.get_tuple(self.config(thread_id, checkpoint_id)) is None:
            raise XPError(
                f"thread {thread_id!r} has no checkpoint {checkpoint_id!r}: list them with "
                f"`xp run --thread {thread_id} --history`"
            )


def history(graph: Any, thread_id: str) -> list[CheckpointRow]:
    """The thread's checkpoints, oldest first, each with the nodes that produced it and those that follow it.
    `graph` is the thread's compiled graph (it knows which nodes a checkpoint triggers)."""
    snapshots = list(graph.get_state_history(Checkpoints.config(thread_id)))
    nexts = {s.config["configurable"]["checkpoint_id"]: tuple(s.next) for s in snapshots}
    rows = []
    for s in reversed(snapshots):
        parent = (s.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        rows.append(
            CheckpointRow(
                checkpoint_id=s.config["configurable"]["checkpoint_id"],
                parent_id=parent,
                step=int(s.metadata.get("step", -1)) if s.metadata else -1,
                source=str((s.metadata or {}).get("source", "")),
                ran=nexts.get(parent, ()) if parent and s.metadata.get("source") != "fork" else (),
                next=tuple(s.next),
                created_at=str(s.created_at or ""),
                interrupted=bool(s.interrupts),
            )
        )
    return rows

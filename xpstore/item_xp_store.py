"""SQLite store of item-XP results in the run directory (`$XP_HOME/item_xp.sqlite`).

One row per (run, anchor) with its audit trail (themes, dropped recommendations with
reasons, failed calls, provenance: prompt versions and hashes, models, scorer id,
timings, usage) and one row per recommended item. An anchor's rows are written in
one transaction, so a crash never leaves half an anchor; WAL mode lets readers (the
service, reports) read while a batch writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpollinate.errors import XPError
from xpollinate.records import ScoredItem
from xpollinate.settings import ensure_dir, run_home

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    graph TEXT NOT NULL,
    llm TEXT NOT NULL,
    settings TEXT NOT NULL,          -- JSON: prompt versions, graph config
    data_build TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS anchors (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    anchor_id INTEGER NOT NULL,
    anchor_text TEXT NOT NULL,
    anchor_pt TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT,
    finished_at REAL NOT NULL,
    seconds REAL NOT NULL,
    n_results INTEGER NOT NULL,
    scorer_id TEXT,
    audit TEXT NOT NULL,             -- JSON: themes, dropped, failures, provenance, usage
    PRIMARY KEY (run_id, anchor_id)
);
CREATE TABLE IF NOT EXISTS recommendations (
    run_id TEXT NOT NULL,
    anchor_id INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    item_id INTEGER NOT NULL,
    item_text TEXT NOT NULL,
    product_type TEXT NOT NULL,
    theme TEXT,
    recommendation TEXT NOT NULL,
    explanation TEXT NOT NULL,
    evaluator_score REAL,
    similarity REAL NOT NULL,
    expanded INTEGER NOT NULL,
    ce REAL NOT NULL,
    llm REAL NOT NULL,
    combined REAL NOT NULL,
    band TEXT NOT NULL,
    judge_reasoning TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'llm',  -- llm | historical | both (Item XP merges the two lists)
    PRIMARY KEY (run_id, anchor_id, rank),
    FOREIGN KEY (run_id, anchor_id) REFERENCES anchors(run_id, anchor_id)
);
CREATE INDEX IF NOT EXISTS recs_by_anchor ON recommendations(anchor_id, combined DESC);
"""

REC_COLUMNS = (
    "item_id",
    "item_text",
    "product_type",
    "theme",
    "recommendation",
    "explanation",
    "evaluator_score",
    "similarity",
    "expanded",
    "ce",
    "llm",
    "combined",
    "band",
    "judge_reasoning",
    "source",
)


def store_path(home: Path | None = None) -> Path:
    return (home or run_home()) / "item_xp.sqlite"


@dataclass
class AnchorOutcome:
    """What one graph run produced for one anchor."""

    anchor_id: int
    anchor_text: str
    anchor_pt: str
    results: list[ScoredItem]
    audit: dict[str, Any]
    seconds: float
    scorer_id: str | None = None
    error: str | None = None


class ItemXPStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or store_path()
        ensure_dir(self.path.parent)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise XPError(f"cannot open the item-XP store {self.path}: {exc}") from exc
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        """Stores written before items had a source: their rows were all the model's."""
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(recommendations)")}
        if "source" not in columns:
            self._db.execute("ALTER TABLE recommendations ADD COLUMN source TEXT NOT NULL DEFAULT 'llm'")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite already rolled back on errors such as SQLITE_FULL
                self._db.execute("ROLLBACK")
            raise

    def start_run(self, run_id: str, graph: str, llm: str, settings: dict[str, Any], data_build: str) -> None:
        """Register a run (idempotent: resuming a run keeps its first registration)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, time.time(), graph, llm, json.dumps(settings, sort_keys=True), data_build),
            )

    def save(self, run_id: str, outcome: AnchorOutcome) -> None:
        """Write one anchor's results atomically (replacing an earlier attempt of the same anchor)."""
        status = "failed" if outcome.error else "done"
        with self._transaction() as db:
            db.execute("DELETE FROM recommendations WHERE run_id = ? AND anchor_id = ?", (run_id, outcome.anchor_id))
            db.execute("DELETE FROM anchors WHERE run_id = ? AND anchor_id = ?", (run_id, outcome.anchor_id))
            db.execute(
                "INSERT INTO anchors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    outcome.anchor_id,
                    outcome.anchor_text,
                    outcome.anchor_pt,
                    status,
                    outcome.error,
                    time.time(),
                    round(outcome.seconds, 3),
                    len(outcome.results),
                    outcome.scorer_id,
                    json.dumps(outcome.audit, default=str),
                ),
            )
            db.executemany(
                f"INSERT INTO recommendations (run_id, anchor_id, rank, {', '.join(REC_COLUMNS)}) "
                f"VALUES (?, ?, ?, {', '.join('?' * len(REC_COLUMNS))})",
                [
                    (run_id, outcome.anchor_id, rank, *(getattr(r, c) for c in REC_COLUMNS))
                    for rank, r in enumerate(outcome.results, start=1)
                ],
            )

    def finished(self, run_id: str) -> set[int]:
        """Anchors of `run_id` that completed (a resumed batch skips them)."""
        rows = self._db.execute("SELECT anchor_id FROM anchors WHERE run_id = ? AND status = 'done'", (run_id,))
        return {r[0] for r in rows}

    def recommendations(self, anchor_id: int, run_id: str | None = None) -> list[dict[str, Any]]:
        """Ranked items of an anchor from `run_id`, or from the latest run that finished it."""
        if run_id is None:
            row = self._db.execute(
                "SELECT run_id FROM anchors WHERE anchor_id = ? AND status = 'done' ORDER BY finished_at DESC LIMIT 1",
                (anchor_id,),
            ).fetchone()
            if row is None:
                return []
            run_id = row[0]
        rows = self._db.execute(
            "SELECT * FROM recommendations WHERE run_id = ? AND anchor_id = ? ORDER BY rank", (run_id, anchor_id)
        )
        return [dict(r) for r in rows]

    def distinct_recommendations(self) -> list[str]:
        """Every recommendation text stored by any run (queries for training the cross-encoder)."""
        return [r[0] for r in self._db.execute("SELECT DISTINCT recommendation FROM recommendations ORDER BY 1")]

    def anchor(self, run_id: str, anchor_id: int) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT * FROM anchors WHERE run_id = ? AND anchor_id = ?", (run_id, anchor_id)
        ).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["audit"] = json.loads(out["audit"])
        return out

    def latest_recommendations(self) -> dict[int, list[dict[str, Any]]]:
        """`recommendations(anchor)` for every finished anchor at once (one query: the service loads them all)."""
        rows = self._db.execute(
            """
            WITH latest AS (
                SELECT anchor_id, run_id, MAX(finished_at) FROM anchors WHERE status = 'done' GROUP BY anchor_id
            )
            SELECT r.* FROM recommendations r JOIN latest l ON r.run_id = l.run_id AND r.anchor_id = l.anchor_id
            ORDER BY r.anchor_id, r.rank
            """
        )
        out: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            out.setdefault(r["anchor_id"], []).append(dict(r))
        return out

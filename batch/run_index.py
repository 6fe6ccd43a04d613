"""Read-only queries over the item-XP store's runs: listings, and what incremental mode may skip."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from xpollinate.errors import XPError

IDENTITY_IGNORES = ("data_build",)  # a weekly refresh changes the data, not how anchors are generated


def identity(settings: dict[str, Any]) -> str:
    """The settings that decide how an anchor is generated: graph, models, prompt versions and hashes, config, scorer."""
    return json.dumps({k: v for k, v in settings.items() if k not in IDENTITY_IGNORES}, sort_keys=True)


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise XPError(f"no item-XP store at {path}; run `xp batch` or `xp run` first")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
    db.row_factory = sqlite3.Row
    return db


def list_runs(path: Path) -> list[dict[str, Any]]:
    """Every run, newest first, with its anchors done and failed."""
    with _connect(path) as db:
        rows = db.execute(
            """SELECT r.run_id, r.created_at, r.graph, r.llm, r.settings, r.data_build,
                      SUM(a.status = 'done') AS done, SUM(a.status = 'failed') AS failed,
                      SUM(CASE WHEN a.status = 'done' THEN a.n_results ELSE 0 END) AS results
               FROM runs r LEFT JOIN anchors a ON a.run_id = r.run_id
               GROUP BY r.run_id ORDER BY r.created_at DESC"""
        ).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["settings"] = json.loads(d["settings"])
        d["done"], d["failed"], d["results"] = int(d["done"] or 0), int(d["failed"] or 0), int(d["results"] or 0)
        out.append(d)
    return out


def unchanged_anchors(path: Path, settings: dict[str, Any]) -> dict[int, str]:
    """Anchors finished by an earlier run with the same identity (another data build allowed): anchor -> run id."""
    if not path.is_file():
        return {}
    wanted = identity(settings)
    same = [r["run_id"] for r in list_runs(path) if identity(r["settings"]) == wanted]
    if not same:
        return {}
    marks = ",".join("?" * len(same))
    with _connect(path) as db:
        rows = db.execute(
            f"SELECT anchor_id, run_id FROM anchors WHERE status = 'done' AND run_id IN ({marks}) ORDER BY finished_at",
            same,
        ).fetchall()
    return {int(a): str(r) for a, r in rows}


def failures(path: Path, run_id: str) -> list[dict[str, Any]]:
    with _connect(path) as db:
        rows = db.execute(
            "SELECT anchor_id, anchor_text, error, finished_at FROM anchors WHERE run_id = ? AND status = 'failed' ORDER BY anchor_id",
            (run_id,),
        ).fetchall()
    return [dict(r) for r in rows]

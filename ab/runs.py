"""A stored run as tables: its anchors, and every scored (recommendation, item) pair, Poor included."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from xpollinate.batch.scored import SCORED_COLUMNS
from xpollinate.errors import XPError


@dataclass
class RunData:
    run_id: str
    settings: dict[str, Any]
    anchors: pd.DataFrame  # anchor_id, anchor_text, anchor_pt, status, n_results, arm_position, scorer_id
    scored: pd.DataFrame  # anchor_id, anchor_pt, + SCORED_COLUMNS
    kept: pd.DataFrame  # the stored recommendations (Poor removed, best per item)


def load_run(path: Path, run_id: str) -> RunData:
    if not path.is_file():
        raise XPError(f"no item-XP store at {path}; run `xp batch` first")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0) as db:
        run = db.execute("SELECT settings FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if run is None:
            known = [r[0] for r in db.execute("SELECT run_id FROM runs ORDER BY created_at DESC")]
            raise XPError(f"no run {run_id!r} in {path}; stored runs: {', '.join(known) or 'none'}")
        rows = db.execute(
            "SELECT anchor_id, anchor_text, anchor_pt, status, n_results, scorer_id, audit FROM anchors WHERE run_id = ?",
            (run_id,),
        ).fetchall()
        kept = pd.read_sql_query("SELECT * FROM recommendations WHERE run_id = ?", db, params=(run_id,))
    anchors, scored = [], []
    for anchor_id, text, pt, status, n, scorer, audit_json in rows:
        audit = json.loads(audit_json)
        anchors.append({"anchor_id": anchor_id, "anchor_text": text, "anchor_pt": pt, "status": status, "n_results": n,
                        "scorer_id": scorer, "arm_position": audit.get("arm_position", 0)})
        block = audit.get("scored") or {"columns": list(SCORED_COLUMNS), "rows": []}
        scored += [{"anchor_id": anchor_id, "anchor_pt": pt, **dict(zip(block["columns"], r))} for r in block["rows"]]
    columns = ["anchor_id", "anchor_pt", *SCORED_COLUMNS]
    return RunData(run_id, json.loads(run[0]), pd.DataFrame(anchors), pd.DataFrame(scored, columns=columns), kept)

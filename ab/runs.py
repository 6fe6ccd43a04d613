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
    anchors: pd.DataFrame  # anchor_id, anchor_text, anchor_pt, status, n_results, arm_position, scorer_id, cost columns
    scored: pd.DataFrame  # anchor_id, anchor_pt, + SCORED_COLUMNS
    kept: pd.DataFrame  # the stored recommendations (the model's Poor removed, best per item)

    def model_part(self) -> RunData:
        """The run without its historical (basket) items: what the arms' generators produced, which is what
        an A/B compares (the historical half of Item XP is the same in both arms)."""
        scored = self.scored[self.scored["source"] != "historical"] if "source" in self.scored else self.scored
        kept = self.kept[self.kept["source"] != "historical"] if "source" in self.kept else self.kept
        return RunData(self.run_id, self.settings, self.anchors, scored, kept)


def load_run(path: Path, run_id: str) -> RunData:
    if not path.is_file():
        raise XPError(f"no item-XP store at {path}; run `xp batch` first")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0) as db:
        run = db.execute("SELECT settings FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if run is None:
            known = [r[0] for r in db.execute("SELECT run_id FROM runs ORDER BY created_at DESC")]
            raise XPError(f"no run {run_id!r} in {path}; stored runs: {', '.join(known) or 'none'}")
        rows = db.execute(
            "SELECT anchor_id, anchor_text, anchor_pt, status, n_results, scorer_id, audit, seconds FROM anchors WHERE run_id = ?",
            (run_id,),
        ).fetchall()
        kept = pd.read_sql_query("SELECT * FROM recommendations WHERE run_id = ?", db, params=(run_id,))
    anchors, scored = [], []
    for anchor_id, text, pt, status, n, scorer, audit_json, seconds in rows:
        audit = json.loads(audit_json)
        usage = audit.get("usage", {})
        anchors.append(
            {
                "anchor_id": anchor_id,
                "anchor_text": text,
                "anchor_pt": pt,
                "status": status,
                "n_results": n,
                "scorer_id": scorer,
                "arm_position": audit.get("arm_position", 0),
                "seconds": seconds,
                "model_calls": usage.get("calls", 0),
                "model_seconds": usage.get("latency_s", 0.0),
                "input_tokens": usage.get("input_tokens", 0),
                "output_tokens": usage.get("output_tokens", 0),
                "recommendations": audit.get("n_recommendations", 0),
                "copied": audit.get("n_copied", 0),
                "distinct_recs": audit.get("n_distinct_recs", 0),
                "out_of_catalog": audit.get("n_out_of_catalog"),
            }
        )
        block = audit.get("scored") or {"columns": list(SCORED_COLUMNS), "rows": []}
        scored += [{"anchor_id": anchor_id, "anchor_pt": pt, **dict(zip(block["columns"], r))} for r in block["rows"]]
    columns = ["anchor_id", "anchor_pt", *SCORED_COLUMNS]
    return RunData(run_id, json.loads(run[0]), pd.DataFrame(anchors), pd.DataFrame(scored, columns=columns), kept)

"""The review-sheet format on disk: one CSV a reviewer sees (scores hidden) and its key, a JSON file in
`$XP_HOME/reviews/` holding each row's scores and the pipeline's decision.

Two writers share it: `xp review export` (a band-stratified sample of a stored run, labels left
blank) and the graph's human-review step (every scored item of one anchor, labels filled from
approve/reject). `xp review import` reads either. It lives in the store layer because both the
graphs and the review package write it, and the review package sits above the graphs.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from xpollinate.errors import XPError
from xpollinate.settings import ensure_dir, run_home

SHEET_COLUMNS = [
    "sheet",
    "review_id",
    "anchor_id",
    "anchor",
    "theme",
    "recommendation",
    "item_id",
    "item",
    "item_product_type",
    "matched_by",
    "label",
    "error_source",
    "notes",
]
ERROR_SOURCES = ("matching", "expansion", "llm")  # why a reviewer judged a pair not relevant


def reviews_dir(home: Path | None = None) -> Path:
    return (home or run_home()) / "reviews"


@dataclass(frozen=True)
class SheetRow:
    """One scored (recommendation, matched item) pair: what the reviewer sees, and the hidden key."""

    anchor_id: int
    anchor: str
    theme: str | None
    recommendation: str
    item_id: int
    item: str
    product_type: str
    expanded: bool
    ce: float
    llm: float
    combined: float
    band: str
    label: str = ""  # "1" relevant, "0" not, "" not yet labelled
    error_source: str = ""
    notes: str = ""

    @property
    def decision(self) -> str:
        """The pipeline's decision the labels are compared with: keep unless Poor."""
        return "drop" if self.band == "Poor" else "keep"


def write_sheet(
    out: Path,
    sheet_id: str,
    run_id: str,
    rows: Iterable[SheetRow],
    population: dict[str, int],
    home: Path | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Write the sheet CSV to `out` and its key to `reviews/<sheet_id>.json`; returns the key.

    `population` is the run's count of pairs per band (the import re-weights labels to it);
    `extra` goes into the key as is (how the sheet was drawn)."""
    keys = []
    with atomic_file(out) as fh:
        w = csv.writer(fh)
        w.writerow(SHEET_COLUMNS)
        for i, r in enumerate(rows, start=1):
            review_id = f"{i:04d}"
            w.writerow(
                [
                    sheet_id,
                    review_id,
                    r.anchor_id,
                    r.anchor,
                    r.theme or "",
                    r.recommendation,
                    r.item_id,
                    r.item,
                    r.product_type,
                    "expansion" if r.expanded else "query",
                    r.label,
                    r.error_source,
                    r.notes,
                ]
            )
            keys.append(
                {
                    "review_id": review_id,
                    "anchor_id": int(r.anchor_id),
                    "item_id": int(r.item_id),
                    "recommendation": r.recommendation,
                    "expanded": bool(r.expanded),
                    "ce": float(r.ce),
                    "llm": float(r.llm),
                    "combined": float(r.combined),
                    "band": r.band,
                    "decision": r.decision,
                }
            )
    meta = {
        "sheet": sheet_id,
        "run_id": run_id,
        "created_at": time.time(),
        **extra,
        "population": {b: int(n) for b, n in population.items()},
        "rows": keys,
    }
    with atomic_file(ensure_dir(reviews_dir(home)) / f"{sheet_id}.json") as fh:
        json.dump(meta, fh, indent=1)
    return meta


class atomic_file:
    """Write to a temporary file and rename it into place: a crash never leaves half a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")

    def __enter__(self) -> TextIO:
        try:
            ensure_dir(self.path.parent)
            self.fh = self.tmp.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise XPError(f"cannot write {self.path}: {exc.strerror}") from exc
        return self.fh

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        self.fh.close()
        if exc_type is None:
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)

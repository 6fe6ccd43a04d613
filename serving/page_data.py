"""What the HTML pages read and write in the run directory: catalog search, the provenance of a stored
run, the A/B reports `xp ab` wrote, and review sheets.

Everything is read fresh from disk on each request (the pages are for people, not for load) and the
item-XP store is opened read-only. A review sheet started from the pages is `review.export_sheet`'s own
CSV, kept beside its keys as `$XP_HOME/reviews/<sheet>.csv`, so `xp review import` reads it as it is.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xpollinate.catalog.anchors import MAX_QUERY_CHARS
from xpollinate.errors import XPError
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.review.sheet import (
    Label,
    ReviewResult,
    export_sheet,
    import_labels,
    read_sheet,
    reviews_dir,
    write_labels,
)
from xpollinate.settings import ensure_dir
from xpollinate.xpstore.item_xp_store import store_path

SEARCH_LIMIT = 50
SHEET_ID = re.compile(r"^[0-9a-f]{6,64}$")  # export_sheet's ids: hex digits


@dataclass(frozen=True)
class CatalogHit:
    item_id: int
    text: str
    product_type: str
    is_grocery: bool
    n_baskets: int
    has_item_xp: bool


def search_catalog(
    catalog: CatalogView, query: str, has_item_xp: Callable[[int], bool], limit: int = SEARCH_LIMIT
) -> list[CatalogHit]:
    """Items whose id is the query, or whose name holds every word of it; anchors with an item-XP list first,
    then grocery items, then the most purchased."""
    text = query.strip()[:MAX_QUERY_CHARS]
    if not text:
        return []
    if text.isdigit():
        row = catalog.row(int(text)) if len(text) <= 18 else -1
        rows = np.array([row] if row >= 0 else [], dtype=np.int64)
    else:
        names = pd.Series(catalog.text, dtype=object).str.lower()
        mask = np.ones(len(catalog), dtype=bool)
        for word in text.lower().split()[:8]:
            mask &= names.str.contains(word, regex=False).to_numpy(dtype=bool)
        rows = np.flatnonzero(mask)
    hits = [
        CatalogHit(
            item_id=int(catalog.item_ids[r]),
            text=str(catalog.text[r]),
            product_type=catalog.pt_names[catalog.pt_code[r]],
            is_grocery=bool(catalog.is_grocery[r]),
            n_baskets=int(catalog.n_baskets[r]),
            has_item_xp=has_item_xp(int(catalog.item_ids[r])),
        )
        for r in rows.tolist()
    ]
    hits.sort(key=lambda h: (not h.has_item_xp, not h.is_grocery, -h.n_baskets, h.item_id))
    return hits[:limit]


def _read_only(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
    db.row_factory = sqlite3.Row
    return db


def anchor_provenance(home: Path, run_id: str, anchor_id: int) -> dict[str, Any] | None:
    """Where a stored list came from: its run (graph, model, settings with prompt versions and config, data build)
    and the anchor's own record (scorer, when it finished, the prompt version, hash and model of each kind of call,
    usage). None when the store or the run is gone (a batch may have replaced it since the state loaded)."""
    path = store_path(home)
    if not path.is_file():
        return None
    with _read_only(path) as db:
        run = db.execute(
            "SELECT run_id, created_at, graph, llm, settings, data_build FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        anchor = db.execute(
            "SELECT finished_at, seconds, scorer_id, audit FROM anchors WHERE run_id = ? AND anchor_id = ?",
            (run_id, anchor_id),
        ).fetchone()
    if run is None:
        return None
    out: dict[str, Any] = {"run": {**dict(run), "settings": json.loads(run["settings"])}, "anchor": None}
    if anchor is not None:
        audit = json.loads(anchor["audit"])
        out["anchor"] = {
            "finished_at": anchor["finished_at"],
            "seconds": anchor["seconds"],
            "scorer_id": anchor["scorer_id"],
            "calls": audit.get("provenance", {}),
            "usage": audit.get("usage", {}),
        }
    return out


@dataclass(frozen=True)
class StoredReport:
    name: str
    html: Path
    title: str
    modified: float


def reports_root(home: Path) -> Path:
    """Where `xp ab` writes its reports by default (`$XP_HOME/reports/ab-RUN_A-RUN_B/`)."""
    return home / "reports"


def list_reports(home: Path) -> list[StoredReport]:
    """Every report folder holding a report.html, newest first; the title is the first line of its report.md."""
    root = reports_root(home)
    found = []
    for html in root.glob("*/report.html") if root.is_dir() else []:
        md = html.with_name("report.md")
        first = md.read_text(encoding="utf-8").splitlines()[:1] if md.is_file() else []
        title = first[0].lstrip("# ").strip() if first and first[0].startswith("#") else html.parent.name
        found.append(StoredReport(html.parent.name, html, title, html.stat().st_mtime))
    return sorted(found, key=lambda r: (-r.modified, r.name))


def find_report(home: Path, name: str) -> StoredReport | None:
    """The listed report of that folder name (a name is matched against the listing, never joined into a path)."""
    return next((r for r in list_reports(home) if r.name == name), None)


@dataclass(frozen=True)
class SheetInfo:
    sheet_id: str
    run_id: str
    created_at: float
    rows: int
    csv: Path | None  # None: exported elsewhere by `xp review export` (not editable here)
    labelled: int


def sheet_csv(home: Path, sheet_id: str) -> Path:
    """Where a sheet started from the pages lives: beside its keys."""
    if not SHEET_ID.match(sheet_id):
        raise XPError(f"{sheet_id!r} is not a review sheet id")
    return reviews_dir(home) / f"{sheet_id}.csv"


def list_sheets(home: Path) -> list[SheetInfo]:
    """Every exported sheet of this run directory (its keys file), newest first."""
    folder = reviews_dir(home)
    out = []
    for meta_path in folder.glob("*.json") if folder.is_dir() else []:
        if meta_path.name.endswith(".results.json") or not SHEET_ID.match(meta_path.stem):
            continue
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        path = sheet_csv(home, meta_path.stem)
        labelled = _labelled(path) if path.is_file() else 0
        out.append(
            SheetInfo(
                meta["sheet"],
                meta["run_id"],
                float(meta["created_at"]),
                len(meta["rows"]),
                path if path.is_file() else None,
                labelled,
            )
        )
    return sorted(out, key=lambda s: -s.created_at)


def _labelled(path: Path) -> int:
    try:
        return sum(1 for r in read_sheet(path)[1] if r["label"].strip())
    except XPError:  # a sheet damaged by hand: listed, and its own page says what is wrong
        return 0


def new_sheet(home: Path, run_id: str, per_band: int) -> str:
    """Export a review sheet of `run_id` (`review.export_sheet`) into the reviews folder; its id."""
    folder = ensure_dir(reviews_dir(home))
    draft = folder / f".draft-{uuid.uuid4().hex}.csv"
    try:
        meta = export_sheet(store_path(home), run_id, draft, per_band=per_band, home=home)
        draft.replace(sheet_csv(home, meta["sheet"]))
    finally:
        draft.unlink(missing_ok=True)
    return str(meta["sheet"])


def save_review(home: Path, sheet_id: str, labels: dict[str, Label]) -> tuple[int, ReviewResult | None]:
    """Write the labels into the sheet, then score it as `xp review import` does (None while nothing is labelled)."""
    path = sheet_csv(home, sheet_id)
    labelled = write_labels(path, labels)
    return labelled, import_labels(path, home=home) if labelled else None

"""Which anchors a batch runs: the top-N most transacted grocery items, a file of ids, or a category.

Unknown ids and non-grocery items are reported and skipped, never silently dropped.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from xpollinate.errors import XPError
from xpollinate.graphs.runner import anchor_from_item
from xpollinate.records import Anchor

MAX_FILE_BYTES = 50 * 2**20


@dataclass
class AnchorSelection:
    """The anchors to run, in order, and what was asked for but cannot run."""

    anchors: list[Anchor]
    unknown_ids: list[int] = field(default_factory=list)
    not_grocery: list[int] = field(default_factory=list)
    duplicates: int = 0


def read_anchor_file(path: Path) -> list[int]:
    """Item ids from a file: one per line, or a CSV whose `item_id` (else first) column holds them.

    Blank lines and `#` comments are ignored; anything else that is not an id is an error naming the line.
    """
    if not path.is_file():
        raise XPError(f"anchors file {path} does not exist (or is not a file)")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise XPError(f"anchors file {path} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise XPError(f"anchors file {path} cannot be read as UTF-8 text: {exc}") from exc
    rows = [r for r in csv.reader(text.splitlines())]
    column = 0
    start = 0
    first = next((i for i, r in enumerate(rows) if r and r[0].strip() and not r[0].lstrip().startswith("#")), None)
    if first is not None and not rows[first][0].strip().isdigit():
        header = [c.strip().lower() for c in rows[first]]
        if "item_id" not in header and "anchor_id" not in header:
            raise XPError(
                f"anchors file {path}, line {first + 1}: {rows[first][0].strip()!r} is not an item id "
                "(expected one id per line, or a CSV with an item_id column)"
            )
        column = header.index("item_id") if "item_id" in header else header.index("anchor_id")
        start = first + 1
    ids: list[int] = []
    for lineno, row in enumerate(rows[start:], start=start + 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        value = row[column].strip() if column < len(row) else ""
        if not value.isdigit():
            raise XPError(f"anchors file {path}, line {lineno}: {value!r} is not an item id")
        ids.append(int(value))
    if not ids:
        raise XPError(f"anchors file {path} holds no item ids")
    return ids


def select_anchors(
    items: pd.DataFrame,
    *,
    top: int | None = None,
    ids: list[int] | None = None,
    category: str | None = None,
    limit: int | None = None,
    distinct_pts: bool = False,
    allow_non_grocery: bool = False,
) -> AnchorSelection:
    """Anchors by one of `top`, `ids` or `category`, most transacted first (ids keep their file order)."""
    given = [x is not None for x in (top, ids, category)]
    if sum(given) != 1:
        raise XPError("choose exactly one anchor source: --top N, --anchors FILE or --category NAME")
    if limit is not None and limit < 1:
        raise XPError(f"--limit must be at least 1, got {limit}")
    sold = items.sort_values(["n_baskets", "item_id"], ascending=[False, True])
    selection = AnchorSelection(anchors=[])
    if ids is not None:
        by_id = items.set_index("item_id", drop=False)
        seen: set[int] = set()
        rows = []
        for i in ids:
            if i in seen:
                selection.duplicates += 1
                continue
            seen.add(i)
            if i not in by_id.index:
                selection.unknown_ids.append(i)
            elif not bool(by_id.at[i, "is_grocery"]) and not allow_non_grocery:
                selection.not_grocery.append(i)
            else:
                rows.append(by_id.loc[i])
        frame = pd.DataFrame(rows, columns=items.columns)
    else:
        pool = sold[sold["is_grocery"] & (sold["n_baskets"] > 0)]
        if category is not None:
            wanted = category.strip().lower()
            frame = pool[(pool["category"].str.lower() == wanted) | (pool["department"].str.lower() == wanted)]
            if frame.empty:
                names = sorted(set(pool["category"].str.lower()) | set(pool["department"].str.lower()))
                close = difflib.get_close_matches(wanted, names, n=5, cutoff=0.4)
                hint = f"; closest: {', '.join(close)}" if close else ""
                raise XPError(f"--category: no sold grocery item in category or department {category!r}{hint}")
        else:
            if top is not None and top < 1:
                raise XPError(f"--top must be at least 1, got {top}")
            frame = pool
    if distinct_pts:
        frame = frame.drop_duplicates("product_type")
    if top is not None:
        frame = frame.head(top)
    if limit is not None:
        frame = frame.head(limit)
    selection.anchors = [anchor_from_item(row) for _, row in frame.iterrows()]
    return selection

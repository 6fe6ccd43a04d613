"""LLM-derived attribute tags (STARS "semantic tokens"), produced offline per product category.

CPU is scarce and the catalog has ~300 categories against ~2,400 product types and ~92k
items, so the LLM tags categories, several per call (`attribute_tags@v1`), from a
controlled vocabulary (`prompts.schemas.ATTRIBUTE_TAGS`, an enum in the output schema).
Every item inherits its category's tags. Answers go through the LLM layer (validation,
repair, response cache); a call that fails is recorded against its categories (status
`failure` with the message) and those categories get no tags — never a crash.

The table is written atomically to `$XP_HOME/twotower/tags/<llm>.parquet`, and
`tags/CURRENT` names the table training uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xpollinate.errors import XPError
from xpollinate.llm import LLM, Failure
from xpollinate.prompts.schemas import ATTRIBUTE_TAGS, CategoryTagging
from xpollinate.publish import current_table, publish_table
from xpollinate.settings import run_home

PROMPT = "attribute_tags@v1"
EXAMPLE_PTS = 4
Progress = Callable[[str, int, int], None]


class TagsNotBuiltError(XPError):
    """No attribute-tag table in the run directory."""


def tags_dir(home: Path | None = None) -> Path:
    return (home or run_home()) / "twotower" / "tags"


def category_rows(items: pd.DataFrame) -> pd.DataFrame:
    """One row per category: its main department and its most common product types."""
    frame = items[items["category"].fillna("") != ""]
    rows = []
    for cat, group in frame.groupby("category", sort=True):
        dept = group["department"].mode().iloc[0]
        weights = (
            group.groupby("product_type")["n_baskets"].sum().add(group.groupby("product_type").size(), fill_value=0)
        )
        pts = [p for p in weights.sort_values(ascending=False).index if p][:EXAMPLE_PTS]
        rows.append({"category": cat, "department": dept, "examples": ", ".join(pts)})
    return pd.DataFrame(rows, columns=["category", "department", "examples"])


def _line(n: int, row: pd.Series) -> str:
    ex = f": {row['examples']}" if row["examples"] else ""
    return f"{n}. {row['category'].title()} ({row['department'].title()}){ex}".lower()


@dataclass(frozen=True)
class TagRun:
    table: pd.DataFrame  # category, department, tags (list[str]), status, message, llm, prompt_sha256
    path: Path
    calls: int
    failures: int


def tag_categories(
    items: pd.DataFrame,
    llm: LLM,
    *,
    per_call: int = 8,
    limit: int | None = None,
    home: Path | None = None,
    progress: Progress | None = None,
) -> TagRun:
    """Tag every category (or the `limit` most purchased, for quick runs), `per_call` per request."""
    if per_call < 1 or per_call > 50:
        raise XPError(f"per_call={per_call}: choose between 1 and 50 categories per call")
    cats = category_rows(items)
    if limit is not None:
        pop = items.groupby("category")["n_baskets"].sum()
        cats = (
            cats.assign(pop=cats["category"].map(pop))
            .sort_values("pop", ascending=False)
            .head(limit)
            .drop(columns="pop")
        )
    records: list[dict] = []
    vocabulary = ", ".join(ATTRIBUTE_TAGS)
    chunks = [cats.iloc[s : s + per_call] for s in range(0, len(cats), per_call)]
    failures = 0
    for done, chunk in enumerate(chunks, 1):
        lines = "\n".join(_line(i + 1, row) for i, (_, row) in enumerate(chunk.iterrows()))
        res = llm.structured(PROMPT, {"vocabulary": vocabulary, "categories": lines}, CategoryTagging)
        got: dict[int, list[str]] = {}
        if isinstance(res, Failure):
            failures += 1
            status, message, sha = "failure", f"{res.kind}: {res.message}"[:300], res.prompt_sha256
        else:
            status, message, sha = "ok", "", res.prompt_sha256
            for entry in res.value.categories:
                got.setdefault(entry.number, list(dict.fromkeys(entry.tags)))
        for i, (_, row) in enumerate(chunk.iterrows()):
            tags = got.get(i + 1, [])
            st = status if status == "failure" or tags else "missing"
            records.append(
                {
                    "category": row["category"],
                    "department": row["department"],
                    "tags": tags,
                    "status": st,
                    "message": message
                    if st == "failure"
                    else ("the answer skipped this number" if st == "missing" else ""),
                    "llm": str(llm.spec),
                    "prompt_sha256": sha,
                }
            )
        if progress:
            progress("tagging categories", done, len(chunks))
    table = pd.DataFrame(
        records, columns=["category", "department", "tags", "status", "message", "llm", "prompt_sha256"]
    )
    path = save_tags(table, str(llm.spec), home)
    return TagRun(table, path, len(chunks), failures)


def save_tags(table: pd.DataFrame, llm_spec: str, home: Path | None = None) -> Path:
    return publish_table(tags_dir(home), llm_spec, table)


def load_tags(home: Path | None = None) -> tuple[pd.DataFrame, Path]:
    root = tags_dir(home)
    path = current_table(root)
    if path is None:
        raise TagsNotBuiltError(
            f"no attribute-tag table under {root}. Run `xp twotower tag` (LLM, offline, cached) first, "
            "or train without the tags extension (--no-tags)."
        )
    try:
        return pd.read_parquet(path), path
    except Exception as exc:
        raise TagsNotBuiltError(f"cannot read the tag table {path} ({exc}); run `xp twotower tag` again") from exc


def tag_matrix(
    item_categories: pd.Series,
    table: pd.DataFrame,
    vocabulary: Sequence[str] = ATTRIBUTE_TAGS,
    column: str = "tags",
) -> np.ndarray:
    """Multi-hot (N, |vocabulary|) float32: each item gets its category's labels (`column` of the table, e.g.
    the attribute tags, or another per-category label list over its own `vocabulary`)."""
    col = {t: i for i, t in enumerate(vocabulary)}
    per_cat: dict[str, np.ndarray] = {}
    for cat, tags in zip(table["category"], table[column]):
        vec = np.zeros(len(vocabulary), np.float32)
        for t in tags:
            if t in col:
                vec[col[t]] = 1.0
        per_cat[cat] = vec
    empty = np.zeros(len(vocabulary), np.float32)
    return (
        np.stack([per_cat.get(c, empty) for c in item_categories])
        if len(item_categories)
        else np.zeros((0, len(vocabulary)), np.float32)
    )

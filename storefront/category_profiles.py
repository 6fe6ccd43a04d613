"""Category profiles: one offline LLM pass giving every product category a short description and 1-3
shopping occasions (experiments 1 and 4 of the LLM-integration codebase share it).

CPU is scarce and every item inherits its category's text, so the LLM profiles the ~300 categories (not the
~2,400 product types or ~92k items), several per call (`category_profile@v1`), both answers in one: a
description of at most ~15 words (item enrichment) and occasions from the controlled list `OCCASIONS` (an
enum in the answer's schema, so an unknown occasion cannot be decoded and fails validation). Answers go
through the LLM layer (validation, repair, response cache: a rerun after a crash asks only what is missing);
a failed call is recorded against its categories, a number the answer skipped as `missing`.

The table is published atomically to `$XP_HOME/storefront/category_profiles/<llm>.parquet`, with
`CURRENT` naming the table the experiments read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field, create_model

from xpollinate.errors import XPError
from xpollinate.llm import LLM, Failure
from xpollinate.publish import current_table, publish_table
from xpollinate.retrieval.twotower.tags import category_rows
from xpollinate.settings import run_home

PROMPT = "category_profile@v1"
BUILD_COMMAND = "xp experiments profile-categories"
OCCASIONS: tuple[str, ...] = (
    "weekly stock-up",
    "breakfast",
    "lunch",
    "quick meal",
    "family dinner",
    "snacking",
    "party or hosting",
    "barbecue",
    "holiday",
    "baking",
    "baby",
    "kids",
    "pet care",
    "cleaning",
    "personal care",
    "health",
    "home and garden",
)
DESCRIPTION_MAX_CHARS = 100
COLUMNS = [
    "category",
    "department",
    "examples",
    "description",
    "occasions",
    "status",
    "message",
    "llm",
    "prompt_sha256",
    "cached",
    "seconds",
]
Progress = Callable[[str, int, int], None]
Occasion = Literal[OCCASIONS]  # type: ignore[valid-type]


class ProfilesNotBuiltError(XPError):
    """No category-profile table in the run directory."""


class CategoryProfile(BaseModel):
    number: int = Field(ge=1, le=50)
    description: str = Field(min_length=3, max_length=DESCRIPTION_MAX_CHARS)
    occasions: list[Occasion] = Field(min_length=1, max_length=3)  # type: ignore[valid-type]


class CategoryProfiles(BaseModel):
    """`category_profile@v1`: one entry per numbered category of the call."""

    categories: list[CategoryProfile] = Field(min_length=1, max_length=50)


def profile_model(n: int) -> type[CategoryProfiles]:
    """`CategoryProfiles` with exactly `n` entries numbered 1..n (the decoder cannot run on past the batch)."""
    if not 1 <= n <= 50:
        raise ValueError(f"a call profiles 1 to 50 categories, got {n}")
    numbered = create_model(  # type: ignore[call-overload]
        "CategoryProfile",
        __base__=CategoryProfile,
        number=(Literal[tuple(range(1, n + 1))], ...),  # type: ignore[arg-type]
    )
    return create_model(  # type: ignore[call-overload, no-any-return]
        "CategoryProfiles",
        __base__=CategoryProfiles,
        categories=(list[numbered], Field(min_length=n, max_length=n)),  # type: ignore[valid-type]
    )


def profiles_dir(home: Path | None = None) -> Path:
    return (home or run_home()) / "storefront" / "category_profiles"


def _line(n: int, row: pd.Series) -> str:
    ex = f": {row['examples']}" if row["examples"] else ""
    return f"{n}. {row['category']} ({row['department']}){ex}".lower()


@dataclass(frozen=True)
class ProfileRun:
    table: pd.DataFrame  # COLUMNS
    path: Path
    calls: int
    failures: int
    seconds: float


def profile_categories(
    items: pd.DataFrame,
    llm: LLM,
    *,
    per_call: int = 8,
    limit: int | None = None,
    home: Path | None = None,
    progress: Progress | None = None,
) -> ProfileRun:
    """Profile every category (or the `limit` most purchased), `per_call` per request; publish the table."""
    if not 1 <= per_call <= 50:
        raise XPError(f"per_call={per_call}: choose between 1 and 50 categories per call")
    if limit is not None and limit < 1:
        raise XPError(f"--limit {limit}: profile at least one category")
    cats = category_rows(items)
    if limit is not None:
        pop = items.groupby("category")["n_baskets"].sum()
        cats = cats.assign(p=cats["category"].map(pop)).sort_values("p", ascending=False).head(limit).drop(columns="p")
    chunks = [cats.iloc[s : s + per_call] for s in range(0, len(cats), per_call)]
    earlier = _earlier_seconds(home)
    records: list[dict] = []
    failures = 0
    started = time.perf_counter()
    for done, chunk in enumerate(chunks, 1):
        lines = "\n".join(_line(i + 1, row) for i, (_, row) in enumerate(chunk.iterrows()))
        t0 = time.perf_counter()
        res = llm.structured(
            PROMPT, {"occasions": ", ".join(OCCASIONS), "categories": lines}, profile_model(len(chunk))
        )
        seconds = round(time.perf_counter() - t0, 2)
        got: dict[int, CategoryProfile] = {}
        if isinstance(res, Failure):
            failures += 1
            message, sha, cached = f"{res.kind}: {res.message}"[:300], res.prompt_sha256, False
        else:
            message, sha, cached = "", res.prompt_sha256, res.cached
            for answer in res.value.categories:
                got.setdefault(answer.number, answer)
        for i, (_, row) in enumerate(chunk.iterrows()):
            entry = got.get(i + 1)
            status = "failure" if isinstance(res, Failure) else ("ok" if entry else "missing")
            records.append(
                {
                    "category": row["category"],
                    "department": row["department"],
                    "examples": row["examples"],
                    "description": entry.description.strip() if entry else "",
                    "occasions": list(dict.fromkeys(entry.occasions)) if entry else [],
                    "status": status,
                    "message": message
                    if status == "failure"
                    else ("the answer skipped this number" if status == "missing" else ""),
                    "llm": str(llm.spec),
                    "prompt_sha256": sha,
                    "cached": cached,
                    "seconds": earlier.get((row["category"], sha), 0.0) if cached else seconds / len(chunk),
                }
            )
        if progress:
            progress("profiling categories", done, len(chunks))
    table = pd.DataFrame(records, columns=COLUMNS)
    path = save_profiles(table, str(llm.spec), home)
    return ProfileRun(table, path, len(chunks), failures, time.perf_counter() - started)


def _earlier_seconds(home: Path | None) -> dict[tuple[str, str], float]:
    """(category, prompt hash) -> LLM seconds in the published table, so a rebuild from the response cache
    still reports what the answers cost when they were computed."""
    try:
        table, _ = load_profiles(home)
    except ProfilesNotBuiltError:
        return {}
    keep = table[(table["seconds"] > 0) & (table["status"] == "ok")]
    return {(c, s): float(x) for c, s, x in zip(keep["category"], keep["prompt_sha256"], keep["seconds"])}


def save_profiles(table: pd.DataFrame, llm_spec: str, home: Path | None = None) -> Path:
    """Write the table aside and switch `CURRENT` to it (a crash leaves the old table or the new one)."""
    return publish_table(profiles_dir(home), llm_spec, table)


def load_profiles(home: Path | None = None) -> tuple[pd.DataFrame, Path]:
    """The published table; a clear error naming the command when it was never built."""
    root = profiles_dir(home)
    path = current_table(root)
    if path is None:
        raise ProfilesNotBuiltError(
            f"no category-profile table under {root}: run `{BUILD_COMMAND}` (the LLM pass, cached and "
            "resumable) before this experiment"
        )
    try:
        table = pd.read_parquet(path)
    except Exception as exc:
        raise ProfilesNotBuiltError(
            f"cannot read the category-profile table {path} ({exc}); run `{BUILD_COMMAND}` again"
        ) from exc
    table["occasions"] = table["occasions"].map(list)
    return table, path


def occasion_names(values: Sequence[str]) -> list[str]:
    """`values` checked against `OCCASIONS` (an unknown occasion is an error naming the allowed ones)."""
    bad = [v for v in values if v not in OCCASIONS]
    if bad:
        raise XPError(f"unknown occasion(s) {', '.join(map(repr, bad))}; allowed: {', '.join(OCCASIONS)}")
    return list(values)

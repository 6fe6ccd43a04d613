"""Experiment 1, item enrichment: the LLM's category descriptions appended to the item tower's content text.

Question (from the LLM-integration codebase): do LLM descriptions, embedded by the same sentence encoder,
retrieve better than the template text built from the catalog hierarchy? Every item's text is the template
(product type, category, department) and, in the enriched variant, its category's description from the
category-profile pass (`category_profiles`); MiniLM re-embeds the enriched texts. Both variants are the same
two-tower model, data, seed and epochs (`feature_variants`). Beside the retrieval metrics, model-free quality
metrics of the descriptions themselves (`description_quality`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.twotower.config import TwoTowerConfig
from xpollinate.storefront.category_profiles import load_profiles
from xpollinate.storefront.feature_variants import (
    VariantScore,
    run_variant,
    template_texts,
    validation_setup,
    with_texts,
)
from xpollinate.storefront.text_words import content_words, words

Progress = Callable[[str, int, int], None]
MIN_WORDS = 3  # a description shorter than this is not counted as valid


def hierarchy_words(items: pd.DataFrame) -> dict[str, set[str]]:
    """Per category: the content words of its name, its departments and all its product types."""
    frame = items[items["category"].fillna("") != ""]
    out: dict[str, set[str]] = {}
    for cat, group in frame.groupby("category", sort=True):
        names: Iterable[str] = [
            str(cat),
            *group["department"].dropna().unique(),
            *group["product_type"].dropna().unique(),
        ]
        out[str(cat)] = set().union(*(content_words(n) for n in names))
    return out


def is_valid(description: str, status: str) -> bool:
    return status == "ok" and len(words(description)) >= MIN_WORDS


def description_quality(table: pd.DataFrame, items: pd.DataFrame) -> dict[str, Any]:
    """Model-free quality of the descriptions: validity, length, vocabulary, overlap with the hierarchy.

    - valid share: categories with an `ok` answer of at least MIN_WORDS words;
    - words: mean/median length of the valid descriptions, against the template text of the category;
    - distinct-word ratio: distinct / total words within a description (repetition lowers it), mean;
    - vocabulary: distinct words over all valid descriptions;
    - hierarchy overlap: share of a description's content words that are words of its own category's
      name, department or product types (how much it restates the catalog), mean; `new words` is the rest;
    - hierarchy recall: share of the category-name words the description mentions, mean."""
    hier = hierarchy_words(items)
    ok = table[[is_valid(d, s) for d, s in zip(table["description"], table["status"])]]
    lengths: list[float] = []
    template_len: list[float] = []
    ratios, overlaps, name_recall = [], [], []
    vocabulary: set[str] = set()
    for _, row in ok.iterrows():
        ws = words(row["description"])
        lengths.append(len(ws))
        ratios.append(len(set(ws)) / len(ws))
        vocabulary.update(ws)
        cw = content_words(row["description"])
        own = hier.get(row["category"], set())
        overlaps.append(len(cw & own) / len(cw) if cw else 0.0)
        name = content_words(row["category"])
        name_recall.append(len(cw & name) / len(name) if name else 0.0)
        template_len.append(len(words(f"{row['category']} {row['department']}")))
    n = len(table)

    def mean(xs: list[float]) -> float:
        return float(np.mean(xs)) if xs else 0.0

    return {
        "categories": n,
        "valid": len(ok),
        "valid_share": len(ok) / n if n else 0.0,
        "status_counts": {str(k): int(v) for k, v in table["status"].value_counts().items()},
        "mean_words": mean(lengths),
        "median_words": float(np.median(lengths)) if lengths else 0.0,
        "template_mean_words": mean(template_len),
        "distinct_word_ratio": mean(ratios),
        "vocabulary": len(vocabulary),
        "hierarchy_overlap": mean(overlaps),
        "new_word_share": 1.0 - mean(overlaps) if overlaps else 0.0,
        "category_name_recall": mean(name_recall),
    }


def enriched_texts(items: pd.DataFrame, table: pd.DataFrame) -> tuple[pd.Series, int]:
    """Template text + ". " + the item's category description (valid ones only): (texts, items enriched)."""
    desc = {
        c: d.strip().rstrip(".")
        for c, d, s in zip(table["category"], table["description"], table["status"])
        if is_valid(d, s)
    }
    base = template_texts(items)
    extra = items["category"].fillna("").map(desc).fillna("").reset_index(drop=True)
    texts = base.where(extra == "", base + ". " + extra)
    return texts, int((extra != "").sum())


@dataclass
class EnrichmentRun:
    results: list[VariantScore]
    quality: dict[str, Any]
    examples: list[dict[str, str]]
    settings: dict[str, Any]


def run_enrichment(
    store: DataStore,
    epochs: int = 3,
    home: Path | None = None,
    progress: Progress | None = None,
    threads: int | None = 1,
    base: TwoTowerConfig | None = None,
    examples: int = 8,
) -> EnrichmentRun:
    """Template vs template + description, same model/data/seed/epochs; and the descriptions' quality."""
    from xpollinate.settings import run_home

    table, path = load_profiles(home)  # first: a missing LLM pass fails before any training
    setup = validation_setup(store, epochs, home, base)
    quality = description_quality(table, setup.items)
    texts, enriched_items = enriched_texts(setup.items, table)
    cache_dir = (home or run_home()) / "twotower" / "text"
    enriched = with_texts(setup.data, texts, cache_dir, progress)
    results = [
        run_variant(setup, "template text", setup.data, progress=_prefixed(progress, "template"), threads=threads),
        run_variant(
            setup, "template + LLM description", enriched, progress=_prefixed(progress, "enriched"), threads=threads
        ),
    ]
    ok = table[table["status"] == "ok"]
    pop = setup.items.groupby("category")["n_baskets"].sum()
    shown = ok.assign(p=ok["category"].map(pop)).sort_values("p", ascending=False).head(examples)
    sample = [
        {"category": r["category"], "department": r["department"], "description": r["description"]}
        for _, r in shown.iterrows()
    ]
    settings = {
        **setup.settings,
        "profiles": path.name,
        "llm": str(table["llm"].iloc[0]) if len(table) else "",
        "prompt_sha256": next((s for s in table["prompt_sha256"] if s), ""),
        "items_enriched": enriched_items,
        "llm_seconds": round(float(table["seconds"].sum()), 1),
        "llm_answers_from_cache": int(table["cached"].sum()),
    }
    return EnrichmentRun(results, quality, sample, settings)


def _prefixed(progress: Progress | None, label: str) -> Progress | None:
    if progress is None:
        return None
    return lambda stage, done, total: progress(f"{label}: {stage}", done, total)

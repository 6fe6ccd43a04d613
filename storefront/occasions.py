"""Experiment 4, synthetic occasion labels as item features: does the two-tower model retrieve better when its
item tower also reads the LLM's shopping occasions of each item's category?

The occasions come from the category-profile pass (`category_profiles`, a controlled list, 1-3 per category);
every item inherits its category's, as a multi-hot row read through the two-tower model's `tags` extension
(`tag_matrix` over the occasion list), so the feature path is the one the attribute tags use. The model with
them is trained against the same model without them (same data, seed, epochs: `feature_variants`); when an
attribute-tag table exists (`xp twotower tag`), the attribute tags and tags + occasions are measured too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.twotower.config import TwoTowerConfig
from xpollinate.retrieval.twotower.tags import TagsNotBuiltError, load_tags, tag_matrix
from xpollinate.storefront.category_profiles import OCCASIONS, load_profiles
from xpollinate.storefront.feature_variants import VariantScore, run_variant, validation_setup, with_tag_rows

Progress = Callable[[str, int, int], None]


def occasion_matrix(item_categories: pd.Series, table: pd.DataFrame) -> np.ndarray:
    """Multi-hot (N, |OCCASIONS|): each item gets its category's occasions (answered categories only)."""
    answered = table[table["status"] == "ok"]
    return tag_matrix(item_categories.fillna(""), answered, OCCASIONS, "occasions")


def label_stats(table: pd.DataFrame) -> dict[str, Any]:
    """How informative the labels are: coverage, labels per category, each occasion's share, entropy, and how
    many distinct occasion sets the categories get (one set for every category = no information)."""
    ok = table[table["status"] == "ok"]
    counts: Counter[str] = Counter(o for occ in ok["occasions"] for o in occ)
    total = sum(counts.values())
    shares = np.array([counts[o] / total for o in OCCASIONS]) if total else np.zeros(len(OCCASIONS))
    nz = shares[shares > 0]
    entropy = float(-(nz * np.log2(nz)).sum())
    sets = Counter(tuple(sorted(occ)) for occ in ok["occasions"])
    top_set, top_n = sets.most_common(1)[0] if sets else ((), 0)
    return {
        "categories": int(len(table)),
        "labelled": int(len(ok)),
        "labelled_share": len(ok) / len(table) if len(table) else 0.0,
        "mean_labels": float(ok["occasions"].map(len).mean()) if len(ok) else 0.0,
        "occasion_share": {o: round(counts[o] / total, 4) if total else 0.0 for o in OCCASIONS},
        "occasions_used": int((shares > 0).sum()),
        "entropy_bits": entropy,
        "max_entropy_bits": float(np.log2(len(OCCASIONS))),
        "distinct_sets": len(sets),
        "most_common_set": list(top_set),
        "most_common_set_share": top_n / len(ok) if len(ok) else 0.0,
    }


@dataclass
class OccasionsRun:
    results: list[VariantScore]
    stats: dict[str, Any]
    examples: list[dict[str, str]]
    settings: dict[str, Any]


def run_occasions(
    store: DataStore,
    epochs: int = 3,
    home: Path | None = None,
    progress: Progress | None = None,
    threads: int | None = 1,
    base: TwoTowerConfig | None = None,
    examples: int = 10,
) -> OccasionsRun:
    """Without occasions vs with them (and attribute tags, alone and with occasions, when that table exists)."""
    table, path = load_profiles(home)  # first: a missing LLM pass fails before any training
    setup = validation_setup(store, epochs, home, base)
    cats = setup.items["category"].fillna("")
    occ = occasion_matrix(cats, table)
    variants: list[tuple[str, Any]] = [
        ("no occasion features", None),
        ("+ LLM occasions (multi-hot)", with_tag_rows(setup.data, occ, f"{path.name} occasions")),
    ]
    tag_source = None
    try:
        tags_table, tags_path = load_tags(home)
        tags = tag_matrix(cats, tags_table)
        tag_source = f"{tags_path.name} ({len(tags_table)} categories)"
        variants += [
            ("+ LLM attribute tags", with_tag_rows(setup.data, tags, tag_source)),
            ("+ attribute tags and occasions", with_tag_rows(setup.data, np.hstack([tags, occ]), tag_source)),
        ]
    except TagsNotBuiltError:
        pass
    results = [
        run_variant(
            setup,
            label,
            setup.data if data is None else data,
            tags=data is not None,
            progress=None if progress is None else _prefixed(progress, label),
            threads=threads,
        )
        for label, data in variants
    ]
    ok = table[table["status"] == "ok"]
    pop = setup.items.groupby("category")["n_baskets"].sum()
    shown = ok.assign(p=ok["category"].map(pop)).sort_values("p", ascending=False).head(examples)
    sample = [{"category": r["category"], "occasions": ", ".join(r["occasions"])} for _, r in shown.iterrows()]
    settings = {
        **setup.settings,
        "profiles": path.name,
        "llm": str(table["llm"].iloc[0]) if len(table) else "",
        "items_with_occasions": int((occ.sum(1) > 0).sum()),
        "occasion_vocabulary": list(OCCASIONS),
        "attribute_tags": tag_source,
        "llm_seconds": round(float(table["seconds"].sum()), 1),
    }
    return OccasionsRun(results, label_stats(table), sample, settings)


def _prefixed(progress: Progress, label: str) -> Progress:
    return lambda stage, done, total: progress(f"{label}: {stage}", done, total)

"""User narration: a zero-shot text profile of a household as its retrieval query, against the trained user tower.

For a seeded sample of the two-tower split's test households (history = every basket before the held-out
weeks, targets = every item bought in them), each method returns 10 items of the shown catalog:

- LLM narration: the LLM (`household_profile@v1`) writes a 2-3 sentence profile from the household's
  recent-basket summary (the storefront's `HouseholdHistory.summary`); the profile is embedded (MiniLM) and
  searched over the item texts the catalog index embeds (`document_texts`), items of a text most purchased first;
- template profile: the household's top categories in those recent baskets written as one sentence, embedded
  and searched the same way (what the text route gives without an LLM);
- the trained user tower (`Recommender.recommend` as of the week before the held-out weeks);
- previous purchases and popularity (the two-tower baselines).

Category precision@10 = the share of the 10 slots whose item's category is among the categories the household
buys in the held-out weeks (an empty slot is a miss); item Recall/NDCG/Hit@10 on the distinct items bought there.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.llm import LLM
from xpollinate.retrieval.catalog_index import document_texts
from xpollinate.retrieval.twotower.baselines import popularity, previous_purchases
from xpollinate.retrieval.twotower.metrics import topk_metrics
from xpollinate.retrieval.vocabulary import display_name
from xpollinate.storefront.calls import ask
from xpollinate.storefront.data import RECENT_BASKETS, HouseholdHistory, StorefrontData
from xpollinate.storefront.model import LLMCall

PROMPT = "household_profile@v1"
K = 10
DEFAULT_HOUSEHOLDS = 20
PROFILE_MIN_CHARS = 20
PROFILE_MAX_CHARS = 300
TEMPLATE_CATEGORIES = 8
Embed = Callable[[list[str]], np.ndarray]
Progress = Callable[[str, int, int], None]

LLM_METHOD = "LLM narration (profile -> MiniLM -> item texts)"
TEMPLATE_METHOD = "template profile (top categories -> MiniLM -> item texts)"
TOWER_METHOD = "two-tower user tower"
PREVIOUS_METHOD = "previous purchases"
POPULARITY_METHOD = "popularity"


class NarrationError(XPError):
    """A narration experiment that cannot run as asked."""


class HouseholdProfile(BaseModel):
    """`household_profile@v1`: the household described in a few sentences (bounded, so decoding stops)."""

    profile: str = Field(min_length=PROFILE_MIN_CHARS, max_length=PROFILE_MAX_CHARS)


class Tower(Protocol):
    """What the experiment needs of the trained two-tower model (`Recommender` has it)."""

    data: Any  # TrainingData: seq, split, counts, items

    def recommend(
        self,
        household_id: int,
        k: int = ...,
        gm_only: bool = ...,
        allowed_ids: list[int] | None = ...,
        as_of_week: int | None = ...,
    ) -> Any: ...


def category_precision(
    ranked_categories: Sequence[Sequence[str | None]], targets: Sequence[set[str]], k: int = K
) -> float:
    """Mean over households of the share of k slots whose category is in that household's target categories
    (a missing slot, beyond the list's end or None, is a miss)."""
    if len(ranked_categories) != len(targets):
        raise ValueError(f"{len(ranked_categories)} ranked lists but {len(targets)} target sets")
    if k < 1:
        raise ValueError(f"k={k}: need at least one slot")
    if not targets:
        return 0.0
    per = [sum(1 for c in cats[:k] if c is not None and c in t) / k for cats, t in zip(ranked_categories, targets)]
    return float(np.mean(per))


def template_profile(history: HouseholdHistory, recent: int = RECENT_BASKETS, n: int = TEMPLATE_CATEGORIES) -> str:
    """The household's top categories in its last `recent` baskets (by baskets holding them) as one sentence."""
    counts: Counter[str] = Counter()
    for ids in history.baskets.tail(recent)["item_ids"]:
        cats = {str(history.items.at[int(i), "category"]) for i in ids if int(i) in history.items.index}
        counts.update(c for c in cats if c)
    top = [display_name(c).lower() for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]
    if not top:
        return "A household that shops for groceries."
    listed = top[0] if len(top) == 1 else ", ".join(top[:-1]) + " and " + top[-1]
    return f"A household that most often buys {listed}."


class TextSearch:
    """Exact cosine search of a query over the shown catalog's distinct item texts; a text's items follow
    each other, most purchased first (the catalog index's rule for identical texts)."""

    def __init__(self, items: pd.DataFrame, embed: Embed) -> None:
        texts = document_texts(items.reset_index()).to_numpy(dtype=str)
        uniq, inverse = np.unique(texts, return_inverse=True)
        self.vectors = np.asarray(embed(list(uniq)), np.float32)
        ids = items.index.to_numpy(np.int64)  # most purchased first
        self.items_of: list[list[int]] = [[] for _ in range(len(uniq))]
        for item_id, row in zip(ids, inverse):
            self.items_of[int(row)].append(int(item_id))
        self.n_texts = len(uniq)

    def search(self, query: np.ndarray, k: int = K) -> list[int]:
        scores = self.vectors @ np.asarray(query, np.float32).ravel()
        out: list[int] = []
        for row in np.argsort(-scores, kind="stable"):
            out.extend(self.items_of[int(row)][: k - len(out)])
            if len(out) >= k:
                break
        return out


@dataclass
class HouseholdResult:
    household_id: int
    history_baskets: int
    target_baskets: int
    summary: list[str]
    llm_profile: str | None
    llm_failure: str | None
    template: str
    lists: dict[str, list[int]]  # method -> item ids (up to K)
    call: LLMCall | None
    category_hits: dict[str, int] = field(default_factory=dict)  # method -> slots of its list in a target category


@dataclass
class NarrationRun:
    metrics: dict[str, dict[str, float]]  # method -> category precision@10, Recall/NDCG/Hit@10
    households: list[HouseholdResult]
    settings: dict[str, Any]
    timings: dict[str, float]
    llm_seconds: list[float] = field(default_factory=list)  # per household, uncached calls included

    @property
    def cache_hits(self) -> int:
        return sum(1 for h in self.households if h.call is not None and h.call.cached)

    @property
    def failures(self) -> int:
        return sum(1 for h in self.households if h.llm_failure is not None)


def sample_households(tower: Tower, n: int, seed: int) -> tuple[list[int], int]:
    """`n` households (seeded) with a test basket and at least one basket before the held-out weeks."""
    if n < 1:
        raise NarrationError(f"--households {n}: sample at least 1 household")
    data = tower.data
    seq, first_test = data.seq, data.split.first_test_week
    tested = np.unique(seq.household_id[data.split.test])
    before = np.unique(seq.household_id[(seq.week < first_test) & (seq.basket_end > seq.basket_start)])
    pool = np.intersect1d(tested, before)
    if len(pool) == 0:
        raise NarrationError(f"no household has baskets both before and in the held-out weeks {first_test}-")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(pool, min(n, len(pool)), replace=False)
    return sorted(int(h) for h in chosen), len(pool)


def run_narration(
    store: DataStore,
    llm: LLM,
    tower: Tower,
    households: int = DEFAULT_HOUSEHOLDS,
    seed: int = 13,
    embed: Embed | None = None,
    data: StorefrontData | None = None,
    progress: Progress | None = None,
    embed_folder: Path | None = None,
) -> NarrationRun:
    """Profiles (LLM and template) -> text retrieval against the user tower, previous purchases and popularity."""
    timings: dict[str, float] = {}
    chosen, eligible = sample_households(tower, households, seed)
    t = time.perf_counter()
    data = data or StorefrontData.from_store(store)
    if embed is None:
        from xpollinate.retrieval.embedder import DEFAULT_MODEL, cached_embed
        from xpollinate.retrieval.embedder import embed as minilm
        from xpollinate.settings import run_home

        folder = embed_folder or run_home() / "index" / "embeddings"
        item_embed: Embed = lambda texts: cached_embed(texts, folder, DEFAULT_MODEL)
        query_embed: Embed = lambda texts: minilm(texts)
    else:
        item_embed = query_embed = embed
    search = TextSearch(data.items, item_embed)
    timings["item text vectors (load or embed)"] = time.perf_counter() - t

    td = tower.data
    seq, first_test = td.seq, td.split.first_test_week
    shown = data.items.index.to_numpy(np.int64)
    rows_shown = td.items.rows(shown)
    allowed = np.zeros(td.items.n, bool)
    allowed[rows_shown[rows_shown >= 0]] = True
    category = store.items(["item_id", "category"]).set_index("item_id")["category"].astype(str)

    results: list[HouseholdResult] = []
    llm_seconds: list[float] = []
    t_llm = t_embed = t_tower = 0.0
    first_basket = {int(seq.household_id[b]): int(b) for b in td.split.test}
    for n, h in enumerate(chosen):
        if progress is not None:
            progress("households", n, len(chosen))
        full = data.history(h)
        history = HouseholdHistory(h, full.baskets[full.baskets["week"] < first_test], full.items)
        summary = history.summary()
        calls: list[LLMCall] = []
        t = time.perf_counter()
        result = ask(llm, PROMPT, {"history": "\n".join(summary)}, HouseholdProfile, calls)
        llm_seconds.append(time.perf_counter() - t)
        t_llm += llm_seconds[-1]
        profile = " ".join(result.value.profile.split()) if result.ok else None
        failure = None if result.ok else f"{PROMPT} failed ({result.kind}: {result.message[:200]})"
        template = template_profile(history)
        t = time.perf_counter()
        queries = [template] + ([profile] if profile else [])
        vectors = query_embed(queries)
        lists = {TEMPLATE_METHOD: search.search(vectors[0])}
        lists[LLM_METHOD] = search.search(vectors[1]) if profile else []
        t_embed += time.perf_counter() - t
        t = time.perf_counter()
        recs = tower.recommend(h, k=K, allowed_ids=[int(i) for i in shown], as_of_week=first_test - 1)
        lists[TOWER_METHOD] = [int(i) for i in recs.items["item_id"]]
        t_tower += time.perf_counter() - t
        basket = np.array([first_basket[h]])
        ids = td.items.item_ids
        lists[PREVIOUS_METHOD] = [
            int(ids[r]) for r in previous_purchases(seq, basket, td.counts, K, allowed)[0] if r >= 0
        ]
        lists[POPULARITY_METHOD] = [int(ids[r]) for r in popularity(td.counts, 1, K, allowed)[0] if r >= 0]
        hb = seq.household_baskets(h)
        results.append(
            HouseholdResult(
                h,
                int(np.sum(seq.week[hb] < first_test)),
                int(np.sum(seq.week[hb] >= first_test)),
                summary,
                profile,
                failure,
                template,
                lists,
                calls[0] if calls else None,
            )
        )
    if progress is not None:
        progress("households", len(chosen), len(chosen))
    timings["LLM profiles"] = t_llm
    timings["profile embedding + text search"] = t_embed
    timings["user tower (recommend)"] = t_tower

    targets_rows: list[np.ndarray] = []
    target_cats: list[set[str]] = []
    for r in results:
        hb = seq.household_baskets(r.household_id)
        hb = hb[seq.week[hb] >= first_test]
        rows = np.unique(np.concatenate([seq.stream[seq.basket_start[b] : seq.basket_end[b]] for b in hb]))
        targets_rows.append(rows)
        target_cats.append({category.get(int(td.items.item_ids[x]), "") for x in rows} - {""})
    metrics: dict[str, dict[str, float]] = {}
    for method in (LLM_METHOD, TEMPLATE_METHOD, TOWER_METHOD, PREVIOUS_METHOD, POPULARITY_METHOD):
        ranked = np.full((len(results), K), -1, np.int64)
        cats: list[list[str | None]] = []
        for q, r in enumerate(results):
            items = r.lists[method][:K]
            rows = td.items.rows(np.asarray(items, np.int64)) if items else np.zeros(0, np.int64)
            ranked[q, : len(rows)] = rows
            cats.append([category.get(i) for i in items])
            r.category_hits[method] = sum(1 for c in cats[-1] if c is not None and c in target_cats[q])
        row = topk_metrics(ranked, targets_rows, td.items.n, (K,))
        metrics[method] = {
            f"category precision@{K}": category_precision(cats, target_cats, K),
            f"Recall@{K}": row[f"Recall@{K}"],
            f"NDCG@{K}": row[f"NDCG@{K}"],
            f"Hit@{K}": row[f"Hit@{K}"],
        }
    settings = {
        "data_build": store.build_id,
        "llm": str(llm.spec),
        "prompt": PROMPT,
        "prompt_sha256": llm.registry.get(PROMPT).sha256,
        "households": len(results),
        "households_eligible": eligible,
        "seed": seed,
        "test_weeks": f"{first_test}-{seq.last_week}",
        "catalog_items": int(len(shown)),
        "catalog_texts": search.n_texts,
        "mean_target_items": float(np.mean([len(t) for t in targets_rows])) if results else 0.0,
        "mean_target_categories": float(np.mean([len(c) for c in target_cats])) if results else 0.0,
        "llm_failures": sum(1 for r in results if r.llm_failure),
    }
    return NarrationRun(metrics, results, settings, timings, llm_seconds)

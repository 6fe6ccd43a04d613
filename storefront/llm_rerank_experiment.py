"""Experiment 3: the LLM re-ranker against LightGBM on the next-basket test, with the re-ranker's evals.

The same M items are ordered three ways for each sampled test household: the LightGBM order (the top M of
the saved learned re-ranker over the household's candidates, as in `evaluate.run_rerank`'s test), the LLM
re-ranker's order of those M (`llm_reranker.llm_rerank`, no context), and the M shuffled (the floor,
averaged over seeded shuffles). Recall/NDCG@5/10 count every item of the target basket, so their ceiling
is the share of the target items among the M. Only households with at least one target item among their
M are sampled: a household without one scores 0 under every order and says nothing about ordering.

The LLM sees the household's product types over the baskets before the test week (the test basket and
later ones never reach the prompt). Evals over every call: ids outside the candidates (from the raw
answer), answers that miss candidates (the completion fallback), repeated ids. Context sensitivity: the
same households under each context of a set, against their no-context order: Jaccard and average overlap
of the top 5, and the share of the top 5 in the context's categories (`CONTEXT_CATEGORIES`, written by
hand from the catalog's product categories) against the no-context list's share. Reasoning alignment
(`reasoning`): with `llm_rerank@v2` the answer gives a reason for each of its top picks, checked against the
item it sits beside, the other candidates and the context; `llm_rerank@v1` answers ids only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.llm import LLM
from xpollinate.retrieval.twotower.metrics import topk_metrics
from xpollinate.storefront import reasoning
from xpollinate.storefront.llm_reranker import PROMPT as IDS_ONLY_PROMPT
from xpollinate.storefront.llm_reranker import Candidate, RerankOutcome, llm_rerank

KS = (5, 10)
TOP = 5  # the top of the list whose change under a context is measured
SHUFFLES = 50  # seeded shuffles averaged for the floor
Progress = Callable[[str, int, int], None]

# Hand-written: the catalog's product categories (Complete Journey `product_category`) a shopper in the
# context would plausibly add; the only basis for "moves toward the context".
CONTEXT_CATEGORIES: dict[str, frozenset[str]] = {
    "hosting a barbecue": frozenset(
        {
            "BEEF",
            "PORK",
            "CHICKEN",
            "HOT DOGS",
            "DINNER SAUSAGE",
            "BAKED BREAD/BUNS/ROLLS",
            "CHARCOAL AND LIGHTER FLUID",
            "CONDIMENTS/SAUCES",
            "PICKLE/RELISH/PKLD VEG",
            "SALD DRSNG/SNDWCH SPRD",
            "SALADS/DIPS",
            "BAG SNACKS",
            "CHIPS&SNACKS",
            "WAREHOUSE SNACKS",
            "SOFT DRINKS",
            "BEERS/ALES",
            "WATER",
            "FRZN ICE",
            "PAPER HOUSEWARES",
            "DISPOSIBLE FOILWARE",
            "CORN",
            "MELONS",
        }
    ),
    "new baby": frozenset(
        {
            "BABY FOODS",
            "BABYFOOD",
            "BABY HBC",
            "DIAPERS & DISPOSABLES",
            "INFANT CARE PRODUCTS",
            "INFANT FORMULA",
        }
    ),
}
CONTEXT_SETS: dict[str, tuple[str, ...]] = {
    "default": ("hosting a barbecue", "new baby"),
    "barbecue": ("hosting a barbecue",),
    "baby": ("new baby",),
}


def context_set(name: str) -> tuple[str, ...]:
    """The contexts of a named set; an unknown name is an error listing the known ones."""
    if name not in CONTEXT_SETS:
        raise XPError(f"unknown context set {name!r}; choose one of {', '.join(CONTEXT_SETS)}")
    return CONTEXT_SETS[name]


def check_sizes(households: int, candidates: int) -> None:
    if households < 1:
        raise XPError(f"--households {households}: sample at least 1 household")
    if not max(KS) <= candidates <= 200:
        raise XPError(f"--candidates {candidates}: choose {max(KS)} to 200 (NDCG@{max(KS)} needs {max(KS)} items)")


@dataclass(frozen=True)
class Case:
    """One test household: its M items in LightGBM order and what the LLM is shown."""

    household_id: int
    items: list[int]  # the M item ids, LightGBM order
    targets: list[int]  # every distinct item of the target basket
    history: list[str]  # the product-type summary of the baskets before the test week
    texts: dict[int, str]
    categories: dict[int, str]


# ---- the measures (pure: hand-checkable in tests) ----


def ranking_metrics(orders: Sequence[Sequence[int]], cases: Sequence[Case]) -> dict[str, float]:
    """Recall/NDCG@5/10 of item-id orders (one per case) against each case's whole target basket."""
    k = max(KS)
    ranked = np.full((len(orders), k), -1, np.int64)
    for q, order in enumerate(orders):
        top = list(order)[:k]
        ranked[q, : len(top)] = top
    targets = [np.asarray(sorted(set(c.targets)), np.int64) for c in cases]
    m = topk_metrics(ranked, targets, 1, KS)
    return {f"{name}@{k}": m[f"{name}@{k}"] for name in ("Recall", "NDCG") for k in KS}


def ceiling(cases: Sequence[Case]) -> float:
    """Mean share of a case's target items that are among its M (Recall's ceiling at any K)."""
    return float(np.mean([len(set(c.targets) & set(c.items)) / max(len(set(c.targets)), 1) for c in cases]))


def shuffled_metrics(cases: Sequence[Case], seed: int, repeats: int = SHUFFLES) -> dict[str, float]:
    """The metrics of the M items in random order, averaged over `repeats` seeded shuffles."""
    rng = np.random.default_rng(seed)
    runs = [ranking_metrics([list(rng.permutation(c.items)) for c in cases], cases) for _ in range(repeats)]
    return {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}


def jaccard(a: Sequence[int], b: Sequence[int], k: int = TOP) -> float:
    sa, sb = set(a[:k]), set(b[:k])
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def average_overlap(a: Sequence[int], b: Sequence[int], k: int = TOP) -> float:
    """Mean over depths d = 1..k of |top-d(a) & top-d(b)| / d: 1 for the same top k in the same order."""
    return float(np.mean([len(set(a[:d]) & set(b[:d])) / d for d in range(1, k + 1)]))


def category_share(order: Sequence[int], categories: dict[int, str], wanted: frozenset[str], k: int = TOP) -> float:
    """Share of the top k items whose product category is in `wanted`."""
    top = list(order)[:k]
    return sum(categories.get(i, "") in wanted for i in top) / max(len(top), 1)


@dataclass
class CallStats:
    calls: int = 0
    failures: int = 0
    answered: int = 0  # ids in the raw answers
    hallucinated: int = 0
    duplicates: int = 0
    missing_calls: int = 0  # answers that left out candidates (completed in input order)
    missing_ids: int = 0
    candidates: int = 0
    cache_hits: int = 0
    cold_seconds: list[float] = field(default_factory=list)
    cached_seconds: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    generated_tokens: int = 0

    def add(self, out: RerankOutcome) -> None:
        self.calls += 1
        self.failures += out.failure is not None
        self.hallucinated += len(out.hallucinated)
        self.duplicates += out.duplicates
        self.answered += out.placed_by_llm + out.duplicates + len(out.hallucinated)
        self.candidates += len(out.order)
        if out.failure is None and out.completed:
            self.missing_calls += 1
            self.missing_ids += len(out.completed)
        for call in out.calls:
            (self.cached_seconds if call.cached else self.cold_seconds).append(call.seconds)
            self.cache_hits += call.cached
            self.prompt_tokens += call.prompt_tokens
            self.generated_tokens += call.generated_tokens

    def rates(self) -> dict[str, Any]:
        answered = max(self.answered, 1)
        return {
            "calls": self.calls,
            "failed calls (input order kept)": self.failures,
            "hallucination rate (ids not among the candidates / answered ids)": self.hallucinated / answered,
            "hallucinated ids": self.hallucinated,
            "duplicate rate (repeated ids / answered ids)": self.duplicates / answered,
            "missing-id fallback rate (answers leaving out candidates / calls)": self.missing_calls
            / max(self.calls, 1),
            "candidates left out and appended (share of all candidates)": self.missing_ids / max(self.candidates, 1),
            "cache hits": self.cache_hits,
        }


def context_rows(
    cases: Sequence[Case], base: Sequence[Sequence[int]], by_context: dict[str, list[list[int]]]
) -> list[dict[str, Any]]:
    """Per context: how much the top 5 changes against the no-context order, and the category shares."""
    rows = []
    for ctx, orders in by_context.items():
        wanted = CONTEXT_CATEGORIES[ctx]
        rows.append(
            {
                "context": ctx,
                "households": len(cases),
                f"Jaccard top {TOP} vs none": float(np.mean([jaccard(b, o) for b, o in zip(base, orders)])),
                f"average overlap top {TOP} vs none": float(
                    np.mean([average_overlap(b, o) for b, o in zip(base, orders)])
                ),
                f"top {TOP} unchanged (households)": int(
                    sum(list(b[:TOP]) == list(o[:TOP]) for b, o in zip(base, orders))
                ),
                f"context share of top {TOP}, no context": float(
                    np.mean([category_share(b, c.categories, wanted) for b, c in zip(base, cases)])
                ),
                f"context share of top {TOP}, with context": float(
                    np.mean([category_share(o, c.categories, wanted) for o, c in zip(orders, cases)])
                ),
                "context share of the M candidates": float(
                    np.mean([category_share(c.items, c.categories, wanted, len(c.items)) for c in cases])
                ),
                "households with a context item in the M": int(
                    sum(any(c.categories.get(i, "") in wanted for i in c.items) for c in cases)
                ),
            }
        )
    return rows


# ---- the run ----


@dataclass
class LLMRerankRun:
    metrics: dict[str, dict[str, float]]
    ceiling: float
    evals: dict[str, Any]
    contexts: list[dict[str, Any]]
    settings: dict[str, Any]
    timings: dict[str, float]
    per_household: list[dict[str, Any]]


def build_cases(
    store: DataStore, households: int, m: int, seed: int, home: Path | None = None
) -> tuple[list[Case], dict[str, Any]]:
    """Seeded test households with a target among their top M LightGBM items, the M, and the prompt history."""
    from xpollinate.retrieval.twotower.features import CLASSES
    from xpollinate.retrieval.twotower.index import ItemIndex
    from xpollinate.retrieval.twotower.training import restore
    from xpollinate.storefront.candidates import N_HISTORY, N_RETRIEVED, pool, single_thread
    from xpollinate.storefront.data import HouseholdHistory, StorefrontData
    from xpollinate.storefront.evaluate import features_of, target_rows
    from xpollinate.storefront.features import shopper_history
    from xpollinate.storefront.learned_reranker import LearnedReranker, cycles_by_code

    reranker = LearnedReranker.read(home)
    data, model, saved = restore(store, home)
    first_test = data.split.first_test_week
    test = data.split.test
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(test))
    looked = test[order[: min(len(test), max(10 * households, 50))]]
    allowed = data.items.item_class != CLASSES.index("excluded")
    cycles = cycles_by_code(reranker.manifest["cycles"], data.items.category_names)
    hs = shopper_history(store, data.seq, data.items, data.counts, cycles)
    with single_thread():
        p = pool(data, model, saved.config, ItemIndex(saved.item_vectors), looked, allowed=allowed)
    scores = reranker.score(features_of(hs, p, hs.basket_day[looked]))
    targets = target_rows(data, looked)
    sf = StorefrontData.from_store(store)
    catalog = store.items(["item_id", "text", "category"]).set_index("item_id")
    ids = data.items.item_ids
    cases: list[Case] = []
    examined = len(looked)
    for q, basket in enumerate(looked):
        rows = np.flatnonzero(p.query == q)
        top = rows[np.argsort(-scores[rows], kind="stable")][:m]
        items = [int(i) for i in ids[p.item[top]]]
        target = [int(i) for i in ids[targets[q]]]
        if len(items) < m or not set(items) & set(target):
            continue
        hh = int(data.seq.household_id[basket])
        frame = sf.history(hh).baskets
        before = HouseholdHistory(hh, frame[frame["week"] < first_test], sf.items)
        cases.append(
            Case(
                hh,
                items,
                target,
                before.summary(),
                {i: str(catalog.at[i, "text"]) for i in items},
                {i: str(catalog.at[i, "category"]) for i in items},
            )
        )
        if len(cases) == households:
            examined = q + 1
            break
    if not cases:
        raise XPError(f"none of {len(looked)} sampled test households has a target item among its top {m}")
    settings = {
        "data_build": store.build_id,
        "two_tower_model": saved.path.name,
        "learned_reranker": reranker.path.name,
        "learned_reranker_two_tower_model": reranker.manifest.get("two_tower_test_model"),
        "test_weeks": f"{first_test}-{data.seq.last_week}",
        "households_looked_at": int(len(looked)),
        "households_examined": examined,
        "households_with_a_target_in_the_m": len(cases),
        "test_households": int(len(np.unique(data.seq.household_id[test]))),
        "candidates_retrieved": N_RETRIEVED,
        "candidates_from_history": N_HISTORY,
        "mean_candidates_before_the_cut": float(len(p.query) / max(len(looked), 1)),
    }
    return cases, settings


def run_llm_rerank(
    store: DataStore,
    llm: LLM,
    households: int = 12,
    m: int = 20,
    contexts: str = "default",
    seed: int = 13,
    home: Path | None = None,
    progress: Progress | None = None,
    prompt: str = reasoning.PROMPT,
) -> LLMRerankRun:
    """Build the cases, ask the LLM re-ranker once per household and context, and score everything (with
    reasons by default: `llm_rerank@v2`)."""
    check_sizes(households, m)
    ctxs = context_set(contexts)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    cases, settings = build_cases(store, households, m, seed, home)
    timings["cases: candidates, LightGBM order, histories"] = time.perf_counter() - t
    return score_cases(cases, llm, ctxs, seed, settings, timings, progress, prompt)


def score_cases(
    cases: Sequence[Case],
    llm: LLM,
    contexts: Sequence[str],
    seed: int,
    settings: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
    progress: Progress | None = None,
    prompt: str = IDS_ONLY_PROMPT,
) -> LLMRerankRun:
    """The LLM re-ranker over prepared cases (no context, then each context), and every measure."""
    timings = dict(timings or {})
    stats = CallStats()
    base: list[list[int]] = []
    by_context: dict[str, list[list[int]]] = {c: [] for c in contexts}
    per: list[dict[str, Any]] = []
    checks: list[reasoning.ReasonCheck] = []
    examples: list[dict[str, Any]] = []
    total = len(cases) * (1 + len(contexts))
    done = 0
    t = time.perf_counter()
    for case in cases:
        cands = [Candidate(i, case.texts[i]) for i in case.items]
        row: dict[str, Any] = {"household": case.household_id}
        for ctx in (None, *contexts):
            started = time.perf_counter()
            out = llm_rerank(llm, cands, case.history, ctx, prompt)
            stats.add(out)
            found = reasoning.check_reasons(out.reasons, out.order if out.failure is None else [], case.texts, ctx)
            checks += found
            examples += [
                {
                    "household": case.household_id,
                    "context": ctx or "none",
                    "item": case.texts.get(c.item_id, "?"),
                    "reason": c.reason,
                    "own words": c.names_own,
                    "copy": c.copies_item,
                    "other item": c.names_other_only,
                }
                for c in found
            ]
            (base if ctx is None else by_context[ctx]).append(out.order)
            row[f"seconds ({ctx or 'no context'})"] = round(time.perf_counter() - started, 1)
            done += 1
            if progress:
                progress("LLM re-ranker calls", done, total)
        per.append(row)
    timings[f"LLM re-ranker: {total} calls"] = time.perf_counter() - t
    lgbm = [c.items for c in cases]
    metrics = {
        "LightGBM order": ranking_metrics(lgbm, cases),
        "LLM re-ranker (no context)": ranking_metrics(base, cases),
        f"shuffled (mean of {SHUFFLES} seeded shuffles)": shuffled_metrics(cases, seed),
    }
    for ctx, orders in by_context.items():
        metrics[f"LLM re-ranker, context {ctx!r}"] = ranking_metrics(orders, cases)
    for row, case, b in zip(per, cases, base):
        row["targets in the M"] = len(set(case.targets) & set(case.items))
        row["target items"] = len(set(case.targets))
        row[f"Jaccard top {TOP} LLM vs LightGBM"] = round(jaccard(b, case.items), 3)
    evals = stats.rates()
    evals["cold calls"] = len(stats.cold_seconds)
    evals["cold seconds (sum)"] = round(sum(stats.cold_seconds), 1)
    evals["cold seconds per call (mean)"] = round(float(np.mean(stats.cold_seconds)), 1) if stats.cold_seconds else None
    evals["prompt tokens"] = stats.prompt_tokens
    evals["generated tokens"] = stats.generated_tokens
    if prompt == reasoning.PROMPT:
        evals.update(reasoning.alignment_rates(checks, stats.calls))
    else:
        evals["reasoning alignment"] = f"not measured: {prompt} answers ids only, no reason"
    evals[f"Jaccard top {TOP}, LLM (no context) vs LightGBM"] = float(
        np.mean([jaccard(b, c.items) for b, c in zip(base, cases)])
    )
    out_settings = dict(settings or {})
    out_settings.update(
        {
            "llm": str(llm.spec),
            "households": len(cases),
            "candidates_m": len(cases[0].items) if cases else 0,
            "contexts": list(contexts),
            "seed": seed,
            "prompt": prompt,
            "reason_examples": examples[:12],
            "context_categories": {c: sorted(CONTEXT_CATEGORIES[c]) for c in contexts},
        }
    )
    return LLMRerankRun(
        metrics,
        ceiling(cases),
        evals,
        context_rows(cases, base, by_context),
        out_settings,
        timings,
        per,
    )

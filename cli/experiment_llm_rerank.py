"""`xp experiments run llm-rerank`: experiment 3's table in the terminal and its results page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from xpollinate.cli.common import emit_json, err, metrics_table, out, stage_bars

DEFAULT_HOUSEHOLDS = 12
DEFAULT_CANDIDATES = 20
COLUMNS = ["Recall@5", "Recall@10", "NDCG@5", "NDCG@10"]


def run(
    households: int | None,
    candidates: int | None,
    contexts: str,
    seed: int,
    llm_spec: str | None,
    results: Path | None,
    json_out: Path | None,
) -> None:
    """Check the options, run the experiment, print its tables and write its page."""
    from xpollinate.catalog.store import DataStore
    from xpollinate.llm import get_llm
    from xpollinate.reports import git_commit
    from xpollinate.storefront.llm_rerank_experiment import check_sizes, context_set, run_llm_rerank

    n = DEFAULT_HOUSEHOLDS if households is None else households
    m = DEFAULT_CANDIDATES if candidates is None else candidates
    check_sizes(n, m)
    context_set(contexts)
    commit = git_commit() if results is not None else None
    started = time.perf_counter()
    llm = get_llm(llm_spec)
    with stage_bars(transient=True) as progress:
        result = run_llm_rerank(DataStore.open(), llm, n, m, contexts, seed, progress=progress)
    result.settings["llm_threads"] = llm.settings.threads or "all cores"
    result.settings["response_cache"] = "on" if llm.settings.cache and llm.cache is not None else "off"
    result.timings["whole run (data, model load, calls)"] = time.perf_counter() - started
    payload = payload_of(result)
    if not emit_json(json_out, payload):
        title = f"next basket, the same {m} items of {result.settings['households']} households"
        out.print(metrics_table(title, "order", result.metrics, COLUMNS))
        out.print(f"ceiling (share of target items among the {m}): {result.ceiling:.4f}")
        for key, value in result.evals.items():
            out.print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
        for row in result.contexts:
            out.print(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    if results is not None:
        err.print(f"wrote {write(result, payload, results, commit)}")


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def payload_of(result: Any) -> dict[str, Any]:
    return {
        "metrics": {k: {c: round(v, 4) for c, v in row.items()} for k, row in result.metrics.items()},
        "ceiling_share_of_targets_in_the_m": round(result.ceiling, 4),
        "evals": {k: _round(v) for k, v in result.evals.items()},
        "context_sensitivity": [{k: _round(v) for k, v in row.items()} for row in result.contexts],
        "per_household": result.per_household,
        "settings": result.settings,
        "seconds": {k: round(v, 1) for k, v in result.timings.items()},
    }


def write(result: Any, payload: dict[str, Any], folder: Path, commit: str | None) -> Path:
    import pandas as pd

    from xpollinate.reports import Report, write_page
    from xpollinate.storefront.llm_rerank_experiment import TOP

    s, ev = result.settings, result.evals
    m = s["candidates_m"]
    table = pd.DataFrame(
        [{"order": k, **{c: round(v, 4) for c, v in row.items()}} for k, row in result.metrics.items()]
    )
    lg, ll = result.metrics["LightGBM order"], result.metrics["LLM re-ranker (no context)"]
    sh = next(v for k, v in result.metrics.items() if k.startswith("shuffled"))

    def versus(a: dict[str, float], b: dict[str, float], key: str) -> str:
        d = a[key] - b[key]
        return (
            f"{a[key]:.4f} vs {b[key]:.4f} ({'above' if d > 0 else 'below' if d < 0 else 'level with'} by {abs(d):.4f})"
        )

    setup = (
        f"Data build {s['data_build']}, next-basket test of weeks {s['test_weeks']} (each household's first basket "
        f"in those weeks; the LLM sees only its baskets before them). {s['households']} households, seeded "
        f"(seed {s['seed']}): the first {s['households']} of a seeded order of the {s['test_households']:,} test "
        f"households whose top {m} held at least one target item ({s['households_with_a_target_in_the_m']} of the "
        f"first {s.get('households_examined', s['households_looked_at'])} in that order); a household with none "
        f"scores 0 under every order. The {m} items: the top {m} of the learned re-ranker ({s['learned_reranker']}, "
        f"LightGBM lambdarank) over the household's candidates (two-tower top {s['candidates_retrieved']} from "
        f"{s['two_tower_model']} plus up to {s['candidates_from_history']} previously bought items, "
        f"excluded-class items left out). All three orders rank the same {m} items; Recall/NDCG count every item "
        f"of the target basket, so Recall's ceiling is the share of target items among the {m}: "
        f"{result.ceiling:.4f}"
        + (
            f" (with M = {m}, every order holds all {m} in its top 10: Recall@10 is the ceiling for all)"
            if m == 10
            else ""
        )
        + f". LLM: {s['llm']}, prompt {s.get('prompt', 'llm_rerank@v1')}, no context for this table."
    )
    verdict = (
        f"LLM re-ranker vs LightGBM, NDCG@10: {versus(ll, lg, 'NDCG@10')}; Recall@10: {versus(ll, lg, 'Recall@10')}. "
        f"LLM re-ranker vs shuffled, NDCG@10: {versus(ll, sh, 'NDCG@10')}. LightGBM vs shuffled, NDCG@10: "
        f"{versus(lg, sh, 'NDCG@10')}. The LLM's top {TOP} shares "
        f"{ev[f'Jaccard top {TOP}, LLM (no context) vs LightGBM']:.3f} of LightGBM's (mean Jaccard): the input "
        f"order is LightGBM's, so a model that copies its input scores as LightGBM. With {s['households']} "
        "households these differences are within noise unless large."
    )
    evals = pd.DataFrame(
        [{"eval": k, "value": round(v, 4) if isinstance(v, float) else v} for k, v in ev.items() if "seconds" not in k]
    )
    eval_text = (
        f"Over all {ev['calls']} calls (no context and each context). Ids are counted from the raw answer; the "
        "schema makes every answered id an enum over the candidates, so an id outside them would mean a backend "
        "ignoring the schema. An answer that leaves out candidates is completed in input order (the recorded "
        "fallback). "
        + (
            "Reasoning alignment: the answer gives a one-line reason for each of its top 3 picks; a reason names its "
            "item when it shares a content word (3+ letters, plural s dropped) with that item's product type, "
            "category or department, names another candidate instead when it shares none with its own item but "
            "some with another's, and mentions the context when it shares a word of 4+ letters with it."
            if "reasons given" in ev
            else "Reasoning alignment is not measured: llm_rerank@v1 answers ids only, with no reason to check."
        )
    )
    ctx = pd.DataFrame([{k: _round(v) for k, v in row.items()} for row in result.contexts])
    cats = "; ".join(f"{c}: {', '.join(v)}" for c, v in s["context_categories"].items())
    ctx_text = (
        f"The same {s['households']} households and {m} items under each context, against their no-context order. "
        f"Jaccard and average overlap (mean over depths 1-{TOP} of the shared share) of the top {TOP}: 1 means "
        f"unchanged. Context share: share of the top {TOP} whose product category is in the context's set, "
        f"written by hand ({cats}); the share among all {m} candidates bounds how far the list can move. "
    )
    for row in result.contexts:
        a, b = row[f"context share of top {TOP}, no context"], row[f"context share of top {TOP}, with context"]
        ctx_text += (
            f"{row['context']!r}: Jaccard {row[f'Jaccard top {TOP} vs none']:.3f}, top {TOP} unchanged for "
            f"{row[f'top {TOP} unchanged (households)']} of {row['households']} households, context share "
            f"{a:.3f} -> {b:.3f} ({'toward the context' if b > a else 'away from it' if b < a else 'no move'}). "
        )
    timing = pd.DataFrame([{"stage": k, "seconds": round(v, 1)} for k, v in result.timings.items()])
    cold = (
        f"{ev['cold calls']} cold LLM calls took {ev['cold seconds (sum)']} s "
        f"({ev['cold seconds per call (mean)']} s each on average; {ev['prompt tokens']:,} prompt and "
        f"{ev['generated tokens']:,} generated tokens in all; LLM threads: {s.get('llm_threads')}), "
        if ev["cold calls"]
        else "No cold LLM call in this run (its seconds are not the model's: run with XP_LLM_CACHE=0 to time it): "
    )
    time_text = (
        f"{cold}{ev['cache hits']} calls answered by the response cache (cache {s.get('response_cache', 'on')}). "
        "The prompt gives 7-digit item ids, which the model writes digit by digit: most of the generated "
        "tokens are ids."
    )
    per = pd.DataFrame(result.per_household)
    report = Report(
        "Experiment 3: LLM re-ranker vs LightGBM, with the re-ranker's evals",
        [
            ("Next-basket test, the same items in three orders", f"{setup}\n\n{verdict}", table),
            ("Re-ranker evals", eval_text, evals),
            ("Context sensitivity", ctx_text, ctx),
            *(
                [("Reasons (first answers)", "", pd.DataFrame(s["reason_examples"]))]
                if s.get("reason_examples")
                else []
            ),
            ("Per household", "", per),
            ("Time (2 shared cores)", time_text, timing),
        ],
        headline=payload,
    )
    return write_page(report, folder, "experiment-llm-rerank", commit=commit)

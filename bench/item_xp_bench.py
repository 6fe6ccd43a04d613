"""Benchmark: the non-LLM overhead of the item-XP theme graph (the paper's call plan) per anchor,
stage by stage, with every model answer served from a cache filled with scripted answers.

This measures everything but the model (matching, cross-encoding, grocery filter, cache look-ups,
graph and store), not the product's speed: on the embedded model the cost of an anchor is its
model calls (see `xp batch --results` for real runs). No target verdict is drawn from it.

On the data store and catalog index in use ($XP_HOME, default ./.xp; `xp data build` and
`xp index build` first). Anchors: the N most purchased grocery items with distinct product types.

1. Cold fill. A *scripted* chat provider (defined here, labelled as such in every table) answers
   each prompt once into a fresh response cache: 5 themes, 10 recommendations per theme drawn from
   the catalog's real GM product-type names (3 of them repeated across themes, 1 grocery name per
   theme), evaluator and judge rubrics varied by hash. The real small model cannot be used for
   this: SmolLM2-135M copies the prompts' format placeholders ("Context", "Item Name 1"), so its
   answers never reach the matcher, and Qwen 1.5B needs ~10 s per call (hundreds per anchor).
   Token counts of scripted answers are estimates (characters / 4), and say so.
2. Warm pass, timed: the same anchors through the real graph on a new LLM object over the filled
   cache (asserted: zero provider calls), with the real matcher (MiniLM + FAISS), grocery filter,
   cross-encoder scorer (trained if one is in the run directory, else the fallback) and an
   item-XP store in a temp folder. Each stage is timed by wrapping the real object it runs on.
3. Baselines in the same process, on the same anchors' matches: cross-encoding every matched
   item's full text against the graph's distinct (recommendation, item core) pairs, both without
   the embedding memo (pure compute), and the graph's memoised scoring; and the LLM calls per-item
   judging would make against PT-level triplets.

    python bench/item_xp_bench.py [--anchors 60] [--evaluator per_rec|batched] [--match-k 3] [--expand 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from xpollinate.cache import ResponseCache
from xpollinate.catalog.store import DataStore
from xpollinate.graphs.deps import default_deps, run_id_for, run_settings
from xpollinate.graphs.item_xp import ItemXPConfig, build_graph
from xpollinate.graphs.runner import anchor_from_item, run_anchor
from xpollinate.judges.cross_encoder import FallbackScorer, item_core
from xpollinate.llm import LLM, LLMSettings
from xpollinate.llm.providers.base import ChatRequest, Completion
from xpollinate.retrieval.embedder import clear_memo
from xpollinate.xpstore.item_xp_store import ItemXPStore

USES = ["Breakfast", "Entertaining", "Everyday Cooking", "Storage", "On The Go"]


def _h(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8], 16)


class ScriptedBenchProvider:
    """Deterministic answers of the right shape for the cold fill (benchmark only, never the product)."""

    name = "scripted"
    model = "bench-script"
    structured_mode = "json_schema"

    def __init__(self, gm_names: list[str], grocery_names: list[str]) -> None:
        self.gm, self.grocery = gm_names, grocery_names
        self.calls: Counter[str] = Counter()
        self.chars: Counter[str] = Counter()
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        return {"script": "bench"}

    def _answer(self, schema: str, prompt: str) -> Any:
        rubric = lambda s: {
            "reasoning": "scripted",
            **{
                k: s
                for k in (
                    "cross_category_discovery",
                    "contextual_relevance",
                    "explanation_quality",
                    "purchase_likelihood",
                    "relevance_coherence",
                    "practical_utility",
                    "matching_accuracy",
                )
            },
        }
        if schema == "Themes":
            return {"themes": [{"context": u, "explanation": "a common use"} for u in USES]}
        if schema == "ThemeRecommendations":
            anchor = prompt.split("usage contexts for ", 1)[1].split(":", 1)[0]
            context = prompt.rstrip().rsplit("\n", 1)[-1]
            shared = [self.gm[_h(anchor, str(i)) % len(self.gm)] for i in range(3)]
            own = [self.gm[_h(anchor, context, str(i)) % len(self.gm)] for i in range(6)]
            recs = shared + own + [self.grocery[_h(anchor, context) % len(self.grocery)]]
            return {
                "contexts": [{"context": context.split(" - ")[0], "recs": recs, "explanations": ["helps with it"] * 10}]
            }
        if schema == "ContextualEvaluation":
            rec = prompt.split("RECOMMENDATION: ", 1)[1].split("\n", 1)[0]
            return rubric(2 if _h(rec) % 10 == 0 else 8)
        if schema == "BatchContextualEvaluation":
            listed = prompt.split("RECOMMENDATIONS (number. recommendation - explanation):")[1].split(
                "EVALUATION CRITERIA"
            )[0]
            lines = [ln.split(". ", 1) for ln in listed.strip().splitlines()]
            return {
                "evaluations": [
                    {"number": int(n), **rubric(2 if _h(t.split(" - ")[0]) % 10 == 0 else 8)} for n, t in lines
                ]
            }
        if schema == "JudgeEvaluation":
            return rubric(3 + _h(prompt) % 7)
        raise ValueError(f"no script for {schema}")

    def complete(self, request: ChatRequest) -> Completion:
        prompt = request.messages[0]["content"]
        text = json.dumps(self._answer(request.schema_name or "", prompt))
        with self._lock:
            self.calls[request.schema_name or ""] += 1
            self.chars[f"{request.schema_name}:in"] += len(prompt)
            self.chars[f"{request.schema_name}:out"] += len(text)
        return Completion(
            text=text, input_tokens=len(prompt) // 4, output_tokens=len(text) // 4, latency_s=0.0, model=self.model
        )


class Timers:
    """Seconds per stage, summed over calls (from any thread)."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds[stage] += time.perf_counter() - t
                    self.calls[stage] += 1

        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def make_llm(provider: ScriptedBenchProvider, cache_dir: Path) -> LLM:
    return LLM(
        provider, LLMSettings(llm="openai:bench-script", max_retries=0, max_repairs=1), cache=ResponseCache(cache_dir)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--anchors", type=int, default=60)
    parser.add_argument(
        "--evaluator", default="per_rec", choices=["per_rec", "batched"], help="mode of the timed warm pass"
    )
    parser.add_argument("--match-k", type=int, default=3)
    parser.add_argument("--expand", type=int, default=2)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="model calls in flight per node (1: cache hits are CPU-bound, and stage timers do not overlap)",
    )
    args = parser.parse_args()
    console = Console(width=160)

    store = DataStore.open()
    items = store.items()
    sold = items[items["n_baskets"] > 0]
    anchors = (
        sold[sold["is_grocery"]]
        .sort_values("n_baskets", ascending=False)
        .drop_duplicates("product_type")
        .head(args.anchors)
    )
    anchors = [anchor_from_item(r) for _, r in anchors.iterrows()]
    gm_names = sorted({p.title() for p in sold.loc[sold["is_gm"], "product_type"] if p.strip()})
    grocery_names = sorted({p.title() for p in sold.loc[sold["is_grocery"], "product_type"] if p.strip()})

    with tempfile.TemporaryDirectory(prefix="xp-bench-") as tmp:
        tmp_path = Path(tmp)
        t = time.perf_counter()
        provider = ScriptedBenchProvider(gm_names, grocery_names)
        deps = default_deps(store, make_llm(provider, tmp_path / "cache-load"))
        load_s = time.perf_counter() - t
        configs = {
            m: ItemXPConfig(
                plan="paper",
                history_pts=0,
                evaluator_mode=m,
                match_k=args.match_k,
                expand=args.expand,
                workers=args.workers,
            )
            for m in ("per_rec", "batched")
        }

        # 1. cold fill, both evaluator modes (the scripted provider counts the calls each needs)
        cold: dict[str, dict[str, Any]] = {}
        for mode, config in configs.items():
            before_calls, before_chars = Counter(provider.calls), Counter(provider.chars)
            llm = make_llm(provider, tmp_path / f"cache-{mode}")  # one cache per mode: each counts all its calls
            graph = build_graph("theme", deps.__class__(llm, deps.matcher, deps.scorer, deps.grocery_filter), config)
            t = time.perf_counter()
            triplets = matches = 0
            for a in anchors:
                _, state = run_anchor(graph, llm, a)
                triplets += len(state.get("judge_scores", {}))
                matches += len(state.get("matches", []))
            cold[mode] = {
                "seconds": time.perf_counter() - t,
                "calls": provider.calls - before_calls,
                "chars": provider.chars - before_chars,
                "triplets": triplets,
                "matches": matches,
            }

        # 2. warm pass, timed per stage; the embedding memo starts empty, as in a fresh batch process
        clear_memo()
        timers = Timers()
        llm = make_llm(provider, tmp_path / f"cache-{args.evaluator}")
        llm.structured = timers.wrap("LLM layer: cache lookups + validation", llm.structured)  # type: ignore[method-assign]
        matcher, scorer, gfilter = deps.matcher, deps.scorer, deps.grocery_filter
        semantic = matcher.matcher  # type: ignore[attr-defined]  (the graph's CatalogMatcher wraps the semantic matcher)
        semantic.embed_memo = timers.wrap("matcher: query embedding (MiniLM, memo)", semantic.embed_memo)
        semantic.search = timers.wrap("matcher: FAISS search", semantic.search)
        semantic.expand = timers.wrap("matcher: similar-item expansion", semantic.expand)
        gfilter.check = timers.wrap("grocery filter (embeds the recommendations first)", gfilter.check)  # type: ignore[method-assign]
        # the baselines score without the embedding memo (pure compute); a trained CE has none
        plain_score = FallbackScorer(memo=False).score if isinstance(scorer, FallbackScorer) else scorer.score
        scorer.score = timers.wrap(f"cross-encoder ({scorer.scorer_id})", scorer.score)  # type: ignore[method-assign]
        xp_store = ItemXPStore(tmp_path / "item_xp.sqlite")
        save = timers.wrap("item-XP store write (SQLite)", xp_store.save)
        config = configs[args.evaluator]
        graph = build_graph("theme", deps.__class__(llm, matcher, scorer, gfilter), config)
        settings = run_settings("theme", llm, config, store, scorer.scorer_id)
        run_id = run_id_for(settings)
        xp_store.start_run(run_id, "theme", str(llm.spec), settings, store.build_id)
        calls_before = sum(provider.calls.values())
        walls, per_item_ce, distinct_ce = [], 0.0, 0.0
        n_pairs_item = n_pairs_distinct = n_results = 0
        for a in anchors:
            t = time.perf_counter()
            outcome, state = run_anchor(graph, llm, a)
            save(run_id, outcome)
            walls.append(time.perf_counter() - t)
            n_results += len(outcome.results)
            # baseline: per-item CE (every matched item's full text) vs the graph's distinct pairs
            recs = {r.rec_id: r.text for r in state.get("candidates", [])}
            item_pairs = [(recs[m.rec_id], m.item_text) for m in state.get("matches", [])]
            dedup = list({(r, item_core(i)) for r, i in item_pairs})
            t = time.perf_counter()
            plain_score(item_pairs)
            per_item_ce += time.perf_counter() - t
            t = time.perf_counter()
            plain_score(dedup)
            distinct_ce += time.perf_counter() - t
            n_pairs_item += len(item_pairs)
            n_pairs_distinct += len(dedup)
        warm_calls = sum(provider.calls.values()) - calls_before
        xp_store.close()

    n = len(anchors)
    total = sum(walls)
    console.print(
        f"[bold]item-XP theme graph, warm LLM cache[/bold]: {n} anchors (top grocery items, distinct PTs), "
        f"evaluator {args.evaluator}, match_k {args.match_k}, expand {args.expand}, workers {args.workers}; "
        f"cold fill by a SCRIPTED provider (see the docstring); provider calls in the warm pass: {warm_calls}; "
        f"loading the parts: {load_s:.1f} s (once per process, not counted)"
    )
    table = Table(title="warm pass: milliseconds per anchor by stage")
    for col in ("stage", "calls/anchor", "ms/anchor", "share"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    staged = sum(timers.seconds.values())
    for stage, secs in sorted(timers.seconds.items(), key=lambda kv: -kv[1]):
        table.add_row(stage, f"{timers.calls[stage] / n:.1f}", f"{secs / n * 1000:,.1f}", f"{secs / total:.0%}")
    table.add_row(
        "graph overhead (LangGraph, state, node code) = wall - stages",
        "",
        f"{(total - staged) / n * 1000:,.1f}",
        f"{(total - staged) / total:.0%}",
    )
    table.add_row(
        "[bold]wall per anchor (mean / median)[/bold]",
        "",
        f"[bold]{total / n * 1000:,.1f} / {statistics.median(walls) * 1000:,.1f}[/bold]",
        "100%",
    )
    console.print(table)
    rate = 3600 * n / total
    console.print(
        f"non-LLM overhead: [bold]{rate:,.0f} anchors/hour[/bold] on one process over scripted cached "
        f"answers (not the product's speed: the model's calls are not in it); {n_results / n:.1f} scored items per anchor"
    )

    base = Table(title="baselines in the same process (same anchors, same matches)")
    for col in ("computation", "pairs or calls / anchor", "ms/anchor", "ratio"):
        base.add_column(col, justify="left" if col == "computation" else "right")
    ce_stage = next((v for k, v in timers.seconds.items() if k.startswith("cross-encoder")), 0.0)
    base.add_row(
        "CE, every matched item's full text, no memo (baseline)",
        f"{n_pairs_item / n:.1f}",
        f"{per_item_ce / n * 1000:,.1f}",
        "1.0x",
    )
    base.add_row(
        "CE, distinct (rec, item core) pairs, no memo",
        f"{n_pairs_distinct / n:.1f}",
        f"{distinct_ce / n * 1000:,.1f}",
        f"{per_item_ce / max(distinct_ce, 1e-9):.1f}x faster",
    )
    base.add_row(
        "CE, distinct pairs + embedding memo (the graph, timed above)",
        f"{n_pairs_distinct / n:.1f}",
        f"{ce_stage / n * 1000:,.1f}",
        f"{per_item_ce / max(ce_stage, 1e-9):.1f}x faster",
    )
    alt_rate = 3600 * n / (total - ce_stage + per_item_ce)
    base.add_row("-> anchors/hour if the graph cross-encoded per item without memo", "", "", f"{alt_rate:,.0f}/h")
    console.print(base)

    calls = Table(
        title="LLM calls and tokens per anchor (cold fill; tokens ESTIMATED as characters/4 of scripted prompts and answers)"
    )
    for col in ("mode", "theme", "recs", "evaluator", "judge", "total calls", "in tok (est.)", "out tok (est.)"):
        calls.add_column(col, justify="left" if col == "mode" else "right")
    for mode in ("per_rec", "batched"):
        c, ch = cold[mode]["calls"], cold[mode]["chars"]
        ev = c["ContextualEvaluation"] + c["BatchContextualEvaluation"]
        judge_tok_in = ch["JudgeEvaluation:in"] / max(c["JudgeEvaluation"], 1) / 4
        judge_tok_out = ch["JudgeEvaluation:out"] / max(c["JudgeEvaluation"], 1) / 4
        for dedup in (True, False):
            judge = c["JudgeEvaluation"] if dedup else cold[mode]["matches"]
            tin = sum(v for k, v in ch.items() if k.endswith(":in")) / 4 + (
                0 if dedup else (judge - c["JudgeEvaluation"]) * judge_tok_in
            )
            tout = sum(v for k, v in ch.items() if k.endswith(":out")) / 4 + (
                0 if dedup else (judge - c["JudgeEvaluation"]) * judge_tok_out
            )
            label = f"{mode}, judge {'PT-level (dedup)' if dedup else 'per matched item (no dedup, counted)'}"
            calls.add_row(
                label,
                f"{c['Themes'] / n:.1f}",
                f"{c['ThemeRecommendations'] / n:.1f}",
                f"{ev / n:.1f}",
                f"{judge / n:.1f}",
                f"{(c['Themes'] + c['ThemeRecommendations'] + ev + judge) / n:.1f}",
                f"{tin / n:,.0f}",
                f"{tout / n:,.0f}",
            )
    console.print(calls)


if __name__ == "__main__":
    main()

"""Benchmark: the batch machinery's overhead over 200 anchors with a response cache of scripted answers.

Not the product's speed (no model call is in it): it checks that the batch driver, executors and
store add nothing measurable to plain `run_anchor` calls. Real runs: `xp batch --results`.

On the data store and GM catalog index of the run directory ($XP_HOME; `xp data build`
and `xp index build` first), with the real matcher, cross-encoder scorer and grocery
filter. Model answers come from a scripted provider (tests/graphs/scripted.py) whose
recommendations are real GM product-type names of the catalog, so matching and scoring do
real work: this measures the machinery and everything except model generation, not
model quality. The scripted answers fill a fresh response cache first (untimed); then,
in this one process and on the same anchors, every pass is served from that cache:

- baseline: a plain loop of `run_anchor` calls (what `xp run` does per anchor), no store;
- `run_batch`, local executor, 1 thread: task planning, per-thread graph, scored pairs,
  one SQLite transaction per anchor, summary;
- `run_batch`, local executor, 2 threads;
- the baseline again (the two baselines bracket the batch passes; the ratio uses their mean).

Every pass starts with an empty in-process embedding memo, as a fresh batch process does.

    python bench/batch_bench.py [--anchors 200] [--graph theme|naive]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the scripted provider lives in tests/

from tests.graphs.scripted import rubric, scripted_llm
from xpollinate.batch.anchors import select_anchors
from xpollinate.batch.driver import run_batch
from xpollinate.batch.executors import LocalExecutor
from xpollinate.batch.jobs import _PARTS, BatchJob
from xpollinate.cache import ResponseCache
from xpollinate.catalog.store import DataStore
from xpollinate.graphs.deps import default_deps, run_id_for, run_settings
from xpollinate.graphs.item_xp import ItemXPConfig, ItemXPDeps, build_graph
from xpollinate.graphs.runner import run_anchor
from xpollinate.retrieval.embedder import clear_memo
from xpollinate.xpstore.item_xp_store import ItemXPStore

CONTEXTS = ["Breakfast Routine", "Weekend Party", "Family Dinner", "Outdoor Picnic", "Holiday Baking"]


def _h(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8], 16)


def make_script(gm_pts: list[str]):  # type: ignore[no-untyped-def]
    """Deterministic answers: themes, 10 real GM product-type names per theme, rubric scores by hash."""

    def script(schema: str, prompt: str) -> Any:
        if schema == "Themes":
            return {"themes": [{"context": c, "explanation": "a common use"} for c in CONTEXTS]}
        if schema == "ThemeRecommendations":
            theme = next((c for c in CONTEXTS if c in prompt), CONTEXTS[0])
            start = _h(prompt) % len(gm_pts)
            recs = [gm_pts[(start + 7 * i) % len(gm_pts)].title() for i in range(10)]
            return {"contexts": [{"context": theme, "recs": recs, "explanations": ["handy for " + theme.lower()] * 10}]}
        if schema == "NaiveRecommendations":
            start = _h(prompt) % len(gm_pts)
            recs = [gm_pts[(start + 11 * i) % len(gm_pts)].title() for i in range(10)]
            return {"recs": recs, "explanation": ["goes with it"] * 10}
        if schema in ("ContextualEvaluation", "JudgeEvaluation"):
            return rubric(3 + _h(schema, prompt) % 8)
        raise ValueError(schema)

    return script


@dataclass(frozen=True)
class BenchParts:
    """Real matcher, scorer and grocery filter; the scripted provider over the bench's cache."""

    home: str
    cache_dir: str

    def build(self) -> ItemXPDeps:
        store = DataStore.open(Path(self.home))
        items = store.items()
        gm_pts = sorted(
            p for p in items.loc[items["is_gm"] & (items["n_baskets"] > 0), "product_type"].unique() if p.strip()
        )
        llm, _ = scripted_llm(make_script(gm_pts), cache=ResponseCache(Path(self.cache_dir)))
        return replace(default_deps(store, llm), llm=llm)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--anchors", type=int, default=200)
    ap.add_argument("--graph", choices=["theme", "naive"], default="theme")
    args = ap.parse_args()
    console = Console()
    store = DataStore.open()
    anchors = select_anchors(store.items(), top=args.anchors).anchors
    work = Path(tempfile.mkdtemp(prefix="xp-batch-bench-"))
    parts = BenchParts(str(store.path.parents[2]), str(work / "cache"))
    t0 = time.perf_counter()
    deps = parts.build()
    _PARTS[parts] = deps  # the batch passes reuse the parts loaded here
    load_s = time.perf_counter() - t0
    config = ItemXPConfig(plan="paper", history_pts=0)  # what the scripted provider answers
    settings = run_settings(args.graph, deps.llm, config, store, deps.scorer.scorer_id)
    graph = build_graph(args.graph, deps, config)

    def plain() -> float:
        """The baseline loop; an anchor that raises is counted and the loop goes on, as the batch does."""
        clear_memo()
        t = time.perf_counter()
        for a in anchors:
            try:
                run_anchor(graph, deps.llm, a)
            except Exception:
                errors[0] += 1
        return time.perf_counter() - t

    errors = [0]

    console.print(f"{len(anchors)} anchors, {args.graph} graph, parts loaded in {load_s:.1f} s; filling the cache ...")
    fill_s = plain()
    usage = deps.llm.usage.summary()["total"]
    calls, requests = usage["calls"], usage["requests"]
    rows: list[tuple[str, float]] = []
    failed: dict[int, int] = {}
    base1 = plain()
    rows.append(("baseline: run_anchor loop", base1))
    for threads in (1, 2):
        job = BatchJob(f"bench-{threads}-{run_id_for(settings)}", args.graph, config, parts, settings)
        db = ItemXPStore(work / f"bench-{threads}.sqlite")
        clear_memo()
        s = run_batch([job], anchors, LocalExecutor(threads), db, show_progress=False).summary
        db.close()
        assert s.done + s.failed == len(anchors) and s.usage["calls"] == 0, s.as_dict()
        failed[threads] = s.failed
        rows.append((f"run_batch, local executor, {threads} thread{'s' * (threads > 1)} (+ SQLite store)", s.wall_s))
    base2 = plain()
    rows.append(("baseline again", base2))
    base = (base1 + base2) / 2

    table = Table(
        title=f"batch machinery, {len(anchors)} anchors, warm cache (scripted provider; real matcher, "
        f"scorer {deps.scorer.scorer_id}, grocery filter)",
        title_justify="left",
    )
    for col in ("pass", "wall s", "ms/anchor", "anchors/hour", "vs baseline"):
        table.add_column(col, justify="left" if col == "pass" else "right")
    for name, secs in rows:
        ratio = "" if name.startswith("baseline") else f"{(secs - base) / base:+.1%}"
        table.add_row(
            name, f"{secs:.1f}", f"{1000 * secs / len(anchors):.0f}", f"{3600 * len(anchors) / secs:,.0f}", ratio
        )
    console.print(table)
    console.print(
        f"cache fill (scripted answers, untimed for the ratios): {fill_s:.1f} s; {requests:,} model requests "
        f"({calls:,} provider calls, {requests - calls:,} answered from the cache within the fill: PT-level "
        f"judge verdicts shared across anchors) = {requests / len(anchors):.0f} per anchor; anchors that raised: "
        f"{errors[0]} in the baseline passes (all 3), failed in the batch passes: {failed}"
    )


if __name__ == "__main__":
    main()

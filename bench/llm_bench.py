"""LLM-layer benchmark: schema validity, speed and cache speed-up on real grocery anchors.

    .venv/bin/python bench/llm_bench.py [--write docs/results]    # 20 anchors, local 1.5B Qwen
    .venv/bin/python bench/llm_bench.py --llm local-small --anchors 5

For the top-N grocery items by basket count (one per product type) it asks the paper's theme
generator (theme@v2) and contextual evaluator (evaluator@v2) and the lean plan's (theme@v3,
fit@v1) twice in one process: a first pass on an empty cache, then the same requests again,
which the response cache must answer. The evaluators judge the anchor's strongest
co-purchased GM product type from the market-basket associations (real data, not an
invented pair). It prints one table (schema-valid rate, seconds per call, tokens/s, cache
speed-up as a ratio of the two passes); `--write DIR` writes it as the results page llm-bench.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from xpollinate.cache import ResponseCache
from xpollinate.llm import Failure, get_llm, load_settings

THEME, EVALUATOR, LEAN_THEME, FIT = "theme@v2", "evaluator@v2", "theme@v3", "fit@v1"
PROMPTS = (THEME, EVALUATOR, LEAN_THEME, FIT)


@dataclass
class Anchor:
    item_id: int
    text: str
    product_type: str
    recommendation: str
    explanation: str


@dataclass
class PromptFigures:
    requests: int = 0
    valid: int = 0
    repaired: int = 0
    cache_hits: int = 0
    seconds: list[float] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    model_seconds: float = 0.0
    generation_tps: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def describe(row: object) -> str:
    """The anchor as the prompts see it: catalog text plus product type."""
    return f"{row.text} (product type: {row.product_type})"  # type: ignore[attr-defined]


def load_anchors(n: int) -> list[Anchor]:
    """Top-n grocery items by baskets, distinct product types, each with its top co-purchased GM type."""
    from xpollinate.catalog.store import DataStore
    from xpollinate.retrieval.associations import open_associations
    from xpollinate.retrieval.candidates import CandidateConfig, pt_associations

    store = DataStore.open()
    items = store.items()
    top = items[items["is_grocery"]].sort_values("n_baskets", ascending=False).drop_duplicates("product_type").head(n)
    assoc = open_associations(store)
    anchors = []
    for row in top.itertuples():
        pts = pt_associations(assoc, row.product_type, CandidateConfig())
        if len(pts):
            best = pts.iloc[0]
            rec = str(best["product_type"]).title()
            lift = best.get("lift")
            how = f" (lift {float(lift):.1f})" if lift == lift and lift is not None else ""
            explanation = f"Shoppers who buy {row.product_type.lower()} often buy {rec.lower()} in the same trip{how}."
        else:
            rec, explanation = "Food storage containers", "Keeps leftovers fresh after opening."
        anchors.append(Anchor(int(row.item_id), describe(row), row.product_type, rec, explanation))
    return anchors


def run_pass(llm, anchors: list[Anchor], figures: dict[str, PromptFigures], log: Console) -> float:
    start = time.perf_counter()
    for i, a in enumerate(anchors, 1):
        name = a.product_type.title()
        requests = (
            (THEME, {"anchor_item": a.text}),
            (EVALUATOR, {"anchor_item": a.text, "recommendation": a.recommendation, "explanation": a.explanation}),
            (LEAN_THEME, {"anchor_item": name}),
            (FIT, {"anchor_item": name, "context": "everyday use", "recommendation": a.recommendation}),
        )
        for ref, variables in requests:
            t0 = time.perf_counter()
            res = llm.structured(ref, variables)
            elapsed = time.perf_counter() - t0
            f = figures[ref]
            f.requests += 1
            f.seconds.append(elapsed)
            f.input_tokens += res.usage.input_tokens
            f.output_tokens += res.usage.output_tokens
            f.model_seconds += res.usage.latency_s
            f.cache_hits += int(res.usage.cache_hit)
            if "predicted_per_second" in res.usage.backend_stats:
                f.generation_tps.append(res.usage.backend_stats["predicted_per_second"])
            if isinstance(res, Failure):
                f.failures.append(f"{a.product_type}: {res.kind}: {res.message[:120]}")
            else:
                f.valid += 1
                f.repaired += int(res.usage.calls > 1)
        log.print(f"  [{i}/{len(anchors)}] {a.product_type}", highlight=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default="local", help="provider:model (default: local, the 1.5B Qwen)")
    parser.add_argument("--anchors", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--write", type=Path, default=None, help="write the results page llm-bench into this folder")
    args = parser.parse_args()
    out, log = Console(width=None if Console().is_terminal else 200), Console(stderr=True)

    anchors = load_anchors(args.anchors)
    cache_root = Path(tempfile.mkdtemp(prefix="xp-llm-bench-"))  # a cold cache: pass 1 must call the model
    try:
        settings = load_settings(args.llm, threads=args.threads)
        llm = get_llm(args.llm, settings, cache=ResponseCache(cache_root))
        t0 = time.perf_counter()
        getattr(llm.provider, "loaded", None)  # a local model loads here, so pass 1 times only the calls
        load_s = time.perf_counter() - t0
        first = {ref: PromptFigures() for ref in PROMPTS}
        second = {ref: PromptFigures() for ref in PROMPTS}
        log.print(f"pass 1 (cold cache), {len(anchors)} anchors with {llm.spec}")
        t1 = run_pass(llm, anchors, first, log)
        log.print("pass 2 (same requests)")
        t2 = run_pass(llm, anchors, second, log)
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)

    table = Table(
        title=f"LLM layer, {len(anchors)} grocery anchors, {llm.spec}, {settings.threads or 'all'} threads",
        show_header=True,
    )
    for col in (
        "prompt",
        "schema-valid",
        "repaired",
        "s/call (p50)",
        "s/call (mean)",
        "in tok/call",
        "out tok/call",
        "gen tok/s",
        "end-to-end out tok/s",
        "pass 2 s/call",
        "cache hits",
        "cache speed-up",
    ):
        table.add_column(col, justify="right" if col != "prompt" else "left")
    rows = {}
    for ref in PROMPTS:
        a, b = first[ref], second[ref]
        mean1, mean2 = statistics.mean(a.seconds), statistics.mean(b.seconds)
        row = {
            "valid_rate": a.valid / a.requests,
            "repaired": a.repaired,
            "p50_s": statistics.median(a.seconds),
            "mean_s": mean1,
            "in_tokens_per_call": a.input_tokens / a.requests,
            "out_tokens_per_call": a.output_tokens / a.requests,
            "generation_tps": statistics.mean(a.generation_tps) if a.generation_tps else None,
            "end_to_end_out_tps": a.output_tokens / a.model_seconds if a.model_seconds else None,
            "pass2_mean_s": mean2,
            "pass2_cache_hits": b.cache_hits,
            "speedup": mean1 / mean2 if mean2 else float("inf"),
            "failures": a.failures,
        }
        rows[ref] = row
        table.add_row(
            ref,
            f"{a.valid}/{a.requests} ({100 * row['valid_rate']:.0f}%)",
            str(a.repaired),
            f"{row['p50_s']:.2f}",
            f"{mean1:.2f}",
            f"{row['in_tokens_per_call']:.0f}",
            f"{row['out_tokens_per_call']:.0f}",
            f"{row['generation_tps']:.1f}" if row["generation_tps"] else "-",
            f"{row['end_to_end_out_tps']:.1f}" if row["end_to_end_out_tps"] else "-",
            f"{mean2 * 1000:.2f} ms",
            f"{b.cache_hits}/{b.requests}",
            f"{row['speedup']:,.0f}x",
        )
    out.print(table)
    out.print(
        f"model load {load_s:.1f} s; pass 1 {t1:.1f} s, pass 2 {t2:.3f} s: the cached pass is {t1 / t2:,.0f}x faster",
        highlight=False,
    )
    for ref, row in rows.items():
        for failure in row["failures"]:
            out.print(f"[red]{ref} failure[/red] {failure}", highlight=False)

    if args.write:
        import pandas as pd

        from xpollinate.reports import Report, write_page

        frame = pd.DataFrame(
            [
                {"prompt": ref, **{k: v for k, v in row.items() if k != "failures"}, "failures": len(row["failures"])}
                for ref, row in rows.items()
            ]
        )
        text = (
            f"{len(anchors)} grocery anchors (the most purchased item of each of the top product types), "
            f"{llm.spec}, {settings.threads or 'all'} threads, one request at a time. Pass 1 on an empty response "
            f"cache, pass 2 the same requests again. Model load {load_s:.1f} s; pass 1 {t1:.1f} s, pass 2 {t2:.3f} s."
        )
        headline = {
            "llm": str(llm.spec),
            "anchors": len(anchors),
            "model_load_s": load_s,
            "pass1_s": t1,
            "pass2_s": t2,
            "prompts": rows,
        }
        out.print(
            f"wrote {write_page(Report('LLM layer: schema validity, speed, cache', [('Per prompt', text, frame)], headline=headline), args.write, 'llm-bench')}"
        )
    return 0 if all(r["valid_rate"] == 1.0 for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""What llama.cpp's server features buy on this machine: parallel slots and prefix re-use.

    .venv/bin/python bench/llm_server_bench.py [--anchors 3] [--write docs/results]

The requests are the lean plan's real ones for the most purchased grocery anchors (one per
product type), sent to the embedded model (Qwen2.5-Coder-1.5B Q4_K_M) straight through the
provider, with no response cache:

1. Generation: the anchors' pick requests (`pick@v1`, a shortlist of catalog product types
   and one usage situation each; ~30-60 generated tokens), sent 1, 2 and 4 at a time to a
   model with 4 slots. Reported: wall time, generated tokens per second over all requests,
   and seconds per call.
2. Prefix re-use: the anchors' judge requests (`relevance@v1`, one generated token), one at
   a time, with llama.cpp's prompt cache off (every prompt processed whole) and on (the
   shared instructions and anchor come from the cache: `cache_n` tokens per call).

Both series run in one process, one after the other, on the same requests; the ratio
column compares each row with the first of its series.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xpollinate.batch.anchors import select_anchors
from xpollinate.catalog.store import DataStore
from xpollinate.graphs.deps import default_deps
from xpollinate.llm import get_llm, load_settings
from xpollinate.llm.providers.base import ChatRequest
from xpollinate.llm.providers.llamacpp import LlamaCppProvider
from xpollinate.prompts import default_registry
from xpollinate.prompts.schemas import picks_model
from xpollinate.reports import Report, git_commit, write_page

SITUATIONS = ("everyday use", "a family breakfast", "a weekend party")


def requests(n_anchors: int) -> tuple[list[ChatRequest], list[ChatRequest]]:
    """(pick requests, judge requests) of the lean plan for the top anchors."""
    store = DataStore.open()
    deps = default_deps(store, get_llm("local", cache=False))
    registry = default_registry()
    anchors = select_anchors(store.items(), top=n_anchors, distinct_pts=True).anchors
    picks, judges = [], []
    for anchor in anchors:
        shortlist = deps.shortlister.shortlist(anchor.name, anchor.product_type, SITUATIONS, 40)  # type: ignore[union-attr]
        listing = "\n".join(f"- {n}" for n in shortlist)
        schema = picks_model(shortlist, 4).model_json_schema()
        for situation in SITUATIONS:
            text = registry.render(
                "pick@v1", {"shortlist": listing, "anchor_item": anchor.name, "context": situation, "n": 4}
            ).text
            picks.append(ChatRequest(({"role": "user", "content": text},), schema, "Picks", 120, 0.0, 42))
        for name in shortlist[:8]:
            text = registry.render("relevance@v1", {"anchor_pt": anchor.label, "rec_pt": deps.names.label(name)}).text  # type: ignore[union-attr]
            judges.append(
                ChatRequest(({"role": "user", "content": text},), None, "YesProbability", 1, 0.0, 42, top_logprobs=20)
            )
    return picks, judges


def run(provider: LlamaCppProvider, batch: list[ChatRequest], concurrency: int) -> dict[str, Any]:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = list(pool.map(provider.complete, batch))
    wall = time.perf_counter() - started
    return {
        "requests": len(done),
        "wall_s": wall,
        "generated": sum(c.output_tokens for c in done),
        "prompt_tokens": sum(c.input_tokens for c in done),
        "processed": sum(int(c.stats.get("prompt_n", 0)) for c in done),
        "reused": sum(int(c.stats.get("cache_n", 0)) for c in done),
        "s_per_call": sum(c.latency_s for c in done) / len(done),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", type=int, default=3)
    parser.add_argument("--write", type=Path, default=None, help="write the results page into this folder")
    args = parser.parse_args()
    commit = git_commit()
    settings = load_settings("local")
    picks, judges = requests(args.anchors)
    model = LlamaCppProvider(get_llm("local", cache=False).provider.model, settings.threads, settings.n_ctx, parallel=4)
    run(model, picks[:1], 1)  # load and warm up outside the timings
    rows = []
    for concurrency in (1, 2, 4):
        r = run(model, picks, concurrency)
        rows.append(
            {
                "series": "generation (pick@v1)",
                "setting": f"{concurrency} at a time",
                **r,
                "generated tok/s": r["generated"] / r["wall_s"],
            }
        )
    for cache_prompt in (False, True):
        model.cache_prompt = cache_prompt
        r = run(model, judges, 1)
        rows.append(
            {
                "series": "prefix re-use (relevance@v1)",
                "setting": "prompt cache " + ("on" if cache_prompt else "off"),
                **r,
                "generated tok/s": r["generated"] / r["wall_s"],
            }
        )
    table = pd.DataFrame(rows)
    table["x vs first of series"] = table.groupby("series")["wall_s"].transform(lambda w: w.iloc[0] / w)
    shown = table[
        [
            "series",
            "setting",
            "requests",
            "wall_s",
            "s_per_call",
            "generated",
            "generated tok/s",
            "prompt_tokens",
            "processed",
            "reused",
            "x vs first of series",
        ]
    ]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if args.write:
        text = (
            f"{len(picks)} pick requests and {len(judges)} judge requests of the lean plan for the top {args.anchors} "
            f"grocery anchors, sent to {model.model} (llama.cpp, {model.threads} threads, 4 slots sharing one "
            "KV cache), no response cache. `processed`: prompt tokens computed; `reused`: prompt tokens taken from "
            "the prompt cache; `x vs first of series`: wall-time ratio against the series' first row."
        )
        headline = {"model": model.model, "threads": model.threads, "rows": shown.to_dict("records")}
        path = write_page(
            Report("llama.cpp slots and prefix re-use", [("Results", text, shown)], headline=headline),
            args.write,
            "llm-server",
            commit=commit,
        )
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Two-tower benchmark: training time on the full dataset, then retrieval over every catalog item
with the exact (IndexFlatIP) and approximate (HNSW) FAISS indexes - single-query latency (1 thread),
batched throughput, recall@10 of HNSW against exact - with and without the GM filter. Ratios are
against the exact index measured in the same process.

    python bench/twotower_bench.py            # trains the default model (tags if a tag table exists)
    python bench/twotower_bench.py --saved    # reuse the model in use instead of training
    python bench/twotower_bench.py --write docs/results   # and write the results page twotower-bench

Run it under `flock /tmp/xp-cpu.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from xpollinate.catalog.store import DataStore
from xpollinate.reports import md_table
from xpollinate.retrieval.twotower import Extensions, TwoTowerConfig, prepare, train
from xpollinate.retrieval.twotower.evaluate import user_vectors
from xpollinate.retrieval.twotower.index import ItemIndex, recall_at_k, set_threads
from xpollinate.retrieval.twotower.tags import TagsNotBuiltError, load_tags
from xpollinate.retrieval.twotower.training import restore

SINGLE_QUERIES = 500
K = 10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--saved", action="store_true", help="use the saved model instead of training one")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--write", type=Path, default=None, help="write the results page twotower-bench into this folder")
    args = ap.parse_args()
    training: list[tuple[str, str]] = []
    store = DataStore.open()
    print(f"# two-tower benchmark (data build {store.build_id})\n")
    if args.saved:
        data, model, saved = restore(store)
        cfg, vectors = saved.config, saved.item_vectors
        print(f"model: saved {saved.path.name} (trained in {saved.manifest.get('train_seconds')} s)\n")
        training = [("model", f"saved {saved.path.name}"), ("train", f"{saved.manifest.get('train_seconds')} s")]
    else:
        try:
            load_tags()
            ext = Extensions()
        except TagsNotBuiltError:
            ext = Extensions(tags=False)
        cfg = TwoTowerConfig(epochs=args.epochs, extensions=ext)
        t0 = time.perf_counter()
        data = prepare(store, cfg)
        t_prep = time.perf_counter() - t0
        result = train(data, cfg, threads=1)
        model, vectors = result.model, result.item_vectors
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        training = [
            ("model", f"{cfg.extensions.label()}, dim {cfg.dim}, {cfg.epochs} epochs, batch {cfg.batch_size}"),
            ("training baskets / examples", f"{len(data.split.train):,} / {result.examples:,}"),
            ("prepare (features, sequences; text vectors cached after the first run)", f"{t_prep:.1f} s"),
            (f"train (incl. embedding all {data.items.n:,} items, 1 thread)", f"{result.seconds:.1f} s"),
            ("loss per epoch", ", ".join(f"{x:.3f}" for x in result.losses)),
            ("peak RSS", f"{rss:,.0f} MB"),
        ]
        print("| training (full dataset) | value |\n|---|---:|")
        for what, value in training:
            print(f"| {what} | {value} |")
        print()

    gen, _ = user_vectors(model, data, cfg, data.split.test, item_vectors=vectors)
    gm = data.items.is_gm
    rows = []
    for kind in ("exact", "hnsw"):
        set_threads(1)
        t0 = time.perf_counter()
        index = ItemIndex(vectors, kind)  # type: ignore[arg-type]
        index.add_partition(gm)  # an index of its own for the GM filter
        build_s = time.perf_counter() - t0
        for label, allowed in (("all items", None), ("GM only", gm)):
            set_threads(1)
            lat = []
            for q in gen[:SINGLE_QUERIES]:
                t = time.perf_counter()
                index.search(q[None, :], K, allowed)
                lat.append(time.perf_counter() - t)
            set_threads(2)
            t = time.perf_counter()
            scores, found = index.search(gen, K, allowed)
            batch_s = time.perf_counter() - t
            rows.append(
                dict(
                    kind=kind,
                    scope=label,
                    build=build_s,
                    p50=np.percentile(lat, 50) * 1e3,
                    p95=np.percentile(lat, 95) * 1e3,
                    qps=len(gen) / batch_s,
                    scores=scores,
                    found=found,
                )
            )
    base = {r["scope"]: r for r in rows if r["kind"] == "exact"}
    table = pd.DataFrame(
        [
            {
                "index": r["kind"],
                "filter": r["scope"],
                "build s (all + GM graph)": round(r["build"], 2),
                "single query p50 ms": round(r["p50"], 3),
                "p95 ms": round(r["p95"], 3),
                f"batched queries/s ({len(gen):,} users)": round(r["qps"]),
                "p50 speed-up vs exact": f"{base[r['scope']]['p50'] / r['p50']:.1f}x",
                "throughput vs exact": f"{r['qps'] / base[r['scope']]['qps']:.1f}x",
                f"recall@{K} vs exact (ties counted)": round(
                    recall_at_k(r["found"], base[r["scope"]]["found"], r["scores"], base[r["scope"]]["scores"]), 3
                ),
                f"recall@{K} by item id": round(recall_at_k(r["found"], base[r["scope"]]["found"]), 3),
            }
            for r in rows
        ]
    )
    print(md_table(table))
    note = (
        f"{len(vectors):,} items x {vectors.shape[1]} dims; single queries: first {SINGLE_QUERIES} test households, "
        "1 FAISS thread; batched: all test households in one call, 2 threads. Ratios are against the exact index "
        "(IndexFlatIP) measured in the same process."
    )
    print("\n" + note)
    if args.write is not None:
        from xpollinate.reports import Report, write_page

        page = Report(
            "Two-tower retrieval: training and FAISS exact vs HNSW",
            [
                ("Training", f"Data build {store.build_id}.", pd.DataFrame(training, columns=["what", "value"])),
                ("Retrieval over every catalog item", note, table),
            ],
            headline={"training": dict(training), "retrieval": table.to_dict("records")},
        )
        print(f"wrote {write_page(page, args.write, 'twotower-bench')}")


if __name__ == "__main__":
    main()

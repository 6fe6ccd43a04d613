"""Benchmark: catalog index build, query embedding, FAISS search vs chromadb's own query.

On the data store in use ($XP_HOME, default ./.xp; `xp data build` first). The index is
built fresh into a temporary run directory so the build is always timed; everything
else runs against it in this one process, each figure the median of `--repeats` runs:

- build: GM items -> distinct texts embedded (texts/s) -> chroma write + read-back check;
- query embedding: 50 recommendation-like texts in one batch vs one call per text;
- search, 50 queries, top 10: FAISS exact over the distinct texts (what the matcher does)
  and over all item vectors, each on 1 OpenMP thread vs the default; chromadb's own
  query (HNSW, approximate) over the same item vectors as the baseline, with its recall;
- one query alone (the graph's smallest call), 1 thread vs default;
- the matcher end to end: embed + search + similar-item expansion for the 50 texts.

    python bench/matcher_bench.py [--model minilm|mpnet] [--all-items] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

# Recommendation-like texts, as the recommendation agent writes them (50).
QUERIES = [
    "coffee filters",
    "paper coffee filter",
    "charcoal briquettes",
    "lighter fluid",
    "AA batteries",
    "paper towels",
    "egg poacher",
    "milk frother",
    "paper plates",
    "aluminum foil",
    "trash bags",
    "dish soap",
    "kitchen sponges",
    "scented candles",
    "birthday card",
    "wrapping paper",
    "diapers",
    "baby wipes",
    "toothbrush",
    "shampoo",
    "razor blades",
    "sunscreen",
    "light bulbs",
    "plastic wrap",
    "food storage containers",
    "can opener",
    "coffee mug",
    "paper napkins",
    "matches",
    "bouquet of flowers",
    "potting soil",
    "dog leash",
    "cat litter",
    "baking pan",
    "cutting board",
    "plastic cups",
    "grill brush",
    "cooler",
    "laundry detergent",
    "mason jars",
    "tea kettle",
    "thermos",
    "birthday candles",
    "bird feeder",
    "toothpaste",
    "ice cube tray",
    "rubber gloves",
    "freezer bags",
    "water filter",
    "popcorn popper",
]
K = 10


def median_s(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.1f} s"


def ratio(baseline_s: float, s: float, what: str) -> str:
    """'2.1x faster than chroma' / '9.0x slower than chroma'."""
    return (
        f"{baseline_s / s:.1f}x faster than {what}" if s <= baseline_s else f"{s / baseline_s:.1f}x slower than {what}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm", choices=["minilm", "mpnet"])
    parser.add_argument("--all-items", action="store_true", help="index every GM item, not only sold ones")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    console = Console(width=150)

    t0 = time.perf_counter()
    import faiss

    from xpollinate.catalog.store import DataStore
    from xpollinate.retrieval.catalog_index import IndexScope, build_index
    from xpollinate.retrieval.embedder import embed
    from xpollinate.retrieval.matcher import SemanticMatcher

    default_threads = faiss.omp_get_max_threads()
    store = DataStore.open()
    t_model = time.perf_counter()
    embed(["warm-up"], name=args.model)  # import sentence-transformers and load the model
    load_s = time.perf_counter() - t_model

    rows: list[tuple[str, str, str, str, str]] = []  # (step, what, time, throughput, vs baseline)
    with tempfile.TemporaryDirectory(prefix="xp-matcher-bench-") as tmp:
        with console.status("building the catalog index (fresh, in a temporary run directory)"):
            index, _ = build_index(store, args.model, IndexScope(sold_only=not args.all_items), home=Path(tmp))
        m = index.manifest
        rows += [
            ("startup", f"import sentence-transformers + load {args.model}", fmt_ms(load_s), "", ""),
            (
                "build",
                f"embed {m['n_texts']:,} distinct texts of {m['n_items']:,} GM items",
                fmt_ms(m["embed_seconds"]),
                f"{m['texts_per_second']:,.0f} texts/s",
                f"{m['n_items'] / m['n_texts']:.1f}x fewer texts than items",
            ),
            (
                "build",
                "chroma: write per-item records + read back, check bit-exact",
                fmt_ms(m["chroma_seconds"]),
                f"{m['n_items'] / m['chroma_seconds']:,.0f} items/s",
                "",
            ),
            ("build", "total (embed + tables + chroma)", fmt_ms(m["seconds"]), "", ""),
        ]

        n = len(QUERIES)
        batch_s = median_s(lambda: embed(QUERIES, name=args.model), args.repeats)
        single_s = median_s(lambda: [embed([q], name=args.model) for q in QUERIES], max(1, args.repeats // 3))
        rows += [
            (
                "embed",
                f"{n} queries, one call per text (baseline)",
                fmt_ms(single_s),
                f"{n / single_s:,.0f} texts/s",
                "1.0x",
            ),
            (
                "embed",
                f"{n} queries in one batch",
                fmt_ms(batch_s),
                f"{n / batch_s:,.0f} texts/s",
                ratio(single_s, batch_s, "one per call"),
            ),
        ]

        queries = embed(QUERIES, name=args.model)
        item_vectors = index.item_vectors()
        items_flat = faiss.IndexFlatIP(item_vectors.shape[1])
        items_flat.add(item_vectors)
        texts_flat = index.faiss_index
        col = index.collection()

        def faiss_search(flat: faiss.IndexFlatIP, x: np.ndarray, threads: int) -> float:
            faiss.omp_set_num_threads(threads)
            return median_s(lambda: flat.search(x, K), args.repeats)

        chroma_s = median_s(
            lambda: col.query(query_embeddings=queries, n_results=K, include=["distances"]), args.repeats
        )
        chroma_dist = np.array(col.query(query_embeddings=queries, n_results=K, include=["distances"])["distances"])
        faiss.omp_set_num_threads(1)
        exact_scores, _ = items_flat.search(queries, K)
        # recall@K by score (identical items tie, so ids are interchangeable): a chroma hit counts when its
        # inner product (space "ip": distance = 1 - ip) reaches the exact K-th best score
        recall = float(np.mean((1.0 - chroma_dist) >= exact_scores[:, -1:] - 1e-5))
        results = {
            (label, threads): faiss_search(flat, queries, threads)
            for label, flat in (("texts", texts_flat), ("items", items_flat))
            for threads in (1, default_threads)
        }
        one = queries[:1]
        single = {threads: faiss_search(items_flat, one, threads) for threads in (1, default_threads)}

        rows.append(
            (
                "search",
                f"chromadb query, {n} vectors, top {K}, HNSW over {m['n_items']:,} items (baseline)",
                fmt_ms(chroma_s),
                f"recall@{K} {recall:.3f}",
                "1.0x",
            )
        )
        for label, size in (("items", m["n_items"]), ("texts", m["n_texts"])):
            for threads in (1, default_threads):
                s = results[(label, threads)]
                rows.append(
                    (
                        "search",
                        f"FAISS exact, {n} queries over {size:,} {label}, {threads} thread(s)",
                        fmt_ms(s),
                        f"{n / s:,.0f} queries/s",
                        ratio(chroma_s, s, "chroma"),
                    )
                )
        for threads in (1, default_threads):
            rows.append(
                (
                    "search",
                    f"FAISS exact, 1 query over {m['n_items']:,} items, {threads} thread(s)",
                    fmt_ms(single[threads]),
                    "",
                    ratio(single[default_threads], single[threads], f"{default_threads} threads"),
                )
            )

        matcher = SemanticMatcher(index)
        match_s = median_s(lambda: matcher.match(QUERIES, k=3), args.repeats)
        direct = matcher.match(QUERIES, k=3)
        expand_s = median_s(lambda: matcher.expand(direct, per_pt=2, neighbour_pts=1), args.repeats)
        per_anchor = match_s + expand_s
        rows += [
            ("matcher", f"match {n} recommendations, k=3 (embed + search + item lists)", fmt_ms(match_s), "", ""),
            ("matcher", "expand: 2 items per matched PT and per nearest neighbour PT", fmt_ms(expand_s), "", ""),
            (
                "matcher",
                "per anchor (~50 recommendations): match + expand",
                fmt_ms(per_anchor),
                f"{3600 / per_anchor:,.0f} anchors/h",
                "target 3,000/h for all non-LLM work",
            ),
        ]
        faiss.omp_set_num_threads(default_threads)

    table = Table(
        title=f"semantic matcher benchmark ({args.model}, {'all' if args.all_items else 'sold'} GM items, "
        f"data build {store.build_id}, {default_threads} cores, median of {args.repeats})"
    )
    for col_name in ("step", "what", "time", "throughput", "vs baseline"):
        table.add_column(col_name, justify="right" if col_name in ("time", "throughput") else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"total bench time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

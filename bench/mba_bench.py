"""Benchmark: all grocery -> GM pair statistics on the full dataset, against two baselines.

Each measurement runs in its own child process so that its wall time and peak
memory (max RSS) are its own. Baselines, in the same run:

- the fair one: the same sparse co-occurrence product `X_og.T @ X_gm` over the basket x key
  incidence matrices, computed plainly with scipy (counts only: no thresholds, no statistics).
  It is the core of our computation, so its ratio says what the statistics cost on top;
- mlxtend (fpgrowth + association_rules, pairs only) on the same one-hot baskets at the same
  minimum support, with a time limit and an address-space cap; if it runs out of either, the
  table says so. It counts every frequent pair (grocery-grocery and GM-GM too).

    python bench/mba_bench.py [--timeout 600] [--mem-gb 16] [--write docs/results]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _basket_onehot(level: str = "pt"):  # type: ignore[no-untyped-def]
    """Grocery and GM incidence matrices per basket, and both side by side (mlxtend's input)."""
    import scipy.sparse as sp

    from xpollinate.catalog.store import DataStore
    from xpollinate.retrieval.transactions import BasketLines, key_map, side_incidence, transaction_index

    store = DataStore.open()
    items = store.items()
    lines = BasketLines.from_baskets(store.baskets(columns=["household_id", "week", "item_ids"]))
    trans, n = transaction_index(lines, "basket", 3)
    og = side_incidence(lines, trans, n, key_map(items, level, "grocery"))
    gm = side_incidence(lines, trans, n, key_map(items, level, "gm"))
    return og, gm, sp.hstack([og.matrix, gm.matrix]).tocsc()


def child_ours() -> dict:
    """All four tables (PT and item level, per basket and per 3-week household window)."""
    from xpollinate.catalog.store import DataStore
    from xpollinate.retrieval.associations import AssocConfig, compute_statistics

    t0 = time.perf_counter()
    store = DataStore.open()
    items, baskets = store.items(), store.baskets(columns=["household_id", "week", "item_ids"])
    t_load = time.perf_counter() - t0
    t1 = time.perf_counter()
    tables = compute_statistics(items, baskets, AssocConfig())
    t_all = time.perf_counter() - t1
    pt_only = {}
    from xpollinate.retrieval.mba import Thresholds, pair_statistics

    og, gm, _ = _basket_onehot("pt")
    t2 = time.perf_counter()
    same = pair_statistics(og, gm, Thresholds(min_support=AssocConfig().pt_basket.min_support))
    pt_only = {"seconds": time.perf_counter() - t2, "pairs": len(same)}
    pt_scipy = _plain_product(og, gm)
    og, gm, _ = _basket_onehot("item")
    t3 = time.perf_counter()
    same_item = pair_statistics(og, gm, Thresholds(min_support=item_min_support(og.n_transactions)))
    item_only = {"seconds": time.perf_counter() - t3, "pairs": len(same_item)}
    item_scipy = _plain_product(og, gm)
    return {
        "n_baskets": len(baskets),
        "load_s": t_load,
        "all_s": t_all,
        "rows": {k: len(v) for k, v in tables.items()},
        "pt_basket_same_support": pt_only,
        "item_basket_same_support": item_only,
        "pt_basket_scipy": pt_scipy,
        "item_basket_scipy": item_scipy,
        "peak_mb": _peak_mb(),
    }


def _plain_product(og, gm) -> dict:  # type: ignore[no-untyped-def]
    """The fair baseline: every grocery x GM co-occurrence count as one scipy sparse product, best of 3."""
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        counts = (og.matrix.T @ gm.matrix).tocoo()
        times.append(time.perf_counter() - t0)
    return {"seconds": min(times), "nonzero": int(counts.nnz)}


def item_min_support(n_baskets: int) -> float:
    """The item-level minimum count (3 baskets) expressed as a support, for mlxtend."""
    return 3 / n_baskets


def child_mlxtend(min_support: float, level: str) -> dict:
    """fpgrowth (max_len=2) + association_rules on the basket one-hot, grocery -> GM rules kept."""
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    og, gm, onehot = _basket_onehot(level)
    columns = [f"og:{k}" for k in og.keys] + [f"gm:{k}" for k in gm.keys]
    frame = pd.DataFrame.sparse.from_spmatrix(onehot.astype(bool), columns=columns)
    t0 = time.perf_counter()
    frequent = fpgrowth(frame, min_support=min_support, use_colnames=True, max_len=2)
    t_fp = time.perf_counter() - t0
    rules = association_rules(frequent, num_itemsets=len(frame), metric="confidence", min_threshold=0.0)
    t_total = time.perf_counter() - t0
    ante = rules["antecedents"].map(lambda s: next(iter(s)) if len(s) == 1 else "")
    cons = rules["consequents"].map(lambda s: next(iter(s)) if len(s) == 1 else "")
    pairs = int((ante.str.startswith("og:") & cons.str.startswith("gm:")).sum())
    return {"fpgrowth_s": t_fp, "total_s": t_total, "itemsets": len(frequent), "pairs": pairs, "peak_mb": _peak_mb()}


def run_child(mode: str, timeout: float, mem_gb: float, *extra: str) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--mem-gb", str(mem_gb), *extra]
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s (killed)", "wall_s": time.perf_counter() - started}
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"failed: {last[:120]}", "wall_s": wall}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed to each measurement")
    parser.add_argument("--mem-gb", type=float, default=16, help="address-space cap of each child process")
    parser.add_argument("--item-timeout", type=float, default=300, help="seconds allowed to mlxtend at item level")
    parser.add_argument("--write", type=Path, default=None, help="write the results page mba into this folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--min-support", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        cap = int(args.mem_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        try:
            if args.child == "ours":
                result = child_ours()
            else:
                result = child_mlxtend(args.min_support, args.child.removeprefix("mlxtend-"))
        except MemoryError:
            result = {"error": f"out of memory (cap {args.mem_gb:g} GB)"}
        print(json.dumps(result))
        return

    from xpollinate.retrieval.associations import AssocConfig

    min_support = AssocConfig().pt_basket.min_support
    ours = run_child("ours", args.timeout, args.mem_gb)
    if "error" in ours:
        raise SystemExit(f"our computation failed: {ours['error']}")
    theirs = run_child("mlxtend-pt", args.timeout, args.mem_gb, "--min-support", str(min_support))
    item_support = item_min_support(ours["n_baskets"])
    theirs_item = run_child("mlxtend-item", args.item_timeout, args.mem_gb, "--min-support", str(item_support))

    rows = table_rows(ours, theirs, theirs_item, min_support, item_support)
    title = f"Grocery -> GM pair statistics, full Complete Journey ({ours['n_baskets']:,} baskets)"
    table = Table(title=title)
    for col in rows[0]:
        table.add_column(col, justify="left" if col in ("run", "what") else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    Console(width=180).print(table)
    print(json.dumps({"ours": ours, "mlxtend_pt": theirs, "mlxtend_item": theirs_item}))
    if args.write:
        import pandas as pd

        from xpollinate.reports import Report, write_page

        text = (
            "Each row in its own process (wall time; peak memory of the process). 'vs scipy' divides a row's "
            "time by the plain scipy product of the same level: our statistics on top of it, and mlxtend's "
            "whole computation. mlxtend counts every frequent pair, grocery-grocery and GM-GM included."
        )
        headline = {
            "baskets": ours["n_baskets"],
            "all_tables_s": ours["all_s"],
            "peak_mb": ours["peak_mb"],
            "pt": {
                "ours_s": ours["pt_basket_same_support"]["seconds"],
                "scipy_s": ours["pt_basket_scipy"]["seconds"],
                "mlxtend_s": theirs.get("total_s"),
            },
            "item": {
                "ours_s": ours["item_basket_same_support"]["seconds"],
                "scipy_s": ours["item_basket_scipy"]["seconds"],
                "mlxtend_s": theirs_item.get("total_s"),
            },
        }
        page = Report(
            "Market-basket pair statistics against scipy and mlxtend",
            [(title, text, pd.DataFrame(rows))],
            headline=headline,
        )
        print(f"wrote {write_page(page, args.write, 'mba')}")


def table_rows(ours: dict, theirs: dict, theirs_item: dict, min_support: float, item_support: float) -> list[dict]:
    def row(
        run: str, what: str, seconds: float | None, peak: float | None, pairs: int | str, base: float | None
    ) -> dict:
        return {
            "run": run,
            "what": what,
            "wall s": "" if seconds is None else f"{seconds:.3f}",
            "peak MB": "" if peak is None else f"{peak:.0f}",
            "pairs": pairs if isinstance(pairs, str) else f"{pairs:,}",
            "vs scipy": "" if seconds is None or not base else f"{seconds / base:,.1f}x",
        }

    out = [
        row(
            "xpollinate",
            "all 4 tables: PT + item level, basket + 3-week window (compute only)",
            ours["all_s"],
            ours["peak_mb"],
            sum(ours["rows"].values()),
            None,
        ),
        row("xpollinate", "loading the store", ours["load_s"], None, "", None),
    ]
    for level, support, same, plain, other in (
        ("PT x basket", f"{min_support:g}", ours["pt_basket_same_support"], ours["pt_basket_scipy"], theirs),
        (
            "item x basket",
            f"{item_support:.3g} (3 baskets)",
            ours["item_basket_same_support"],
            ours["item_basket_scipy"],
            theirs_item,
        ),
    ):
        base = plain["seconds"]
        out.append(
            row(
                "scipy",
                f"{level}: X_og.T @ X_gm, counts only (baseline)",
                base,
                None,
                f"{plain['nonzero']:,} nonzero",
                base,
            )
        )
        out.append(
            row("xpollinate", f"{level}: statistics, min support {support}", same["seconds"], None, same["pairs"], base)
        )
        label = f"{level}: fpgrowth(max_len=2) + association_rules, min support {support}"
        if "error" in other:
            out.append(row("mlxtend 0.25", f"{label}: {other['error']}", None, None, "", None))
        else:
            out.append(row("mlxtend 0.25", label, other["total_s"], other["peak_mb"], other["pairs"], base))
    return out


if __name__ == "__main__":
    main()

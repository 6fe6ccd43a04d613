"""STARS-style ablation: the full two-tower model and each extension removed, the same data,
seed and epochs; prints a table per scope (all items, GM only) and writes the results page
twotower-ablation with --write. Run it under `flock /tmp/xp-cpu.lock` on a shared machine.

    python bench/twotower_ablation.py [--epochs 1] [--write docs/results]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from xpollinate.catalog.store import DataStore
from xpollinate.reports import md_table
from xpollinate.retrieval.twotower import Extensions, TwoTowerConfig
from xpollinate.retrieval.twotower.experiments import ablation
from xpollinate.retrieval.twotower.tags import TagsNotBuiltError, load_tags

METRICS = ("Recall@5", "Recall@10", "Recall@20", "NDCG@10", "Hit@10", "Coverage@10")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=1, help="training epochs of every variant")
    ap.add_argument(
        "--write", type=Path, default=None, help="write the results page twotower-ablation into this folder"
    )
    args = ap.parse_args()
    try:
        load_tags()
        ext = Extensions()
        tags_note = ""
    except TagsNotBuiltError:  # the tag table needs a long LLM pass (`xp twotower tag`): ablate the rest
        ext = Extensions(tags=False)
        tags_note = " No attribute-tag table was built (`xp twotower tag`), so the full model here is without tags."
        print("note: no attribute-tag table (`xp twotower tag`); the full model is trained without the tags extension")
    cfg = TwoTowerConfig(epochs=args.epochs, extensions=ext)
    started = time.perf_counter()
    res = ablation(DataStore.open(), cfg, progress=None, threads=1)
    tables = {
        scope: pd.DataFrame(
            [
                {"variant": name, **{k: round(m[k], 4) for k in METRICS}, "train s": round(m["train_seconds"])}
                for name, m in rows.items()
            ]
        )
        for scope, rows in res.items()
    }
    for scope, frame in tables.items():
        print(f"scope {scope}\n{md_table(frame)}\n")
    total = time.perf_counter() - started
    print(f"total {total:.0f} s")
    if args.write is not None:
        from xpollinate.reports import Report, write_page

        text = (
            f"Each variant trained for {args.epochs} epoch(s) on the same data and seed (1 torch thread), "
            "then scored on the test households: 'all' ranks every catalog item, 'gm' GM items only. "
            f"Total {total:.0f} s.{tags_note}"
        )
        page = Report(
            "Two-tower ablation: each extension removed",
            [(f"Scope {scope}", text, frame) for scope, frame in tables.items()],
            headline={scope: frame.to_dict("records") for scope, frame in tables.items()},
        )
        print(f"wrote {write_page(page, args.write, 'twotower-ablation')}")


if __name__ == "__main__":
    main()

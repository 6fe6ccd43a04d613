"""A real batch in its own process, for the kill -9 test on a real model:
`python -m tests.batch.real_child HOME N SPEC` runs the lean grounded theme graph over the N most
purchased grocery anchors (one per product type) of HOME's store with the model SPEC, and prints
its model requests, calls and anchors done (JSON) when it finishes. The cache is HOME's own."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from xpollinate.batch.anchors import select_anchors
from xpollinate.batch.driver import run_batch
from xpollinate.batch.executors import LocalExecutor
from xpollinate.batch.jobs import DefaultParts, job_for, shared_parts
from xpollinate.catalog.store import DataStore
from xpollinate.graphs.item_xp import ItemXPConfig
from xpollinate.xpstore.item_xp_store import ItemXPStore


def main(home: Path, n: int, spec: str) -> None:
    os.environ["XP_HOME"] = str(home)
    store = DataStore.open(home)
    parts = DefaultParts(home=str(home), llm=spec)
    job = job_for("theme", ItemXPConfig(), parts, store, shared_parts(parts))
    anchors = select_anchors(store.items(), top=n, distinct_pts=True).anchors
    xp_store = ItemXPStore(home / "item_xp.sqlite")
    s = run_batch([job], anchors, LocalExecutor(1), xp_store, show_progress=False).summary
    print(
        json.dumps(
            {
                "requests": s.usage["requests"],
                "calls": s.usage["calls"],
                "cache_hits": s.usage["cache_hits"],
                "done": s.done,
                "failed": s.failed,
                "skipped": s.skipped_finished,
                "run_id": job.run_id,
                "out_of_catalog": s.out_of_catalog,
                "copied": s.recs_copied,
                "failures": s.usage["failures"],
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])

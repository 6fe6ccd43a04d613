"""A batch in its own process, for the kill -9 test: `python -m tests.batch.batch_child HOME N DELAY`.

Prints the model calls it made (JSON) when it finishes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.batch.scripted_parts import ScriptedParts, anchors, job
from xpollinate.batch.driver import run_batch
from xpollinate.batch.executors import LocalExecutor
from xpollinate.batch.jobs import shared_parts
from xpollinate.xpstore.item_xp_store import ItemXPStore


def main(home: Path, n: int, delay: float) -> None:
    parts = ScriptedParts(str(home / "cache"), delay_s=delay)
    store = ItemXPStore(home / "xp.sqlite")
    summary = run_batch([job(parts)], anchors(n), LocalExecutor(2), store, show_progress=False).summary
    provider = shared_parts(parts).llm.provider
    print(
        json.dumps(
            {
                "calls": sum(provider.calls.values()),
                "done": summary.done,  # type: ignore[attr-defined]
                "skipped": summary.skipped_finished,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))

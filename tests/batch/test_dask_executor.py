"""The same batch on a Dask LocalCluster (2 worker processes on 127.0.0.1): workers run
`run_anchor` and return outcomes, the driver alone writes the store; results equal a local run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.batch.scripted_parts import ScriptedParts, anchors, job
from tests.batch.test_batch_scripted import store_consistent
from xpollinate.batch.driver import run_batch
from xpollinate.batch.executors import DaskExecutor, LocalExecutor
from xpollinate.xpstore.item_xp_store import ItemXPStore

ROOT = Path(__file__).resolve().parents[2]


def test_dask_local_cluster_matches_local_executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # worker processes import the scripted parts from tests/
    items = anchors(8)
    local_store = ItemXPStore(tmp_path / "local.sqlite")
    local = job(ScriptedParts(str(tmp_path / "cache-local")))
    run_batch([local], items, LocalExecutor(1), local_store, show_progress=False)

    executor = DaskExecutor(workers=2, threads_per_worker=1)
    try:
        assert len(executor.client.nthreads()) == 2
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in executor.client.nthreads())
        store = ItemXPStore(tmp_path / "dask.sqlite")
        dist = job(ScriptedParts(str(tmp_path / "cache-dask")))
        s = run_batch([dist], items, executor, store, show_progress=False).summary
        assert (s.done, s.failed, s.executor) == (8, 0, "dask")
        assert (
            s.usage["requests"] > 0 and s.judge_sharing()["cache_hits"] > 0
        )  # the cache is shared by worker processes
        # both worker processes ran anchors, none of them this driver process
        workers = {store.anchor(dist.run_id, a.item_id)["audit"]["worker"] for a in items}
        assert len(workers) == 2 and not any(w.endswith(f":{os.getpid()}") for w in workers)
        again = run_batch([dist], items, executor, store, show_progress=False).summary
        assert (again.skipped_finished, again.attempted) == (8, 0)
    finally:
        executor.close()
    for a in items:
        assert [(r["item_id"], r["combined"]) for r in store.recommendations(a.item_id, dist.run_id)] == [
            (r["item_id"], r["combined"]) for r in local_store.recommendations(a.item_id, local.run_id)
        ]
    store_consistent(store.path)

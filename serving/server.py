"""Run the app under uvicorn (uvloop + httptools), in one or several worker processes.

Workers are separate processes (the GIL makes threads useless for this CPU-bound work),
each with its own copy of the state, sharing one listening socket. Prometheus samples
are aggregated across them through a fresh `PROMETHEUS_MULTIPROC_DIR`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from xpollinate.serving.config import ServeConfig
from xpollinate.settings import ensure_dir


def prepare(config: ServeConfig, say=print) -> Path:
    """Build what the service needs and can compute on its own: the historical candidate table (and its associations)."""
    from xpollinate.catalog.store import DataStore
    from xpollinate.ranking.candidate_table import build_table
    from xpollinate.retrieval.associations import open_associations

    store = DataStore.open(config.home)
    say(f"data build {store.build_id}: association tables")
    assoc = open_associations(store, home=config.home)
    say("historical candidate table (every grocery item ever bought)")
    return build_table(store, assoc, k=max(config.per_anchor, 30), home=config.home,
                       tick=lambda n, total: say(f"  {n}/{total} anchors") if n == total or n % 10_000 < 200 else None)


def run_server(config: ServeConfig) -> None:
    import uvicorn

    os.environ.update(config.to_env())
    # torch's thread count is per calling thread (`torch.set_num_threads` in the state loader's thread does not
    # reach a thread that already ran torch): set it for every thread of every worker before torch loads.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(config.threads)
    multiproc_dir = None
    if config.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiproc_dir = tempfile.mkdtemp(prefix="prometheus-", dir=ensure_dir(config.home / "serve"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    try:
        uvicorn.run(
            "xpollinate.serving.app:app_from_env",
            factory=True,
            host=config.host,
            port=config.port,
            workers=config.workers if config.workers > 1 else None,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="info",
            timeout_graceful_shutdown=10,
            timeout_worker_healthcheck=30,  # a loaded machine can take longer than 5 s to import a worker
        )
    finally:
        if multiproc_dir:
            shutil.rmtree(multiproc_dir, ignore_errors=True)

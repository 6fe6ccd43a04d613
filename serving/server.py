"""Run the app under uvicorn (uvloop + httptools), in one or several worker processes.

Workers are separate processes (the GIL makes threads useless for this CPU-bound work),
each with its own copy of the state. Prometheus samples are aggregated across them
through a fresh `PROMETHEUS_MULTIPROC_DIR`.

How connections reach the workers (`ServeConfig.sockets`):

- `per-worker` (default on Linux): each worker binds its own socket with SO_REUSEPORT and
  the kernel picks a worker for each new connection by a hash of the client's address and
  port. Why: with one shared socket, whichever worker wakes first accepts a whole burst of
  new connections; wrk's 64 keep-alive connections landed 58/42, 89/11 and even 100/0 on
  2 workers, and the loaded worker's queue set the p99. Hashing splits 64 connections
  like fair coins: 59/41 or worse about one time in six, 66/34 or worse one in sixty.
  This process supervises the workers: it forwards SIGINT/SIGTERM, restarts a worker that
  dies after running a while, and stops (with the worker's exit code) if one cannot bind
  its socket or dies while starting.
- `shared`: one socket all workers accept from (uvicorn's own `--workers` supervisor).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from xpollinate.serving.config import ServeConfig
from xpollinate.settings import ensure_dir


def prepare(config: ServeConfig, say=print) -> Path:
    """Build what the service needs and can compute on its own: the historical candidate table (and its associations)."""
    from xpollinate.catalog.store import DataStore
    from xpollinate.retrieval.associations import open_associations
    from xpollinate.retrieval.candidate_table import build_table

    store = DataStore.open(config.home)
    say(f"data build {store.build_id}: association tables")
    assoc = open_associations(store, home=config.home)
    say("historical candidate table (every grocery item ever bought)")
    return build_table(
        store,
        assoc,
        k=max(config.per_anchor, 30),
        home=config.home,
        tick=lambda n, total: say(f"  {n}/{total} anchors") if n == total or n % 10_000 < 200 else None,
    )


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
        if config.workers > 1 and per_worker_sockets(config):
            sys.exit(supervise(config))
        uvicorn.run(
            APP,
            factory=True,
            host=config.host,
            port=config.port,
            workers=config.workers if config.workers > 1 else None,
            timeout_worker_healthcheck=30,  # a loaded machine can take longer than 5 s to import a worker
            **UVICORN,
        )
    finally:
        if multiproc_dir:
            shutil.rmtree(multiproc_dir, ignore_errors=True)


APP = "xpollinate.serving.app:app_from_env"
UVICORN: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "access_log": False,
    "log_level": "info",
    "timeout_graceful_shutdown": 10,
}
BIND_FAILED = 3  # a worker's exit code when it cannot bind (uvicorn's STARTUP_FAILURE)
STARTUP_S = 10.0  # a worker that dies sooner after its start is not restarted: the server stops
log = logging.getLogger("xpollinate.serving")


def per_worker_sockets(config: ServeConfig) -> bool:
    """Whether workers get sockets of their own: asked for, supported, and a fixed port (port 0 would differ per worker)."""
    return config.sockets == "per-worker" and hasattr(socket, "SO_REUSEPORT") and config.port != 0


def worker_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that other workers may bind too (SO_REUSEPORT); uvicorn makes it listen."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker_main(index: int) -> None:
    """One worker process (spawned; the config comes in the environment, as for uvicorn's workers)."""
    import uvicorn

    config = ServeConfig.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sock = worker_socket(config.host, config.port)
    except OSError as exc:
        log.error("worker %d: cannot listen on %s:%d: %s", index, config.host, config.port, exc)
        sys.exit(BIND_FAILED)
    log.info("worker %d (pid %d) listening on http://%s:%d", index, os.getpid(), config.host, config.port)
    uvicorn.Server(uvicorn.Config(APP, factory=True, **UVICORN)).run(sockets=[sock])


def supervise(config: ServeConfig) -> int:
    """Start `config.workers` workers on per-worker sockets; forward SIGINT/SIGTERM; restart a worker that dies
    unasked after running a while; stop all if one cannot bind its socket (exit code 3) or dies while starting
    (its exit code). Returns the exit code for the server."""
    ctx = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def on_signal(_signum: int, _frame) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    started: list[float] = [0.0] * config.workers

    def start(i: int):
        proc = ctx.Process(target=_worker_main, args=(i,), name=f"xp-serve-worker-{i}", daemon=False)
        proc.start()
        started[i] = time.monotonic()
        return proc

    workers = [start(i) for i in range(config.workers)]
    code = 0
    try:
        while not stop.wait(0.5):
            for i, w in enumerate(workers):
                if w.is_alive():
                    continue
                if w.exitcode == BIND_FAILED or time.monotonic() - started[i] < STARTUP_S:
                    # cannot bind, or died while starting: restarting would only loop; say so and stop
                    log.error(
                        "worker %d (pid %s) exited with %s %s: stopping the server",
                        i,
                        w.pid,
                        w.exitcode,
                        "(cannot bind its socket)" if w.exitcode == BIND_FAILED else "while starting",
                    )
                    code = w.exitcode if w.exitcode and w.exitcode > 0 else 1
                    stop.set()
                    break
                log.warning("worker %d (pid %s) exited with %s: restarting it", i, w.pid, w.exitcode)
                workers[i] = start(i)
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()  # SIGTERM: uvicorn drains its connections and stops
        for w in workers:
            w.join(15)
            if w.is_alive():
                w.kill()
                w.join(5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code

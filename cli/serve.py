"""`xp serve`: the HTTP service (item-XP lookups, live cart recommendations)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from xpollinate.cli.common import err, handle_errors
from xpollinate.errors import XPError
from xpollinate.serving.config import ADMIN_TOKEN_ENV, ServeConfig


@handle_errors
def serve_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (one per core is a good start).")] = 1,
    sockets: Annotated[
        str,
        typer.Option(
            help="With several workers: per-worker (each its own SO_REUSEPORT socket; the kernel spreads connections by client address) or shared (one socket all workers accept from)."
        ),
    ] = "per-worker",
    ranker: Annotated[
        str, typer.Option(help="auto: trained ranker if saved, else heuristic; neural: require it; heuristic.")
    ] = "auto",
    item_xp: Annotated[
        str,
        typer.Option(
            "--item-xp",
            help="required | optional (serve historical candidates while the item-XP store is missing) | off.",
        ),
    ] = "required",
    max_cart: Annotated[int, typer.Option(help="Most item ids per cart request (more: 422).")] = 100,
    max_k: Annotated[int, typer.Option(help="Largest k per request (more: 422).")] = 50,
    default_k: Annotated[int, typer.Option(help="k when a request gives none.")] = 10,
    max_per_pt: Annotated[int, typer.Option(help="Default cap of items per product type.")] = 2,
    per_anchor: Annotated[int, typer.Option(help="Candidates per grocery cart item (paper: 30).")] = 30,
    max_pool: Annotated[int, typer.Option(help="Pool cap reached by PT-stratified sampling (paper: 300).")] = 300,
    watch: Annotated[float, typer.Option(help="Seconds between checks for new store/model versions (0: off).")] = 10.0,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast/--no-fast",
            help="Serve the trained ranker's fast path (item parts precomputed, same scores) or the eager model.",
        ),
    ] = True,
    bf16: Annotated[
        bool,
        typer.Option(
            "--bf16",
            help="Fast path in bfloat16 (faster only on CPUs with AVX512-BF16 or AMX; scores differ by ~1e-2).",
        ),
    ] = False,
    threads: Annotated[int, typer.Option(help="Torch threads per worker.")] = 1,
    ranker_run: Annotated[
        Optional[str],
        typer.Option(
            "--ranker-run", help="Serve this saved ranker run instead of CURRENT (`xp ranker use` lists them)."
        ),
    ] = None,
    max_batch: Annotated[
        int,
        typer.Option(
            help="Most concurrent carts the trained ranker scores in one call (1: one at a time). Carts that queue while the model runs are scored together; none waits on a timer."
        ),
    ] = 16,
    home: Annotated[Optional[Path], typer.Option(help="Run directory (default: $XP_HOME or ./.xp).")] = None,
    build_missing: Annotated[
        bool,
        typer.Option(
            "--build-missing", help="First build the historical candidate table if missing (minutes on the full data)."
        ),
    ] = False,
) -> None:
    """Serve GET /v1/items/{id}/xp, POST /v1/cart/recommend, /healthz, /readyz, /metrics (OpenAPI at /docs).

    State (catalog, candidate tables, item-XP lists, ranker) is loaded into memory at start;
    /readyz says why while it cannot be. New store or model versions are picked up without
    dropping requests (file watcher, or POST /admin/reload).
    """
    settings = {
        "host": host,
        "port": port,
        "workers": workers,
        "sockets": sockets,
        "ranker": ranker,
        "item_xp": item_xp,
        "max_cart": max_cart,
        "max_k": max_k,
        "default_k": default_k,
        "max_per_pt": max_per_pt,
        "per_anchor": per_anchor,
        "max_pool": max_pool,
        "watch_s": watch,
        "threads": threads,
        "fast": fast,
        "bf16": bf16,
        "max_batch": max_batch,
        "ranker_run": ranker_run,
    }
    if home is not None:
        settings["home"] = home.expanduser().resolve()
    config = ServeConfig.model_validate(settings)
    if not config.loopback and not os.environ.get(ADMIN_TOKEN_ENV):
        raise XPError(
            f"--host {host} listens beyond this machine: set {ADMIN_TOKEN_ENV} to a secret first; POST /admin/reload "
            "then needs 'Authorization: Bearer <token>'"
        )
    from xpollinate.serving.server import prepare, run_server

    if build_missing:
        path = prepare(config, say=lambda m: err.print(m, highlight=False))
        err.print(f"historical candidates: {path}", highlight=False)
    run_server(config)

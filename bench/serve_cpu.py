"""CPU per cart request of `xp serve`, in process, split by stage, on real carts.

No HTTP server and no load generator: the same carts as `bench/serve_load.py` (real
baskets of the test weeks, ~20 items, with household and store) go through each stage
of the cart path, timed in process CPU time (`time.process_time_ns`, so time lost to
other jobs on a shared machine is not counted, though cache effects still are):

    validate   the request body -> the strict CartRequest model (pydantic, from JSON bytes)
    pool       ranking.pool.build_pool over the layered item-XP/historical source
    score      the served scorer (trained ranker, or the heuristic) on the pool (its `score_pool` if it has one)
    recommend  serving.recommend.recommend_cart, all of it (pool + score + diversify + response dict)
    encode     orjson of the response
    app        the whole FastAPI app (ASGI call with a real body: middleware, routing, validation, handler, encoding)

`other` rows are differences (recommend - pool - score; app - validate - recommend - encode).
Each stage runs `--repeat` times over all carts; the fastest pass is reported.

    .venv/bin/python bench/serve_cpu.py [--baseline REF] [--carts 3000] [--ranker heuristic|auto]

`--baseline REF` runs this same script against the code of git commit REF (a temporary
`git worktree`, imported ahead of the installed package) in a child process first, and
prints both columns and their ratio. The stages use only the serving contracts that both
versions have (`build_pool`, `CartScorer.score`, `recommend_cart`, `create_app`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from serve_load import draw_carts

console = Console(width=160)
REPO = Path(__file__).resolve().parents[1]
STAGES = ("validate", "pool", "score", "recommend", "encode", "app")


def best_pass(fn: Callable[[Any], Any], inputs: list, repeat: int) -> float:
    """CPU ms per input of the fastest of `repeat` passes."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time_ns()
        for x in inputs:
            fn(x)
        best = min(best, (time.process_time_ns() - t0) / 1e6 / len(inputs))
    return best


def asgi_caller(app) -> Callable[[bytes], dict]:
    """Call the ASGI app with one POST /v1/cart/recommend (no sockets); return the response start message."""

    async def call(body: bytes) -> dict:
        sent: list[dict] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/cart/recommend",
            "raw_path": b"/v1/cart/recommend",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)
        return sent[0]

    return call


def measure(args: argparse.Namespace) -> dict:
    import orjson

    import xpollinate
    from xpollinate.ranking.pool import PoolConfig, build_pool
    from xpollinate.serving.app import create_app
    from xpollinate.serving.config import ServeConfig
    from xpollinate.serving.recommend import recommend_cart
    from xpollinate.serving.schemas import cart_request_model

    home = args.home.resolve()
    weeks = tuple(int(x) for x in args.weeks.split("-")) if args.weeks else None
    carts, weeks = draw_carts(home, weeks, args.carts, args.min_items, args.max_items, args.seed)
    config = ServeConfig(home=home, ranker=args.ranker, item_xp=args.item_xp, watch_s=0)
    app = create_app(config)
    call = asgi_caller(app)
    bodies = [json.dumps(c).encode() for c in carts]
    CartRequest = cart_request_model(config)
    pool_config = PoolConfig(per_anchor=config.per_anchor, max_pool=config.max_pool)
    out: dict[str, Any] = {}

    async def run() -> None:
        async with app.router.lifespan_context(app):
            holder = app.state.holder
            while holder.loading or (
                holder.state is None and holder.reasons[:1] == ["loading: the state is being read into memory"]
            ):
                await asyncio.sleep(0.05)
            state = holder.state
            if state is None:
                raise SystemExit("service not ready: " + "; ".join(holder.reasons))
            catalog = state.data.catalog
            known = [[i for i in dict.fromkeys(c["item_ids"]) if catalog.row(i) >= 0] for c in carts]
            pools = [build_pool(k, state.source, catalog, pool_config) for k in known]
            # What each version's recommend_cart hands the scorer: arrays where the pool has them, else lists.
            arrays = hasattr(pools[0], "item_array")
            # The scorer's score_pool where it has one (as recommend_cart calls it), else score on the pool's ids.
            score_pool = getattr(state.scorer, "score_pool", None)
            scored = [
                (np.asarray(k) if arrays else k, p if score_pool else (p.item_array if arrays else p.item_ids), c)
                for k, p, c in zip(known, pools, carts)
            ]
            score = score_pool or state.scorer.score
            results = [
                recommend_cart(state, pool_config, c["item_ids"], 10, 2, c["household_id"], c["platform"])
                for c in carts
            ]
            timings = {
                "validate": best_pass(CartRequest.model_validate_json, bodies, args.repeat),
                "pool": best_pass(
                    lambda k: build_pool(k, state.source, catalog, pool_config),
                    [np.asarray(k) if arrays else k for k in known],
                    args.repeat,
                ),
                "score": best_pass(
                    lambda x: score(x[0], x[1], x[2]["household_id"], x[2]["platform"]), scored, args.repeat
                ),
                "recommend": best_pass(
                    lambda c: recommend_cart(
                        state, pool_config, c["item_ids"], 10, 2, c["household_id"], c["platform"]
                    ),
                    carts,
                    args.repeat,
                ),
                "encode": best_pass(lambda r: orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY), results, args.repeat),
            }
            status = (await call(bodies[0]))["status"]
            if status != 200:
                raise SystemExit(f"the app answered {status} to a cart")
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.process_time_ns()
                for b in bodies:
                    await call(b)
                best = min(best, (time.process_time_ns() - t0) / 1e6 / len(bodies))
            timings["app"] = best
            paths: dict[str, int] = {}
            for r in results:
                paths[r["served_by"]["candidates"]] = paths.get(r["served_by"]["candidates"], 0) + 1
            anchors = {k: sum(len(r["anchors"].get(k, [])) for r in results) for k in ("item_xp", "historical")}
            out.update(
                timings=timings,
                code=str(Path(xpollinate.__file__).resolve().parents[1]),
                ranker=state.scorer.name,
                carts=len(carts),
                weeks=list(weeks),
                cart_mean=float(np.mean([len(c["item_ids"]) for c in carts])),
                pool_mean=float(np.mean([len(p) for p in pools])),
                union_mean=float(np.mean([p.n_union for p in pools])),
                paths=paths,
                anchors=anchors,
            )

    asyncio.run(run())
    return out


@contextmanager
def baseline_tree(ref: str) -> Iterator[Path]:
    """A temporary checkout of `ref`, laid out as the installed `xpollinate` package (pyproject's package-dir)."""
    with tempfile.TemporaryDirectory(prefix="xp-baseline-") as tmp:
        checkout = Path(tmp) / "checkout"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(checkout), ref], check=True
        )
        try:
            layout = tomllib.loads((checkout / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
            root = Path(tmp) / "site" / "xpollinate"
            root.mkdir(parents=True)
            for f in (checkout / layout["xpollinate"]).iterdir():
                (root / f.name).symlink_to(f)
            for package, folder in layout.items():
                parts = package.split(".")
                if len(parts) == 2:  # xpollinate.<sub> -> <folder>; deeper ones live inside their parent's folder
                    (root / parts[1]).symlink_to(checkout / folder)
            yield Path(tmp) / "site"
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(checkout)], check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=None, help="run directory (default $XP_HOME or ./.xp)")
    ap.add_argument("--carts", type=int, default=3000)
    ap.add_argument("--min-items", type=int, default=10)
    ap.add_argument("--max-items", type=int, default=40)
    ap.add_argument("--weeks", default=None, help="basket weeks A-B for the carts (default: the last 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="passes per stage (the fastest is reported)")
    ap.add_argument(
        "--ranker", default="heuristic", choices=("heuristic", "auto", "neural"), help="as `xp serve --ranker`"
    )
    ap.add_argument(
        "--item-xp", default="optional", choices=("required", "optional", "off"), help="as `xp serve --item-xp`"
    )
    ap.add_argument(
        "--baseline", default=None, metavar="REF", help="git commit to compare with (run first, same carts)"
    )
    ap.add_argument("--json", type=Path, default=None, help=argparse.SUPPRESS)  # the child's output
    args = ap.parse_args()
    if args.home is None:
        from xpollinate.settings import run_home

        args.home = run_home()

    base = None
    if args.baseline:
        with baseline_tree(args.baseline) as site, tempfile.NamedTemporaryFile(suffix=".json") as result:
            child, skip = [], False
            for a in sys.argv[1:]:  # the same options, less --baseline
                if not skip and not a.startswith("--baseline"):
                    child.append(a)
                skip = a == "--baseline"
            env = {**os.environ, "PYTHONPATH": str(site)}
            subprocess.run(
                [sys.executable, __file__, *child, "--home", str(args.home), "--json", result.name], env=env, check=True
            )
            base = json.loads(Path(result.name).read_text())
    mine = measure(args)
    if args.json:
        args.json.write_text(json.dumps(mine))
        return

    console.print(
        f"{mine['carts']} carts from weeks {mine['weeks'][0]}-{mine['weeks'][1]}, {mine['cart_mean']:.1f} items "
        f"on average; mean pool {mine['pool_mean']:.0f} (union {mine['union_mean']:.0f}); candidate paths "
        f"{mine['paths']}; anchors served by {mine['anchors']}; ranker {mine['ranker']}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    if base:
        console.print(
            f"baseline {args.baseline}: code from {base['code']}, ranker {base['ranker']}; this run: {mine['code']}"
        )
    table = Table(
        title=f"CPU ms per cart request, in process (fastest of {args.repeat} passes over {mine['carts']} real carts)"
    )
    for col in ("stage", *(("baseline ms",) if base else ()), "ms", *(("speed-up",) if base else ())):
        table.add_column(col, justify="left" if col == "stage" else "right")

    def rows(t: dict) -> dict[str, float]:
        return {
            **t,
            "recommend: other": t["recommend"] - t["pool"] - t["score"],
            "app: framework": t["app"] - t["validate"] - t["recommend"] - t["encode"],
        }

    order = ("validate", "pool", "score", "recommend: other", "recommend", "encode", "app: framework", "app")
    now = rows(mine["timings"])
    then = rows(base["timings"]) if base else None
    for stage in order:
        cells = [stage]
        if then:
            cells.append(f"{then[stage]:.3f}")
        cells.append(f"{now[stage]:.3f}")
        if then:
            cells.append(f"{then[stage] / now[stage]:.2f}x" if now[stage] > 0.002 else "-")
        table.add_row(*cells)
    console.print(table)
    console.print(
        "app = everything the service does for a cart except the HTTP server's socket and parsing work "
        "(uvicorn/httptools): compare with `server CPU ms/req` of bench/serve_load.py."
    )


if __name__ == "__main__":
    main()

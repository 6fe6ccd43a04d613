"""Load benchmark of `xp serve`: an open-loop load generator against the real service on 127.0.0.1.

Carts are real baskets of the test weeks (the last 8 weeks of the data, or --weeks),
kept when they hold --min-items..--max-items distinct items (about 20 on average), with
their household (persona) and store (platform). Each server setup is started as its own
`xp serve` process, warmed up, then driven at a fixed request rate for carts and for item-XP
lookups, and once unpaced to show its capacity. The load generator (`bench/loadgen.py`)
schedules each request at its due time and times it from then, so a stalled server's queue
shows in the latency (no coordinated omission); each answer is labelled with the path that
served it, so historical-fallback carts are reported as such. The first setup is the baseline;
the table gives each setup's p99 and throughput against it.

The load generator shares the machine's cores with the server: run it alone
(`flock /tmp/xp-cpu.lock`), and read the load average and the generator's CPU beside each run.

    flock /tmp/xp-cpu.lock .venv/bin/python bench/serve_load.py [--duration 60] [--rate 600] [--setup NAME=OPTIONS ...] [--write docs/results]

Needs a run directory with the data store and the historical candidate table (`xp data build`,
`xp serve --build-missing`).

Paths: with a trained ranker saved in the run directory (`xp ranker train`; `xp ranker use RUN`
picks which), the default setups are the heuristic, then the trained ranker on its fast path
one cart per model call (`--max-batch 1`) and micro-batched (the default), all on 2 workers. `--item-xp-store SQLITE` serves
the item-XP lists of an existing store (copied, never written) with `--item-xp required`,
and `--item-xp-carts` keeps only carts with an anchor that has item-XP entries; the table
says how many of the sampled carts' anchors item-XP answered.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from loadgen import http_request, run_load
from rich.console import Console
from rich.table import Table

console = Console(width=200)


def draw_carts(home: Path, weeks: tuple[int, int] | None, n: int, lo: int, hi: int, seed: int) -> list[dict]:
    from xpollinate.catalog.store import DataStore

    baskets = DataStore.open(home).baskets(columns=["household_id", "store_id", "week", "item_ids", "has_grocery"])
    if weeks is None:
        last = int(baskets["week"].max())
        weeks = (last - 7, last)
    sel = baskets[baskets["week"].between(*weeks) & baskets["has_grocery"]]
    sizes = sel["item_ids"].map(len)
    sel = sel[(sizes >= lo) & (sizes <= hi)]
    rng = np.random.default_rng(seed)
    take = sel.iloc[rng.permutation(len(sel))[:n]]
    return [
        {
            "item_ids": [int(i) for i in rng.permutation(np.asarray(row.item_ids))],
            "household_id": int(row.household_id),
            "platform": int(row.store_id),
        }
        for row in take.itertuples()
    ], weeks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            method,
            path,
            body=json.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def start_server(home: Path, workers: int, log: Path, extra: list[str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    xp = str(Path(sys.executable).parent / "xp")
    fh = log.open("w")
    proc = subprocess.Popen(
        [xp, "serve", "--home", str(home), "--port", str(port), "--watch", "0", *extra],
        stdout=fh,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline, streak = time.time() + 300, 0
    while streak < 6 * workers:  # every worker answers ready (connections land on any of them)
        if proc.poll() is not None or time.time() > deadline:
            raise SystemExit(f"server did not become ready; log {log}:\n{log.read_text()[-2000:]}")
        try:
            status, body = call(port, "GET", "/readyz")
            streak = streak + 1 if status == 200 else 0
            if status == 503 and not any(r.startswith("loading") for r in body.get("reasons", [])):
                raise SystemExit("server not ready: " + "; ".join(body["reasons"]))
        except OSError:
            streak = 0
        time.sleep(0.05 if streak else 0.3)
    return proc, port


def server_cpu_seconds(pgid: int) -> dict[int, float]:
    """User + system CPU seconds of every process of the server's session (parent and workers), by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of /proc/PID/stat: process group
            out[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


def worker_split(cpu0: dict[int, float], cpu1: dict[int, float]) -> str:
    """Each busy process's share of the server's CPU during a run, largest first ("52/48": balanced workers)."""
    used = sorted((cpu1[p] - cpu0.get(p, 0.0) for p in cpu1), reverse=True)
    total = sum(used) or 1.0
    return "/".join(f"{100 * u / total:.0f}" for u in used if u / total >= 0.02)


CART_PATH = re.compile(rb'"candidates"\s*:\s*"([a-z_+]+)"')  # served_by.candidates of a cart answer
ITEM_SOURCE = re.compile(rb'"source"\s*:\s*"([a-z_]+)"')  # an item lookup's first "source" is its own


def run_paced(
    port: int, requests: list[bytes], rate: float, seconds: float, connections: int, pgid: int, label: re.Pattern[bytes]
) -> dict:
    """One load run (`bench/loadgen.py`: open loop when `rate` > 0) with the server's CPU and the load average."""
    load = os.getloadavg()[0]
    cpu0 = server_cpu_seconds(pgid)
    result = run_load(port, requests, rate, seconds, connections, label_pattern=label)
    cpu1 = server_cpu_seconds(pgid)
    answered = sum(s.status == 200 for s in result.samples)
    return {
        "result": result,
        "rps": result.achieved,
        "errors": result.errors,
        "cpu_ms": 1000 * (sum(cpu1.values()) - sum(cpu0.values())) / max(answered, 1),
        "client_cpu": 100 * result.client_cpu_s / max(result.seconds, 1e-9),
        "load_before": load,
        "split": worker_split(cpu0, cpu1),
    }


def sample_paths(port: int, carts: list[dict], n: int = 300) -> dict:
    """What served a sample of carts: candidate path, ranker, pool size, and which source answered each anchor."""
    paths, rankers, pools, sizes, anchors = {}, {}, [], [], {}
    for cart in carts[:n]:
        status, body = call(port, "POST", "/v1/cart/recommend", cart)
        if status != 200:
            raise SystemExit(f"sample cart failed: {status} {body}")
        served = body["served_by"]
        paths[served["candidates"]] = paths.get(served["candidates"], 0) + 1
        rankers[served["ranker"]] = rankers.get(served["ranker"], 0) + 1
        pools.append(body["pool_size"])
        sizes.append(len(cart["item_ids"]))
        for source, ids in body["anchors"].items():
            anchors[source] = anchors.get(source, 0) + len(ids)
    return {
        "paths": paths,
        "rankers": rankers,
        "pool_mean": float(np.mean(pools)),
        "cart_mean": float(np.mean(sizes)),
        "anchors": anchors,
    }


def item_xp_home(home: Path, store: Path, work: Path) -> Path:
    """A run directory for the item-XP setups: `home`'s data, tables and models (links) and a copy of `store`.

    The copy is made with SQLite's backup API (consistent even while a batch writes the original); nothing is
    written to the store or to `home`. The service reads the item-XP store from its run directory only.
    """
    import sqlite3

    from xpollinate.xpstore.item_xp_store import store_path

    if not store.is_file():
        raise SystemExit(f"--item-xp-store: {store} is not a file")
    target = work / "home-item-xp"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    skip = {store_path(home).name, "bench", "serve"}
    for entry in home.iterdir():
        if entry.name not in skip and not entry.name.startswith(store_path(home).name):
            (target / entry.name).symlink_to(entry)
    src = sqlite3.connect(f"file:{store.resolve()}?mode=ro", uri=True)
    dst = sqlite3.connect(store_path(target))
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=None, help="run directory (default $XP_HOME or ./.xp)")
    ap.add_argument(
        "--setup",
        action="append",
        default=None,
        metavar="NAME=OPTIONS",
        help="a server setup: a name and `xp serve` options (repeat; the first is the baseline). Default: "
        "1 vs 2 workers; with a trained ranker, the heuristic vs the ranker one cart per call vs "
        "micro-batched, on 2 workers",
    )
    ap.add_argument("--rate", type=float, default=600, help="cart requests/s (the paper's production load)")
    ap.add_argument("--duration", type=float, default=60, help="seconds of paced cart load")
    ap.add_argument("--item-rate", type=float, default=600, help="item lookups/s")
    ap.add_argument("--item-duration", type=float, default=20, help="seconds of paced item lookups")
    ap.add_argument("--max-seconds", type=float, default=15, help="seconds of unpaced cart load (capacity); 0 skips")
    ap.add_argument("--warmup", type=float, default=5, help="seconds of load before each measured run")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--carts", type=int, default=5000)
    ap.add_argument("--min-items", type=int, default=10)
    ap.add_argument("--max-items", type=int, default=40)
    ap.add_argument("--weeks", default=None, help="basket weeks A-B for the carts (default: the last 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", type=Path, default=None, help="write the results page serve-load into this folder")
    ap.add_argument(
        "--serve-args",
        default=None,
        help="`xp serve` options for every setup (default: --item-xp optional, "
        "or --item-xp required with --item-xp-store)",
    )
    ap.add_argument(
        "--item-xp-store",
        type=Path,
        default=None,
        metavar="SQLITE",
        help="serve the item-XP lists of this existing store (an item_xp.sqlite written by `xp batch`): "
        "copied into a bench run directory linked to --home; every setup runs with --item-xp required",
    )
    ap.add_argument(
        "--item-xp-carts",
        action="store_true",
        help="with --item-xp-store: keep only carts holding at least one anchor that has item-XP entries",
    )
    args = ap.parse_args()
    if args.item_xp_carts and args.item_xp_store is None:
        ap.error("--item-xp-carts needs --item-xp-store")
    if args.serve_args is None:
        args.serve_args = "--item-xp required" if args.item_xp_store else "--item-xp optional"

    from xpollinate.settings import run_home

    home = (args.home or run_home()).resolve()
    weeks = tuple(int(x) for x in args.weeks.split("-")) if args.weeks else None
    carts, weeks = draw_carts(home, weeks, args.carts, args.min_items, args.max_items, args.seed)
    work = home / "bench" / "serve"
    work.mkdir(parents=True, exist_ok=True)
    serve_home = home
    if args.item_xp_store:
        from xpollinate.serving.sources import ItemXPLists
        from xpollinate.xpstore.item_xp_store import store_path

        serve_home = item_xp_home(home, args.item_xp_store, work)
        lists = ItemXPLists.load(store_path(serve_home))
        hit = [c for c in carts if any(i in lists for i in c["item_ids"])]
        console.print(
            f"item-XP store {args.item_xp_store}: {len(lists)} anchors stored; {len(hit)} of {len(carts)} carts "
            "hold at least one anchor with item-XP entries (Poor band excluded)"
            + ("; only those carts are used" if args.item_xp_carts else "")
        )
        if args.item_xp_carts:
            if not hit:
                raise SystemExit("--item-xp-carts: no cart of these weeks holds an anchor of the store")
            carts = hit
    cart_requests = [
        http_request("POST", "/v1/cart/recommend", json.dumps(c, separators=(",", ":")).encode()) for c in carts
    ]
    anchors = list(dict.fromkeys(i for c in carts for i in c["item_ids"]))
    item_requests = [http_request("GET", f"/v1/items/{i}/xp") for i in anchors[:20000]]
    console.print(
        f"{len(carts)} carts from weeks {weeks[0]}-{weeks[1]}, {np.mean([len(c['item_ids']) for c in carts]):.1f} "
        f"items on average; {len(anchors)} distinct items for lookups; {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )

    from xpollinate.ranking.artifacts import current_run
    from xpollinate.serving.process import stop_process

    setups = args.setup or ["1 worker=--workers 1", "2 workers=--workers 2"]
    if args.setup is None and current_run(serve_home) is not None:
        setups = [
            "2 workers, heuristic=--workers 2 --ranker heuristic",
            "2 workers, trained ranker, one cart per call=--workers 2 --max-batch 1",
            "2 workers, trained ranker, micro-batched=--workers 2",
        ]
    rows = []
    for n_setup, setup in enumerate(setups):
        name, _, options = setup.partition("=")
        opts = options.split() + args.serve_args.split()
        workers = int(opts[opts.index("--workers") + 1]) if "--workers" in opts else 1
        proc, port = start_server(serve_home, workers, work / f"server-{n_setup}.log", opts)
        try:
            info = sample_paths(port, carts)
            n_anchors = sum(info["anchors"].values())
            console.print(
                f"{name}: candidate paths {info['paths']}, rankers {info['rankers']}, "
                f"anchors by source {info['anchors']}, mean pool {info['pool_mean']:.0f}, "
                f"mean cart {info['cart_mean']:.1f}"
            )
            if args.warmup:
                run_paced(port, cart_requests, args.rate, args.warmup, args.connections, proc.pid, CART_PATH)
            runs = [
                ("cart", args.rate, args.duration, cart_requests, CART_PATH),
                ("item lookup", args.item_rate, args.item_duration, item_requests, ITEM_SOURCE),
            ]
            if args.max_seconds:
                runs.append(("cart, unpaced", 0, args.max_seconds, cart_requests, CART_PATH))
            for workload, rate, seconds, requests, label in runs:
                r = run_paced(port, requests, rate, seconds, args.connections, proc.pid, label)
                r["ranker"] = "+".join(sorted(info["rankers"]))
                r["item_xp_anchors"] = f"{info['anchors'].get('item_xp', 0)}/{n_anchors}"
                rows.append((name, workload, rate, r))
                q = r["result"].percentiles()
                console.print(
                    f"  {workload}: {r['rps']:.0f} req/s, p99 {q['p99']:.1f} ms from the scheduled start, "
                    f"errors {r['errors']}, served by {r['result'].labels()}, server CPU {r['cpu_ms']:.2f} ms/request "
                    f"(by process {r['split']} %), load generator CPU {r['client_cpu']:.0f} %, "
                    f"load avg before {r['load_before']:.2f}"
                )
        finally:
            stop_process(proc)

    frame = results_frame(rows)
    table = Table(title=f"xp serve under load on 127.0.0.1 ({os.cpu_count()} CPUs shared by server and load generator)")
    for col in frame.columns:
        table.add_column(col, justify="left" if frame[col].dtype == object else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
    console.print(NOTE)
    if args.write is not None:
        from xpollinate.reports import Report, write_page

        headline = {
            "rows": frame.to_dict("records"),
            "carts": len(carts),
            "weeks": list(weeks),
            "connections": args.connections,
        }
        page = Report(
            "Serving under load: xp serve on 127.0.0.1, open-loop load",
            [
                (
                    "Setup",
                    f"{len(carts)} real carts of weeks {weeks[0]}-{weeks[1]} ({args.min_items}-{args.max_items} "
                    f"items), {len(item_requests)} item lookups; {args.connections} connections; each server setup "
                    f"its own `xp serve` process, warmed up for {args.warmup:g} s. {NOTE}",
                    None,
                ),
                ("Latency and throughput", "", frame),
            ],
            headline=headline,
        )
        console.print(f"wrote {write_page(page, args.write, 'serve-load')}")


NOTE = (
    "Latency: milliseconds from each request's scheduled start (open loop, `bench/loadgen.py`): a request that "
    "waited for a free connection counts its wait, so there is no coordinated omission; 'service p99' is timed "
    "from the actual send, what a closed-loop tool reports. 'served by' is the candidate path of each answered cart "
    "(item_xp, item_xp+historical, historical: the historical fallback, popular) or the source of each item "
    "lookup; one row per path when a run had several. Unpaced: a closed loop as fast as the connections allow "
    "(capacity; latency there is from the send). Target: the paced rate held (98%), p99 under 50 ms (carts) / 10 ms "
    "(item lookups), zero errors; a path's own row has no verdict. Server CPU ms/req: CPU seconds of the server's "
    "processes / requests answered; CPU % by process: each busy server process's share (two workers near 50/50 "
    "share the load evenly); load generator CPU: the generator's own CPU as a share of one core (it shares the "
    "machine with the server); load avg: 1-minute load average just before the run."
)


def _latency_cells(served_by: str, rps: float, q: dict[str, float], service: dict[str, float]) -> dict[str, object]:
    """The latency columns of one row (a whole run, or one served path of it)."""
    return {
        "served by": served_by,
        "achieved req/s": rps,
        **{f"{k} ms": q[k] for k in ("p50", "p90", "p99", "p99.9", "max")},
        "service p99 ms": service["p99"],
    }


def results_frame(rows: list[tuple[str, str, float, dict]]) -> pd.DataFrame:
    """One row per (setup, workload), then one per served path when a run had several (its run-wide
    cells left blank)."""
    out = []
    base = {w: r["result"].percentiles()["p99"] for n, w, _, r in rows if n == rows[0][0]}
    for name, workload, rate, r in rows:
        result = r["result"]
        labels = result.labels()
        q = result.percentiles()
        limit = 50.0 if workload.startswith("cart") else 10.0
        if rate:
            met = r["rps"] >= 0.98 * rate and q["p99"] < limit and r["errors"] == 0
            verdict = "met" if met else "missed"
        else:
            verdict = "capacity"
        common = {
            "server": name,
            "ranker": r["ranker"],
            "item-XP anchors": r["item_xp_anchors"],
            "workload": workload,
            "target req/s": f"{rate:.0f}" if rate else "unpaced",
        }
        served_by = ", ".join(f"{k} {v}" for k, v in labels.items())
        run_wide = {
            "errors": r["errors"],
            "server CPU ms/req": r["cpu_ms"],
            "CPU % by process": r["split"],
            "load generator CPU %": r["client_cpu"],
            "p99 vs baseline": base[workload] / q["p99"] if q["p99"] else float("nan"),
            "target": verdict,
            "load avg": r["load_before"],
        }
        out.append(common | _latency_cells(served_by, r["rps"], q, result.percentiles(service=True)) | run_wide)
        if len(labels) > 1:
            blank = dict.fromkeys(run_wide, "")
            for label, n in labels.items():
                cells = _latency_cells(
                    f"{label} {n}",
                    n / result.seconds,
                    result.percentiles(label),
                    result.percentiles(label, service=True),
                )
                out.append(common | cells | blank)
    return pd.DataFrame(out)


if __name__ == "__main__":
    main()

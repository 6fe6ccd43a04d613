"""Storefront latency: cold page generation with the embedded model, then cached pages through HTTP.

`xp serve` runs on a fresh run directory: every part of the given one (data, models, indexes, the
learned re-ranker) linked in, except the LLM response cache and the page cache, which start empty.

1. Cold: one request for an unknown household opens the worker's storefront (timed apart, answered 404);
   then for a few households (seeded draw among those with at least --min-baskets baskets) the first
   `GET /v1/households/{id}/storefront` generates the page in the server (every LLM call decoded),
   timed from the client.
2. Cached: the same URLs driven at a fixed rate by the open-loop load generator (`bench/loadgen.py`:
   latency from each request's scheduled start, no coordinated omission), and once unpaced. Every answer
   must say it came from the page cache. One server process does both, so the cached pages are the
   ones it generated, with the model and ranker it loaded.

    .venv/bin/python bench/storefront_latency.py [--households 3] [--llm local] [--rate 20] [--duration 20] \
        [--write docs/results]

The machine's cores are shared with the server and the load generator (and anything else running):
the page reports the 1-minute load average before each cold page.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from loadgen import http_request, run_load
from rich.console import Console

console = Console(width=200)
TARGET_P99_MS = 200.0


def draw_households(home: Path | None, n: int, min_baskets: int, seed: int) -> list[int]:
    from xpollinate.catalog.store import DataStore

    baskets = DataStore.open(home).baskets(columns=["household_id"])
    counts = baskets["household_id"].value_counts()
    eligible = np.sort(counts[counts >= min_baskets].index.to_numpy())
    rng = np.random.default_rng(seed)
    return [int(h) for h in rng.choice(eligible, size=min(n, len(eligible)), replace=False)]


def fresh_home(home: Path, into: Path) -> Path:
    """A run directory whose parts link to `home`'s, except the LLM response cache and the storefront's pages."""
    into.mkdir(parents=True, exist_ok=True)
    for part in home.iterdir():
        if part.name in ("cache", "storefront"):
            continue
        (into / part.name).symlink_to(part.resolve())
    (into / "storefront").mkdir()
    for part in (home / "storefront").iterdir() if (home / "storefront").is_dir() else []:
        if part.name != "pages":
            (into / "storefront" / part.name).symlink_to(part.resolve())
    return into


def page_row(hid: int, seconds: float, page: dict) -> dict:
    prov = page["provenance"]
    calls = prov["llm_calls"]
    return {
        "household": hid,
        "seconds": round(seconds, 1),
        "LLM calls": len(calls),
        "failed calls": sum(not c["ok"] for c in calls),
        "cached calls": prov["cache_hits"],
        "prompt tokens": sum(c.get("prompt_tokens", 0) for c in calls),
        "generated tokens": sum(c.get("generated_tokens", 0) for c in calls),
        "placements": len(page["placements"]),
        "items": sum(len(p["items"]) for p in page["placements"]),
        "dropped items": sum(d["kind"] == "item" for d in page["dropped"]),
        "dropped placements": sum(d["kind"] == "placement" for d in page["dropped"]),
        "keywords outside vocabulary": prov["keywords_outside_vocabulary"],
        "fallbacks": len(prov["fallbacks"]),
        "load avg before": None,
        "titles": " / ".join(p["title"] for p in page["placements"]),
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def start_server(home: Path | None, llm_spec: str, log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    xp = str(Path(sys.executable).parent / "xp")
    args = [xp, "serve", "--port", str(port), "--watch", "0", "--item-xp", "off"]
    if home is not None:
        args += ["--home", str(home)]
    proc = subprocess.Popen(
        args,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "XP_LLM": llm_spec, **({"XP_HOME": str(home)} if home is not None else {})},
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited; log {log}:\n{log.read_text()[-2000:]}")
        try:
            if get(port, "/healthz")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.3)
    raise SystemExit("server did not answer /healthz in 300 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=None, help="run directory (default: $XP_HOME or ./.xp)")
    ap.add_argument("--households", type=int, default=3, help="households drawn (seeded)")
    ap.add_argument("--min-baskets", type=int, default=20, help="only households with this many baskets")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--llm", default="local", help="model spec (default: local, the embedded Qwen2.5-Coder-1.5B)")
    ap.add_argument("--context", default=None, help="shopping context of every page (default: none)")
    ap.add_argument("--rate", type=float, default=20.0, help="paced requests per second")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of paced load (and of unpaced load)")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--write", type=Path, default=None, help="write the results page storefront-latency here")
    args = ap.parse_args()

    from xpollinate.reports import Report, git_commit, write_page
    from xpollinate.serving.process import stop_process
    from xpollinate.settings import run_home

    commit = git_commit()
    source_home = (args.home or run_home()).resolve()
    households = draw_households(source_home, args.households, args.min_baskets, args.seed)
    console.print(f"households {households}; {args.llm} in the server")
    log = Path(tempfile.gettempdir()) / "storefront-latency-serve.log"
    with tempfile.TemporaryDirectory(prefix="storefront-latency-") as tmp:
        home = fresh_home(source_home, Path(tmp) / "home")
        proc, port = start_server(home, args.llm, log)
        try:
            t0 = time.perf_counter()
            status, body = get(port, "/v1/households/999999999/storefront")
            open_s = time.perf_counter() - t0
            if status != 404:
                raise SystemExit(f"opening the storefront: status {status}: {body}")
            console.print(f"the worker opened its storefront in {open_s:.1f} s")
            query = "" if args.context is None else "?" + urllib_quote(args.context)
            paths = [f"/v1/households/{h}/storefront{query}" for h in households]
            rows, pages = [], []
            for hid, path in zip(households, paths):
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                status, page = get(port, path)
                seconds = time.perf_counter() - t0
                if status != 200 or page["provenance"]["served_from_page_cache"]:
                    raise SystemExit(f"{path}: expected a generated page, got status {status}")
                rows.append(page_row(hid, seconds, page) | {"load avg before": round(load, 2)})
                pages.append(page)
                console.print(rows[-1])
            for path in paths:
                status, page = get(port, path)
                if status != 200 or not page["provenance"]["served_from_page_cache"]:
                    raise SystemExit(f"{path}: not served from the page cache (status {status})")
            requests = [http_request("GET", p) for p in paths]
            label = re.compile(rb'"served_from_page_cache":(true|false)')
            paced = run_load(port, requests, args.rate, args.duration, args.connections, label_pattern=label)
            unpaced = run_load(port, requests, 0.0, args.duration, args.connections, label_pattern=label)
        finally:
            stop_process(proc)
    prov = pages[0]["provenance"]
    meta = {"open_seconds": round(open_s, 1), "llm": prov["llm"], "ranker": prov["ranker"], "note": prov["ranker_note"]}

    lat = []
    for name, res in (("paced", paced), ("unpaced (closed loop)", unpaced)):
        q = res.percentiles()
        lat.append(
            {
                "load": name,
                "asked req/s": res.rate or None,
                "achieved req/s": round(res.achieved, 1),
                "answered": len(res.samples),
                "errors": res.errors,
                "from page cache": res.labels().get("true", 0),
                **{k + " ms": round(v, 1) for k, v in q.items()},
                "client CPU %": round(100 * res.client_cpu_s / max(res.seconds, 1e-9), 0),
            }
        )
        console.print(lat[-1])
    cold = pd.DataFrame(rows)
    latency = pd.DataFrame(lat)
    p99 = float(lat[0]["p99 ms"])
    verdict = "met" if p99 < TARGET_P99_MS and lat[0]["errors"] == 0 else "missed"
    console.print(f"paced p99 {p99:.1f} ms: target < {TARGET_P99_MS:g} ms {verdict}")
    if args.write is None:
        return
    page = Report(
        "Storefront latency: cold generation with the embedded model, cached pages through HTTP",
        [
            (
                "Setup",
                f"Households {households} (seeded draw, seed {args.seed}, among those with at least "
                f"{args.min_baskets} baskets); context: {args.context or 'none'}; model {meta['llm']}; items "
                f"ordered by: {meta['ranker']}" + (f" ({meta['note']})" if meta["note"] else "") + ". "
                "Each page: placements@v1 (4 placements), placement_review@v1 (one yes/no list over the themes: "
                "safe and relevant, themes under 0.3 dropped), placement_keywords@v1 per placement (enum over a "
                "30-name shortlist of the catalog vocabulary without earlier placements' keywords), retrieval, "
                "placement_coherence@v1 per placement (yes/no list, P(yes) per item, items under 0.3 dropped). "
                "`xp serve` on 127.0.0.1 (1 worker) over a "
                "fresh run directory (the given one's data and models, an empty LLM response cache and page "
                f"cache); the worker opened its storefront (data, ranker) in {meta['open_seconds']} s, on a first "
                "request for an unknown household (404), before the first page.",
                None,
            ),
            (
                "Cold generation per page",
                "Each page's first request, generated by the server with an empty LLM response cache (every "
                "call decoded on this machine's CPU cores, shared with other jobs: see the load average). "
                "Seconds: the request's wall-clock, client side; the first page also builds the keyword "
                "vocabulary's vectors unless the run directory has them.",
                cold,
            ),
            (
                "Cached pages through HTTP",
                f"The same server; the pages above requested in turn by the open-loop load "
                f"generator (`bench/loadgen.py`): paced at {args.rate:g} req/s for {args.duration:g} s, latency "
                f"from each request's scheduled start; then unpaced (closed loop, {args.connections} "
                f"connections) for {args.duration:g} s. 'from page cache': answers whose provenance says so. "
                f"Target: paced p99 under {TARGET_P99_MS:g} ms: {verdict}.",
                latency,
            ),
        ],
        headline={
            "households": households,
            "llm": meta["llm"],
            "ranker": meta["ranker"],
            "cold_seconds": [r["seconds"] for r in rows],
            "cold_seconds_mean": round(float(cold["seconds"].mean()), 1),
            "keywords_outside_vocabulary": int(cold["keywords outside vocabulary"].sum()),
            "paced_p99_ms": p99,
            "target_p99_ms": TARGET_P99_MS,
            "verdict": verdict,
            "cold": rows,
            "latency": lat,
        },
    )
    console.print(f"wrote {write_page(page, args.write, 'storefront-latency', commit=commit)}")


def urllib_quote(text: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"context": text})


if __name__ == "__main__":
    main()

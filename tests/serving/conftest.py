"""Serving fixtures: a run directory with the fixture catalog, a historical candidate table
and an item-XP store (written here with known lists), and the real service started as a
subprocess (`xp serve`) on 127.0.0.1 at a free port, always stopped afterwards."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import free_port
from xpollinate.catalog.build import build
from xpollinate.catalog.store import DataStore
from xpollinate.records import ScoredItem
from xpollinate.retrieval.associations import AssocConfig
from xpollinate.serving.process import stop_process
from xpollinate.serving.state import historical_table_path
from xpollinate.xpstore.item_xp_store import AnchorOutcome, ItemXPStore, store_path

# fixture catalog: 1,2 ground coffee; 3 buns; 4 milk; 5 eggs (grocery); 11,12 coffee filters;
# 13 charcoal; 15 batteries; 16 gadgets (GM); 21 cigarettes (excluded)
HISTORICAL = {
    1: [(11, 5.0), (12, 4.0), (16, 1.0)],
    2: [(12, 4.5), (11, 4.0)],
    3: [(13, 7.0), (16, 2.0)],
    4: [(15, 1.5), (11, 1.0)],
    5: [(16, 1.2)],
}
# anchor -> (item, combined, band); 13 is Poor: stored, shown by the lookup, never pooled
ITEM_XP = {1: [(16, 0.8, "Excellent"), (15, 0.65, "Very Good"), (13, 0.3, "Poor")]}


def write_historical(home: Path, build_id: str, lists: dict[int, list[tuple[int, float]]]) -> Path:
    rows = [(a, i, s, r) for a, items in lists.items() for r, (i, s) in enumerate(items)]
    folder = home / "ranking" / "candidates" / f"{AssocConfig().key(build_id)}-30"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["anchor_id", "item_id", "score", "rank"]).to_parquet(
        folder / "table.parquet", index=False
    )
    return folder / "table.parquet"


def write_item_xp(home: Path, run_id: str, anchors: dict[int, list[tuple[int, float, str]]]) -> None:
    store = ItemXPStore(store_path(home))
    store.start_run(run_id, "item_xp", "scripted", {}, "fixture")
    for anchor, recs in anchors.items():
        results = [
            ScoredItem(
                rec_id=f"r{n}",
                theme="Morning brew",
                recommendation=f"rec {item}",
                explanation=f"goes with {anchor}",
                evaluator_score=0.7,
                item_id=item,
                item_text=f"item {item}",
                product_type="PT",
                similarity=0.9,
                expanded=False,
                ce=combined,
                llm=1.0,
                combined=combined,
                band=band,
            )
            for n, (item, combined, band) in enumerate(recs)
        ]
        store.save(run_id, AnchorOutcome(anchor, f"anchor {anchor}", "PT", results, {}, 1.0))
    store.close()


@pytest.fixture(scope="session")
def serve_home(tmp_path_factory: pytest.TempPathFactory, fixture_source: Path) -> Path:
    home = tmp_path_factory.mktemp("serve-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XP_SOURCE_DIR", str(fixture_source))
        build(home=home)
    write_historical(home, DataStore.open(home).build_id, HISTORICAL)
    write_item_xp(home, "run-1", ITEM_XP)
    assert historical_table_path(home, DataStore.open(home).build_id, 30) is not None
    return home


@pytest.fixture
def own_home(serve_home: Path, tmp_path: Path) -> Path:
    """A copy of the serving home that a test may change."""
    copy = tmp_path / "home"
    shutil.copytree(serve_home, copy)
    return copy


class Service:
    def __init__(self, port: int, proc: subprocess.Popen, log: Path):
        self.port, self.proc, self.log = port, proc, log

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"} if payload else {})
            resp = conn.getresponse()
            data = resp.read()
            ctype = resp.getheader("content-type", "")
            return resp.status, json.loads(data) if "json" in ctype else data.decode()
        finally:
            conn.close()

    def wait_ready(self, timeout: float = 90.0, expect: int = 200) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                status, body = self.call("GET", "/readyz")
            except OSError:
                time.sleep(0.2)
                continue
            loading = isinstance(body, dict) and any(r.startswith("loading") for r in body.get("reasons", []))
            if status == expect and not loading:
                return body
            time.sleep(0.2)
        raise AssertionError(f"/readyz never answered {expect}: {self.log.read_text()[-3000:]}")


@contextmanager
def running(home: Path, *args: str, log_dir: Path) -> Iterator[Service]:
    """`xp serve --home HOME ARGS` on a free port of 127.0.0.1; stopped on exit, even on failure."""
    port = free_port()
    log = log_dir / f"serve-{port}.log"
    xp = str(Path(sys.executable).parent / "xp")
    env = {k: v for k, v in os.environ.items() if k not in ("XP_SOURCE_DIR", "PROMETHEUS_MULTIPROC_DIR")}
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [xp, "serve", "--home", str(home), "--port", str(port), *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        service = Service(port, proc, log)
        deadline = time.time() + 60
        while True:
            try:
                service.call("GET", "/healthz")
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"server did not start: {log.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield service
    finally:
        stop_process(proc, grace_s=15)


@pytest.fixture(scope="module")
def service(serve_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running(serve_home, "--watch", "0", log_dir=tmp_path_factory.mktemp("logs")) as svc:
        svc.wait_ready()
        yield svc


# A trained (1-epoch) ranker on the fixture store, from the ranking tests' fixtures.
from tests.ranking.conftest import fixture_features, fixture_run, fixture_task, rank_home  # noqa: E402,F401


@pytest.fixture
def trained_home(rank_home: Path, fixture_run, tmp_path: Path) -> Path:  # noqa: F811  (fixtures imported above)
    """The ranking tests' home (data store + trained CURRENT ranker) with serving tables added."""
    home = tmp_path / "trained-home"
    shutil.copytree(rank_home, home)
    build_id = DataStore.open(home).build_id
    write_historical(home, build_id, HISTORICAL)
    write_item_xp(home, "run-1", ITEM_XP)
    return home


XSS = "<script>alert('xp')</script>"
XSS_ANCHOR = 5  # eggs: an item-XP list whose model text holds markup (the pages must escape it)


@pytest.fixture(scope="session")
def pages_home(serve_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The serving home plus what the HTML pages show: two scripted A/B arms (naive, theme) over the fixture's
    three most sold grocery anchors in the item-XP store (lists with provenance, runs to review), the A/B report
    `xp ab --compare` wrote, and an anchor whose stored item name and recommendation hold a <script>."""
    from typer.testing import CliRunner

    from tests.batch.scripted_parts import ScriptedParts, job
    from xpollinate.batch.anchors import select_anchors
    from xpollinate.batch.driver import run_batch
    from xpollinate.batch.executors import LocalExecutor
    from xpollinate.cli.main import app

    home = tmp_path_factory.mktemp("pages-home")
    shutil.copytree(serve_home, home, dirs_exist_ok=True)
    anchors = select_anchors(DataStore.open(home).items(), top=3).anchors
    parts = ScriptedParts(str(home / "cache"))
    naive, theme = job(parts, "naive"), job(parts, "theme")
    store = ItemXPStore(store_path(home))
    run_batch([naive, theme], anchors, LocalExecutor(2), store, show_progress=False, seed=1)
    xss = ScoredItem(
        rec_id="x",
        theme=XSS,
        recommendation=f"Charcoal {XSS}",
        explanation=f"{XSS} & friends",
        evaluator_score=0.7,
        item_id=13,
        item_text=f"{XSS} Charcoal",
        product_type="CHARCOAL",
        similarity=0.9,
        expanded=False,
        ce=0.9,
        llm=0.8,
        combined=0.72,
        band="Very Good",
    )
    store.start_run("run-xss", "item_xp", "scripted", {}, "fixture")
    store.save("run-xss", AnchorOutcome(XSS_ANCHOR, "eggs", "EGGS - LARGE", [xss], {}, 1.0))
    store.close()
    report = CliRunner().invoke(
        app,
        ["ab", "--compare", naive.run_id, theme.run_id, "--no-coverage", "--bootstrap", "200"],
        env={"XP_HOME": str(home)},
    )
    assert report.exit_code == 0, report.output
    ids = [a.item_id for a in anchors if a.item_id != XSS_ANCHOR]  # the last list written for an anchor is served
    historical = next(a for a in HISTORICAL if a not in ids and a not in ITEM_XP and a != XSS_ANCHOR)
    return {"home": home, "runs": (naive.run_id, theme.run_id), "anchors": ids, "historical_anchor": historical}

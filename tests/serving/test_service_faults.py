"""Faults: missing stores or models at start (not ready, saying why), reloads under traffic,
several worker processes."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.serving.conftest import running, write_item_xp
from xpollinate.ranking.artifacts import models_root
from xpollinate.xpstore.item_xp_store import store_path


def test_empty_home_is_alive_but_not_ready_and_says_why(tmp_path: Path) -> None:
    with running(tmp_path / "empty", "--watch", "0", log_dir=tmp_path) as svc:
        body = svc.wait_ready(expect=503)
        assert body["ready"] is False and body["state"] is None
        reasons = " ".join(body["reasons"])
        assert "data store" in reasons and "xp data build" in reasons
        assert svc.call("GET", "/healthz")[0] == 200
        status, body = svc.call("POST", "/v1/cart/recommend", {"item_ids": [1]})
        assert status == 503 and body["reasons"]
        assert svc.call("GET", "/v1/items/1/xp")[0] == 503


def test_missing_item_xp_store_blocks_readiness_unless_optional(own_home: Path, tmp_path: Path) -> None:
    store_path(own_home).unlink()
    with running(own_home, "--watch", "0", log_dir=tmp_path) as svc:
        body = svc.wait_ready(expect=503)
        assert any("item-XP store" in r and "xp batch" in r for r in body["reasons"])
    with running(own_home, "--watch", "0", "--item-xp", "optional", log_dir=tmp_path) as svc:
        svc.wait_ready()
        status, body = svc.call("POST", "/v1/cart/recommend", {"item_ids": [1]})
        assert status == 200 and body["served_by"]["candidates"] == "historical"


def test_required_or_damaged_ranker_blocks_readiness(own_home: Path, tmp_path: Path) -> None:
    with running(own_home, "--watch", "0", "--ranker", "neural", log_dir=tmp_path) as svc:
        body = svc.wait_ready(expect=503)
        assert any("trained ranker: none saved" in r for r in body["reasons"])
    run = models_root(own_home) / "broken"
    run.mkdir(parents=True)
    (run / "weights.pt").write_bytes(b"not a torch file")
    (models_root(own_home) / "CURRENT").write_text("broken\n")
    with running(own_home, "--watch", "0", log_dir=tmp_path) as svc:
        body = svc.wait_ready(expect=503)
        assert any(r.startswith("trained ranker: cannot load") for r in body["reasons"]), body


def test_bad_option_is_an_error_naming_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    xp = str(Path(sys.executable).parent / "xp")
    proc = subprocess.run(
        [xp, "serve", "--home", str(tmp_path), "--ranker", "magic"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "ranker" in proc.stderr


def test_new_item_xp_version_is_picked_up_without_dropping_requests(own_home: Path, tmp_path: Path) -> None:
    with running(own_home, "--watch", "0.3", log_dir=tmp_path) as svc:
        svc.wait_ready()
        status, before = svc.call("POST", "/v1/cart/recommend", {"item_ids": [5]})
        assert before["served_by"]["candidates"] == "historical"
        statuses: list[int] = []
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                statuses.append(svc.call("POST", "/v1/cart/recommend", {"item_ids": [5, 1, 3]})[0])

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            write_item_xp(own_home, "run-2", {5: [(13, 0.9, "Excellent")]})  # a batch publishes eggs -> charcoal
            deadline = time.time() + 30
            while time.time() < deadline:
                body = svc.call("POST", "/v1/cart/recommend", {"item_ids": [5]})[1]
                if body["served_by"]["candidates"] == "item_xp":
                    break
                time.sleep(0.2)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert body["served_by"]["candidates"] == "item_xp" and [i["item_id"] for i in body["items"]] == [13]
        assert len(statuses) > 10 and set(statuses) == {200}
        status, reload = svc.call("POST", "/admin/reload")
        assert status == 200 and reload["reloaded"] and reload["versions"]["item_xp"] != before["versions"]["item_xp"]
        status, metrics = svc.call("GET", "/metrics")
        assert float(re.search(r'xp_state_reloads_total\{outcome="ok"\} ([0-9.]+)', metrics).group(1)) >= 3


@pytest.mark.parametrize("sockets", ["per-worker", "shared"])
def test_two_workers_serve_and_metrics_add_up(serve_home: Path, tmp_path: Path, sockets: str) -> None:
    with running(serve_home, "--watch", "0", "--workers", "2", "--sockets", sockets, log_dir=tmp_path) as svc:
        deadline = time.time() + 90
        ok = 0
        while ok < 40 and time.time() < deadline:
            status, _ = svc.call("POST", "/v1/cart/recommend", {"item_ids": [1, 3]})
            ok += status == 200
            if status != 200:
                time.sleep(0.2)  # a worker still loading answers 503
        assert ok == 40
        status, metrics = svc.call("GET", "/metrics")
        total = float(re.search(r'xp_http_requests_total\{endpoint="cart",status="200"\} ([0-9.]+)', metrics).group(1))
        assert total == 40
        # Every call is a new connection. With per-worker sockets the kernel hashes each to a listening worker: once
        # both listen (a worker that is still starting gets none), both answer.
        pids: set[int] = set()
        deadline = time.time() + 60
        while len(pids) < 2 and time.time() < deadline:
            status, ready = svc.call("GET", "/readyz")
            if status == 200:
                pids.add(ready["pid"])
        if sockets == "per-worker":
            assert len(pids) == 2, pids
            # a worker that dies after starting is replaced (one that dies while starting stops the server)
            time.sleep(11.0)  # both answered, so both were started; now both are past the supervisor's 10-s start
            victim = min(pids)
            os.kill(victim, signal.SIGKILL)
            deadline = time.time() + 90
            while time.time() < deadline and len(pids - {victim}) < 2:
                try:
                    status, ready = svc.call("GET", "/readyz")
                except OSError:
                    continue
                if status == 200:
                    pids.add(ready["pid"])
            assert len(pids - {victim}) == 2, pids
    for pid in pids:  # stopping the server stopped its workers
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_that_cannot_bind_stops_the_server(serve_home: Path, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:  # the port is held by a socket without SO_REUSEPORT
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        xp = str(Path(sys.executable).parent / "xp")
        proc = subprocess.run(
            [xp, "serve", "--home", str(serve_home), "--port", str(port), "--workers", "2", "--watch", "0"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "cannot listen on 127.0.0.1" in proc.stderr + proc.stdout


def test_trained_ranker_is_served_on_its_fast_path_with_the_eager_scores(trained_home: Path, tmp_path: Path) -> None:
    cart = {"item_ids": [1, 3, 4], "k": 5, "max_per_pt": 5, "household_id": 1}
    scores = {}
    for flags, name in ((["--fast"], "xp+fast"), (["--no-fast"], "xp"), (["--fast", "--bf16"], "xp+fast-bf16")):
        with running(trained_home, "--watch", "0", *flags, log_dir=tmp_path) as svc:
            ready = svc.wait_ready()
            assert ready["state"]["trained_ranker"] is True and ready["state"]["ranker"] == name
            assert ready["state"]["torch_threads"] == 1  # the event loop's thread too, not only the loader's
            hot = ready["state"]["ranker_hot_candidates"]  # the fast path reads the pool's items from compact tables
            assert hot is None if name == "xp" else hot >= 4, hot
            status, body = svc.call("POST", "/v1/cart/recommend", cart)
            assert status == 200 and body["served_by"]["ranker"] == name
            assert "no_trained_ranker" not in body["served_by"]["fallbacks"]
            scores[name] = {i["item_id"]: i["score"] for i in body["items"]}
    assert scores["xp+fast"].keys() == scores["xp"].keys() and scores["xp"]
    scale = max(abs(s) for s in scores["xp"].values())
    for item, s in scores["xp"].items():
        assert abs(scores["xp+fast"][item] - s) < 1e-4
        if item in scores["xp+fast-bf16"]:  # bfloat16: close, not equal
            assert abs(scores["xp+fast-bf16"][item] - s) <= 0.03 * scale + 1e-3


def test_concurrent_carts_are_micro_batched_with_the_scores_of_single_requests(
    trained_home: Path, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    carts = [
        {"item_ids": c, "k": 5, "max_per_pt": 5, "household_id": h}
        for c, h in (([1, 3, 4], 1), ([2, 5], None), ([3, 4, 5, 1], 1), ([4], None))
    ] * 6
    ranked = {}
    for max_batch in ("1", "16"):
        with running(trained_home, "--watch", "0", "--max-batch", max_batch, log_dir=tmp_path) as svc:
            svc.wait_ready()
            with ThreadPoolExecutor(12) as pool:
                answers = list(pool.map(lambda c: svc.call("POST", "/v1/cart/recommend", c), carts))
            assert all(status == 200 and body["served_by"]["ranker"] == "xp+fast" for status, body in answers)
            ranked[max_batch] = [[(i["item_id"], i["score"]) for i in body["items"]] for _, body in answers]
            _, metrics = svc.call("GET", "/metrics")
            calls = float(re.search(r"xp_ranker_batch_size_count ([0-9.e+]+)", metrics).group(1))
            scored = float(re.search(r"xp_ranker_batch_size_sum ([0-9.e+]+)", metrics).group(1))
            assert scored == len(carts)  # every cart scored by the trained ranker, exactly once
            assert calls == len(carts) if max_batch == "1" else 1 <= calls <= len(carts)
    for alone, batched in zip(ranked["1"], ranked["16"]):
        assert [i for i, _ in alone] == [i for i, _ in batched] and alone
        assert all(abs(a - b) < 1e-4 for (_, a), (_, b) in zip(alone, batched))


def test_ranker_run_serves_a_named_run_and_an_unknown_one_blocks_readiness(trained_home: Path, tmp_path: Path) -> None:
    run = (models_root(trained_home) / "CURRENT").read_text().strip()
    with running(trained_home, "--watch", "0", "--ranker-run", "no-such-run", log_dir=tmp_path) as svc:
        body = svc.wait_ready(expect=503)
        assert any("no saved run 'no-such-run'" in r for r in body["reasons"])
    (models_root(trained_home) / "CURRENT").unlink()  # the named run is served without a CURRENT pointer
    with running(trained_home, "--watch", "0", "--ranker-run", run, log_dir=tmp_path) as svc:
        ready = svc.wait_ready()
        assert ready["state"]["trained_ranker"] is True and ready["state"]["versions"]["ranker"].startswith(run + "@")

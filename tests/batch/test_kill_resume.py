"""kill -9 a batch process at several points, resume it, and check nothing was lost or repeated:
finished anchors are skipped, no model call whose answer was stored is made again, the store
passes SQLite's integrity check and the results equal those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.batch.test_batch_scripted import store_consistent
from xpollinate.cache import ResponseCache

ROOT = Path(__file__).resolve().parents[2]
N, DELAY = 12, 0.004


def start(home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.batch.batch_child", str(home), str(N), str(DELAY)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(home: Path) -> dict:
    proc = start(home)
    out, errs = proc.communicate(timeout=300)
    assert proc.returncode == 0, errs[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def done_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM anchors WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def kill_when(home: Path, condition, deadline_s: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    proc = start(home)
    t0 = time.monotonic()
    while not condition() and proc.poll() is None and time.monotonic() - t0 < deadline_s:
        time.sleep(0.01)
    assert proc.poll() is None, "the batch finished before it could be killed; raise N or DELAY"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def results(db: Path) -> dict[int, list[tuple[int, float]]]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT anchor_id, item_id, combined FROM recommendations ORDER BY anchor_id, rank"
        ).fetchall()
    out: dict[int, list[tuple[int, float]]] = {}
    for a, i, c in rows:
        out.setdefault(a, []).append((i, c))
    return out


def test_kill_9_and_resume(tmp_path: Path) -> None:
    reference = finish(tmp_path / "reference")
    total_calls = reference["calls"]
    assert reference["done"] == N and ResponseCache(tmp_path / "reference" / "cache").stats().entries == total_calls

    home = tmp_path / "killed"
    db = home / "xp.sqlite"
    cache_entries = lambda: ResponseCache(home / "cache").stats().entries
    kill_when(home, lambda: cache_entries() >= 5 if (home / "cache").exists() else False)  # mid-anchor, none done
    kill_when(home, lambda: done_count(db) >= 3)
    kill_when(home, lambda: done_count(db) >= 7)
    store_consistent(db)
    done_before, stored_calls = done_count(db), cache_entries()
    assert 7 <= done_before < N

    resumed = finish(home)
    assert resumed["skipped"] == done_before and resumed["done"] == N - done_before
    # every call made on resume was one whose answer had not been stored: none repeated
    assert resumed["calls"] == total_calls - stored_calls
    store_consistent(db)
    assert results(db) == results(tmp_path / "reference" / "xp.sqlite")

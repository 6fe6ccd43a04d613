"""The lean grounded plan on the embedded 1.5B model (slow): two real anchors end to end, and a batch
killed with SIGKILL mid-anchor that resumes without asking the model again for any stored answer."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.batch.test_batch_scripted import store_consistent
from xpollinate.cache import ResponseCache

ROOT = Path(__file__).resolve().parents[2]
QWEN = "local"


def home_like(indexed_home: Path, home: Path) -> Path:
    """A run directory sharing the slice's store, index and association tables, with its own cache and item-XP store."""
    home.mkdir(parents=True)
    for part in ("data", "index", "assoc"):
        if (indexed_home / part).exists():
            (home / part).symlink_to(indexed_home / part)
    models = ROOT / ".xp" / "models"
    if models.exists():
        (home / "models").symlink_to(models)  # the assembled 1.5B GGUF, not rebuilt per test
    return home


def child(home: Path, n: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XP_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.batch.real_child", str(home), str(n), QWEN],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(home: Path, n: int) -> dict:
    proc = child(home, n)
    out, errs = proc.communicate(timeout=1800)
    assert proc.returncode == 0, errs[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def cached_answers(home: Path) -> int:
    path = home / "cache" / "llm"
    if not path.exists():
        return 0
    try:
        return ResponseCache(path).stats().entries
    except Exception:
        return 0


def done_anchors(home: Path) -> int:
    try:
        with sqlite3.connect(home / "item_xp.sqlite", timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM anchors WHERE status = 'done'").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_two_real_anchors_lean_grounded(indexed_home: Path, tmp_path: Path) -> None:
    home = home_like(indexed_home, tmp_path / "run")
    out = finish(home, 2)
    assert out["done"] == 2 and out["failed"] == 0
    assert out["out_of_catalog"] == 0 and out["copied"] == 0 and out["failures"] == 0  # every answer schema-valid
    with sqlite3.connect(home / "item_xp.sqlite") as db:
        audits = [json.loads(a) for (a,) in db.execute("SELECT audit FROM anchors")]
        rows = db.execute("SELECT anchor_id, recommendation, source FROM recommendations").fetchall()
    for audit in audits:
        assert audit["shortlist"] and audit["n_out_of_catalog"] == 0
        assert audit["provenance"]["judge"]["prompt"] == "relevance@v1"
    model_rows = [r for r in rows if r[2] != "historical"]
    assert model_rows and all(r[1].lower() in {n.lower() for a in audits for n in a["shortlist"]} for r in model_rows)
    assert {r[2] for r in rows} >= {"historical"} or any(r[2] == "both" for r in rows)


@pytest.mark.slow
def test_kill_and_resume_a_real_batch(indexed_home: Path, tmp_path: Path) -> None:
    """Killed mid-way through its first anchor; on resume every answer stored before the kill comes from
    the cache (the model is asked only for what was not stored), and the store is whole."""
    home = home_like(indexed_home, tmp_path / "killed")
    proc = child(home, 2)
    deadline = time.monotonic() + 900
    while cached_answers(home) < 6 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the batch finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert done_anchors(home) == 0, "killed too late: an anchor had finished"
    stored = cached_answers(home)
    resumed = finish(home, 2)
    assert resumed["done"] == 2 and resumed["skipped"] == 0
    # the answers stored before the kill are asked again in the same order (temperature 0) and come from the
    # cache; the model answered only the rest: each of its calls added one answer
    assert resumed["cache_hits"] >= stored
    assert cached_answers(home) == stored + resumed["requests"] - resumed["cache_hits"] - resumed["failures"]
    store_consistent(home / "item_xp.sqlite")

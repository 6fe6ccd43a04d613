"""A compute lock held by a process killed with -9 is broken by the next caller, not waited out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from xpollinate.cache import ResponseCache
from xpollinate.cache.responses import LOCK_PREFIX

HOLD = """
import sys, time
from pathlib import Path
from xpollinate.cache import ResponseCache
with ResponseCache(Path(sys.argv[1])).compute_lock("k"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_lock_of_a_killed_process_is_broken(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    cache = ResponseCache(tmp_path)
    assert cache._cache.get(LOCK_PREFIX + "k")["pid"] == proc.pid  # held by the child
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t0 = time.monotonic()
    with cache.compute_lock("k"):
        assert cache._cache.get(LOCK_PREFIX + "k")["pid"] == os.getpid()
    assert time.monotonic() - t0 < 5.0
    assert cache._cache.get(LOCK_PREFIX + "k") is None

"""stop_process: a polite server stops on SIGTERM; one that ignores it is killed with its whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from xpollinate.serving.process import stop_process

STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead but still listed until reaped
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_process_that_exits_on_sigterm_is_stopped_gracefully() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    assert stop_process(proc, grace_s=10) == -signal.SIGTERM


def test_a_process_ignoring_sigterm_is_killed_with_its_workers() -> None:
    proc = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True, start_new_session=True)
    worker = int(proc.stdout.readline())
    started = time.monotonic()
    assert stop_process(proc, grace_s=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while _alive(worker) and time.monotonic() < deadline:  # the orphaned worker is reaped by init
        time.sleep(0.05)
    assert not _alive(worker)
    assert stop_process(proc) == -signal.SIGKILL  # already stopped: nothing to do
    proc.stdout.close()

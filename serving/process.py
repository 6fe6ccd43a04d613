"""Stopping a service process that tests and benchmarks started (`xp serve` in its own session).

One place for the terminate -> wait -> kill sequence: SIGTERM lets uvicorn drain and stop
its workers; if it has not exited after `grace_s`, the whole process group (the workers
included, when the server leads its own session) gets SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process(proc: subprocess.Popen, grace_s: float = 20.0) -> int:
    """Stop `proc` (gracefully first) and return its exit code."""
    if proc.poll() is not None:
        return proc.returncode
    proc.terminate()
    try:
        return proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        try:
            if os.getpgid(proc.pid) == proc.pid:  # its own session/group: take the workers down with it
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        except ProcessLookupError:
            pass
        return proc.wait(5)

"""The on-disk response cache (diskcache, SQLite): shared by threads and processes.

Entries are tagged with the prompt version (`theme@v2`) so a version can be evicted on
its own. Only validated answers are stored, never errors or failures. One `Cache`
handle per directory per process (diskcache's advice); `compute_lock` makes a key be
computed once across processes: the second caller waits, then finds the answer.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache

from xpollinate.settings import ensure_dir, run_home

_HANDLES: dict[tuple[int, Path], diskcache.Cache] = {}
_HANDLES_LOCK = threading.Lock()
LOCK_PREFIX = "lock:"


def cache_dir(home: Path | None = None) -> Path:
    return (home or run_home()) / "cache" / "llm"


def open_cache(path: Path) -> diskcache.Cache:
    """The process-wide handle for a cache directory (keyed by pid too: a forked child
    must not reuse its parent's SQLite connection)."""
    key = (os.getpid(), path.resolve())
    with _HANDLES_LOCK:
        if key not in _HANDLES:
            ensure_dir(key[1])
            _HANDLES[key] = diskcache.Cache(
                str(key[1]), tag_index=True, size_limit=2**32, eviction_policy="least-recently-stored"
            )
        return _HANDLES[key]


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    by_prompt: dict[str, int]
    path: Path


class ResponseCache:
    """Validated LLM answers by content-addressed key."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir()
        self._cache = open_cache(self.path)

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._cache.get(key)
        return value if isinstance(value, dict) else None

    def set(self, key: str, value: dict[str, Any], prompt_ref: str) -> None:
        """Store a validated answer, tagged with its prompt version."""
        self._cache.set(key, value, tag=prompt_ref)

    @contextmanager
    def compute_lock(self, key: str, timeout_s: float = 3600.0) -> Iterator[None]:
        """Hold while computing `key`; expires after `timeout_s` so a crashed holder cannot block forever.

        The lock records its holder (host, pid): a waiter breaks a lock whose holder process on
        this host is gone (killed with -9, say), so a resumed batch does not wait out the expiry.
        """
        lock_key = LOCK_PREFIX + key
        me = {"host": socket.gethostname(), "pid": os.getpid()}
        while not self._cache.add(lock_key, me, expire=timeout_s, retry=True):
            self._break_if_stale(lock_key)
            time.sleep(0.001)
        try:
            yield
        finally:
            self._cache.delete(lock_key, retry=True)

    def _break_if_stale(self, lock_key: str) -> None:
        with self._cache.transact(retry=True):
            holder = self._cache.get(lock_key, retry=True)
            if (
                isinstance(holder, dict)
                and holder.get("host") == socket.gethostname()
                and not _alive(int(holder["pid"]))
            ):
                self._cache.delete(lock_key, retry=True)

    def stats(self) -> CacheStats:
        by_prompt: dict[str, int] = {}
        entries = 0
        for key in self._cache.iterkeys():
            if isinstance(key, str) and key.startswith(LOCK_PREFIX):
                continue
            value, tag = self._cache.get(key, tag=True)
            if value is None:
                continue  # removed meanwhile
            entries += 1
            by_prompt[tag or "?"] = by_prompt.get(tag or "?", 0) + 1
        return CacheStats(entries, int(self._cache.volume()), dict(sorted(by_prompt.items())), self.path)

    def clear(self, prompt_ref: str | None = None) -> int:
        """Remove every entry, or those of one prompt version; returns how many went."""
        if prompt_ref is None:
            return int(self._cache.clear())
        return int(self._cache.evict(prompt_ref))


def _alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True

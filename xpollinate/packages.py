"""Files shipped inside installed distributions, found through their metadata (no import), and
models assembled from several part packages.

Both large local models come split over PyPI packages (the 1.5B GGUF over 22, MPNet over 5).
Everything the two assemblies share lives here: finding the parts (an error lists every
missing package), reading them as one stream, copying while hashing, and building an
artifact once per run directory under a file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

CHUNK = 8 << 20


def package_file(dist_name: str, suffix: str) -> Path | None:
    """The installed file of `dist_name` whose path ends with `suffix`, or None if absent."""
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if str(f).endswith(suffix):
            path = Path(str(dist.locate_file(f)))
            return path if path.is_file() else None
    return None


def part_files(
    parts: Sequence[tuple[str, str]],
    missing_error: Callable[[list[str]], Exception],
    find: Callable[[str, str], Path | None] = package_file,
) -> list[Path]:
    """The files of (distribution, path suffix) parts in order; `missing_error(names)` is raised naming every missing one."""
    paths: list[Path] = []
    missing: list[str] = []
    for dist, suffix in parts:
        path = find(dist, suffix)
        if path is None:
            missing.append(dist)
        else:
            paths.append(path)
    if missing:
        raise missing_error(missing)
    return paths


def copy_hashed(source: BinaryIO, target: Path) -> str:
    """Copy a stream into `target` (flushed to disk), returning the SHA-256 of what was written."""
    digest = hashlib.sha256()
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def build_once(lock_file: Path, ready: Callable[[], bool], build: Callable[[], None]) -> None:
    """Run `build` unless `ready()`, under a file lock so that several processes build an artifact once
    (a process that waited finds it ready)."""
    if ready():
        return
    with lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready():
            build()


class ConcatenatedFile(io.RawIOBase):
    """Several files read as one seekable byte stream (what `zipfile` needs)."""

    def __init__(self, paths: list[Path]) -> None:
        self._handles = [p.open("rb") for p in paths]
        sizes = [p.stat().st_size for p in paths]
        self._starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self._size = sum(sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            i = max(j for j, start in enumerate(self._starts) if start <= self._pos)
            fh = self._handles[i]
            fh.seek(self._pos - self._starts[i])
            n = fh.readinto(view[done:])
            if not n:
                break
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for fh in self._handles:
            fh.close()
        super().close()

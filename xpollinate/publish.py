"""Publishing artifacts atomically: a finished folder moved into place, a `CURRENT` pointer switched.

Every artifact of the run directory (data builds, association tables, the catalog index,
trained rankers, two-tower models and tags, the cross-encoder, the ranking task) is written
aside and published here, so a crash at any moment leaves either the old artifact or the new
one, never half of one, and the pointer names a folder that is complete:

- `publish_dir(tmp, final)`: fsync the files, move an older `final` aside (it is removed only
  once the new one is in place), rename `tmp` to `final`, fsync the parent folder;
- `write_pointer(root, name)`: write `CURRENT` to a temporary file, fsync, rename, fsync the folder;
- `write_file(path, data)`: the same for one file;
- `publish_table(root, model, table)`: a model's table as parquet beside the others', `CURRENT` at it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

POINTER = "CURRENT"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some filesystems do not open folders; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())


def publish_dir(tmp: Path, final: Path, keep: Path | None = None) -> None:
    """Move the finished folder `tmp` into place as `final`. An older `final` is moved aside first and removed
    only once the new one is in place, or kept as `keep` (e.g. a model's `previous`)."""
    _fsync_tree(tmp)
    old = keep or final.with_name(f".old-{final.name}-{os.getpid()}")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    if keep is None:
        shutil.rmtree(old, ignore_errors=True)


def write_file(path: Path, data: bytes) -> None:
    """Write a whole file atomically (temporary name, fsync, rename, fsync the folder)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_pointer(root: Path, name: str, pointer: str = POINTER) -> None:
    """Point `root/CURRENT` at `name` atomically."""
    write_file(root / pointer, (name + "\n").encode("utf-8"))


def read_pointer(root: Path, pointer: str = POINTER) -> str | None:
    """The name `root/CURRENT` points at, or None when there is no pointer (or it is empty)."""
    path = root / pointer
    if not path.is_file():
        return None
    value = path.read_text(encoding="utf-8").strip()
    return value or None


def publish_table(root: Path, model_spec: str, table: Any) -> Path:
    """Write a pandas `table` made by a model as `root/<model spec, file-safe>.parquet` (atomically) and point
    `root/CURRENT` at it: one table per model kept side by side, the latest one in use."""
    import io

    root.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", model_spec) + ".parquet"
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    write_file(root / name, buffer.getvalue())
    write_pointer(root, name)
    return root / name


def current_table(root: Path) -> Path | None:
    """The table `root/CURRENT` points at (`publish_table`), or None when none was published."""
    name = read_pointer(root)
    return None if name is None else root / name

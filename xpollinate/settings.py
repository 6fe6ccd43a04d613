"""Where runtime data lives.

Everything the product builds (the normalized data store, association tables,
indexes, caches, models) goes under one run directory so that the source tree
stays clean and a user can move, inspect or delete all state at once.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = ".xp"
HOME_ENV = "XP_HOME"


def run_home() -> Path:
    """The run directory: `$XP_HOME` if set, else `./.xp` (relative to the working directory)."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()


def ensure_dir(path: Path) -> Path:
    """Create `path` (and parents); a read-only location gets an error that says which path."""
    from xpollinate.errors import XPError

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XPError(
            f"cannot create directory {path}: {exc.strerror}. Set {HOME_ENV} to a writable location."
        ) from exc
    return path

"""Files shipped inside installed distributions, found through their metadata (no import)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path


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

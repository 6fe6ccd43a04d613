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


@pytest.fixture(scope="session")
def rank_home(tmp_path_factory: pytest.TempPathFactory, fixture_source):
    """Own run directory with the fixture store: ranking tests write tasks and models here."""
    from xpollinate.catalog.build import build

    home = tmp_path_factory.mktemp("rank-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XP_SOURCE_DIR", str(fixture_source))
        build(home=home)
    return home


@pytest.fixture(scope="session")
def fixture_task(rank_home):
    from xpollinate.catalog.store import DataStore
    from xpollinate.ranking.task import TaskConfig, prepare

    return prepare(DataStore.open(rank_home), TaskConfig(train_until=8, val_until=10), home=rank_home)


@pytest.fixture(scope="session")
def fixture_features(fixture_task, rank_home):
    from xpollinate.ranking.item_features import build_item_features

    return build_item_features(fixture_task.catalog, fixture_task.popularity, rank_home)


@pytest.fixture(scope="session")
def fixture_run(fixture_task, fixture_features, rank_home):
    """One trained xp model (1 epoch) saved as CURRENT in rank_home."""
    from xpollinate.ranking.model import ModelConfig
    from xpollinate.ranking.runs import train_and_save
    from xpollinate.ranking.train import TrainConfig

    return train_and_save(
        fixture_task, ModelConfig(arch="xp"), TrainConfig(epochs=1, seed=0), rank_home, fixture_features
    )

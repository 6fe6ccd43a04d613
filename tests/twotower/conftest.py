"""Two-tower fixtures: the fixture store's features and split, prepared once per session in a
run directory of their own (text vectors cached there, tags from a scripted LLM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.graphs.scripted import scripted_llm
from xpollinate.catalog.store import DataStore
from xpollinate.prompts.schemas import ATTRIBUTE_TAGS
from xpollinate.retrieval.twotower import TrainingData, TwoTowerConfig, prepare
from xpollinate.retrieval.twotower.tags import tag_categories


def numbered_tags(schema: str, prompt: str) -> dict:
    """Scripted tagger: tag each numbered category line with two vocabulary tags chosen by its text."""
    lines = [ln for ln in prompt.splitlines() if ln[:1].isdigit() and ". " in ln]
    out = []
    for ln in lines:
        number = int(ln.split(".", 1)[0])
        tags = ["food", "coffee and tea"] if "coffee" in ln and "filter" not in ln else ["kitchen", "household"]
        out.append({"number": number, "tags": tags})
    return {"categories": out}


def tiny_config(**overrides) -> TwoTowerConfig:
    base = dict(
        dim=8,
        hidden=16,
        long_history=20,
        short_history=10,
        epochs=1,
        batch_size=64,
        sampled_negatives=8,
        hard_negatives=2,
        test_weeks=3,
        seed=5,
    )
    base.update(overrides)
    return TwoTowerConfig(**base)


@pytest.fixture(scope="session")
def tt_home(tmp_path_factory: pytest.TempPathFactory, fixture_store: DataStore) -> Path:
    home = tmp_path_factory.mktemp("twotower-home")
    llm, _ = scripted_llm(numbered_tags)
    tag_categories(fixture_store.items(), llm, per_call=4, home=home)
    assert set(ATTRIBUTE_TAGS) >= {"food", "kitchen"}
    return home


@pytest.fixture(scope="session")
def tt_data(fixture_store: DataStore, tt_home: Path) -> TrainingData:
    return prepare(fixture_store, tiny_config(), tt_home)

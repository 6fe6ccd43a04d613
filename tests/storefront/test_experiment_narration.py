"""User narration: category precision on a hand-checked case, the template profile, the pipeline on the fixture
store with a scripted profile model and a tiny trained tower, and bad options."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.graphs.scripted import scripted_llm
from tests.storefront.scripted import word_embed
from tests.twotower.conftest import tiny_config
from xpollinate.catalog.store import DataStore
from xpollinate.cli.main import app
from xpollinate.retrieval.twotower.config import Extensions
from xpollinate.retrieval.twotower.experiments import train_and_save
from xpollinate.retrieval.twotower.recommend import Recommender
from xpollinate.storefront import narration_report
from xpollinate.storefront.data import HouseholdHistory, StorefrontData
from xpollinate.storefront.narration import (
    LLM_METHOD,
    PROMPT,
    TEMPLATE_METHOD,
    TOWER_METHOD,
    K,
    NarrationError,
    NarrationRun,
    TextSearch,
    category_precision,
    run_narration,
    sample_households,
    template_profile,
)


def test_category_precision_hand_checked() -> None:
    # household 1: slots 1, 3 in its categories, 4 slots given of k=4 -> 2/4; household 2: 1 hit, one None slot and
    # a list shorter than k (missing slots are misses) -> 1/4. Mean 0.375.
    ranked = [["milk", "beer", "milk", "soap"], ["bread", None, "milk"]]
    targets = [{"milk", "bread"}, {"bread"}]
    assert category_precision(ranked, targets, 4) == pytest.approx(0.375)
    assert category_precision([["milk"] * 10], [{"milk"}], 10) == 1.0
    assert category_precision([], [], 10) == 0.0
    with pytest.raises(ValueError, match="2 ranked lists but 1 target"):
        category_precision(ranked, targets[:1], 4)


def _items() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": [
                "Ground Coffee (Coffee, Grocery)",
                "Ground Coffee (Coffee, Grocery)",
                "Hot Dog Buns (Buns, Bakery)",
            ],
            "product_type": ["GROUND COFFEE", "GROUND COFFEE", "HOT DOG BUNS"],
            "category": ["COFFEE", "COFFEE", "BAKED BREAD/BUNS/ROLLS"],
            "n_baskets": [9, 5, 3],
        },
        index=pd.Index([11, 12, 13], name="item_id"),
    )


def test_template_profile_and_text_search() -> None:
    items = _items()
    baskets = pd.DataFrame({"week": [1, 2, 3], "item_ids": [[11, 13], [12], [11, 99]]})  # 99: not shown
    text = template_profile(HouseholdHistory(7, baskets, items))
    assert text == "A household that most often buys coffee and baked bread/buns/rolls."
    search = TextSearch(items, lambda t: word_embed(t))
    assert search.n_texts == 2
    # a coffee query: the coffee text's items first, most purchased first, then the buns
    assert search.search(word_embed(["ground coffee"])[0], 3) == [11, 12, 13]
    assert search.search(word_embed(["hot dog buns"])[0], 2) == [13, 11]


def profile_script(schema: str, prompt: str) -> Any:
    """A profile naming the first product type of the summary it was shown."""
    assert schema == "HouseholdProfile"
    first = re.search(r"^- (.+?) \(", prompt, re.M)
    return {"profile": f"This household often buys {first.group(1) if first else 'groceries'} and a few staples."}


@pytest.fixture(scope="module")
def tower_home(tmp_path_factory: pytest.TempPathFactory, fixture_home: Path) -> Path:
    home = tmp_path_factory.mktemp("narration-home")
    shutil.copytree(fixture_home, home, dirs_exist_ok=True)
    train_and_save(DataStore.open(home), tiny_config(extensions=Extensions(tags=False), epochs=1), home)
    return home


@pytest.fixture(scope="module")
def run(tower_home: Path) -> NarrationRun:
    store = DataStore.open(tower_home)
    llm, _ = scripted_llm(profile_script)
    return run_narration(store, llm, Recommender(store, tower_home), households=5, seed=3, embed=word_embed)


def test_pipeline_on_the_fixture_store(run: NarrationRun, tower_home: Path) -> None:
    s = run.settings
    assert s["households"] == min(5, s["households_eligible"]) > 0 and s["prompt"] == PROMPT
    assert s["llm_failures"] == 0 and len(run.llm_seconds) == s["households"]
    shown = set(StorefrontData.from_store(DataStore.open(tower_home)).items.index.astype(int))
    for h in run.households:
        assert h.llm_profile and h.llm_profile.startswith("This household often buys")
        assert h.summary and h.summary[0].split(" (")[0][2:] in h.llm_profile  # the profile saw the summary
        assert h.template.startswith("A household that most often buys")
        for items in h.lists.values():
            assert 0 < len(items) <= K and set(items) <= shown  # every method ranks the same shown catalog
        assert h.call is not None and h.call.prompt == PROMPT and h.call.ok
    for row in run.metrics.values():
        assert 0.0 <= row["category precision@10"] <= 1.0 and 0.0 <= row["Recall@10"] <= row["Hit@10"] <= 1.0
    # the per-household hit counts average to the reported precision
    for method in (LLM_METHOD, TEMPLATE_METHOD, TOWER_METHOD):
        mean = np.mean([h.category_hits[method] / K for h in run.households])
        assert run.metrics[method]["category precision@10"] == pytest.approx(mean)


def test_results_page(run: NarrationRun, tmp_path: Path) -> None:
    data = narration_report.payload(run)
    assert data["llm_cache_hits"] == 0 and len(data["profiles"]) == run.settings["households"]
    page = narration_report.write(run, data, tmp_path, commit="abc1234")
    text = page.read_text()
    assert "user tower" in text and "category precision@10" in text and "abc1234" in text
    assert (tmp_path / "experiment-narration.json").is_file()


def test_same_seed_same_sample_and_bad_counts(tower_home: Path) -> None:
    tower = Recommender(DataStore.open(tower_home), tower_home)
    assert sample_households(tower, 3, 1) == sample_households(tower, 3, 1)
    with pytest.raises(NarrationError, match="--households 0: sample at least 1"):
        sample_households(tower, 0, 1)


def test_cli_rejects_fewer_than_one_household() -> None:
    result = CliRunner().invoke(app, ["experiments", "run", "narration", "--households", "0"])
    assert result.exit_code != 0 and "--households 0: sample at least 1 household" in result.output

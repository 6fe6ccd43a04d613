"""Experiment 4 (occasion labels as item features) and experiment 1's run on the fixture dataset: a category's
occasions reach its items' multi-hot rows and the item tower; both experiments train their variants with
experiment 5's protocol and write their pages; run before the LLM pass, they name the command to run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tests.graphs.scripted import scripted_llm
from tests.storefront.test_enrichment import good_script
from tests.twotower.conftest import tiny_config
from xpollinate.catalog.store import DataStore
from xpollinate.cli.main import app
from xpollinate.retrieval.twotower.config import Extensions
from xpollinate.storefront.category_profiles import BUILD_COMMAND, OCCASIONS, ProfilesNotBuiltError, profile_categories
from xpollinate.storefront.dual_head import dual_head_model
from xpollinate.storefront.enrichment import run_enrichment
from xpollinate.storefront.feature_variants import validation_setup, with_tag_rows
from xpollinate.storefront.occasions import label_stats, occasion_matrix, run_occasions

CFG = tiny_config(extensions=Extensions(tags=False), epochs=1)


@pytest.fixture(scope="module")
def occ_home(tmp_path_factory: pytest.TempPathFactory, fixture_home: Path) -> Path:
    home = tmp_path_factory.mktemp("occasions-home")
    shutil.copytree(fixture_home, home, dirs_exist_ok=True)
    return home


def test_a_categorys_occasions_reach_its_items_rows() -> None:
    t = pd.DataFrame(
        {
            "category": ["BEEF", "SOFT DRINKS", "MILK"],
            "occasions": [["barbecue", "party or hosting"], ["snacking"], ["breakfast"]],
            "status": ["ok", "ok", "failure"],
        }
    )
    m = occasion_matrix(pd.Series(["BEEF", "MILK", "SOFT DRINKS", None, "BEEF"]), t)
    col = {o: i for i, o in enumerate(OCCASIONS)}
    assert m.shape == (5, len(OCCASIONS)) and m.dtype == np.float32
    assert m[0, col["barbecue"]] == m[0, col["party or hosting"]] == 1 and m[0].sum() == 2
    assert np.array_equal(m[0], m[4]) and m[2, col["snacking"]] == 1 and m[2].sum() == 1
    assert m[1].sum() == 0 and m[3].sum() == 0  # a failed category and an item without one get nothing
    s = label_stats(t)
    assert s["labelled"] == 2 and s["mean_labels"] == 1.5 and s["occasions_used"] == 3
    assert s["entropy_bits"] == pytest.approx(np.log2(3)) and s["distinct_sets"] == 2
    assert s["most_common_set_share"] == 0.5


def test_the_rows_feed_the_item_tower(fixture_store: DataStore, occ_home: Path) -> None:
    setup = validation_setup(fixture_store, 1, occ_home, CFG)
    items = setup.items
    beef_like = items["category"].iloc[0]
    t = pd.DataFrame({"category": [beef_like], "occasions": [["barbecue"]], "status": ["ok"]})
    rows = occasion_matrix(items["category"], t)
    data = with_tag_rows(setup.data, rows, "test")
    cfg = setup.cfg.model_copy(update={"extensions": setup.cfg.extensions.model_copy(update={"tags": True})})
    torch.manual_seed(0)
    model = dual_head_model(data, cfg, "baseline")
    tower = model.items
    assert tower.tag_proj is not None and tower.tags.shape == (setup.data.items.n, len(OCCASIONS))
    with torch.no_grad():
        before = model.item_vectors()
        # a non-constant push (LayerNorm would cancel a constant one) on the barbecue column only
        tower.tag_proj.weight[:, OCCASIONS.index("barbecue")] += torch.linspace(-3.0, 3.0, tower.tag_proj.out_features)
        after = model.item_vectors()
    moved = ~np.isclose(after, before).all(1)
    assert np.array_equal(moved, (items["category"] == beef_like).to_numpy())  # only that category's items move


def test_experiments_need_the_pass_then_train_and_write_pages(
    fixture_store: DataStore, occ_home: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("XP_HOME", str(occ_home))
    res = CliRunner().invoke(app, ["experiments", "run", "occasions", "--results", str(tmp_path)])
    assert res.exit_code != 0 and BUILD_COMMAND in res.output
    with pytest.raises(ProfilesNotBuiltError, match=BUILD_COMMAND):
        run_enrichment(fixture_store, epochs=1, home=occ_home, base=CFG)

    llm, _ = scripted_llm(good_script)
    profile_categories(fixture_store.items(), llm, per_call=4, home=occ_home)
    run = run_occasions(fixture_store, epochs=1, home=occ_home, base=CFG)
    assert [r.label for r in run.results] == ["no occasion features", "+ LLM occasions (multi-hot)"]
    base, occ = run.results
    assert all(np.isfinite(r.valid_loss) for r in run.results) and base.valid_loss != occ.valid_loss
    assert 0 <= occ.metrics["Recall@10"] <= occ.metrics["Recall@20"] <= 1
    assert run.stats["occasions_used"] == 3 and run.settings["items_with_occasions"] > 0
    enr = run_enrichment(fixture_store, epochs=1, home=occ_home, base=CFG)
    plain, rich = enr.results
    assert rich.distinct_texts >= plain.distinct_texts and enr.settings["items_enriched"] > 0
    assert rich.valid_loss != plain.valid_loss  # the re-embedded texts changed the item tower's input
    assert enr.quality["valid_share"] == 1.0 and enr.quality["mean_words"] > 3
    assert plain.valid_loss == pytest.approx(base.valid_loss)  # the same model, data and seed in both experiments

    CliRunner().invoke(app, ["twotower", "train", "--no-tags", "--test-weeks", "3", "--epochs", "1", "--dim", "8"])
    for name in ("enrichment", "occasions"):
        res = CliRunner().invoke(app, ["experiments", "run", name, "--epochs", "1", "--results", str(tmp_path)])
        assert res.exit_code == 0, res.output
        page = json.loads((tmp_path / f"experiment-{name}.json").read_text())
        assert len(page["variants"]) == 2 and page["settings"]["llm"] == "scripted:script-1"
        assert "Recall@20" in page["variants"][0] and (tmp_path / f"experiment-{name}.md").is_file()

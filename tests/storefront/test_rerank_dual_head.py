"""Experiment 5 on the fixture dataset: the gated dual-head item tower trains, its gate moves, the frozen
semantic head stays frozen, and the baseline variant is the plain two-tower training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.twotower.conftest import tiny_config
from xpollinate.catalog.store import DataStore
from xpollinate.cli.main import app
from xpollinate.retrieval.twotower import TrainingData, prepare, train
from xpollinate.retrieval.twotower.config import Extensions
from xpollinate.storefront.dual_head import (
    DualHeadItemTower,
    dual_head_model,
    principal_directions,
    run_dual_head,
    validation_loss,
)

CFG = tiny_config(extensions=Extensions(tags=False), epochs=2)


@pytest.fixture(scope="module")
def dh_home(tmp_path_factory: pytest.TempPathFactory, fixture_home: Path) -> Path:
    home = tmp_path_factory.mktemp("dual-head-home")
    shutil.copytree(fixture_home, home, dirs_exist_ok=True)
    return home


@pytest.fixture(scope="module")
def dh_data(dh_home: Path) -> TrainingData:
    return prepare(DataStore.open(dh_home), CFG, dh_home)


def test_principal_directions_are_orthonormal() -> None:
    x = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    p = principal_directions(x, 3)
    assert p.shape == (6, 3)
    assert np.allclose(p.T @ p, np.eye(3), atol=1e-5)
    assert not principal_directions(x[:2], 3)[:, 2].any()  # two rows give two directions; the third is zero


def test_gate_learns_and_the_frozen_head_stays_frozen(dh_data: TrainingData) -> None:
    for variant in ("frozen", "trainable"):
        torch.manual_seed(CFG.seed)
        model = dual_head_model(dh_data, CFG, variant)
        tower = model.items
        assert isinstance(tower, DualHeadItemTower) and tower.alpha == pytest.approx(0.5)
        before = tower.projection.detach().clone()
        result = train(dh_data, CFG, model=model)
        assert np.isfinite(result.losses).all()
        assert tower.alpha != pytest.approx(0.5, abs=1e-4)  # the gate is trained
        moved = not torch.equal(before, tower.projection.detach())
        assert moved == (variant == "trainable")
        assert np.allclose(np.linalg.norm(result.item_vectors, axis=1), 1.0, atol=1e-5)
        baskets = dh_data.split.test
        loss = validation_loss(result.model, dh_data, CFG, baskets, seed=1)
        assert np.isfinite(loss) and loss == validation_loss(result.model, dh_data, CFG, baskets, seed=1)


def test_baseline_variant_is_the_plain_training(dh_data: TrainingData) -> None:
    torch.manual_seed(CFG.seed)
    built = train(dh_data, CFG, model=dual_head_model(dh_data, CFG, "baseline"))
    plain = train(dh_data, CFG)
    assert np.array_equal(built.item_vectors, plain.item_vectors)


def test_run_and_cli_write_alpha_and_validation_loss(dh_home: Path, tmp_path: Path, monkeypatch) -> None:
    run = run_dual_head(DataStore.open(dh_home), epochs=1, home=dh_home, base=CFG)
    assert [r.variant for r in run.results] == ["baseline", "frozen", "trainable"]
    assert run.results[0].alpha is None and 0 < run.results[1].alpha < 1
    assert run.settings["validation_weeks"] == "6-9"
    monkeypatch.setenv("XP_HOME", str(dh_home))
    with pytest.raises(Exception, match="epoch"):
        run_dual_head(DataStore.open(dh_home), epochs=0, home=dh_home, base=CFG)
    res = CliRunner().invoke(app, ["experiments", "run", "dual-head", "--results", str(tmp_path)])
    # no model in use in this home: the defaults (8 held-out weeks + 4) leave the 12-week fixture no training weeks
    assert res.exit_code == 2 and "test_weeks=12 holds out every week" in res.output
    CliRunner().invoke(app, ["twotower", "train", "--no-tags", "--test-weeks", "3", "--epochs", "1", "--dim", "8"])
    res = CliRunner().invoke(app, ["experiments", "run", "dual-head", "--results", str(tmp_path)])
    assert res.exit_code == 0, res.output
    headline = json.loads((tmp_path / "experiment-dual-head.json").read_text())
    assert [v["alpha (semantic weight)"] for v in headline["variants"]][0] == "-"
    assert "Experiment 5" in (tmp_path / "experiment-dual-head.md").read_text()

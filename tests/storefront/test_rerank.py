"""The learned re-ranker on the fixture dataset: the experiment end to end (two tiny two-tower models,
LightGBM lambdarank, the published artifact), the serving API round trip, metrics on a known case,
the CLI, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.twotower.conftest import tiny_config
from xpollinate.catalog.store import DataStore
from xpollinate.cli.main import app
from xpollinate.errors import XPError
from xpollinate.retrieval.twotower.config import Extensions
from xpollinate.retrieval.twotower.metrics import topk_metrics
from xpollinate.storefront.candidates import CandidatePool, UnknownHouseholdError
from xpollinate.storefront.evaluate import RerankRun, labels_of, pool_recall, ranked_by, run_rerank
from xpollinate.storefront.features import History
from xpollinate.storefront.learned_reranker import LearnedReranker, RerankerConfig, RerankerNotTrainedError

SMALL = RerankerConfig(min_child_samples=2, n_estimators=40, early_stopping_rounds=10)


@pytest.fixture(scope="module")
def rr_home(tmp_path_factory: pytest.TempPathFactory, fixture_home: Path) -> Path:
    """A copy of the fixture run directory (the experiment publishes models into it)."""
    home = tmp_path_factory.mktemp("rerank-home")
    shutil.copytree(fixture_home, home, dirs_exist_ok=True)
    return home


@pytest.fixture(scope="module")
def rr_run(rr_home: Path) -> RerankRun:
    store = DataStore.open(rr_home)
    tt = tiny_config(extensions=Extensions(tags=False), epochs=2)
    return run_rerank(store, cfg=SMALL, home=rr_home, two_tower=tt, n=6, n_history=5)


def test_experiment_trains_twin_models_and_scores_every_method(rr_run: RerankRun, rr_home: Path) -> None:
    s = rr_run.settings
    assert s["two_tower_test_model"] != s["two_tower_validation_model"]
    assert len(s["two_tower_trained_this_run"]) == 2  # the model in use and its earlier twin
    assert s["test_weeks"] == "10-12" and s["validation_weeks"] == "6-9"
    assert set(rr_run.metrics) == {
        "two-tower retrieval (top 6, RR of next-basket and long-term)",
        "two-tower + LightGBM re-ranker",
        "previous purchases",
        "popularity",
    }
    for row in rr_run.metrics.values():
        assert row["queries"] == s["test_queries"] > 0
        assert 0.0 <= row["NDCG@10"] <= 1.0 and row["Recall@5"] <= row["Recall@20"]
    for method in ("two-tower + LightGBM re-ranker", "two-tower retrieval (top 6, RR of next-basket and long-term)"):
        assert rr_run.metrics[method]["Recall@20"] <= rr_run.pool_recall + 1e-9  # both rank within the pool
    assert 0 < rr_run.pool_recall <= 1
    assert rr_run.fit.best_iteration >= 1 and sum(rr_run.fit.gains.values()) == pytest.approx(1.0)
    assert (rr_run.artifact / "model.txt").is_file()
    assert (rr_run.artifact.parent / "CURRENT").read_text().strip() == rr_run.artifact.name
    manifest = json.loads((rr_run.artifact / "manifest.json").read_text())
    assert manifest["two_tower_test_model"] == s["two_tower_test_model"]
    assert json.loads((rr_run.artifact / "cycles.json").read_text())  # COFFEE etc. repeat in the fixture


def test_saved_reranker_round_trips_and_ranks(rr_run: RerankRun, rr_home: Path) -> None:
    store = DataStore.open(rr_home)
    reranker = LearnedReranker.load(store, rr_home)
    hh = int(reranker.source.data.seq.household_id[0])
    cands = reranker.source.candidates(hh)
    ranked = reranker.rank(hh, cands)
    assert sorted(r.item_id for r in ranked) == sorted(cands.item_ids.tolist())
    assert [r.rank for r in ranked] == list(range(1, len(ranked) + 1))
    scores = [r.score for r in ranked]
    assert scores == sorted(scores, reverse=True)
    # the saved booster scores as the trained one did
    from xpollinate.storefront.features import joint_features

    p = cands.pool
    frame = joint_features(
        reranker.history, p.history, np.array([cands.as_of_day]), p.query, p.item, p.tt_rank, p.score_long, p.score_next
    )
    fresh = rr_run.fit.booster.predict(frame, num_iteration=rr_run.fit.best_iteration)
    assert np.allclose(np.sort(fresh)[::-1], scores, atol=1e-4)
    # history items are marked and a plain id list ranks too
    assert any(r.from_history for r in ranked)
    ids = [r.item_id for r in ranked[:3]][::-1]
    again = reranker.rank(hh, ids)
    assert {r.item_id: r.score for r in again} == {r.item_id: r.score for r in ranked[:3]}
    assert [r.score for r in again] == sorted((r.score for r in again), reverse=True)


def test_bad_input_names_the_problem(rr_run: RerankRun, rr_home: Path, tmp_path: Path) -> None:
    store = DataStore.open(rr_home)
    reranker = LearnedReranker.load(store, rr_home)
    with pytest.raises(UnknownHouseholdError, match="household 999999 has no baskets"):
        reranker.rank(999999, [1])
    with pytest.raises(XPError, match="empty candidate list"):
        reranker.rank(1, [])
    with pytest.raises(XPError, match="not in the catalog"):
        reranker.rank(1, [123456789])
    other = reranker.source.candidates(2)
    with pytest.raises(XPError, match="household 2's, not 1's"):
        reranker.rank(1, other)
    with pytest.raises(RerankerNotTrainedError, match="xp experiments run rerank"):
        LearnedReranker.read(tmp_path)


def test_ranking_metrics_on_a_known_case() -> None:
    # two queries over 5 items; scores put item 3 first for query 0 and item 1 first for query 1
    p = CandidatePool(
        query=np.array([0, 0, 0, 1, 1]),
        item=np.array([1, 2, 3, 1, 4]),
        tt_rank=np.array([1, 2, np.nan, 1, 2]),
        score_long=np.zeros(5, np.float32),
        score_next=np.zeros(5, np.float32),
        retrieval=np.array([[1, 2], [1, 4]]),
        history=History(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), 2),
    )
    ranked = ranked_by(p, np.array([0.1, 0.2, 0.9, 0.5, 0.4]), 3)
    assert ranked.tolist() == [[3, 2, 1], [1, 4, -1]]
    targets = [np.array([3, 0]), np.array([4])]
    assert labels_of(p, targets, 5).tolist() == [0, 0, 1, 0, 1]
    assert pool_recall(p, targets, 5) == pytest.approx((0.5 + 1.0) / 2)
    m = topk_metrics(np.pad(ranked, ((0, 0), (0, 17)), constant_values=-1), targets, 5)
    assert m["Recall@5"] == pytest.approx((0.5 + 1.0) / 2)
    # query 0: hit at rank 1 of 2 relevant -> 1 / (1 + 1/log2(3)); query 1: hit at rank 2 of 1 -> 1/log2(3)
    assert m["NDCG@5"] == pytest.approx((1 / (1 + 1 / np.log2(3)) + 1 / np.log2(3)) / 2)


def test_fit_rejects_rows_it_cannot_learn_from() -> None:
    import pandas as pd

    from xpollinate.storefront.features import FEATURES
    from xpollinate.storefront.learned_reranker import fit

    frame = pd.DataFrame(np.zeros((4, len(FEATURES))), columns=list(FEATURES))
    with pytest.raises(XPError, match="hold a purchased candidate"):
        fit(frame, np.zeros(4), np.array([0, 0, 1, 1]), SMALL)
    with pytest.raises(XPError, match="grouped by query"):
        fit(frame, np.ones(4), np.array([1, 0, 1, 0]), SMALL)
    # early stopping holds out whole households: one household's baskets cannot be split
    with pytest.raises(XPError, match="from 1 household"):
        fit(frame, np.ones(4), np.array([0, 0, 1, 1]), SMALL, households=np.array([7, 7]))


def test_cli_runs_the_experiment_and_writes_its_page(
    rr_run: RerankRun, rr_home: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("XP_HOME", str(rr_home))
    runner = CliRunner()
    res = runner.invoke(
        app, ["experiments", "run", "rerank", "--households", "8", "--candidates", "6", "--results", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    page = (tmp_path / "storefront-rerank.md").read_text()
    assert "two-tower + LightGBM re-ranker" in page and "Command: `" in page
    headline = json.loads((tmp_path / "storefront-rerank.json").read_text())
    assert headline["settings"]["households_sampled"] == 8
    assert headline["run"]["commit"]
    bad = runner.invoke(app, ["experiments", "run", "nonsense"])
    assert bad.exit_code == 2 and "rerank" in bad.output
    few = runner.invoke(app, ["experiments", "run", "rerank", "--households", "1"])
    assert few.exit_code == 2 and "sample at least 2 households" in few.output


def test_missing_models_name_the_command(tmp_path: Path, fixture_home: Path) -> None:
    store = DataStore.open(fixture_home)
    from xpollinate.storefront.candidates import CandidateSource

    with pytest.raises(XPError, match="xp twotower train"):
        CandidateSource(store, tmp_path)
    with pytest.raises(RerankerNotTrainedError, match="run `xp experiments run rerank` first"):
        LearnedReranker.load(store, tmp_path)

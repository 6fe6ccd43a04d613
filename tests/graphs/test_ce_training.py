"""Cross-encoder training: pairs, teachers, AUC, publication, and the scorer picking the model up."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.graphs.scripted import scripted_llm
from xpollinate.catalog.store import DataStore
from xpollinate.judges.ce_training import HierarchyTeacher, LLMTeacher, auc, catalog_cores, run_training
from xpollinate.judges.cross_encoder import CheckpointCrossEncoder, FallbackScorer, load_scorer


def test_auc_matches_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    labels = (rng.random(200) > 0.6).astype(float)
    scores = np.round(rng.random(200) + labels * 0.3, 1)  # with ties
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    assert np.isnan(auc(np.ones(3), np.ones(3)))


def test_llm_teacher_labels_and_leaves_failures_unlabelled() -> None:
    def rate(schema: str, prompt: str) -> Any:
        if "Charcoal" in prompt.split("Catalog item")[1]:
            return "not json"
        return {"reasoning": "r", "match": 9 if "filter" in prompt.lower().split("catalog item")[1] else 1}

    llm, provider = scripted_llm(rate)
    labels = LLMTeacher(llm, workers=2).label(
        [
            ("coffee filters", "Coffee Filters (Coffee Filters, Drug Gm)", None),
            ("coffee filters", "Alkaline Batteries (Batteries, Drug Gm)", None),
            ("grill fuel", "Charcoal (Charcoal And Lighter Fluid, Drug Gm)", None),
        ]
    )
    assert labels == [0.9, 0.1, None]


def test_train_publish_and_load(fixture_store: DataStore, tmp_path: Path) -> None:
    items = fixture_store.items()
    cores = catalog_cores(items)
    assert cores["core"].is_unique and not cores["core"].str.contains(" brand").any()
    result = run_training(
        items,
        ["paper for the coffee maker"],
        _Mixed(cores),
        home=tmp_path,
        n_pt_queries=10,
        hard=2,
        easy=1,
        epochs=1,
        batch_size=4,
        held_out=0.4,
    )
    report = result.report
    assert result.path == tmp_path / "models" / "cross-encoder" / "current"
    overall = {"fallback (MiniLM bi-encoder cosine)", "trained cross-encoder"}
    assert overall <= set(report["held_out_metrics"]) <= overall | {f"{n}, hard negatives" for n in overall}
    for name, m in report["held_out_metrics"].items():  # the hard slice holds no easy negative: at most as many pairs
        if name.endswith("hard negatives"):
            assert m["pairs"] <= report["held_out_metrics"][name.removesuffix(", hard negatives")]["pairs"]
    assert report["queries"] == {"pt-name": len(set(cores["product_type"])), "graph": 1}
    scorer = load_scorer(tmp_path)
    assert isinstance(scorer, CheckpointCrossEncoder) and scorer.scorer_id == report["scorer_id"]
    scores = scorer.score([("coffee filters", "Coffee Filters (Coffee Filters, Drug Gm)"), ("x", "y")])
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()
    second = run_training(
        items,
        [],
        _Mixed(cores),
        home=tmp_path,
        n_pt_queries=10,
        hard=2,
        easy=1,
        epochs=1,
        batch_size=4,
        held_out=0.4,
        seed=5,
    )
    assert (second.path.parent / "previous" / "xp_training.json").is_file()
    assert isinstance(load_scorer(tmp_path / "elsewhere"), FallbackScorer)


class _Mixed(HierarchyTeacher):
    """Hierarchy labels, plus a fixed label for graph queries (a stand-in for the LLM teacher)."""

    def label(self, pairs):  # type: ignore[no-untyped-def]
        base = super().label(pairs)
        return [b if b is not None else float("Coffee" in doc) for b, (_, doc, _) in zip(base, pairs)]

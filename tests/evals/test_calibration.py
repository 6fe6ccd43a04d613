"""Judge calibration metrics: pooled and within-anchor AUC, agreement, and the pairs' construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xpollinate.evals.calibration import ScorerResult, agreement, auc, calibration_pairs, within_anchor_auc
from xpollinate.records import Anchor
from xpollinate.retrieval.vocabulary import GMVocabulary


def test_auc_and_within_anchor_auc() -> None:
    assert auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert auc([1, 0], [0.5, 0.5]) == 0.5
    # anchor a scores everything high, anchor b low: pooled AUC suffers, within-anchor AUC does not
    anchors = ["a", "a", "b", "b"]
    labels = [1, 0, 1, 0]
    scores = [0.9, 0.8, 0.3, 0.2]
    assert auc(labels, scores) == pytest.approx(0.75)
    assert within_anchor_auc(anchors, labels, scores) == 1.0


def test_agreement() -> None:
    a = ScorerResult("fit@v1", "m", [0.1, 0.5, 0.9, None], 1, 1.0, 3)
    b = ScorerResult("evaluator@v2", "m", [0.2, 0.6, 1.0, 0.4], 0, 1.0, 4)
    out = agreement(a, b)
    assert out["pairs"] == 3 and out["spearman"] == pytest.approx(1.0) and out["mean_abs_diff"] == pytest.approx(0.1)


class Assoc:
    def __init__(self, basket: pd.DataFrame) -> None:
        self.basket = basket

    def table(self, name: str) -> pd.DataFrame:
        return self.basket if name == "pt_basket" else self.basket.iloc[0:0]


def test_pairs_take_strong_positives_and_unassociated_negatives() -> None:
    pts = ("CHARCOAL", "CUPS", "DETERGENT", "MUGS", "LAWN MOWERS", "CANDLES")
    vocab = GMVocabulary(
        pts, tuple(p.title() for p in pts), np.eye(len(pts), dtype=np.float32), categories=("C",) * len(pts)
    )
    basket = pd.DataFrame(
        {
            "antecedent": ["BUNS", "BUNS", "BUNS", "MILK"],
            "consequent": ["CHARCOAL", "CUPS", "DETERGENT", "DETERGENT"],
            "n_ab": [130, 80, 500, 900],
            "adjusted_lift": [3.6, 1.7, 1.05, 1.1],
        }
    )
    anchors = [Anchor(item_id=1, text="Buns", product_type="BUNS"), Anchor(item_id=2, text="Milk", product_type="MILK")]
    pairs = calibration_pairs(anchors, Assoc(basket), vocab, positives=3, min_shared=20, min_lift=1.5, seed=0)  # type: ignore[arg-type]
    positives = [p.product_type for p in pairs if p.label == 1]
    negatives = [p.product_type for p in pairs if p.label == 0]
    assert positives == ["CHARCOAL", "CUPS"]  # detergent is no association (lift ~1); milk has no strong one
    assert len(negatives) == 2 and not set(negatives) & {"CHARCOAL", "CUPS", "DETERGENT"}
    assert pairs[0].rank == 0 and {p.anchor_pt for p in pairs} == {"BUNS"}


def test_a_yes_no_list_prompt_scores_each_anchors_pairs_in_one_call() -> None:
    from tests.graphs.scripted import scripted_llm
    from xpollinate.evals.calibration import CalibrationPair, score_pairs

    def pair(anchor: int, pt: str, label: int) -> CalibrationPair:
        return CalibrationPair(anchor, f"PT{anchor}", f"Pt{anchor}", pt, pt.title(), "Cat", label, None, None, 0)

    pairs = [pair(1, "CHARCOAL", 1), pair(1, "LIPSTICK", 0), pair(2, "COFFEE FILTERS", 1), pair(2, "BATTERIES", 0)]
    anchors = {i: Anchor(item_id=i, text=f"item {i}", product_type=f"PT{i}", category="Food") for i in (1, 2)}

    def script(schema: str, prompt: str) -> list[float]:
        assert schema == "YesProbabilities" and prompt.strip().count("\n") == 2  # the question, then one line per pair
        return [0.9, 0.2]

    llm, provider = scripted_llm(script)
    result = score_pairs(llm, "relevance_batch@v1", pairs, anchors, None, workers=2)
    assert provider.calls["YesProbabilities"] == 2 and result.calls == 2 and result.failures == 0
    assert result.scores == pytest.approx([0.9, 0.2, 0.9, 0.2])
    assert auc([p.label for p in pairs], result.scores) == 1.0

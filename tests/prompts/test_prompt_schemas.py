from __future__ import annotations

import pytest
from pydantic import ValidationError

from xpollinate.prompts.schemas import (
    ContextualEvaluation,
    JudgeEvaluation,
    NaiveRecommendations,
    ThemeRecommendations,
    Themes,
    weighted_score,
)


def test_evaluator_score_is_the_weighted_mean_of_its_dimensions() -> None:
    e = ContextualEvaluation(
        reasoning="r", cross_category_discovery=9, contextual_relevance=5, explanation_quality=2, purchase_likelihood=10
    )
    assert e.score == pytest.approx((0.4 * 9 + 0.3 * 5 + 0.2 * 2 + 0.1 * 10) / 10)
    assert e.keep


def test_a_score_sent_by_the_model_is_ignored() -> None:
    e = ContextualEvaluation.model_validate(
        {
            "reasoning": "r",
            "score": 1.0,
            "cross_category_discovery": 1,
            "contextual_relevance": 2,
            "explanation_quality": 3,
            "purchase_likelihood": 4,
        }
    )
    assert e.score == pytest.approx(0.2)
    assert not e.keep  # below the paper's 0.4 cut


def test_judge_weights() -> None:
    j = JudgeEvaluation(
        reasoning="r", cross_category_discovery=4, relevance_coherence=8, practical_utility=6, matching_accuracy=10
    )
    assert j.score == pytest.approx((0.25 * 4 + 0.35 * 8 + 0.25 * 6 + 0.15 * 10) / 10)
    assert sum(JudgeEvaluation.WEIGHTS.values()) == pytest.approx(1.0)
    assert sum(ContextualEvaluation.WEIGHTS.values()) == pytest.approx(1.0)


def test_schema_puts_reasoning_first_and_scores_as_enums() -> None:
    schema = JudgeEvaluation.model_json_schema()
    assert list(schema["properties"])[0] == "reasoning"
    assert schema["properties"]["relevance_coherence"]["enum"] == list(range(11))
    assert "score" not in schema["properties"]  # computed, never asked of the model
    with pytest.raises(ValidationError):
        JudgeEvaluation(
            reasoning="r", cross_category_discovery=11, relevance_coherence=0, practical_utility=0, matching_accuracy=0
        )


def test_weighted_score_rejects_mismatched_dimensions() -> None:
    with pytest.raises(ValueError, match="do not match"):
        weighted_score({"a": 1}, {"b": 1.0})


def test_counts_follow_the_paper() -> None:
    theme = {"context": "Breakfast", "explanation": "morning meals"}
    assert len(Themes(themes=[theme] * 5).themes) == 5
    with pytest.raises(ValidationError):
        Themes(themes=[theme] * 4)
    ctx = {"context": "Breakfast", "recs": [f"r{i}" for i in range(10)], "explanations": [f"e{i}" for i in range(10)]}
    recs = ThemeRecommendations(contexts=[ctx])
    assert recs.contexts[0].pairs()[3] == ("r3", "e3")
    with pytest.raises(ValidationError):
        ThemeRecommendations(contexts=[{**ctx, "recs": ctx["recs"][:9]}])


def test_naive_needs_one_explanation_per_rec() -> None:
    assert NaiveRecommendations(recs=["a", "b"], explanation=["x", "y"]).pairs() == [("a", "x"), ("b", "y")]
    with pytest.raises(ValidationError, match="one explanation per rec"):
        NaiveRecommendations(recs=["a", "b"], explanation=["x"])

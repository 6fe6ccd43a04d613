"""The embedded llama.cpp provider with real models: SmolLM2 always, the 1.5B Qwen when slow tests run."""

from __future__ import annotations

import pytest

from xpollinate.llm import get_llm
from xpollinate.llm.providers.llamacpp import load_model
from xpollinate.prompts.schemas import ContextualEvaluation, JudgeEvaluation, Themes

EVAL_VARS = {
    "anchor_item": "Ground coffee (product type: GROUND COFFEE)",
    "recommendation": "Coffee filters",
    "explanation": "Drip coffee makers need paper filters to brew ground coffee",
}


def check_theme_and_evaluator(spec: str) -> None:
    llm = get_llm(spec, cache=False)
    themes = llm.structured("theme@v2", {"anchor_item": "Hot dog buns (product type: HOT DOG BUNS)"})
    assert themes.ok, themes
    assert isinstance(themes.value, Themes) and len(themes.value.themes) == 5
    assert all(t.context.strip() for t in themes.value.themes)
    evaluation = llm.structured("evaluator@v2", EVAL_VARS)
    assert evaluation.ok, evaluation
    value = evaluation.value
    assert isinstance(value, ContextualEvaluation) and value.reasoning.strip()
    assert 0.0 <= value.score <= 1.0
    assert value.score == pytest.approx(sum(getattr(value, k) * w for k, w in value.WEIGHTS.items()) / 10, abs=1e-3)
    usage = llm.usage.total
    assert usage.calls >= 2 and usage.input_tokens > 500 and usage.output_tokens > 20 and usage.failures == 0


def test_smollm2_gives_schema_valid_theme_and_evaluator_answers() -> None:
    check_theme_and_evaluator("local-small")


def test_smollm2_judge_and_shared_model() -> None:
    llm = get_llm("local-small", cache=False)
    res = llm.structured(
        "judge@v2", {"anchor_pt": "GROUND COFFEE", "llm_rec": "French press", "rec_pt": "COFFEE MAKERS"}
    )
    assert res.ok and isinstance(res.value, JudgeEvaluation)
    again = get_llm("local-small", cache=False)
    assert again.provider.loaded is llm.provider.loaded  # loaded once per process, shared
    assert load_model("smollm2-135m-instruct", llm.provider.threads, llm.provider.n_ctx) is llm.provider.loaded


def test_cached_second_pass_makes_no_model_call() -> None:
    llm = get_llm("local-small")
    first = llm.structured("evaluator@v2", EVAL_VARS)
    second = llm.structured("evaluator@v2", EVAL_VARS)
    assert first.ok and second.ok and second.cached and not first.cached
    assert second.value == first.value
    assert llm.usage.total.calls == first.usage.calls and llm.usage.total.cache_hits == 1


@pytest.mark.slow
def test_qwen_1_5b_gives_schema_valid_theme_and_evaluator_answers() -> None:
    check_theme_and_evaluator("local")

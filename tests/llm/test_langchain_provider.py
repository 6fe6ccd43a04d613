"""A langchain-core chat model as a backend: named by import path, answered through the client's cache,
repair loop and failure records, and reported in its traces."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from xpollinate.errors import XPError
from xpollinate.llm import get_llm
from xpollinate.llm.settings import LLMSettings
from xpollinate.prompts.schemas import ThemeNames

THEMES = '{"themes": ["Morning Brew", "Office Break", "Weekend Brunch", "Camping Trip", "Entertaining"]}'
VARS = {"anchor_item": "Ground Coffee (Coffee)"}


@pytest.fixture()
def models_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A module on the path holding chat models, as a user's own file would (test doubles only)."""
    module = types.ModuleType("xp_test_models")
    module.repairs = FakeListChatModel(responses=["Sure! Here are themes: Morning Brew", THEMES])  # type: ignore[attr-defined]
    module.make = lambda: FakeListChatModel(responses=[THEMES])  # type: ignore[attr-defined]
    module.not_a_model = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "xp_test_models", module)
    return module


def test_a_chat_model_answers_through_repair_and_cache(models_module: types.ModuleType, tmp_path: Path) -> None:
    from xpollinate.cache import ResponseCache

    settings = LLMSettings(llm="langchain:xp_test_models:repairs", max_repairs=1)
    llm = get_llm(None, settings, cache=ResponseCache(tmp_path / "cache"))
    res = llm.structured("theme@v3", VARS)
    assert res.ok and res.value.themes[0] == "Morning Brew" and res.usage.calls == 2  # the first answer was repaired
    assert res.usage.priced is False  # no price for a user's model: reported as unpriced, not refused
    again = llm.structured("theme@v3", VARS)
    assert again.ok and again.cached and isinstance(again.value, ThemeNames)
    assert llm.provider.describe()["class"] == "FakeListChatModel"


def test_a_factory_works_and_bad_paths_name_the_problem(models_module: types.ModuleType) -> None:
    llm = get_llm("langchain:xp_test_models:make", cache=False)
    assert llm.structured("theme@v3", VARS).ok
    for path, message in (
        ("langchain:no_such_module_xp:m", "cannot import"),
        ("langchain:xp_test_models:missing", "has no 'missing'"),
        ("langchain:xp_test_models:not_a_model", "not a langchain-core BaseChatModel"),
    ):
        with pytest.raises(XPError, match=message):
            get_llm(path, cache=False)


def test_yes_no_prompts_need_probabilities_a_chat_model_does_not_give(models_module: types.ModuleType) -> None:
    llm = get_llm("langchain:xp_test_models:make", cache=False)
    with pytest.raises(XPError, match="token probabilities"):
        llm.structured("relevance@v1", {"anchor_pt": "Ground Coffee (Coffee)", "rec_pt": "Mugs (Kitchen)"})


def test_a_model_error_is_a_failure_of_the_item(models_module: types.ModuleType) -> None:
    class Broken(FakeListChatModel):
        def _call(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("connection refused by the model server")

    models_module.broken = Broken(responses=["x"])  # type: ignore[attr-defined]
    res = get_llm("langchain:xp_test_models:broken", cache=False).structured("theme@v3", VARS)
    assert not res.ok and res.kind == "provider_error" and "connection refused" in res.message

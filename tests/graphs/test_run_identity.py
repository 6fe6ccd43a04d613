"""A run's id names everything that changes its answers: model, backend endpoint, temperature, seed and
each prompt's max_tokens, beside the prompts and the graph's settings."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from tests.graphs.scripted import scripted_llm
from xpollinate.graphs.config import ItemXPConfig
from xpollinate.graphs.deps import run_id_for, run_settings
from xpollinate.llm import LLM

STORE = SimpleNamespace(build_id="build-x")


def run_id(llm: LLM, config: ItemXPConfig | None = None) -> str:
    return run_id_for(run_settings("theme", llm, config or ItemXPConfig(), STORE, "scorer-1"))  # type: ignore[arg-type]


def test_run_id_changes_with_temperature_seed_endpoint_and_max_tokens() -> None:
    llm, provider = scripted_llm(lambda schema, prompt: {})
    base = run_id(llm)
    assert run_id(llm) == base  # equal settings resume one run
    for changed in ({"temperature": 0.7}, {"seed": 7}):
        other = LLM(provider, llm.settings.model_copy(update=changed))
        assert run_id(other) != base, changed
    provider.describe = lambda: {"endpoint": "http://gpu-box:8000/v1"}  # type: ignore[method-assign]
    moved = run_id(llm)
    assert moved != base  # the same model name behind another server
    settings = run_settings("theme", llm, ItemXPConfig(), STORE, "scorer-1")  # type: ignore[arg-type]
    assert settings["model"]["backend"] == {"endpoint": "http://gpu-box:8000/v1"}
    assert settings["max_tokens"]["theme"] == llm.registry.get(str(ItemXPConfig().prompts.theme)).max_tokens
    template = llm.registry.get(str(ItemXPConfig().prompts.theme))
    bigger = replace(template, max_tokens=template.max_tokens + 100)
    original_get = llm.registry.get
    llm.registry.get = lambda ref: bigger if ref == template.ref else original_get(ref)  # type: ignore[method-assign]
    assert run_id(llm) != moved

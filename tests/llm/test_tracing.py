"""LLM calls as LangChain runs: an in-memory callback handler sees every call with its prompt, tokens
and cache hit, nested under the LangGraph node that made it, including calls from worker threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from tests.graphs.scripted import scripted_llm
from xpollinate.cache import ResponseCache
from xpollinate.llm.tracing import traced

VARS = {"anchor_pt": "Ground Coffee (Coffee)", "rec_pt": "Coffee Filters (Coffee Filters)"}


class Recorder(BaseCallbackHandler):
    """Every run start and end, in order (tests only)."""

    def __init__(self) -> None:
        self.llm_starts: list[dict[str, Any]] = []
        self.llm_ends: list[dict[str, Any]] = []
        self.llm_errors: list[dict[str, Any]] = []
        self.chains: dict[UUID, str] = {}

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        self.llm_starts.append({"run_id": run_id, "parent": parent_run_id, "messages": messages, **kwargs})

    def on_llm_end(self, response, *, run_id, **kwargs: Any) -> None:
        self.llm_ends.append({"run_id": run_id, "response": response})

    def on_llm_error(self, error, *, run_id, **kwargs: Any) -> None:
        self.llm_errors.append({"run_id": run_id, "error": error})

    def on_chain_start(self, serialized, inputs, *, run_id, **kwargs: Any) -> None:
        self.chains[run_id] = kwargs.get("name") or ""


def test_each_call_is_a_run_with_its_prompt_tokens_and_cache_hit(tmp_path: Path) -> None:
    llm, provider = scripted_llm(lambda schema, prompt: 0.7, cache=ResponseCache(tmp_path / "cache"))
    rec = Recorder()
    with traced([rec]):
        llm.structured("relevance@v1", VARS)
        llm.structured("relevance@v1", VARS)  # from the cache
    llm.structured("fit@v1", {"anchor_item": "Ground Coffee", "context": "breakfast", "recommendation": "Mugs"})
    assert len(rec.llm_starts) == len(rec.llm_ends) == 2  # the call outside the block is not reported
    start = rec.llm_starts[0]
    assert start["name"] == "relevance@v1" and start["metadata"]["xp_prompt"] == "relevance@v1"
    assert len(start["metadata"]["xp_prompt_sha256"]) == 64 and start["metadata"]["ls_model_name"] == "script-1"
    assert "Coffee Filters (Coffee Filters)" in start["messages"][0][0].content
    first, second = (e["response"].llm_output for e in rec.llm_ends)
    assert first["xp_cache_hit"] is False and first["model_calls"] == 1 and first["token_usage"]["prompt_tokens"] > 0
    assert second["xp_cache_hit"] is True and second["model_calls"] == 0
    assert '"p_yes": 0.7' in rec.llm_ends[0]["response"].generations[0][0].message.content
    assert provider.calls["YesProbability"] == 2  # fit@v1 once, relevance@v1 once


def test_a_failed_call_is_an_error_run() -> None:
    llm, _ = scripted_llm(lambda schema, prompt: {"Sure": -0.1})
    rec = Recorder()
    with traced([rec]):
        res = llm.structured("relevance@v1", VARS)
    assert not res.ok and len(rec.llm_errors) == 1 and not rec.llm_ends
    assert "invalid_output" in str(rec.llm_errors[0]["error"])


def test_graph_calls_nest_under_their_nodes_from_worker_threads_too() -> None:
    from tests.graphs.lean import lean_deps, lean_script
    from tests.graphs.test_item_xp_graph import ANCHOR
    from xpollinate.graphs.item_xp import build_graph
    from xpollinate.graphs.runner import run_anchor

    llm, provider = scripted_llm(lean_script)
    rec = Recorder()
    with traced([rec]):
        outcome, _ = run_anchor(build_graph("theme", lean_deps(llm)), llm, ANCHOR)
    assert outcome.results
    calls = sum(provider.calls.values())
    assert len(rec.llm_starts) == calls >= 10  # every call, the judge's worker threads' included
    parents = {rec.chains.get(s["parent"]) for s in rec.llm_starts}
    assert None not in parents and {"context", "recommend", "evaluate", "judge"} <= parents


def test_the_graphs_input_is_the_anchor_only() -> None:
    from tests.graphs.lean import lean_deps, lean_script
    from xpollinate.graphs.item_xp import build_graph

    llm, _ = scripted_llm(lean_script)
    graph = build_graph("theme", lean_deps(llm))
    schema = graph.get_input_jsonschema()
    assert set(schema["properties"]) == {"anchor"} and schema["required"] == ["anchor"]
    assert {"results", "failures", "themes"} <= set(graph.get_output_jsonschema()["properties"])


def test_long_nodes_report_progress_on_the_custom_stream() -> None:
    from tests.graphs.lean import lean_deps, lean_script
    from tests.graphs.test_item_xp_graph import ANCHOR
    from xpollinate.graphs.item_xp import build_graph
    from xpollinate.graphs.runner import run_anchor

    llm, provider = scripted_llm(lean_script)
    seen: list[tuple[str, int, int]] = []
    outcome, state = run_anchor(
        build_graph("theme", lean_deps(llm)), llm, ANCHOR, on_progress=lambda s, d, t: seen.append((s, d, t))
    )
    judged = [x for x in seen if x[0] == "judge"]
    assert judged and [d for _, d, _ in judged] == list(range(1, judged[0][2] + 1))  # 1..n, in order
    assert judged[-1][2] == len(state["judge_scores"]) + sum(f.stage == "judge" for f in state.get("failures", []))
    assert any(x[0] == "evaluate" for x in seen)

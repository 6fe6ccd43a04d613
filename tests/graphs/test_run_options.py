"""Run options from Studio or the SDK: the graph's config and a model per role, from the run's
context or `configurable`; the server's own keys pass, an unknown option is an error naming it."""

from __future__ import annotations

import pytest

from tests.graphs.lean import lean_deps, lean_script
from tests.graphs.scripted import scripted_llm
from xpollinate.errors import XPError
from xpollinate.graphs.item_xp import build_graph
from xpollinate.graphs.run_options import RunOptions, run_options


def test_options_come_from_configurable_and_context_and_the_server_keys_pass() -> None:
    configurable = {
        "match_k": 1,
        "judge_llm": "local-small",
        "thread_id": "t1",
        "langgraph_auth_user": None,
        "__pregel_runtime": object(),
        "x-request-id": "abc",
    }
    options = run_options(configurable, {"plan": "paper", "match_k": 2, "review": True})
    assert (options.plan, options.grounding, options.match_k) == ("paper", "free", 2)  # the context wins
    assert options.roles().judge == "local-small" and options.roles().generator is None
    config = options.graph_config()
    assert config.prompts.judge == "judge@v2" and config.review and not hasattr(config, "judge_llm")


def test_an_unknown_or_bad_option_is_an_error_naming_it() -> None:
    with pytest.raises(XPError, match=r"colour: Extra inputs are not permitted \(options: plan, grounding"):
        run_options({"colour": "blue"})
    with pytest.raises(XPError, match="match_k: Input should be greater than or equal to 1"):
        run_options({}, {"match_k": 0})


def test_the_graphs_context_schema_is_the_run_options() -> None:
    llm, _ = scripted_llm(lean_script)
    graph = build_graph("theme", lean_deps(llm), context_schema=RunOptions)
    schema = graph.get_context_jsonschema()
    assert {"plan", "grounding", "review", "llm", "evaluator_llm", "judge_llm"} <= set(schema["properties"])
    assert "themes" not in schema["properties"]  # options, not the state

"""The item-XP graphs (XP paper Figures 3 and 4) as LangGraph state machines.

Theme graph::

    context --Send per theme--> recommend --> merge --> evaluate --> match --> judge ------> combine
                                                                          \\-> cross_encode -/

Naive graph (the paper's baseline): naive --> merge --> [evaluate] --> match --> judges --> combine.

Nodes come from `agents/`, `judges/` and `graphs/nodes.py`; their dependencies (LLM,
matcher, scorer) are bound when the graph is built, so each node is a plain
function of the state. Every model call goes through the LLM layer and its cache,
which is what lets an interrupted run resume without repeating a finished call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from pydantic import BaseModel, ConfigDict, Field

from xpollinate.agents.context import ContextAgent
from xpollinate.agents.evaluator import ContextualEvaluator, EvaluatorMode
from xpollinate.agents.naive import NaiveAgent
from xpollinate.agents.recommend import RecommendationAgent
from xpollinate.graphs.nodes import CombineNode, Matcher, MatchNode, MergeNode
from xpollinate.graphs.state import ItemXPState, ThemeBranch
from xpollinate.judges.cross_encoder import CrossEncoderNode, PairScorer
from xpollinate.judges.llm_judge import LLMJudge
from xpollinate.llm import LLM
from xpollinate.retrieval.grocery_filter import GroceryFilter

GraphKind = Literal["theme", "naive"]


class PromptSet(BaseModel):
    """Prompt versions of one arm (an A/B comparison varies these)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    theme: str = "theme@v2"
    recommend: str = "theme_recs@v2"
    naive: str = "naive@v1"
    evaluator: str = "evaluator@v2"
    evaluator_batch: str = "evaluator_batch@v1"
    judge: str = "judge@v2"


class ItemXPConfig(BaseModel):
    """How one anchor is processed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompts: PromptSet = PromptSet()
    naive_n: int = Field(10, ge=1, le=50, description="recommendations asked of the naive generator")
    evaluate_naive: bool = Field(False, description="run the contextual evaluator in the naive graph too")
    drop_below: float = Field(0.4, ge=0.0, le=1.0, description="contextual evaluator threshold")
    evaluator_mode: EvaluatorMode = Field("per_rec", description="per_rec (the paper) or batched (one call per theme)")
    match_k: int = Field(3, ge=1, le=50, description="catalog items matched per recommendation")
    expand: int = Field(2, ge=0, le=20, description="similar items added per matched product type")
    workers: int = Field(4, ge=1, le=64, description="model calls in flight per node")


@dataclass(frozen=True)
class ItemXPDeps:
    """The real parts a graph runs on."""

    llm: LLM
    matcher: Matcher
    scorer: PairScorer
    grocery_filter: GroceryFilter | None = None
    judge_llm: LLM | None = None  # the LLM-as-judge's model when it differs from the generator's (A/B arms share one judge)


def _route_themes(state: ItemXPState) -> list[Send] | str:
    themes = state.get("themes", [])
    if not themes:
        return "merge"
    return [Send("recommend", ThemeBranch(anchor=state["anchor"], theme=t)) for t in themes]


def _add_scoring(builder: StateGraph, deps: ItemXPDeps, config: ItemXPConfig, after: str) -> None:
    """match -> (judge || cross_encode) -> combine -> END, starting after node `after`."""
    builder.add_node("match", MatchNode(deps.matcher, config.match_k, config.expand))
    builder.add_node("judge", LLMJudge(deps.judge_llm or deps.llm, config.prompts.judge, config.workers))
    builder.add_node("cross_encode", CrossEncoderNode(deps.scorer))
    builder.add_node("combine", CombineNode())
    builder.add_edge(after, "match")
    builder.add_edge("match", "judge")
    builder.add_edge("match", "cross_encode")
    builder.add_edge(["judge", "cross_encode"], "combine")
    builder.add_edge("combine", END)


def build_graph(kind: GraphKind, deps: ItemXPDeps, config: ItemXPConfig | None = None, **compile_kwargs: Any):  # type: ignore[no-untyped-def]
    """A compiled item-XP graph; `compile_kwargs` go to `StateGraph.compile` (checkpointer, cache, ...)."""
    config = config or ItemXPConfig()
    builder = StateGraph(ItemXPState)
    merge = MergeNode(deps.grocery_filter)
    evaluator = ContextualEvaluator(
        deps.llm, config.prompts.evaluator, config.drop_below, config.workers, config.evaluator_mode,
        config.prompts.evaluator_batch,
    )
    if kind == "theme":
        builder.add_node("context", ContextAgent(deps.llm, config.prompts.theme))
        builder.add_node("recommend", RecommendationAgent(deps.llm, config.prompts.recommend))
        builder.add_node("merge", merge)
        builder.add_node("evaluate", evaluator)
        builder.add_edge(START, "context")
        builder.add_conditional_edges("context", _route_themes, ["recommend", "merge"])
        builder.add_edge("recommend", "merge")
        builder.add_edge("merge", "evaluate")
        _add_scoring(builder, deps, config, after="evaluate")
    elif kind == "naive":
        builder.add_node("naive", NaiveAgent(deps.llm, config.prompts.naive, config.naive_n))
        builder.add_node("merge", merge)
        builder.add_edge(START, "naive")
        builder.add_edge("naive", "merge")
        if config.evaluate_naive:
            builder.add_node("evaluate", evaluator)
            builder.add_edge("merge", "evaluate")
            _add_scoring(builder, deps, config, after="evaluate")
        else:
            _add_scoring(builder, deps, config, after="merge")
    else:
        raise ValueError(f"unknown graph {kind!r}; choose theme or naive")
    return builder.compile(**compile_kwargs)

"""The item-XP graphs (XP paper Figures 3 and 4) as LangGraph state machines.

Theme graph (with `review`, a human-review interrupt follows `combine`)::

    context [-> shortlist] --Send per theme--> recommend --> merge --> evaluate --> history
        --> match --> judge ------> combine
                 \\-> cross_encode -/

Naive graph (the paper's baseline): [shortlist ->] naive --> merge --> [evaluate] --> history --> match --> ...

`shortlist` runs with catalog grounding (the lean plan's default): picks are then constrained
to the anchor's shortlist of catalog GM product types. `history` merges the historical
(market-basket) product types into the candidates, so the result is Item XP: the union of
the model's list and the baskets', each item with its source. Which prompt family an agent
speaks (the paper's or the lean one) follows from `ItemXPConfig` (see `graphs.config`).

Nodes come from `agents/`, `judges/` and `graphs/nodes.py`; their dependencies (LLM,
matcher, scorer, vocabulary) are bound when the graph is built, so each node is a plain
function of the state. Every model call goes through the LLM layer and its cache,
which is what lets an interrupted run resume without repeating a finished call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from xpollinate.agents.context import ContextAgent
from xpollinate.agents.evaluator import ContextualEvaluator
from xpollinate.agents.naive import NaiveAgent
from xpollinate.agents.recommend import CatalogNames, RecommendationAgent
from xpollinate.errors import XPError
from xpollinate.graphs.config import EvaluatorMode, ItemXPConfig, PromptSet  # noqa: F401  (re-exported)
from xpollinate.graphs.nodes import (
    CombineNode,
    HistoricalSource,
    HistoryNode,
    Matcher,
    MatchNode,
    MergeNode,
    ShortlistNode,
    Shortlists,
)
from xpollinate.graphs.review_step import ReviewNode, require_checkpointer
from xpollinate.judges.cross_encoder import CrossEncoderNode, PairScorer
from xpollinate.judges.llm_judge import LLMJudge
from xpollinate.llm import LLM
from xpollinate.prompts.schemas import YesProbability
from xpollinate.records import ItemXPInput, ItemXPState, ThemeBranch
from xpollinate.retrieval.grocery_filter import GroceryFilter

GraphKind = Literal["theme", "naive"]
GRAPHS: tuple[str, ...] = ("theme", "naive")


@dataclass(frozen=True)
class ItemXPDeps:
    """The real parts a graph runs on."""

    llm: LLM
    matcher: Matcher
    scorer: PairScorer
    grocery_filter: GroceryFilter | None = None
    judge_llm: LLM | None = None  # the LLM-as-judge's model when it differs from the generator's
    evaluator_llm: LLM | None = None  # the contextual evaluator's model when it differs from the generator's
    names: CatalogNames | None = None  # the grounding vocabulary (display name -> catalog product type)
    shortlister: Shortlists | None = None  # catalog grounding: the anchor's shortlist
    history: HistoricalSource | None = None  # the historical half of Item XP

    @property
    def evaluator(self) -> LLM:
        return self.evaluator_llm or self.llm

    @property
    def judge(self) -> LLM:
        return self.judge_llm or self.llm


def _route_themes(state: ItemXPState) -> list[Send] | str:
    themes = state.get("themes", [])
    if not themes:
        return "merge"
    shortlist = {"shortlist": list(state["shortlist"])} if state.get("shortlist") else {}
    return [Send("recommend", ThemeBranch(anchor=state["anchor"], theme=t, **shortlist)) for t in themes]  # type: ignore[typeddict-item]


def _add_scoring(builder: StateGraph, deps: ItemXPDeps, config: ItemXPConfig, after: str) -> None:
    """[history ->] match -> (judge || cross_encode) -> combine [-> review] -> END, starting after node `after`."""
    first = "match"
    if config.history_pts and deps.history is not None:
        builder.add_node("history", HistoryNode(deps.history, config.history_pts))
        builder.add_edge("history", "match")
        first = "history"
    builder.add_node("match", MatchNode(deps.matcher, config.match_k or 3, config.expand or 0))
    builder.add_node("judge", LLMJudge(deps.judge, str(config.prompts.judge), config.workers))
    builder.add_node("cross_encode", CrossEncoderNode(deps.scorer))
    builder.add_node("combine", CombineNode())
    builder.add_edge(after, first)
    builder.add_edge("match", "judge")
    builder.add_edge("match", "cross_encode")
    builder.add_edge(["judge", "cross_encode"], "combine")
    if config.review:  # a person approves or rejects the combined items before they are stored
        builder.add_node("review", ReviewNode())
        builder.add_edge("combine", "review")
        builder.add_edge("review", END)
    else:
        builder.add_edge("combine", END)


def check_deps(deps: ItemXPDeps, config: ItemXPConfig) -> None:
    """Setup errors before any model call: grounding without a vocabulary, a judge without token probabilities."""
    if config.grounded and (deps.shortlister is None or deps.names is None):
        raise XPError(
            "catalog grounding needs the grounding vocabulary (the GM catalog index): build it with "
            "`xp index build`, or run with --grounding free"
        )
    prompts = config.prompts
    for llm, refs in (
        (deps.llm, (prompts.theme, prompts.recommend, prompts.naive)),
        (deps.evaluator, (prompts.evaluator,)),
        (deps.judge, (prompts.judge,)),
    ):
        for ref in refs:
            output = llm.registry.get(str(ref)).output_model
            if (
                output is not None
                and issubclass(output, YesProbability)
                and not getattr(llm.provider, "supports_logprobs", False)
            ):
                raise XPError(
                    f"{ref} is answered from token probabilities, which {llm.spec} does not report; use a local "
                    "model or an OpenAI-compatible server for it (--judge-llm for the judge, --evaluator-llm for the "
                    "evaluator), or --plan paper"
                )


def build_graph(  # type: ignore[no-untyped-def]
    kind: GraphKind,
    deps: ItemXPDeps,
    config: ItemXPConfig | None = None,
    *,
    checkpointer_supplied: bool = False,
    context_schema: type[Any] | None = None,
    **compile_kwargs: Any,
):
    """A compiled item-XP graph; `compile_kwargs` go to `StateGraph.compile` (checkpointer, cache, ...).
    `checkpointer_supplied`: a server attaches its own checkpointer (`langgraph dev`), so a reviewing
    graph may compile without one."""
    config = config or ItemXPConfig()
    check_deps(deps, config)
    require_checkpointer(config.review, compile_kwargs.get("checkpointer"), checkpointer_supplied)
    prompts = config.prompts
    builder = StateGraph(ItemXPState, input_schema=ItemXPInput, context_schema=context_schema)
    merge = MergeNode(deps.grocery_filter, deps.names)
    evaluator = ContextualEvaluator(
        deps.evaluator,
        str(prompts.evaluator),
        float(config.drop_below or 0.0),
        config.workers,
        config.evaluator_mode,
        str(prompts.evaluator_batch),
    )
    shortlist = ShortlistNode(deps.shortlister, config.shortlist_size) if config.grounded and deps.shortlister else None
    if kind == "theme":
        builder.add_node("context", ContextAgent(deps.llm, str(prompts.theme)))
        builder.add_node(  # type: ignore[call-overload]  # a Send target: its input is the branch, not the state
            "recommend", RecommendationAgent(deps.llm, str(prompts.recommend), config.picks, deps.names)
        )
        builder.add_node("merge", merge)
        builder.add_node("evaluate", evaluator)
        builder.add_edge(START, "context")
        if shortlist is not None:
            builder.add_node("shortlist", shortlist)
            builder.add_edge("context", "shortlist")
            builder.add_conditional_edges("shortlist", _route_themes, ["recommend", "merge"])
        else:
            builder.add_conditional_edges("context", _route_themes, ["recommend", "merge"])
        builder.add_edge("recommend", "merge")
        builder.add_edge("merge", "evaluate")
        _add_scoring(builder, deps, config, after="evaluate")
    elif kind == "naive":
        builder.add_node("naive", NaiveAgent(deps.llm, str(prompts.naive), config.naive_n, deps.names))
        builder.add_node("merge", merge)
        if shortlist is not None:
            builder.add_node("shortlist", shortlist)
            builder.add_edge(START, "shortlist")
            builder.add_edge("shortlist", "naive")
        else:
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

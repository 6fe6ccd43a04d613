"""Options shared by the commands that run the item-XP graph (`xp run`, `xp batch`, `xp ab`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

import typer
from pydantic import ValidationError

from xpollinate.errors import XPError
from xpollinate.graphs.config import GROUNDINGS, PLANS, ItemXPConfig, PromptSet
from xpollinate.graphs.item_xp import GRAPHS

# Graph options that `xp run` and `xp batch` declare alike (defaults stay at the call sites).
MatchKOption = Annotated[
    Optional[int], typer.Option(help="Catalog items matched per recommendation (default: the plan's, 3).")
]
ExpandOption = Annotated[
    Optional[int],
    typer.Option(help="Similar items added per matched product type (default: the plan's; lean 0, paper 2)."),
]
# Choices are Literal types: typer lists them in --help, completes them in the shell and names the flag
# of a bad value.
GraphOption = Annotated[Literal["theme", "naive"], typer.Option(help="The graph: theme (the paper's) or naive.")]
PlanOption = Annotated[
    Literal["lean", "paper"],
    typer.Option(
        help="Call plan: lean (short prompts, yes/no probabilities) or paper (the paper's prompts and calls)."
    ),
]
GroundingOption = Annotated[
    Optional[Literal["catalog", "free"]],
    typer.Option(
        help="catalog (picks constrained to the catalog's GM product types; the lean default) or free "
        "(free text matched afterwards; the paper's mode)."
    ),
]
EvaluatorModeOption = Annotated[
    Literal["per_rec", "batched"],
    typer.Option(
        help="Paper plan's evaluator: per_rec (one call per recommendation, the paper) or batched (one per theme)."
    ),
]
ExecutorOption = Annotated[
    Literal["local", "dask"], typer.Option(help="local (threads in this process) or dask (a distributed cluster).")
]

# A model per role: provider:model, a provider, or ENDPOINT:model (a named server of the config file).
LLMOption = Annotated[
    Optional[str],
    typer.Option(
        help="Generator model (themes, recommendations): provider:model, a provider (local, local-small, "
        "openai, anthropic) or ENDPOINT:model of the config file (default: XP_LLM, config, local)."
    ),
]
EvaluatorLLMOption = Annotated[
    Optional[str],
    typer.Option(help="Contextual evaluator's model (default: XP_LLM_EVALUATOR, config, else the generator's)."),
]
JudgeLLMOption = Annotated[
    Optional[str],
    typer.Option(help="LLM judge's model (default: XP_LLM_JUDGE, config, else the generator's)."),
]
NaiveNOption = Annotated[int, typer.Option(help="Recommendations asked of the naive generator (--graph naive).")]
PicksOption = Annotated[int, typer.Option(help="Lean plan: product types picked per theme.")]

FLAG = {
    "match_k": "--match-k",
    "naive_n": "--naive-n",
    "history_pts": "--history-pts",
    "drop_below": "--drop-below",
    "shortlist_size": "--shortlist-size",
    "evaluator_mode": "--evaluator",
}


def choice(flag: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise XPError(f"{flag}: {value!r} is not one of {', '.join(allowed)}")
    return value


def graph_config(
    graph: str, plan: str, grounding: str | None, evaluator: str, prompts: PromptSet | None = None, **values: Any
) -> ItemXPConfig:
    """The config the flags describe; a bad value is an error naming the flag the user typed."""
    choice("--graph", graph, GRAPHS)
    choice("--plan", plan, PLANS)
    if grounding is not None:
        choice("--grounding", grounding, GROUNDINGS)
    choice("--evaluator", evaluator, ("per_rec", "batched"))
    try:
        return ItemXPConfig(
            plan=plan,
            grounding=grounding,
            evaluator_mode=evaluator,
            prompts=prompts or PromptSet(),  # type: ignore[arg-type]
            **values,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{FLAG.get(str(e['loc'][0]), '--' + str(e['loc'][0]).replace('_', '-')) if e['loc'] else '--grounding'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise XPError(problems) from exc

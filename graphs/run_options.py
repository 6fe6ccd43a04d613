"""What a caller may set for one run of a graph from LangGraph Studio or the SDK: the graph's
config (plan, grounding, sizes, review) and a model per role. Its JSON schema is the graphs'
context schema, so Studio's form shows these options; an unknown option is an error."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from xpollinate.errors import XPError
from xpollinate.graphs.config import ItemXPConfig
from xpollinate.llm import RoleModels

# Keys the LangGraph server itself puts in `configurable` (ids, checkpoint plumbing, auth); never ours.
SERVER_KEYS = frozenset(
    {"thread_id", "run_id", "assistant_id", "graph_id", "user_id", "checkpoint_id", "checkpoint_ns"}
)
SERVER_PREFIXES = ("__", "langgraph_", "checkpoint_")


class RunOptionsError(XPError, ValueError):
    """A bad run option (a ValueError too, so the LangGraph server shows its message to the caller)."""


class RunOptions(ItemXPConfig):
    """The graph's config plus which model plays each role (None: XP_LLM_* / config file / generator)."""

    llm: str | None = Field(None, description="generator model: provider:model, a provider, or ENDPOINT:model")
    evaluator_llm: str | None = Field(None, description="contextual evaluator's model (default: the generator's)")
    judge_llm: str | None = Field(None, description="judge's model (default: the generator's)")

    def roles(self) -> RoleModels:
        return RoleModels(self.llm, self.evaluator_llm, self.judge_llm)

    def graph_config(self) -> ItemXPConfig:
        chosen = self.model_dump(exclude={"llm", "evaluator_llm", "judge_llm"})
        return ItemXPConfig.model_validate({**chosen, "review": self.review})  # review is left out of dumps


def ours(configurable: dict[str, Any]) -> dict[str, Any]:
    """The options in a run's `configurable`, without the server's own keys (headers have a '-')."""
    return {
        k: v
        for k, v in configurable.items()
        if k not in SERVER_KEYS and not k.startswith(SERVER_PREFIXES) and "-" not in k
    }


def run_options(configurable: dict[str, Any] | None, context: Any = None) -> RunOptions:
    """Options from the run's `configurable` and its context (the context wins); an unknown or bad
    option is a `RunOptionsError` that names it and lists the valid ones."""
    given = ours(dict(configurable or {}))
    if context is not None:
        chosen = (
            {k: getattr(context, k) for k in context.model_fields_set} if isinstance(context, RunOptions) else context
        )
        given.update(dict(chosen))
    try:
        return RunOptions.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        valid = ", ".join(f for f in RunOptions.model_fields if f != "prompts")
        raise RunOptionsError(f"bad run options: {problems} (options: {valid}, prompts)") from exc

"""Graphs exported for LangGraph Studio / `langgraph dev` (named in `langgraph.json`).

They are async factories: the server calls them with the run's config and runtime, and the
run's options (`RunOptions`: any `ItemXPConfig` field, and `llm`, `evaluator_llm`,
`judge_llm` for a model per role) come from the run's context (Studio's form, built from the
graphs' context schema) or `configurable`, e.g. `{"configurable": {"naive_n": 3,
"judge_llm": "vllm:qwen2.5-7b"}}`. An unknown option is an error, not silently dropped.
They compile without a checkpointer: the server brings its own, which is also what lets
`{"review": true}` pause a run at the human-review step (an interrupt, resumed with
`Command(resume={item_id: "approve" | "reject"})` and the same options, e.g. through an
assistant created with them). The real parts (data store, catalog index, scorer) load once
per server process, the models once per role assignment, in a worker thread: the server
calls factories on its event loop, where its blocking-call guard refuses file IO.

Input: `{"anchor": {"item_id": 862799, "text": "Ground Coffee", "product_type": "GROUND COFFEE"}}`.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from xpollinate.catalog.store import DataStore
from xpollinate.graphs.deps import default_deps, with_roles
from xpollinate.graphs.item_xp import ItemXPDeps, build_graph
from xpollinate.graphs.run_options import RunOptions, run_options
from xpollinate.llm import RoleModels, role_llms

if TYPE_CHECKING:
    from langgraph_sdk.runtime import ServerRuntime


@lru_cache(maxsize=1)
def _parts() -> ItemXPDeps:
    return default_deps(DataStore.open())


@lru_cache(maxsize=8)
def _deps(roles: RoleModels) -> ItemXPDeps:
    return with_roles(_parts(), role_llms(roles))


def _build(kind: str, config: dict[str, Any] | None, context: Any) -> Any:
    options = run_options((config or {}).get("configurable"), context)
    return build_graph(
        kind,  # type: ignore[arg-type]
        _deps(options.roles()),
        options.graph_config(),
        checkpointer_supplied=True,
        context_schema=RunOptions,
    )


def _context(runtime: ServerRuntime | None) -> Any:
    execution = runtime.execution_runtime if runtime is not None else None
    return execution.context if execution is not None else None


async def theme_graph(config: dict[str, Any], runtime: ServerRuntime):  # type: ignore[no-untyped-def]
    """Themes -> recommendations (one branch per theme) -> evaluator -> matcher -> judges -> combined."""
    return await asyncio.to_thread(_build, "theme", config, _context(runtime))


async def naive_graph(config: dict[str, Any], runtime: ServerRuntime):  # type: ignore[no-untyped-def]
    """The paper's naive baseline: recommendations without themes -> matcher -> judges -> combined."""
    return await asyncio.to_thread(_build, "naive", config, _context(runtime))

"""Graphs exported for LangGraph Studio / `langgraph dev` (named in `langgraph.json`).

They are async factories: the server calls them with the run's config, so settings such
as `{"configurable": {"naive_n": 3, "match_k": 1}}` (any `ItemXPConfig` field) apply per
run. They compile without a checkpointer: the server brings its own, which is also what lets
`{"configurable": {"review": true}}` pause a run at the human-review step (an interrupt, resumed
with `Command(resume={item_id: "approve" | "reject"})` and the same configurable, e.g. through an
assistant created with it). The real parts (data store, catalog index, LLM from XP_LLM, scorer)
load once per server process, in a worker thread: the server calls factories on its event loop,
where its blocking-call guard refuses file IO. The nodes themselves are sync, so the server runs
them in threads.

Input: `{"anchor": {"item_id": 862799, "text": "Ground Coffee", "product_type": "GROUND COFFEE"}}`.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

from xpollinate.catalog.store import DataStore
from xpollinate.graphs.deps import default_deps
from xpollinate.graphs.item_xp import ItemXPConfig, ItemXPDeps, build_graph


@lru_cache(maxsize=1)
def _deps() -> ItemXPDeps:
    return default_deps(DataStore.open())


def _config(config: dict[str, Any] | None) -> ItemXPConfig:
    given = (config or {}).get("configurable", {}) or {}
    return ItemXPConfig.model_validate({k: v for k, v in given.items() if k in ItemXPConfig.model_fields})


def _build(kind: str, config: dict[str, Any] | None):  # type: ignore[no-untyped-def]
    return build_graph(kind, _deps(), _config(config), checkpointer_supplied=True)  # type: ignore[arg-type]


async def theme_graph(config: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    """Themes -> recommendations (one branch per theme) -> evaluator -> matcher -> judges -> combined."""
    return await asyncio.to_thread(_build, "theme", config)


async def naive_graph(config: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    """The paper's naive baseline: recommendations without themes -> matcher -> judges -> combined."""
    return await asyncio.to_thread(_build, "naive", config)

"""The real parts behind the graphs, assembled from the run directory (CLI, batch, Studio)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from xpollinate.catalog.store import DataStore
from xpollinate.graphs.item_xp import GraphKind, ItemXPConfig, ItemXPDeps
from xpollinate.judges.cross_encoder import load_scorer
from xpollinate.llm import LLM, get_llm
from xpollinate.retrieval.grocery_filter import GroceryFilter


def default_deps(store: DataStore, llm: LLM | None = None, embedding_model: str = "minilm") -> ItemXPDeps:
    """LLM from settings (XP_LLM / config / local), the GM catalog index, the trained
    cross-encoder or its fallback, and the grocery filter — all local, nothing downloaded."""
    from xpollinate.retrieval.matcher import SemanticMatcher

    return ItemXPDeps(
        llm=llm or get_llm(),
        matcher=SemanticMatcher.open(store, model=embedding_model),
        scorer=load_scorer(),
        grocery_filter=GroceryFilter.for_store(store, model=embedding_model),
    )


def run_settings(kind: GraphKind, llm: LLM, config: ItemXPConfig, store: DataStore, scorer_id: str) -> dict[str, Any]:
    """What determines a run's results; its hash names the run, so equal settings resume one run."""
    return {
        "graph": kind,
        "llm": str(llm.spec),
        "config": config.model_dump(mode="json"),
        "prompt_hashes": {
            name: llm.registry.get(ref).sha256 for name, ref in config.prompts.model_dump().items()
        },
        "data_build": store.build_id,
        "scorer": scorer_id,
    }


def run_id_for(settings: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return f"{settings['graph']}-{digest}"

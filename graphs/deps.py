"""The real parts behind the graphs, assembled from the run directory (CLI, batch, Studio)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from xpollinate.catalog.store import DataStore
from xpollinate.graphs.item_xp import GraphKind, ItemXPConfig, ItemXPDeps
from xpollinate.graphs.matching import CatalogMatcher
from xpollinate.judges.cross_encoder import load_scorer
from xpollinate.llm import LLM, get_llm
from xpollinate.llm.settings import Role
from xpollinate.retrieval.grocery_filter import GroceryFilter


def default_deps(
    store: DataStore,
    llm: LLM | None = None,
    embedding_model: str = "minilm",
    history_until_week: int | None = None,
    *,
    evaluator_llm: LLM | None = None,
    judge_llm: LLM | None = None,
) -> ItemXPDeps:
    """LLM from settings (XP_LLM / config / local) unless given, a model per role where one differs from
    the generator's, the GM catalog index and its grounding vocabulary, the historical product types
    (association tables up to `history_until_week`, all weeks by default), the trained cross-encoder or
    its fallback, and the grocery filter — all local."""
    from xpollinate.retrieval.associations import AssocConfig, open_associations
    from xpollinate.retrieval.matcher import SemanticMatcher
    from xpollinate.retrieval.shortlist import HistoricalPTs, Shortlister
    from xpollinate.retrieval.vocabulary import GMVocabulary

    matcher = SemanticMatcher.open(store, model=embedding_model)
    items = store.items(columns=["product_type", "item_class"])
    vocabulary = GMVocabulary.from_matcher(matcher, set(items.loc[items["item_class"] == "grocery", "product_type"]))
    history = HistoricalPTs(open_associations(store, AssocConfig(until_week=history_until_week)))
    llm = llm or get_llm()
    return ItemXPDeps(
        llm=llm,
        evaluator_llm=_if_other(evaluator_llm, llm),
        judge_llm=_if_other(judge_llm, llm),
        matcher=CatalogMatcher(matcher),
        scorer=load_scorer(),
        grocery_filter=GroceryFilter.for_store(store, model=embedding_model),
        names=vocabulary,
        shortlister=Shortlister(vocabulary, history),
        history=history,
    )


def with_roles(deps: ItemXPDeps, models: Mapping[Role, LLM]) -> ItemXPDeps:
    """The same parts with a model per role (the evaluator's and judge's kept only where they differ)."""
    llm = models["generator"]
    return replace(
        deps, llm=llm, evaluator_llm=_if_other(models["evaluator"], llm), judge_llm=_if_other(models["judge"], llm)
    )


def _if_other(role: LLM | None, generator: LLM) -> LLM | None:
    """A role's model only where it answers differently from the generator's (None: the generator)."""
    return role if role is not None and role.identity() != generator.identity() else None


def role_settings(deps: ItemXPDeps) -> dict[str, Any]:
    """The evaluator's and judge's models where they differ from the generator's (part of the run id;
    absent when every role uses the generator, so such runs keep their ids)."""
    out: dict[str, Any] = {}
    for role, model in (("evaluator", deps.evaluator_llm), ("judge", deps.judge_llm)):
        if model is not None and model.identity() != deps.llm.identity():
            out[f"{role}_llm"] = str(model.spec)
            out[f"{role}_model"] = model.identity()
    return out


def run_settings(
    kind: GraphKind,
    llm: LLM,
    config: ItemXPConfig,
    store: DataStore,
    scorer_id: str,
    history_until_week: int | None = None,
) -> dict[str, Any]:
    """What determines a run's results; its hash names the run, so equal settings resume one run."""
    prompts = {name: llm.registry.get(ref) for name, ref in config.prompts.model_dump().items() if ref}
    return {
        "graph": kind,
        "llm": str(llm.spec),
        "model": llm.identity(),
        "config": config.model_dump(mode="json"),
        "prompt_hashes": {name: t.sha256 for name, t in prompts.items()},
        "max_tokens": {name: t.max_tokens for name, t in prompts.items()},
        "data_build": store.build_id,
        "history_until_week": history_until_week,
        "scorer": scorer_id,
    }


def deps_until_week(deps: ItemXPDeps) -> int | None:
    """The last week of baskets behind the deps' historical product types (None: all weeks)."""
    return getattr(deps.history, "until_week", None)


def run_id_for(settings: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return f"{settings['graph']}-{digest}"

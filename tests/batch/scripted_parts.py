"""Batch test parts (tests only): the scripted chat model of tests/graphs over a response cache
on disk, the keyword matcher and overlap scorer — picklable, so Dask workers can build them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.graphs.scripted import scripted_llm
from tests.graphs.test_item_xp_graph import KeywordMatcher, OverlapScorer, script
from xpollinate.batch.jobs import BatchJob
from xpollinate.cache import ResponseCache
from xpollinate.graphs.item_xp import GraphKind, ItemXPConfig, ItemXPDeps
from xpollinate.records import Anchor

PTS = ["GROUND COFFEE", "GROUND COFFEE", "HOT DOG BUNS", "GROUND COFFEE", "FLUID MILK", "HOT DOG BUNS"]


def anchors(n: int) -> list[Anchor]:
    """n grocery anchors whose product types repeat (so PT-level judge verdicts are shared)."""
    return [
        Anchor(
            item_id=1000 + i,
            text=f"Anchor {i} ({PTS[i % len(PTS)].title()})",
            product_type=PTS[i % len(PTS)],
            category="TEST",
        )
        for i in range(n)
    ]


class FailingMatcher(KeywordMatcher):
    """Raises for one recommendation text: that anchor fails, the batch goes on."""

    def match_recommendations(self, texts, k, expand):  # type: ignore[no-untyped-def]
        if any("Fail Me" in t for t in texts):
            raise RuntimeError("matcher exploded")
        return super().match_recommendations(texts, k, expand)


def broken_script(schema: str, prompt: str) -> Any:
    """Anchor 'Garbage' gets no themes (invalid output); 'Explode' gets a rec the matcher raises on."""
    if schema == "Themes" and "Garbage" in prompt:
        return "not json"
    if schema == "ThemeRecommendations" and "Explode" in prompt:
        out = script(schema, prompt)
        out["contexts"][0]["recs"][-1] = "Fail Me Gadget"
        return out
    return script(schema, prompt)


@dataclass(frozen=True)
class ScriptedParts:
    cache_dir: str
    delay_s: float = 0.0
    broken: bool = False
    separate_judge: bool = False  # the LLM-as-judge on a model of its own (A/B arms share one judge)
    separate_evaluator: bool = False  # the contextual evaluator on a model of its own

    def build(self) -> ItemXPDeps:
        base = broken_script if self.broken else script

        def answer(schema: str, prompt: str) -> Any:
            if self.delay_s:
                time.sleep(self.delay_s)
            return base(schema, prompt)

        llm, _ = scripted_llm(answer, cache=ResponseCache(Path(self.cache_dir)))
        judge = None
        if self.separate_judge:
            judge, provider = scripted_llm(answer, cache=ResponseCache(Path(self.cache_dir)))
            provider.model = "judge-1"
        evaluator = None
        if self.separate_evaluator:
            evaluator, provider = scripted_llm(answer, cache=ResponseCache(Path(self.cache_dir)))
            provider.model = "evaluator-1"
        return ItemXPDeps(
            llm=llm,
            matcher=FailingMatcher() if self.broken else KeywordMatcher(),
            scorer=OverlapScorer(),
            judge_llm=judge,
            evaluator_llm=evaluator,
        )


def job(
    parts: ScriptedParts,
    kind: GraphKind = "theme",
    config: ItemXPConfig | None = None,
    data_build: str = "b1",
    run_id: str | None = None,
) -> BatchJob:
    config = config or ItemXPConfig(plan="paper", history_pts=0)
    settings = {
        "graph": kind,
        "llm": "scripted:script-1",
        "config": config.model_dump(mode="json"),
        "data_build": data_build,
        "scorer": "test:overlap",
    }
    return BatchJob(run_id or f"{kind}-{config.prompts.theme}-{data_build}", kind, config, parts, settings)

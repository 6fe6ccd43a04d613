"""The item-XP graphs with a scripted chat model: fan-out, filtering, PT-level judge dedup,
bands, failures recorded, and a resumed run that makes no model call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.graphs.scripted import rubric, scripted_llm
from xpollinate.cache import ResponseCache
from xpollinate.graphs.item_xp import ItemXPConfig, ItemXPDeps, build_graph
from xpollinate.records import Anchor, Match

ANCHOR = Anchor(item_id=1, text="Ground Coffee (Coffee, Grocery)", product_type="GROUND COFFEE", category="COFFEE")
THEMES = ["Morning Brew", "Office Break", "morning brew", "Entertaining", "Cold Brew"]  # one duplicate
RECS = {
    "Morning Brew": ["1. **Coffee Filters**", "coffee filter", "  ", "Coffee Grinder", "Coffee Mug"],
    "Office Break": ["Travel Mug", "Coffee Filters", "AA Batteries", "Desk Organizer", "Coffee Mug Warmer"],
    "Entertaining": ["Paper Cups", "Serving Tray", "Charcoal Grill", "Napkins", "Coffee Carafe"],
    "Cold Brew": ["Pitcher", "Ice Cube Tray", "Reusable Straws", "Mason Jars", "Cold Brew Filter"],
}
CATALOG = [  # (item_id, text, product type) — a stand-in catalog for the stand-in matcher
    (11, "Coffee Filters (Coffee Filters, Drug Gm) - Private brand", "COFFEE FILTERS"),
    (12, "Coffee Filters (Coffee Filters, Drug Gm) - National brand", "COFFEE FILTERS"),
    (13, "Charcoal (Charcoal And Lighter Fluid, Drug Gm)", "CHARCOAL"),
    (15, "Alkaline Batteries (Batteries, Drug Gm)", "ALKALINE BATTERIES"),
    (16, "Gadgets/Tools (Kitchen Gadgets, Drug Gm)", "GADGETS/TOOLS"),
]


class KeywordMatcher:
    """Test stand-in for the semantic matcher: items sharing a word with the recommendation."""

    def match_recommendations(self, texts: Sequence[str], k: int, expand: int) -> list[list[Match]]:
        out = []
        for text in texts:
            words = {w.rstrip("s") for w in text.lower().split()}
            hits = [c for c in CATALOG if words & {w.rstrip("s") for w in c[1].lower().replace("(", " ").split()}]
            out.append(
                [
                    Match(rec_id="", item_id=i, item_text=t, product_type=pt, similarity=0.9 - 0.1 * r, rank=r)
                    for r, (i, t, pt) in enumerate(hits[:k])
                ]
            )
        return out


class OverlapScorer:
    scorer_id = "test:overlap"

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        return np.array([0.95 if a.split()[0].lower() in b.lower() else 0.5 for a, b in pairs])


def script(schema: str, prompt: str) -> Any:
    if schema == "Themes":
        return {"themes": [{"context": t, "explanation": "daily ritual"} for t in THEMES]}
    if schema == "ThemeRecommendations":
        theme = next(t for t in RECS if t in prompt)
        recs = RECS[theme] + [f"{theme} Gadget {i}" for i in range(10 - len(RECS[theme]))]
        return {"contexts": [{"context": theme, "recs": recs, "explanations": ["useful"] * 10}]}
    if schema == "ContextualEvaluation":
        return rubric(1) if "Batteries" in prompt else rubric(8)
    if schema == "JudgeEvaluation":
        return rubric(9) if "Matched Product Category: Coffee Filters" in prompt else rubric(2)
    if schema == "NaiveRecommendations":
        return {"recs": ["Coffee Filters", "Charcoal", " - "], "explanation": ["a", "b", "c"]}
    raise AssertionError(schema)


# The paper's call plan (its prompts are what `script` answers); the lean plan has tests of its own.
PAPER = ItemXPConfig(plan="paper", history_pts=0)


def deps(llm) -> ItemXPDeps:  # type: ignore[no-untyped-def]
    return ItemXPDeps(llm=llm, matcher=KeywordMatcher(), scorer=OverlapScorer())


def test_theme_graph_end_to_end() -> None:
    llm, provider = scripted_llm(script)
    out = build_graph("theme", deps(llm), PAPER).invoke({"anchor": ANCHOR})
    assert [t.context for t in out["themes"]] == ["Morning Brew", "Office Break", "Entertaining", "Cold Brew"]
    assert provider.calls["Themes"] == 1
    assert provider.calls["ThemeRecommendations"] == 4  # one Send branch per distinct theme
    reasons = {(d.stage, d.reason) for d in out["dropped"]}
    assert ("context", "duplicate theme") in reasons
    assert ("recommend", "empty") in reasons and ("recommend", "duplicate") in reasons
    assert ("merge", "duplicate across themes") in reasons  # "Coffee Filters" again under Office Break
    assert ("evaluate", "evaluator score below threshold") in reasons  # AA Batteries
    n_candidates = len(out["candidates"])
    assert provider.calls["ContextualEvaluation"] == n_candidates + 1  # + the dropped batteries
    # PT-level dedup: one judge call per distinct (anchor PT, rec, matched PT), fewer than matched items
    triplets = {(m.rec_id, m.product_type) for m in out["matches"]}
    assert provider.calls["JudgeEvaluation"] == len(triplets) < len(out["matches"])
    results = out["results"]
    assert results and results[0].product_type == "COFFEE FILTERS" and results[0].band == "Excellent"
    assert all(r.band != "Poor" and r.combined == pytest.approx(r.ce * r.llm, abs=1e-4) for r in results)
    assert [r.combined for r in results] == sorted((r.combined for r in results), reverse=True)
    assert len({r.item_id for r in results}) == len(results)
    assert ("combine", "poor band") in reasons
    assert set(out["provenance"]) == {"context", "recommend", "evaluate", "judge"}
    assert out["provenance"]["judge"].prompt == "judge@v2" and out["scorer_id"] == "test:overlap"


def test_resume_from_cache_makes_no_model_call(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache")
    llm, provider = scripted_llm(script, cache=cache)
    first = build_graph("theme", deps(llm), PAPER).invoke({"anchor": ANCHOR})
    made = sum(provider.calls.values())
    llm2, provider2 = scripted_llm(script, cache=ResponseCache(tmp_path / "cache"))
    second = build_graph("theme", deps(llm2), PAPER).invoke({"anchor": ANCHOR})
    assert made > 0 and sum(provider2.calls.values()) == 0
    assert [r.model_dump() for r in second["results"]] == [r.model_dump() for r in first["results"]]


def test_bad_llm_output_is_recorded_not_raised() -> None:
    def broken(schema: str, prompt: str) -> Any:
        if schema == "ThemeRecommendations" and "Office Break" in prompt:
            return "not json at all"
        if schema == "JudgeEvaluation":
            return {"reasoning": "no scores"}
        return script(schema, prompt)

    llm, provider = scripted_llm(broken)
    out = build_graph("theme", deps(llm), PAPER).invoke({"anchor": ANCHOR})
    stages = {(f.stage, f.kind) for f in out["failures"]}
    assert ("recommend", "invalid_output") in stages and ("judge", "invalid_output") in stages
    assert out["results"] == []  # no judge score -> nothing can be combined ...
    assert any(d.reason == "no judge score" for d in out["dropped"])  # ... and each loss is counted


def test_no_themes_ends_cleanly() -> None:
    llm, _ = scripted_llm(lambda schema, prompt: "garbage")
    out = build_graph("theme", deps(llm), PAPER).invoke({"anchor": ANCHOR})
    assert out["themes"] == [] and out["results"] == [] and out["failures"][0].stage == "context"


def test_naive_graph() -> None:
    llm, provider = scripted_llm(script)
    out = build_graph("naive", deps(llm), ItemXPConfig(plan="paper", history_pts=0, naive_n=3)).invoke(
        {"anchor": ANCHOR}
    )
    assert provider.calls["NaiveRecommendations"] == 1 and provider.calls["ContextualEvaluation"] == 0
    assert out["results"][0].product_type == "COFFEE FILTERS"
    assert any(d.reason == "empty" for d in out["dropped"])


def batch_script(schema: str, prompt: str) -> Any:
    """Batched evaluator answers: one entry per numbered line, except that line 2 of 'Cold Brew' is skipped."""
    if schema != "BatchContextualEvaluation":
        return script(schema, prompt)
    listed = prompt.split("RECOMMENDATIONS (number. recommendation - explanation):")[1].split("EVALUATION CRITERIA")[0]
    entries = []
    for line in listed.strip().splitlines():
        number, text = line.split(". ", 1)
        if "USAGE CONTEXT: Cold Brew" in prompt and number == "2":
            continue
        entries.append({"number": int(number), **(rubric(1) if "Batteries" in text else rubric(8))})
    return {"evaluations": entries}


def test_batched_evaluator_one_call_per_theme_and_agreement() -> None:
    from xpollinate.agents.evaluator import agreement

    llm, provider = scripted_llm(batch_script)
    batched = build_graph(
        "theme", deps(llm), ItemXPConfig(plan="paper", history_pts=0, evaluator_mode="batched")
    ).invoke({"anchor": ANCHOR})
    assert provider.calls["ContextualEvaluation"] == 0
    assert provider.calls["BatchContextualEvaluation"] == len({r.theme for r in batched["recs"]}) == 4
    missing = [d for d in batched["dropped"] if d.reason == "evaluation failed"]
    assert [(d.theme, d.text) for d in missing] == [("Cold Brew", "Ice Cube Tray")]
    assert any(d.reason == "evaluator score below threshold" and "Batteries" in d.text for d in batched["dropped"])

    llm2, _ = scripted_llm(script)
    per_rec = build_graph("theme", deps(llm2), PAPER).invoke({"anchor": ANCHOR})
    a = {r.rec_id: r.evaluator_score for r in per_rec["candidates"]}
    b = {r.rec_id: r.evaluator_score for r in batched["candidates"]}
    stats = agreement(a, b)
    assert stats["n"] == len(b) and stats["keep_agreement"] == 1.0 and stats["mean_abs_diff"] == 0.0
    assert agreement({"x": 0.9}, {"x": 0.1})["keep_agreement"] == 0.0


def test_copied_format_placeholders_are_dropped_with_their_reason() -> None:
    """Small models echo the prompts' format example ("Context", "Item Name 1"): never a theme or a query."""
    from xpollinate.agents.normalize import PLACEHOLDER_REASON

    def echo(schema: str, prompt: str) -> Any:
        if schema == "Themes":
            return {
                "themes": [
                    {"context": c, "explanation": "brief explanation (5-6 words)"}
                    for c in ["Context", "Morning Brew", "Context", "morning brew", "Context"]
                ]
            }
        if schema == "ThemeRecommendations":
            recs = ["Item Name 1", "Coffee Filters", "Item Name 3"] + ["Coffee Filters"] * 7
            return {
                "contexts": [
                    {
                        "context": "Context Name 1",
                        "recs": recs,
                        "explanations": [f"Explanation {i}" for i in range(1, 11)],
                    }
                ]
            }
        return script(schema, prompt)

    llm, provider = scripted_llm(echo)
    out = build_graph("theme", deps(llm), PAPER).invoke({"anchor": ANCHOR})
    assert [t.context for t in out["themes"]] == ["Morning Brew"] and out["themes"][0].explanation == ""
    assert provider.calls["ThemeRecommendations"] == 1
    placeholders = sorted(d.text for d in out["dropped"] if d.reason == PLACEHOLDER_REASON)
    assert placeholders == ["Context"] * 3 + ["Item Name 1", "Item Name 3"]
    assert [r.text for r in out["recs"]] == ["Coffee Filters"] and out["recs"][0].explanation == ""
    assert out["results"] and out["results"][0].product_type == "COFFEE FILTERS"


def test_unusable_prompt_input_is_a_recorded_failure_not_a_crash() -> None:
    """A prompt variable the template refuses (here an anchor too long for the theme prompt) fails that call only."""
    llm, provider = scripted_llm(script)
    long_anchor = ANCHOR.model_copy(update={"text": "Ground coffee " * 21})  # + " (product type: ...)" > 300 chars
    out = build_graph("theme", deps(llm), PAPER).invoke({"anchor": long_anchor})
    assert sum(provider.calls.values()) == 0 and out["results"] == []
    assert [(f.stage, f.kind) for f in out["failures"]] == [("context", "invalid_input")]
    assert "anchor_item" in out["failures"][0].message


class NoTypeMatcher(KeywordMatcher):
    """A catalog item without a product type (a few real GM items have none)."""

    def match_recommendations(self, texts: Sequence[str], k: int, expand: int) -> list[list[Match]]:
        return [
            [
                Match(
                    rec_id="",
                    item_id=99,
                    item_text="Coffee Filters (Misc, Drug Gm) - Private brand",
                    product_type="",
                    similarity=0.8,
                    rank=1,
                )
            ]
            for _ in texts
        ]


def test_an_item_without_product_type_is_judged_by_its_text() -> None:
    seen: list[str] = []

    def judge_script(schema: str, prompt: str) -> Any:
        if schema == "JudgeEvaluation":
            seen.append(prompt.split("Matched Product Category: ", 1)[1].split("\n", 1)[0])
        return script(schema, prompt)

    llm, _ = scripted_llm(judge_script)
    out = build_graph(
        "naive",
        ItemXPDeps(llm=llm, matcher=NoTypeMatcher(), scorer=OverlapScorer()),
        ItemXPConfig(plan="paper", history_pts=0, naive_n=3),
    ).invoke({"anchor": ANCHOR})
    assert seen and set(seen) == {"Coffee Filters (Misc, Drug Gm)"}
    assert not out["failures"] and out["results"]

"""The lean call plan with a scripted model: grounded picks, P(yes) evaluator and judge,
Item XP merged with the historical product types, copy and catalog counts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphs.lean import PTS, History, lean_deps, lean_script
from tests.graphs.scripted import scripted_llm
from tests.graphs.test_item_xp_graph import ANCHOR, PAPER, deps, script
from xpollinate.errors import XPError
from xpollinate.graphs.item_xp import ItemXPConfig, ItemXPDeps, build_graph
from xpollinate.graphs.runner import audit


def test_lean_grounded_theme_graph() -> None:
    llm, provider = scripted_llm(lean_script)
    out = build_graph("theme", lean_deps(llm)).invoke({"anchor": ANCHOR})
    themes = [t.context for t in out["themes"]]
    assert themes == ["Morning Brew", "Office Break", "Entertaining", "Camping Trip"]
    # the shortlist holds catalog names only, and the picks' schema is an enum over exactly that list
    assert out["shortlist"] and set(out["shortlist"]) <= {n.title() for n in PTS}
    enum = provider.schemas["Picks"]["properties"]["picks"]["items"]["enum"]
    assert enum == out["shortlist"]
    assert provider.calls["ThemeNames"] == 1 and provider.calls["Picks"] == 4  # one branch per distinct theme
    # every model recommendation names a catalog product type: nothing out of the catalog, nothing to copy
    assert out["out_of_catalog"] == [] and out["copied"] == []
    assert all(r.product_type in PTS for r in out["candidates"])
    reasons = {(d.stage, d.reason) for d in out["dropped"]}
    assert ("recommend", "duplicate") in reasons  # Charcoal twice in one answer
    assert ("merge", "duplicate across themes") in reasons
    assert ("evaluate", "evaluator score below threshold") in reasons  # batteries: P(yes) 0.1 < 0.3
    # one P(yes) call per evaluated recommendation and per distinct judged triplet
    evaluated = {r.text for r in out["candidates"] if r.source != "historical"} | {"Alkaline Batteries"}
    triplets = {(m.rec_id, m.product_type) for m in out["matches"]}
    assert provider.calls["YesProbability"] == len(evaluated) + len(triplets)
    by_source = {r.recommendation: r.source for r in out["results"]}
    assert by_source["Coffee Filters"] == "both"  # picked by the model and associated in the baskets
    assert by_source["Lawn Mowers"] == "historical"  # basket evidence only, kept although its band is Poor
    assert next(r for r in out["results"] if r.recommendation == "Lawn Mowers").band == "Poor"
    assert all(r.band != "Poor" for r in out["results"] if r.source == "llm")
    assert out["provenance"]["judge"].prompt == "relevance@v1" and out["provenance"]["evaluate"].prompt == "fit@v1"
    trail = audit(out)
    # coffee filters, paper cups, gadgets, batteries, charcoal
    assert trail["n_out_of_catalog"] == 0 and trail["n_copied"] == 0 and trail["n_distinct_recs"] == 5


def test_grounded_answer_outside_the_shortlist_is_repaired_or_recorded() -> None:
    def invents(schema: str, prompt: str) -> Any:
        if schema == "Picks" and "Entertaining" in prompt:
            return {"picks": ["Espresso Machine"]}  # not offered: fails the enum, every repair too
        return lean_script(schema, prompt)

    llm, provider = scripted_llm(invents)
    out = build_graph("theme", lean_deps(llm)).invoke({"anchor": ANCHOR})
    failed = [f for f in out["failures"] if f.stage == "recommend"]
    assert len(failed) == 1 and failed[0].subject == "Entertaining" and failed[0].kind == "invalid_output"
    assert "Espresso Machine" not in {r.text for r in out["candidates"]}
    assert out["results"]  # the other themes went on


def test_lean_free_text_counts_names_outside_the_catalog() -> None:
    llm, _ = scripted_llm(lean_script)
    out = build_graph("theme", lean_deps(llm), ItemXPConfig(grounding="free")).invoke({"anchor": ANCHOR})
    assert "shortlist" not in out or not out["shortlist"]
    assert out["out_of_catalog"] == ["Coffee Mug"]  # the free prompt offers no list, so the script names a mug
    mug = [r for r in out["candidates"] if r.text == "Coffee Mug"]
    assert mug and mug[0].product_type is None  # matched semantically, not by name


def test_lean_naive_graph_picks_once_from_the_shortlist() -> None:
    llm, provider = scripted_llm(lean_script)
    out = build_graph("naive", lean_deps(llm), ItemXPConfig(naive_n=5)).invoke({"anchor": ANCHOR})
    assert provider.calls["Picks"] == 1 and provider.calls["ThemeNames"] == 0
    assert provider.schemas["Picks"]["properties"]["picks"]["maxItems"] == 5
    assert {r.recommendation for r in out["results"]} >= {"Coffee Filters", "Lawn Mowers"}


def test_history_off_keeps_the_model_list_only() -> None:
    llm, _ = scripted_llm(lean_script)
    history = History()
    out = build_graph("theme", lean_deps(llm, history), ItemXPConfig(history_pts=0)).invoke({"anchor": ANCHOR})
    assert {r.source for r in out["results"]} == {"llm"}
    assert history.asked == [ANCHOR.product_type]  # asked once, by the shortlist only


def test_copies_of_the_paper_prompts_examples_are_counted() -> None:
    def copier(schema: str, prompt: str) -> Any:
        answer = script(schema, prompt)
        if schema == "ThemeRecommendations":
            answer["contexts"][0]["recs"][:2] = ["Egg Slicers", "Salt and pepper shakers"]
        return answer

    llm, _ = scripted_llm(copier)
    out = build_graph("theme", deps(llm), PAPER).invoke({"anchor": ANCHOR})
    copied = out["copied"]
    assert len(copied) == 8 and set(copied) == {"Egg Slicers", "Salt and pepper shakers"}  # 2 in each of 4 branches
    assert audit(out)["n_copied"] == 8


def test_setup_errors_before_any_call() -> None:
    llm, provider = scripted_llm(lean_script)
    with pytest.raises(XPError, match="grounding vocabulary"):
        build_graph("theme", ItemXPDeps(llm=llm, matcher=lean_deps(llm).matcher, scorer=lean_deps(llm).scorer))
    provider.supports_logprobs = False
    with pytest.raises(XPError, match="token probabilities"):
        build_graph("theme", lean_deps(llm))
    assert sum(provider.calls.values()) == 0


def test_plan_presets_fill_every_setting() -> None:
    lean, paper = ItemXPConfig(), ItemXPConfig(plan="paper")
    assert lean.grounding == "catalog" and lean.prompts.recommend == "pick@v1" and lean.prompts.judge == "relevance@v1"
    assert paper.grounding == "free" and paper.prompts.recommend == "theme_recs@v2" and paper.expand == 2
    assert ItemXPConfig(grounding="free").prompts.recommend == "pick_free@v1"
    assert ItemXPConfig.model_validate(lean.model_dump()) == lean  # stored settings round-trip to the same config
    with pytest.raises(ValueError, match="paper plan generates free text"):
        ItemXPConfig(plan="paper", grounding="catalog")


@pytest.mark.parametrize(
    "bad", ["", '{"picks": ["Coffee Fil', '{"picks": []}', "null", '{"picks": ["Coffee Filters"] * 3}']
)
def test_worst_pick_answers_are_recorded_per_theme(bad: str) -> None:
    """Empty, truncated, empty-list, null or garbled answers: that theme's call is a recorded failure after
    its repairs, the other themes and the historical half of Item XP go on."""

    def worst(schema: str, prompt: str) -> Any:
        if schema == "Picks" and "Office Break" in prompt:
            return bad
        return lean_script(schema, prompt)

    llm, provider = scripted_llm(worst)
    out = build_graph("theme", lean_deps(llm)).invoke({"anchor": ANCHOR})
    failed = [f for f in out["failures"] if f.stage == "recommend"]
    assert [f.subject for f in failed] == ["Office Break"] and failed[0].kind == "invalid_output"
    assert failed[0].attempts == 2  # the answer and one repair (max_repairs=1 in the scripted settings)
    assert {r.source for r in out["results"]} >= {"historical"} and any(
        r.source != "historical" for r in out["results"]
    )
    assert "Alkaline Batteries" not in {r.text for r in out["candidates"]}  # only Office Break would have named them

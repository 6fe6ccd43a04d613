"""Experiment 3 (LLM re-ranker vs LightGBM): the ranking metrics, the re-ranker evals and the context
sensitivity on hand-checkable cases with a scripted chat model; the page; bad options refused."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.graphs.scripted import scripted_llm
from xpollinate.cli.experiment_llm_rerank import payload_of, write
from xpollinate.cli.main import app
from xpollinate.errors import XPError
from xpollinate.storefront.llm_rerank_experiment import (
    Case,
    average_overlap,
    category_share,
    ceiling,
    check_sizes,
    context_set,
    jaccard,
    ranking_metrics,
    score_cases,
    shuffled_metrics,
)

ITEMS = list(range(1, 11))  # LightGBM order
CATS = {i: ("BEEF" if i in (9, 10) else "SOUP") for i in ITEMS}
CASE = Case(
    7, ITEMS, [2, 99], ["- Soup (Soup): 3 of 5 baskets, last 0 weeks ago"], {i: f"item {i}" for i in ITEMS}, CATS
)


def ids_in(prompt: str) -> list[int]:
    return [int(x) for x in re.findall(r"^(\d+): ", prompt.split("Candidate products")[1], re.M)]


def test_metrics_count_every_target_so_the_ceiling_is_the_share_in_the_m() -> None:
    lgbm = ranking_metrics([ITEMS], [CASE])
    assert ceiling([CASE]) == 0.5  # 99 is not among the 10
    assert lgbm["Recall@5"] == lgbm["Recall@10"] == 0.5
    ideal = 1 + 1 / math.log2(3)  # two target items
    assert lgbm["NDCG@5"] == pytest.approx((1 / math.log2(3)) / ideal)
    first = ranking_metrics([[2, 1, 3, 4, 5, 6, 7, 8, 9, 10]], [CASE])
    assert first["NDCG@10"] == pytest.approx(1 / ideal)
    late = ranking_metrics([[1, 3, 4, 5, 6, 7, 8, 9, 10, 2]], [CASE])
    assert late["Recall@5"] == 0.0 and late["Recall@10"] == 0.5
    floor = shuffled_metrics([CASE], seed=1, repeats=400)
    assert floor["Recall@5"] == pytest.approx(0.25, abs=0.04)  # the target is in the top 5 half the time


def test_overlap_and_category_share_by_hand() -> None:
    a, b = [1, 2, 3, 4, 5, 6], [2, 1, 3, 4, 6, 5]
    assert jaccard(a, b) == pytest.approx(4 / 6)
    assert average_overlap(a, b) == pytest.approx((0 + 1 + 1 + 1 + 0.8) / 5)
    assert jaccard(a, a) == average_overlap(a, a) == 1.0
    assert category_share([9, 1, 10, 2, 3], CATS, frozenset({"BEEF"})) == pytest.approx(0.4)


def script(schema: str, prompt: str) -> Any:
    ids = ids_in(prompt)
    if "hosting a barbecue" in prompt:  # the beef first, then the input order
        return {"ranking": [9, 10, *[i for i in ids if i not in (9, 10)]]}
    if "new baby" in prompt:  # an id outside the candidates, a repeat, and 3 candidates left out
        return {"ranking": [999, 1, 1, *ids[1:7]]}
    return {"ranking": list(reversed(ids))}  # no context: the input reversed


def test_score_cases_evals_and_context_sensitivity() -> None:
    llm, provider = scripted_llm(script)
    run = score_cases([CASE], llm, ["hosting a barbecue", "new baby"], seed=3)
    assert provider.calls["Ranking"] == 3
    llm_row = run.metrics["LLM re-ranker (no context)"]
    assert llm_row["Recall@5"] == 0.0 and llm_row["Recall@10"] == 0.5  # 2 is 9th of the reversed list
    assert run.metrics["LightGBM order"]["Recall@5"] == 0.5
    ev = run.evals
    # answered ids: 10 + 10 + 9 (999, 1, 1, 2..7) = 29; one outside the candidates, one repeat
    assert ev["calls"] == 3 and ev["hallucinated ids"] == 1
    assert ev["hallucination rate (ids not among the candidates / answered ids)"] == pytest.approx(1 / 29)
    assert ev["duplicate rate (repeated ids / answered ids)"] == pytest.approx(1 / 29)
    assert ev["missing-id fallback rate (answers leaving out candidates / calls)"] == pytest.approx(1 / 3)
    assert ev["candidates left out and appended (share of all candidates)"] == pytest.approx(3 / 30)
    assert "not measured" in ev["reasoning alignment"]
    bbq, baby = run.contexts
    # no context top 5: 10, 9, 8, 7, 6; barbecue: 9, 10, 1, 2, 3
    assert bbq["Jaccard top 5 vs none"] == pytest.approx(2 / 8)
    assert bbq["average overlap top 5 vs none"] == pytest.approx((0 + 1 + 2 / 3 + 2 / 4 + 2 / 5) / 5)
    assert bbq["context share of top 5, no context"] == pytest.approx(0.4)
    assert bbq["context share of top 5, with context"] == pytest.approx(0.4)
    assert bbq["context share of the M candidates"] == pytest.approx(0.2)
    assert baby["households with a context item in the M"] == 0 and baby["top 5 unchanged (households)"] == 0


def test_the_page_and_json_hold_the_numbers(tmp_path: Path) -> None:
    llm, _ = scripted_llm(script)
    run = score_cases([CASE], llm, ["hosting a barbecue"], seed=3, settings=_settings())
    page = write(run, payload_of(run), tmp_path, "abc1234")
    text = page.read_text()
    assert "ceiling is the share of target items among the 10: 0.5000" in text
    assert "not measured" in text and "'hosting a barbecue': Jaccard 0.250" in text
    data = json.loads((tmp_path / "experiment-llm-rerank.json").read_text())
    assert data["ceiling_share_of_targets_in_the_m"] == 0.5 and data["run"]["commit"] == "abc1234"
    assert data["evals"]["calls"] == 2


def _settings() -> dict[str, Any]:
    return {
        "data_build": "b",
        "test_weeks": "46-53",
        "test_households": 5,
        "households_with_a_target_in_the_m": 1,
        "households_looked_at": 3,
        "learned_reranker": "lr",
        "two_tower_model": "tt",
        "candidates_retrieved": 100,
        "candidates_from_history": 100,
        "llm_threads": 1,
    }


def test_bad_sizes_and_context_sets_are_errors() -> None:
    with pytest.raises(XPError, match="at least 1 household"):
        check_sizes(0, 20)
    with pytest.raises(XPError, match="choose 10 to 200"):
        check_sizes(8, 5)
    with pytest.raises(XPError, match="unknown context set 'party'"):
        context_set("party")
    assert context_set("default") == ("hosting a barbecue", "new baby")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--households", "0"], "--households 0: sample at least 1 household"),
        (["--candidates", "3"], "--candidates 3: choose 10 to 200"),
        (["--contexts", "party"], "unknown context set 'party'; choose one of default, barbecue, baby"),
    ],
)
def test_cli_refuses_bad_options(args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["experiments", "run", "llm-rerank", *args])
    assert res.exit_code == 2 and message in " ".join(res.output.split())

"""Reasoning alignment of the LLM re-ranker (llm_rerank@v2): the checks on hand-made answers, the reasons
parsed from a scripted answer under an enum schema, and experiment 3's evals and page gaining the rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.graphs.scripted import scripted_llm
from tests.storefront.test_experiment_llm_rerank import _settings
from xpollinate.cli.experiment_llm_rerank import payload_of, write
from xpollinate.storefront.llm_rerank_experiment import Case, score_cases
from xpollinate.storefront.llm_reranker import Candidate, llm_rerank
from xpollinate.storefront.reasoning import PROMPT, alignment_rates, check_reasons, reasoned_ranking_model

TEXTS = {
    1: "Hot Dog Buns (Baked Bread/Buns/Rolls, Grocery)",
    2: "Charcoal (Charcoal And Lighter Fluid, Drug Gm)",
    3: "Ground Coffee (Coffee, Grocery)",
    4: "Baby Wipes (Diapers & Disposables, Drug Gm)",
}


def test_checks_on_hand_made_reasons() -> None:
    reasons = [
        (2, "They need charcoal for hosting a barbecue"),  # own word, context word, top pick
        (1, "Coffee every morning"),  # names item 3's word, none of its own
        (3, "A good choice for them"),  # names nothing
        (99, "buns for the grill"),  # not a candidate
    ]
    checks = check_reasons(reasons, [2, 3, 1, 4], TEXTS, "hosting a barbecue", n=3)
    assert [c.candidate for c in checks] == [True, True, True, False]
    assert [c.top_pick for c in checks] == [True, True, True, False]
    assert [c.names_own for c in checks] == [True, False, False, False]
    assert [c.names_other_only for c in checks] == [False, True, False, True]  # 99 shares 'buns' with item 1
    assert [c.mentions_context for c in checks] == [True, False, False, False]
    rates = alignment_rates(checks, calls=2)
    assert rates["reasons given"] == 4 and rates["reasons per call"] == 2.0
    assert rates["reasons naming their own item's type/category words (share)"] == 0.25
    assert rates["reasons naming another candidate instead (share)"] == 0.5
    assert rates["reasons beside an id outside the candidates (share)"] == 0.25
    assert rates["reasons mentioning the context, when one is given (share)"] == 0.25
    # plural s is dropped on both sides; without a context nothing is counted for it
    (one,) = check_reasons([(4, "wipe for the baby")], [4], TEXTS, None)
    assert one.names_own and one.mentions_context is None
    assert alignment_rates([one], 1)["reasons mentioning the context, when one is given (share)"] == 0.0


def test_boilerplate_words_do_not_name_an_item_and_copies_are_counted() -> None:
    texts = {5: "Bananas (Tropical Fruit, Produce) - National brand", 6: "Eggs (Eggs, Grocery) - Private brand"}
    generic, copy, why = check_reasons(
        [
            (5, "The shopper bought this product from a national brand"),
            (6, "Eggs"),
            (5, "Tropical fruit for breakfast"),
        ],
        [5, 6],
        texts,
        None,
    )
    assert not generic.names_own and not generic.copies_item  # 'product', 'national', 'brand' are boilerplate
    assert copy.names_own and copy.copies_item
    assert why.names_own and not why.copies_item  # 'breakfast' is more than the item's own words
    rates = alignment_rates([generic, copy, why], calls=1)
    assert rates["reasons that only copy their item's words (share)"] == pytest.approx(1 / 3)


def test_reasons_come_back_under_an_enum_schema() -> None:
    def script(schema: str, prompt: str):
        ids = [int(i) for i in re.findall(r"^(\d+): ", prompt, re.M)]
        if schema == "Ranking":
            return {"ranking": ids}
        assert schema == "ReasonedRanking" and "first 3 ids" in prompt
        return {"ranking": ids[::-1], "reasons": [{"id": i, "reason": f"likes item {i}"} for i in ids[::-1][:3]]}

    llm, provider = scripted_llm(script)
    cands = [Candidate(i, t) for i, t in TEXTS.items()]
    out = llm_rerank(llm, cands, ["- Coffee"], None, PROMPT)
    assert out.order == [4, 3, 2, 1] and out.reasons == [(4, "likes item 4"), (3, "likes item 3"), (2, "likes item 2")]
    schema = provider.schemas["ReasonedRanking"]
    assert "'enum': [1, 2, 3, 4]" in str(schema["$defs"]) and schema["properties"]["reasons"]["maxItems"] == 3
    assert llm_rerank(llm, cands, ["- Coffee"]).reasons == []  # v1: ids only, unchanged
    with pytest.raises(ValueError):
        reasoned_ranking_model([])


def test_experiment_three_gains_the_reasoning_rows(tmp_path: Path) -> None:
    items = list(TEXTS)
    case = Case(7, items, [2], ["- Coffee (Coffee): 3 of 5 baskets"], TEXTS, {i: "X" for i in items})

    def script(schema: str, prompt: str):
        ids = [int(i) for i in re.findall(r"^(\d+): ", prompt, re.M)]
        bbq = "barbecue" in prompt.split("Candidate products")[0]
        reason = "charcoal for the barbecue" if bbq else "they drink coffee"
        return {
            "ranking": ids,
            "reasons": [{"id": 2, "reason": reason}, {"id": 1, "reason": "coffee"}, {"id": 3, "reason": "coffee"}],
        }

    llm, _ = scripted_llm(script)
    run = score_cases([case], llm, ["hosting a barbecue"], seed=1, settings=_settings(), prompt=PROMPT)
    ev = run.evals
    assert ev["reasons given"] == 6 and "reasoning alignment" not in ev
    # own words: 'charcoal' for 2 (barbecue call) and 'coffee' for 3, twice -> 3 of 6
    assert ev["reasons naming their own item's type/category words (share)"] == pytest.approx(3 / 6)
    # 'they drink coffee' beside 2 and 'coffee' beside 1 (both calls) name item 3 instead
    assert ev["reasons naming another candidate instead (share)"] == pytest.approx(3 / 6)
    assert ev["reasons mentioning the context, when one is given (share)"] == pytest.approx(1 / 3)
    text = write(run, payload_of(run), tmp_path, "abc1234").read_text()
    assert "prompt llm_rerank@v2" in text and "Reasoning alignment: the answer gives" in text
    assert "reasons naming another candidate instead (share)" in text and "charcoal for the barbecue" in text

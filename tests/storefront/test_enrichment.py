"""Experiments 1 and 4's LLM pass (category profiles) and experiment 1 (item enrichment): the table writer
records failures and skipped numbers, publishes atomically and resumes from the response cache; the
description quality metrics on hand-made inputs; enriched texts reach the item tower."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.graphs.scripted import scripted_llm
from xpollinate.cache import ResponseCache
from xpollinate.errors import XPError
from xpollinate.retrieval.twotower.tags import category_rows
from xpollinate.storefront.category_profiles import (
    BUILD_COMMAND,
    OCCASIONS,
    ProfilesNotBuiltError,
    load_profiles,
    occasion_names,
    profile_categories,
    profile_model,
    profiles_dir,
)
from xpollinate.storefront.enrichment import description_quality, enriched_texts, hierarchy_words
from xpollinate.storefront.feature_variants import template_texts


def numbered(prompt: str) -> list[tuple[int, str]]:
    """(number, category line) of each numbered category line of the prompt."""
    return [(int(m.group(1)), m.group(2)) for m in re.finditer(r"^(\d+)\. (.+)$", prompt, re.M)]


def good_script(schema: str, prompt: str) -> dict:
    """A description naming the category; breakfast and snacking for coffee lines, weekly stock-up else."""
    assert schema == "CategoryProfiles"
    out = []
    for n, line in numbered(prompt):
        name = line.split(" (")[0]
        occ = ["breakfast", "snacking"] if "coffee" in line else ["weekly stock-up"]
        out.append({"number": n, "description": f"everyday {name} products for the home", "occasions": occ})
    return {"categories": out}


def test_pass_records_failures_and_skips_publishes_and_resumes(fixture_store, tmp_path: Path) -> None:
    items = fixture_store.items()
    with pytest.raises(ProfilesNotBuiltError, match=re.escape(BUILD_COMMAND)):
        load_profiles(tmp_path)
    first_line = {"seen": None}

    def flaky(schema: str, prompt: str):
        lines = numbered(prompt)
        if first_line["seen"] is None:
            first_line["seen"] = lines[0][1]
        if lines[0][1] == first_line["seen"]:
            return "no json here"  # the first call fails even after its repairs
        answer = good_script(schema, prompt)
        answer["categories"] = answer["categories"][:1] + [  # number 2 given twice, the rest skipped
            dict(answer["categories"][0], number=2)
        ] * (len(lines) - 1)
        return answer

    cache = ResponseCache(tmp_path / "cache")
    llm, provider = scripted_llm(flaky, cache=cache)
    run = profile_categories(items, llm, per_call=3, home=tmp_path)
    t = run.table
    n_cats = len(category_rows(items))
    assert len(t) == n_cats and run.calls == -(-n_cats // 3) and run.failures == 1
    assert (t["status"] == "failure").sum() == 3 and t.loc[t["status"] == "failure", "message"].str.contains(
        "invalid_output"
    ).all()
    assert (t["status"] == "missing").any() and (t["status"] == "ok").any()
    assert (t.loc[t["status"] != "ok", "description"] == "").all()
    assert t["llm"].iloc[0] == "scripted:script-1" and t["prompt_sha256"].str.len().eq(64).all()
    saved, path = load_profiles(tmp_path)
    assert path == run.path and (profiles_dir(tmp_path) / "CURRENT").read_text().strip() == path.name
    assert len(saved) == len(t) and isinstance(saved["occasions"].iloc[0], list)
    assert not list(profiles_dir(tmp_path).glob(".*tmp*"))  # nothing left half-written

    # a rerun answers every valid call from the response cache and keeps the recorded seconds
    asked = sum(provider.calls.values())
    again = profile_categories(items, llm, per_call=3, home=tmp_path)
    ok = again.table["status"] == "ok"
    assert again.table.loc[ok, "cached"].all()
    new_calls = sum(provider.calls.values()) - asked
    assert new_calls == provider.calls["CategoryProfiles"] - asked  # only the failed call is asked again
    assert new_calls < asked and new_calls >= 1
    assert again.table.loc[ok, "description"].tolist() == t.loc[t["status"] == "ok", "description"].tolist()


def test_occasions_are_an_enum_and_an_unknown_one_fails(fixture_store, tmp_path: Path) -> None:
    schema = profile_model(2).model_json_schema()
    assert "enum" in str(schema) and all(o in str(schema) for o in OCCASIONS)
    with pytest.raises(XPError, match="unknown occasion.*allowed: weekly stock-up"):
        occasion_names(["breakfast", "space travel"])
    assert occasion_names(["breakfast"]) == ["breakfast"]

    def invents(schema: str, prompt: str):
        answer = good_script(schema, prompt)
        for entry in answer["categories"]:
            entry["occasions"] = ["space travel"]
        return answer

    llm, provider = scripted_llm(invents)
    run = profile_categories(fixture_store.items(), llm, per_call=50, limit=2, home=tmp_path)
    assert (run.table["status"] == "failure").all() and run.failures == 1
    assert run.table["message"].str.contains("space travel|literal_error|Input should be", regex=True).all()
    assert provider.schemas["CategoryProfiles"]["$defs"]  # the schema went to the model with the enum
    with pytest.raises(XPError, match="per_call"):
        profile_categories(fixture_store.items(), llm, per_call=0, home=tmp_path)


def table(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"category": c, "department": d, "description": t, "status": s, "occasions": []} for c, d, t, s in rows]
    )


def test_description_quality_on_tiny_inputs() -> None:
    items = pd.DataFrame(
        {
            "category": ["SOFT DRINKS", "SOFT DRINKS", "BEEF"],
            "department": ["GROCERY", "GROCERY", "MEAT"],
            "product_type": ["COLA CANS", "SODA 2 LITER", "LEAN STEAK"],
        }
    )
    assert hierarchy_words(items)["BEEF"] == {"beef", "meat", "lean", "steak"}
    t = table(
        [
            ("SOFT DRINKS", "GROCERY", "soft drinks cola cans", "ok"),  # 4 words, all from the hierarchy
            ("BEEF", "MEAT", "beef beef for grilling dinner", "ok"),  # 5 words, 4 distinct; beef/grilling/dinner
            ("MILK", "DAIRY", "", "failure"),
            ("EGGS", "DAIRY", "eggs", "ok"),  # too short: not valid
        ]
    )
    q = description_quality(t, items)
    assert q["categories"] == 4 and q["valid"] == 2 and q["valid_share"] == 0.5
    assert q["mean_words"] == pytest.approx(4.5) and q["median_words"] == pytest.approx(4.5)
    assert q["distinct_word_ratio"] == pytest.approx((1.0 + 4 / 5) / 2)
    assert q["vocabulary"] == len({"soft", "drinks", "cola", "cans", "beef", "for", "grilling", "dinner"})
    # content words: {soft, drinks, cola, cans} all own; {beef, grilling, dinner}: 1 of 3 own
    assert q["hierarchy_overlap"] == pytest.approx((1.0 + 1 / 3) / 2)
    assert q["new_word_share"] == pytest.approx(1 - (1.0 + 1 / 3) / 2)
    assert q["category_name_recall"] == pytest.approx(1.0)
    assert q["status_counts"] == {"ok": 3, "failure": 1}
    empty = description_quality(table([("X", "Y", "", "failure")]), items)
    assert empty["valid"] == 0 and empty["mean_words"] == 0.0


def test_enriched_texts_append_the_category_description(fixture_store) -> None:
    items = fixture_store.items().sort_values("item_id").reset_index(drop=True)
    cats = sorted(c for c in items["category"].unique() if c)
    t = table([(cats[0], "D", "a tasty thing for breakfast", "ok"), (cats[1], "D", "", "failure")])
    texts, n = enriched_texts(items, t)
    base = template_texts(items)
    first = (items["category"] == cats[0]).to_numpy()
    assert n == first.sum() > 0
    assert (texts[first] == base[first] + ". a tasty thing for breakfast").all()
    assert (texts[~first] == base[~first]).all()
    assert np.unique(texts).size >= np.unique(base).size

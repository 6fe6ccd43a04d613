"""The untuned SmolLM2 with the category trie: the allowed-token function with the real tokenizer, the decoder
on fixture households, `xp groclm recommend`. The model is loaded once per session (~20 s)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from xpollinate.cli.main import app
from xpollinate.groclm.baselines import popularity
from xpollinate.groclm.decode import AllowedTokens, category_trie, name_ids, separator_id
from xpollinate.groclm.lm import LMRanker
from xpollinate.groclm.tasks import TaskConfig, build_examples

NAMES = ("CHEESE", "CHEESES", "EGGS")


def test_allowed_tokens_follow_the_trie_with_the_real_tokenizer(backbone) -> None:
    tok = backbone.tokenizer
    trie = category_trie(tok, NAMES)
    end, eos = separator_id(tok), backbone.eos_id
    assert tok.decode([end]) == "\n"
    allowed = AllowedTokens(eos, k=2)
    cheese, cheeses, eggs = (name_ids(tok, n) for n in NAMES)
    assert tok.decode(cheese) == "cheese" and tok.decode(eggs) == "eggs"
    assert allowed(trie, []) == sorted({cheese[0], cheeses[0], eggs[0]})  # no end of list before a name
    after_cheese = allowed(trie, cheese)
    assert end in after_cheese and eos not in after_cheese
    assert cheeses[len(cheese)] in after_cheese or cheeses[: len(cheese)] != cheese
    assert allowed(trie, [*cheese[:-1], 12345]) == [eos]  # off the trie: nothing but the end
    one = [*eggs, end]
    nxt = allowed(trie, one)
    assert eos in nxt and eggs[0] not in nxt or eggs[0] in (cheese[0], cheeses[0])
    assert allowed(trie, [*one, *cheese, end]) == [eos]  # k=2 names: the list ends
    assert allowed(trie, [*one, eos]) == [eos]


@pytest.fixture(scope="session")
def fixture_lm(backbone, fixture_cb):
    return LMRanker(backbone, fixture_cb.names, popularity(fixture_cb, 8), batch_size=2)


def test_decoder_returns_distinct_valid_categories(fixture_lm, fixture_cb) -> None:
    config = TaskConfig(train_until=8, val_until=10, max_households=2, max_examples=2)
    ex = build_examples(fixture_cb, config)
    ranked = fixture_lm.rank(ex, 4)
    assert ranked.categories.shape == (len(ex), 4)
    for row in ranked.categories:
        assert len(set(row.tolist())) == 4 and row.min() >= 0
    info = ranked.info
    assert info is not None and info["invalid"] == 0 and info["duplicates"] == 0
    assert info["generated"] + ranked.fallbacks == len(ex)


def test_restock_decodes_only_past_categories(backbone, fixture_cb) -> None:
    start, end = fixture_cb.households()[3]
    counts = np.asarray(fixture_cb.matrix[start:end].sum(0)).ravel()
    since = np.where(counts > 0, 3.0, np.nan)
    restock = LMRanker(backbone, fixture_cb.names, popularity(fixture_cb, 8), restock=True)
    recs, seconds = restock.recommend_many([(counts, since, end - start, None)], k=10, beyond=False)
    past = set(np.flatnonzero(counts > 0).tolist())
    assert recs[0].generated is not None and seconds[0] > 0
    assert set(recs[0].categories) <= past and len(set(recs[0].categories)) == len(recs[0].categories)
    assert {fixture_cb.names[c] for c in recs[0].categories[: len(recs[0].generated.names)]} == set(
        recs[0].generated.names
    )


def test_recommend_cli(fixture_home, monkeypatch, backbone) -> None:
    monkeypatch.setenv("XP_HOME", str(fixture_home))
    runner = CliRunner()
    res = runner.invoke(app, ["groclm", "recommend", "--household", "3", "--k", "3", "--untuned", "--json", "-"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["source"] == "lm_trie" and len(payload["categories"]) == 3 and payload["seconds"] > 0
    assert len(set(payload["categories"])) == 3
    res = runner.invoke(app, ["groclm", "recommend", "--household", "999"])
    assert res.exit_code == 2 and "--household 999: household 999 is not in the data" in " ".join(res.output.split())
    res = runner.invoke(app, ["groclm", "recommend", "--household", "3", "--k", "0"])
    assert res.exit_code == 2 and "--k 0" in res.output


def test_eval_with_the_lm_on_the_fixture(fixture_home, monkeypatch, backbone, tmp_path) -> None:
    monkeypatch.setenv("XP_HOME", str(fixture_home))
    args = ["groclm", "eval", "--train-until", "8", "--val-until", "10", "--task", "next", "--seeds", "0", "--k", "3"]
    lm = ["--lm", "--lm-households", "2", "--lm-examples", "2", "--lm-no-trie", "--results", str(tmp_path)]
    res = CliRunner().invoke(app, [*args, *lm, "--json", "-"])
    assert res.exit_code == 0, res.output
    subset = json.loads(res.stdout)["tasks"]["next"]["lm_subset"]
    assert {"lm_trie", "lm_no_trie", "tifu_knn"} <= set(subset["baselines"])
    info = subset["info"]["lm_trie"][0]
    assert info["invalid"] == 0 and info["duplicates"] == 0 and info["seconds_p50"] > 0
    assert "lm_no_trie" in subset["info"] and (tmp_path / "groclm-lm.md").is_file()

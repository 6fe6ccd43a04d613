"""The min-names decoding (the list stays open until m names, never repeats), the in-context cycles prompt
within its token budget, the in-basket baselines reading the given half, the validation tuners, and the
eval options' bad input."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.groclm.conftest import synthetic
from tests.groclm.test_trie import END, WordTokenizer
from xpollinate.cli.main import app
from xpollinate.groclm.decode import AllowedTokens, category_trie, generate_lists
from xpollinate.groclm.inbasket import CoOccurrence, cooccurrence_matrix, inbasket_baselines
from xpollinate.groclm.lm_tables import training_of
from xpollinate.groclm.prompting import build_prompt
from xpollinate.groclm.tasks import TaskConfig, build_examples
from xpollinate.groclm.tifu import TifuParams
from xpollinate.groclm.trie import CategoryTrie
from xpollinate.groclm.tuning import pick, tune_tifu, tune_weight

EOS = 99
FIXTURE = dict(train_until=8, val_until=10, max_households=None, max_examples=None)


def _trie() -> CategoryTrie:
    return CategoryTrie.from_names(["Pork Rib", "Pork Chop", "Beef", "Lamb"], WordTokenizer(), END)


def test_min_names_keeps_the_list_open_then_lets_it_close() -> None:
    trie = _trie()  # pork 1, rib 2, chop 3, beef 4, lamb 5
    allowed = AllowedTokens(EOS, k=4, min_names=2)
    assert EOS not in allowed(trie, [1, 2, END])  # one name: the end is masked
    assert EOS in allowed(trie, [1, 2, END, 4, END])  # two names: it may close
    assert EOS in AllowedTokens(EOS, k=4)(trie, [1, 2, END])  # without min_names it may close after one
    assert allowed(trie, [1, 2, END]) == [1, 4, 5]  # never "pork rib" again
    assert allowed(trie, [1, 2, END, 1, 3, END, 4, END, 5, END]) == [EOS]  # k reached / nothing left
    with pytest.raises(ValueError, match="min_names must be 0 to k"):
        AllowedTokens(EOS, k=3, min_names=4)


def test_min_names_generation_never_closes_early_nor_repeats(backbone) -> None:
    names = ["FLUID MILK PRODUCTS", "BAKED BREAD/BUNS/ROLLS", "EGGS", "CHEESE", "SOFT DRINKS", "BEEF", "CANDY"]
    trie = category_trie(backbone.tokenizer, names)
    prompt = str(
        backbone.tokenizer.apply_chat_template(
            [{"role": "user", "content": "Name one grocery category."}], tokenize=False, add_generation_prompt=True
        )
    )
    answers, _ = generate_lists(backbone, [prompt, prompt], [trie, trie], k=6, min_names=5)
    for a in answers:
        assert len(a.names) >= 5 and a.duplicates == 0 and a.invalid == 0 and set(a.names) <= set(names)


def test_cycles_prompt_stays_within_its_budget_and_shows_fewer(backbone) -> None:
    tok = backbone.tokenizer
    names = [f"CATEGORY NUMBER {i}" for i in range(40)]
    counts = np.arange(40, 0, -1).astype(float)
    since = np.arange(40).astype(float)
    cycles = {i: (7.0 + i, 2.0) for i in range(0, 40, 2)}  # odd categories have no cycle
    plain = build_prompt(tok, names, counts, since, 50, None, 256)
    withc = build_prompt(tok, names, counts, since, 50, None, 256, cycles)
    assert withc.n_tokens <= 256 and plain.n_tokens <= 256 and 0 < withc.shown < plain.shown
    assert "- category number 0: 40 baskets, today, every 7 days ± 2" in withc.text
    assert "- category number 1: 39 baskets, 1 day ago, cycle unknown" in withc.text


def test_cooccurrence_reads_the_given_half() -> None:
    cb = synthetic(  # A with B twice, A with C once, B alone once (all training weeks)
        [(1, 1, 0, [1, 2]), (1, 2, 7, [1, 2]), (2, 1, 1, [1, 3]), (2, 2, 8, [2]), (1, 3, 14, [1, 2, 3])]
    )
    p = cooccurrence_matrix(cb, 2)
    a, b, c = (cb.names.index(n) for n in ("A", "B", "C"))
    assert p[a, b] == pytest.approx(2 / 3) and p[a, c] == pytest.approx(1 / 3) and p[b, a] == pytest.approx(2 / 3)
    ex = build_examples(cb, TaskConfig(task="inbasket", train_until=2, val_until=3, split="val"))
    # weeks 3 only: household 1's basket {A, B, C}
    model = CoOccurrence(p, np.zeros(3), weight=0.0)
    scores = model.scores(ex)
    given = list(ex.given[0])
    assert np.allclose(scores[0], p[given].mean(0))  # the given half decides the scores
    blended = CoOccurrence(p, np.zeros(3), weight=2.0).scores(ex)
    assert np.allclose(blended[0] - scores[0], 2.0 * ex.counts[0] / ex.n_history[0])
    with pytest.raises(Exception, match="scores the in-basket task only"):
        model.scores(build_examples(cb, TaskConfig(task="next", train_until=2, val_until=3, split="val")))
    assert [m.name for m in inbasket_baselines(cb, 2)] == ["cooccurrence", "cooc_personal"]


def test_tuners_pick_the_best_validation_row(fixture_cb) -> None:
    val = TaskConfig(task="next", split="val", **FIXTURE)
    grid = (TifuParams(neighbours=2, alpha=0.5), TifuParams(neighbours=3, alpha=0.9))
    best, rows = tune_tifu(fixture_cb, val, (0,), grid)
    assert len(rows) == 2 and best == grid[max(range(2), key=lambda i: (rows[i]["f1@10"], -i))]
    weight, rows = tune_weight(fixture_cb, val.model_copy(update={"task": "inbasket"}), (0,), (0.5, 2.0))
    assert weight in (0.5, 2.0) and len(rows) == 2
    summary = {"a": {"f1@10": {"mean": 0.2}}, "b": {"f1@10": {"mean": 0.3}}, "c": {"f1@10": {"mean": 0.3}}}
    assert pick(summary, ["a", "b", "c"]) == "b"  # ties go to the earlier


def test_training_of_counts_the_init_adapters_stage1() -> None:
    config = {
        "runs": [{"name": "stage2", "steps": 8, "examples_seen": 64, "seconds": 100.0}],
        "init_adapter": {"runs": [{"name": "stage1", "steps": 26, "seconds": 300.0}]},
    }
    assert training_of(config) == {"stage1_steps": 26, "stage2_steps": 8, "stage2_baskets": 64, "train_s": 400}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--min-names", "30"], "--min-names 30: choose 0 to the largest --k (20)"),
        (["--tune-min-names", "0,x"], "--tune-min-names '0,x': give comma-separated integers"),
        (["--tune-min-names", "0,25", "--k", "10"], "--min-names 25: choose 0 to the largest --k (10)"),
        (["--inbasket-weight", "0"], "--inbasket-weight must be positive, got 0.0"),
    ],
)
def test_eval_refuses_bad_decoding_options(extra: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["groclm", "eval", *extra])
    assert res.exit_code == 2 and message in " ".join(res.output.split()), res.output


def test_extra_adapters_are_labelled_from_their_training() -> None:
    from xpollinate.cli.groclm import _ablation_label

    s1 = {"name": "stage1", "steps": 26}
    s2 = {"name": "stage2", "steps": 16}
    assert _ablation_label({"runs": [s1]}, "a") == "groclm_no_stage2"
    assert _ablation_label({"runs": [s2]}, "a") == "groclm_no_stage1"
    assert _ablation_label({"runs": [s2], "prompt_style": "cycles"}, "a") == "groclm_incontext"
    assert _ablation_label({"runs": [s1, s2]}, "a") == "groclm_s2_16"
    assert _ablation_label({"runs": [s2], "init_adapter": {"runs": [s1]}}, "a") == "groclm_s2_16"
    assert _ablation_label({"runs": [s1, s2], "prompt_style": "cycles"}, "a") == "groclm_a"

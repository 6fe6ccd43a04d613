"""The torch rankers: size, masking, training, saving, loading, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xpollinate.errors import XPError
from xpollinate.ranking.artifacts import read_json
from xpollinate.ranking.model import ARCHS, CartRanker, ModelConfig, count_parameters
from xpollinate.ranking.scorer import load_ranker


def test_paper_model_has_about_1_2m_parameters() -> None:
    n = count_parameters(CartRanker(ModelConfig(arch="xp", pop_dim=0)))
    assert 1_100_000 <= n <= 1_300_000
    assert count_parameters(CartRanker(ModelConfig(arch="transformer", pop_dim=0))) < n  # no cross-attention
    # the popularity prior adds its 1 -> 8 projection and 8 input columns of W_r, nothing else
    assert count_parameters(CartRanker(ModelConfig(arch="xp", pop_dim=8))) - n == (8 + 8) + 8 * 128


def test_popularity_prior_is_scaled_log_counts() -> None:
    from xpollinate.ranking.item_features import popularity_prior

    prior = popularity_prior(np.array([0, 9, 99, 999]))
    assert prior[0] == 0.0 and prior[1] == 0.0 and prior[-1] == pytest.approx(1.0)  # padding, never bought, the top
    assert np.all(np.diff(prior[1:]) > 0)
    with pytest.raises(XPError, match="non-negative"):
        popularity_prior(np.array([1.0, -2.0]))


def test_popularity_prior_changes_scores_only_when_on(fixture_features) -> None:
    """With pop_dim = 0 the model ignores the prior (the paper's item representation)."""
    from dataclasses import replace

    flipped = replace(fixture_features, log_pop=fixture_features.log_pop[::-1].copy())
    cart, cands, persona = torch.tensor([[1, 2, 4]]), torch.tensor([[8, 9, 10]]), torch.zeros(1, 64)
    for pop_dim, same in ((0, True), (8, False)):
        torch.manual_seed(0)
        model = CartRanker(ModelConfig(arch="xp", layers=1, ff=32, n_platforms=2, pop_dim=pop_dim)).eval()
        scores = []
        for feats in (fixture_features, flipped):
            model.set_features(feats)
            with torch.inference_mode():
                scores.append(model(cart, cart > 0, cands, persona, torch.tensor([1])))
        assert torch.allclose(scores[0], scores[1]) is same


@pytest.mark.parametrize("arch", ARCHS)
def test_padding_does_not_change_scores(arch: str, fixture_features) -> None:
    torch.manual_seed(0)
    model = CartRanker(ModelConfig(arch=arch, layers=2, ff=64, n_platforms=3)).eval()
    model.set_features(fixture_features)
    cart = torch.tensor([[1, 2, 4, 0, 0]])
    cands = torch.tensor([[8, 9, 0]])
    persona = torch.zeros(1, 64)
    with torch.inference_mode():
        padded = model(cart, cart > 0, cands, persona, torch.tensor([1]))
        tight = model(cart[:, :3], cart[:, :3] > 0, cands[:, :2], persona, torch.tensor([1]))
    assert torch.allclose(padded[0, :2], tight[0], atol=1e-5)


def test_nan_item_features_are_refused(fixture_features) -> None:
    from dataclasses import replace

    bad = fixture_features.text_vectors.copy()
    bad[1, 0] = np.nan
    with pytest.raises(XPError, match="non-finite values in text_vectors"):
        CartRanker(ModelConfig()).set_features(replace(fixture_features, text_vectors=bad))


def test_training_saves_a_complete_run_and_is_deterministic(
    fixture_run, fixture_task, fixture_features, rank_home
) -> None:
    from xpollinate.ranking.model import ModelConfig
    from xpollinate.ranking.runs import train_and_save
    from xpollinate.ranking.train import TrainConfig

    path, metrics = fixture_run
    assert {p.name for p in path.iterdir()} == {"weights.pt", "config.json", "metrics.json", "data.json"}
    assert read_json(path, "data")["data_build"] == fixture_task.meta["data_build"]
    assert metrics["parameters"] > 1_000_000 and metrics["test"]["carts"] > 0
    # the reported NDCG@4 is the mean of the per-cart values (columns: @2, @4, @6), and each is a valid NDCG
    per_cart = np.array(metrics["test"]["per_cart"])
    assert metrics["test"]["ndcg@4"] == pytest.approx(per_cart[:, 1].mean(), abs=1e-4)
    assert ((per_cart >= 0) & (per_cart <= 1)).all()
    again_path, again = train_and_save(
        fixture_task,
        ModelConfig(arch="xp"),
        TrainConfig(epochs=1, seed=0),
        rank_home,
        fixture_features,
        make_current=False,
    )
    assert again["test"]["per_cart"] == metrics["test"]["per_cart"]


def test_load_ranker_serves_the_current_run(fixture_run, rank_home, fixture_task) -> None:
    scorer = load_ranker(rank_home)
    assert scorer is not None and scorer.name == "xp"
    ex = fixture_task.split("test").iloc[0]
    s = scorer.score(list(ex["cart"]), list(ex["candidates"]), int(ex["household_id"]), int(ex["store_id"]))
    assert s.shape == (len(ex["candidates"]),) and np.isfinite(s).all()


def test_no_trained_model_means_none(tmp_path) -> None:
    assert load_ranker(tmp_path) is None


@pytest.fixture(scope="module")
def scorer(fixture_run, rank_home):
    return load_ranker(rank_home)


class TestBadInput:
    def test_empty_cart(self, scorer) -> None:
        with pytest.raises(XPError, match="empty cart"):
            scorer.score([], [11, 12])
        with pytest.raises(XPError, match="unknown ids skipped: \\[777\\]"):
            scorer.score([777], [11, 12])

    def test_unknown_cart_items_are_skipped_and_reported(self, scorer) -> None:
        with_unknown = scorer.score([1, 777, 3], [11, 13])
        assert scorer.last_report["unknown_cart"] == [777]
        assert np.allclose(with_unknown, scorer.score([1, 3], [11, 13]))

    def test_long_cart_keeps_the_most_recent_50(self, scorer) -> None:
        cart = [1, 2, 3, 4, 5] * 12  # 60 items
        long = scorer.score(cart, [11, 13])
        assert scorer.last_report["truncated"] == 10
        assert np.allclose(long, scorer.score(cart[-50:], [11, 13]))

    def test_candidates_without_embeddings_score_minus_inf(self, scorer) -> None:
        s = scorer.score([1, 3], [11, 424242, 13])
        assert s[1] == -np.inf and np.isfinite(s[[0, 2]]).all()
        assert scorer.last_report["unknown_candidates"] == [424242]

    def test_nan_persona_falls_back_to_zeros(self, scorer) -> None:
        from dataclasses import replace

        hh = int(scorer.persona.household_ids[0])
        saved = scorer.persona
        scores = saved.scores.copy()
        scores[0, :5] = np.nan
        try:
            scorer.persona = replace(saved, scores=scores)
            s = scorer.score([1, 3], [11, 13], household_id=hh)
            assert np.isfinite(s).all() and scorer.last_report["nan_persona"] == 5
        finally:
            scorer.persona = saved


@pytest.mark.parametrize("arch", ["xp", "transformer", "bilstm", "identity", "deepfm", "xp+pre"])
def test_fast_path_equals_eager_model(arch: str, fixture_features) -> None:
    from xpollinate.ranking.fast import FastRanker

    torch.manual_seed(1)
    model = CartRanker(
        ModelConfig(arch=arch.removesuffix("+pre"), norm_first=arch.endswith("+pre"), n_platforms=3)
    ).eval()
    model.set_features(fixture_features)
    fast = FastRanker(model)
    cart = torch.tensor([[1, 2, 4, 0], [3, 5, 0, 0]])
    cands = torch.tensor([[8, 9, 10], [9, 11, 0]])
    persona = torch.rand(2, 64)
    platform = torch.tensor([1, 2])
    with torch.inference_mode():
        eager = model(cart, cart > 0, cands, persona, platform)
    assert torch.allclose(fast(cart, cart > 0, cands, persona, platform), eager, atol=1e-4)
    # several requests of different cart and candidate lengths in one call: each equals its own eager scores
    many = fast.score_many(
        [np.array([1, 2, 4]), np.array([3, 5])],
        [np.array([8, 9, 10]), np.array([9, 11])],
        persona.numpy(),
        platform.numpy(),
    )
    assert [len(s) for s in many] == [3, 2]
    assert np.allclose(many[0], eager[0].numpy(), atol=1e-4) and np.allclose(many[1], eager[1, :2].numpy(), atol=1e-4)
    # Compact candidate tables: the same values, so the same scores, whether all, some or none are hot.
    plain = fast(cart, cart > 0, cands, persona, platform)
    for hot_rows, n_hot in (([8, 9, 10, 11, 0, 10], 4), ([8, 9, 10], 3), ([], 0)):
        hot = fast.with_hot_rows(hot_rows)
        assert hot.hot_rows == n_hot and fast.hot_rows == 0 and hot.item_repr is fast.item_repr
        assert torch.equal(hot(cart, cart > 0, cands, persona, platform), plain)
    bf16 = FastRanker(model, bf16=True)(cart, cart > 0, cands, persona, platform)
    assert bf16.dtype == torch.float32
    scale = float(eager.abs().max())
    assert torch.allclose(bf16, eager, atol=0.03 * scale + 1e-3) and not torch.equal(bf16, eager)


def test_item_features_refuse_popularity_of_another_catalog(fixture_task) -> None:
    from xpollinate.ranking.item_features import build_item_features

    with pytest.raises(XPError, match="popularity has 3 counts"):
        build_item_features(fixture_task.catalog, np.ones(3))


@pytest.mark.parametrize("fast", [False, True])
def test_score_many_keeps_each_request_apart(scorer, fast: bool) -> None:
    from xpollinate.ranking.fast import FastRanker
    from xpollinate.ranking.neural_scorer import NeuralScorer
    from xpollinate.ranking.scorer import ScoreRequest

    if fast:
        scorer = NeuralScorer(
            FastRanker(scorer.model), scorer.catalog, scorer.features, scorer.persona, scorer.platforms
        )
    hh = int(scorer.persona.household_ids[0])
    out = scorer.score_many(
        [
            ScoreRequest([1, 3], [11, 13]),
            ScoreRequest([777], [11, 12]),  # nothing known in the cart: refused, alone
            ScoreRequest([1, 777, 3, 2], [11, 424242, 13], household_id=hh, platform=1),
        ]
    )
    reports = scorer.last_reports
    assert reports[1]["unknown_cart"] == [777] and reports[2]["unknown_candidates"] == [424242]
    assert np.allclose(out[0], scorer.score([1, 3], [11, 13]), atol=1e-5)
    assert isinstance(out[1], XPError) and "empty cart" in str(out[1])
    assert out[2][1] == -np.inf
    assert np.allclose(out[2][[0, 2]], scorer.score([1, 3, 2], [11, 13], household_id=hh, platform=1), atol=1e-5)
    # Candidate rows given by the caller (the service's pool) replace the lookup: the same scores; a misaligned
    # list is that request's refusal alone.
    cands = np.array([11, 424242, 13])
    given, bad = scorer.score_many(
        [
            ScoreRequest([1, 3, 2], cands, hh, 1, candidate_rows=scorer.catalog.rows(cands)),
            ScoreRequest([1, 3], cands, candidate_rows=np.array([0])),
        ]
    )
    assert np.allclose(given, out[2], atol=1e-5) and isinstance(bad, XPError) and "candidate rows" in str(bad)


def test_run_ids_name_the_prior_and_a_pre_norm_encoder(fixture_task) -> None:
    from xpollinate.ranking.runs import run_id
    from xpollinate.ranking.train import TrainConfig

    assert (
        run_id(ModelConfig(arch="xp", norm_first=True), TrainConfig(seed=2), fixture_task)
        == "xp+pre+pop-listwise-basket-c50-s2"
    )
    assert (
        run_id(ModelConfig(arch="xp", pop_dim=0), TrainConfig(loss="pairwise"), fixture_task)
        == "xp-pairwise-basket-c50-s0"
    )
    # no cart encoder to pre-norm: the option changes nothing, and the id says nothing
    assert (
        run_id(ModelConfig(arch="deepfm", norm_first=True), TrainConfig(), fixture_task)
        == "deepfm+pop-listwise-basket-c50-s0"
    )


def test_run_ids_name_the_recipe_when_it_differs_from_the_defaults(fixture_task) -> None:
    from xpollinate.ranking import report
    from xpollinate.ranking.runs import run_id
    from xpollinate.ranking.train import TrainConfig

    cfg = TrainConfig(
        epochs=20,
        patience=20,
        batch_size=64,
        lr=2e-3,
        neg_per_cart=None,
        weight_decay=1e-7,
        schedule="cosine",
        threads=1,
        workers=2,
        max_minutes=15,
    )  # budget, threads, workers: not the recipe
    rid = run_id(ModelConfig(arch="xp", pop_dim=0), cfg, fixture_task)
    assert rid == "xp+cos-listwise-basket-c50-s0-e20-p20-b64-nall-lr0.002-wd0.0000001"  # no '-' inside a number
    hit = report.RUN.match(rid)
    assert (
        hit
        and hit["arch"] == "xp+cos"
        and hit["seed"] == "0"
        and hit["recipe"] == "e20-p20-b64-nall-lr0.002-wd0.0000001"
    )
    assert report.RUN.match(run_id(ModelConfig(), TrainConfig(seed=4), fixture_task))["recipe"] is None


def test_run_ids_name_a_dropout_other_than_the_default(fixture_task) -> None:
    from xpollinate.ranking import report
    from xpollinate.ranking.runs import run_id
    from xpollinate.ranking.train import TrainConfig

    cfg = TrainConfig(epochs=32, patience=32, schedule="cosine", fit_budget=True, max_minutes=15)
    rid = run_id(ModelConfig(arch="xp", pop_dim=0, dropout=0.0), cfg, fixture_task)
    assert rid == "xp+cos-listwise-basket-c50-s0-e32-p32-do0-fit15"
    assert report.RUN.match(rid)["recipe"] == "e32-p32-do0-fit15"
    assert run_id(ModelConfig(arch="xp", pop_dim=0, dropout=0.1), cfg, fixture_task).endswith("-e32-p32-fit15")
    assert run_id(ModelConfig(arch="xp", pop_dim=0, dropout=0.05), cfg, fixture_task).endswith("-do0.05-fit15")


def test_run_ids_name_the_wsd_schedule_and_its_decay_share(fixture_task) -> None:
    from xpollinate.ranking import report
    from xpollinate.ranking.runs import run_id
    from xpollinate.ranking.train import TrainConfig

    rid = run_id(
        ModelConfig(arch="xp", pop_dim=0), TrainConfig(epochs=32, patience=32, schedule="wsd", decay=0.1), fixture_task
    )
    assert rid == "xp+wsd-listwise-basket-c50-s0-e32-p32-dc0.1"
    hit = report.RUN.match(rid)
    assert hit and hit["arch"] == "xp+wsd" and hit["recipe"] == "e32-p32-dc0.1"
    assert report.display_name(report.variant_key(hit["arch"], hit["recipe"])) == (
        "Transformer + cross-attention (paper), WSD LR, recipe e32-p32-dc0.1"
    )


@pytest.mark.parametrize("arch", ["xp", "deepfm", "bilstm"])
def test_validation_scores_through_the_fast_path_equal_the_eager_model(
    arch: str, fixture_task, fixture_features
) -> None:
    """Validation after each epoch scores through a FastRanker built for the validation carts' rows only."""
    from xpollinate.ranking.fast import FastRanker
    from xpollinate.ranking.train import encode_split, fast_scores, model_scores

    torch.manual_seed(2)
    model = CartRanker(ModelConfig(arch=arch, n_platforms=len(fixture_task.platforms) + 1))
    model.set_features(fixture_features)
    val = encode_split(fixture_task, "val")
    assert len(val) >= 2
    model.train()
    fast = fast_scores(model, val, max_cart=5)  # short carts: the truncation must match too
    assert not model.training  # scoring is in eval mode (no dropout), as model_scores is
    eager = model_scores(model, val, max_cart=5)
    assert [len(s) for s in fast] == [len(c) for c in val.cands]
    for f, e in zip(fast, eager):
        assert np.allclose(f, e, atol=1e-4)
    # the per-item tables hold the rows asked for, and zeros elsewhere
    rows = np.unique(np.concatenate(val.cands))
    partial = FastRanker(model, rows=rows)
    whole = FastRanker(model)
    assert torch.allclose(partial.item_repr[rows], whole.item_repr[rows])
    others = np.setdiff1d(np.arange(whole.item_repr.shape[0]), rows)
    assert len(others) and not partial.item_repr[others].any() and whole.item_repr[others].any()

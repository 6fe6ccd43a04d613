"""Unit tests of the two-tower parts on tiny inputs: config, loss, sequences, towers, metrics, baselines."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from tests.twotower.conftest import tiny_config
from xpollinate.retrieval.twotower import EXTENSIONS, Extensions, TwoTowerConfig
from xpollinate.retrieval.twotower.baselines import popularity, previous_purchases
from xpollinate.retrieval.twotower.losses import info_nce, popularity_prior
from xpollinate.retrieval.twotower.metrics import topk_metrics
from xpollinate.retrieval.twotower.training import build_model, user_inputs


def test_config_switches_and_validation() -> None:
    cfg = TwoTowerConfig()
    assert cfg.dim == 64 and all(getattr(cfg.extensions, e) for e in EXTENSIONS)
    assert cfg.extensions.label() == "full"
    assert cfg.extensions.without("tags").label() == "no tags"
    assert cfg.key() != cfg.model_copy(update={"extensions": cfg.extensions.without("tags")}).key()
    with pytest.raises(ValueError, match="unknown extension"):
        cfg.extensions.without("magic")
    with pytest.raises(ValidationError, match="dim"):
        TwoTowerConfig(dim=0)
    with pytest.raises(ValidationError, match="short_history"):
        TwoTowerConfig(long_history=10, short_history=20)
    with pytest.raises(ValidationError):
        Extensions(colour=True)


def test_info_nce_matches_a_manual_softmax() -> None:
    torch.manual_seed(0)
    u, v = (
        torch.nn.functional.normalize(torch.randn(3, 4), dim=1),
        torch.nn.functional.normalize(torch.randn(3, 4), dim=1),
    )
    s = torch.nn.functional.normalize(torch.randn(2, 4), dim=1)
    ids, sids = torch.tensor([0, 1, 2]), torch.tensor([3, 4])
    prior = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])
    got = info_nce(u, v, ids, temperature=0.5, prior=prior, sampled=s, sampled_ids=sids)
    logits = torch.cat([u @ v.T, u @ s.T], 1) / 0.5 + prior[torch.tensor([0, 1, 2, 3, 4])]
    want = torch.nn.functional.cross_entropy(logits, torch.arange(3))
    assert torch.allclose(got, want, atol=1e-6)


def test_info_nce_never_uses_the_positive_as_its_own_negative() -> None:
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    ids = torch.tensor([7, 8])
    # a sampled negative that is row 0's own positive item must be masked, not counted
    masked = info_nce(u, v, ids, temperature=1.0, sampled=torch.tensor([[1.0, 0.0]]), sampled_ids=torch.tensor([7]))
    plain = info_nce(u, v, ids, temperature=1.0, sampled=torch.tensor([[1.0, 0.0]]), sampled_ids=torch.tensor([99]))
    assert masked < plain
    with pytest.raises(ValueError, match="disagree"):
        info_nce(u, v[:1], ids, temperature=1.0)


def test_popularity_prior_follows_stars_equation_2() -> None:
    counts = np.array([0, 1, 9])
    b = popularity_prior(counts, gamma=0.5, alpha=1.0)
    pi = (counts + 1.0) / (10 + 3)
    assert np.allclose(b, -0.5 * np.log(pi), atol=1e-6)
    assert b[0] > b[2]  # rare items get the larger additive logit during training
    assert np.all(popularity_prior(counts, gamma=0.0) == 0)


def test_time_split_and_history_windows(tt_data) -> None:
    seq, split = tt_data.seq, tt_data.split
    assert len(split.test) == len(np.unique(seq.household_id[split.test]))
    assert np.all(seq.week[split.train] < split.first_test_week) and np.all(
        seq.week[split.test] >= split.first_test_week
    )
    b = split.test[:4]
    win = seq.windows(b, 20)
    for q, basket in enumerate(b):
        own = seq.stream[seq.basket_start[seq.household_first[basket]] : seq.basket_start[basket]]
        got = win[q][win[q] >= 0]
        assert np.array_equal(got, own[-20:])  # the household's own last purchases, in order
    short = seq.windows(b, 20, n_baskets=1)
    prev = b - 1
    assert np.array_equal(short[0][short[0] >= 0], seq.stream[seq.basket_start[prev[0]] : seq.basket_end[prev[0]]])


def test_unseen_items_keep_their_content_only_embedding(tt_data) -> None:
    cfg = tiny_config()
    seen = tt_data.seen.copy()
    seen[0] = False
    model = build_model(dataclasses.replace(tt_data, counts=np.where(seen, tt_data.counts, 0)), cfg)
    before = model.item_vectors()
    torch.nn.init.normal_(model.items.delta.weight, std=1.0)
    after = model.item_vectors()
    assert np.allclose(before[0], after[0])  # never seen: the delta does not apply
    assert not np.allclose(before[1:], after[1:])


def test_extension_switches_change_the_towers(tt_data) -> None:
    full = build_model(tt_data, tiny_config())
    assert full.items.delta is not None and full.items.tag_proj is not None and full.users.next_head is not None
    off = tiny_config(extensions=Extensions(text_delta=False, tags=False, dual_user=False))
    bare = build_model(tt_data, off)
    assert bare.items.delta is None and bare.items.tag_proj is None and bare.users.next_head is None
    table = torch.from_numpy(bare.item_vectors())
    gen, nxt = bare.users(*user_inputs(tt_data, off, tt_data.split.test[:3]), lambda rows: table[rows])
    assert nxt is None and gen.shape == (3, 8)
    assert torch.allclose(gen.norm(dim=1), torch.ones(3), atol=1e-5)


def test_topk_metrics_by_hand() -> None:
    ranked = np.array([[1, 2, 3, 4, 5], [9, 8, 7, 6, -1]])
    targets = [np.array([2, 5, 11]), np.array([0])]
    m = topk_metrics(ranked, targets, n_items=20, ks=(2, 5))
    assert m["Recall@2"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["Hit@5"] == pytest.approx(0.5)
    ndcg = (1 / np.log2(3) + 1 / np.log2(6)) / (1 + 1 / np.log2(3) + 1 / np.log2(4))
    assert m["NDCG@5"] == pytest.approx(ndcg / 2)
    assert m["Coverage@2"] == pytest.approx(4 / 20)
    with pytest.raises(ValueError, match="target sets"):
        topk_metrics(ranked, targets[:1], n_items=20, ks=(2,))


def test_baselines_rank_own_items_and_popular_items(tt_data) -> None:
    seq, test = tt_data.seq, tt_data.split.test
    pop = popularity(tt_data.counts, 2, 3)
    assert pop[0][0] == int(np.argmax(tt_data.counts)) and np.array_equal(pop[0], pop[1])
    prev = previous_purchases(seq, test[:1], tt_data.counts, 5)[0]
    hist = seq.stream[seq.basket_start[seq.household_first[test[0]]] : seq.basket_start[test[0]]]
    assert prev[0] == np.bincount(hist).argmax()
    gm = previous_purchases(seq, test[:1], tt_data.counts, 3, allowed=tt_data.items.is_gm)[0]
    assert tt_data.items.is_gm[gm[gm >= 0]].all()

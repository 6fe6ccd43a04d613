"""Data-parallel training (`ranking.parallel`): the same updates as one process over the
whole batch, the same decisions on every rank, and a failed rank stops the run with a
clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xpollinate.errors import XPError
from xpollinate.ranking.batches import collate
from xpollinate.ranking.losses import LOSSES
from xpollinate.ranking.model import CartRanker, ModelConfig
from xpollinate.ranking.parallel import Rank, run_ranks
from xpollinate.ranking.train import TrainConfig, batch_scores, encode_split, train


def _fail_on_rank_one(rank: Rank) -> str:
    if rank.rank == 1:
        raise ValueError("rank one breaks")
    torch.distributed.barrier()  # rank 0 waits for a peer that never comes
    return "unreachable"


def _explode() -> None:
    raise RuntimeError("this rank cannot start")


class _BreaksOnArrival:
    """An argument that unpickles by raising: the spawned rank dies before the rank function runs."""

    def __reduce__(self):
        return (_explode, ())


def _sum_ranks(rank: Rank, *_ignored: object) -> list[float]:
    return rank.reduce([1.0, float(rank.rank)])


def test_rank_shares_cover_a_batch_once() -> None:
    batch = list(range(7))
    parts = [list(Rank(r, 3).share(batch)) for r in range(3)]
    assert sorted(sum(parts, [])) == batch and [len(p) for p in parts] == [3, 2, 2]
    assert Rank().lead and not Rank(1, 2).lead and Rank().reduce([2.0]) == [2.0]


def test_values_are_summed_over_the_ranks() -> None:
    assert run_ranks(_sum_ranks, 2, 1, ()) == [2.0, 1.0]


def test_a_failed_rank_stops_the_run_with_its_name() -> None:
    with pytest.raises(XPError, match=r"rank 1 \(exit 1\)"):
        run_ranks(_fail_on_rank_one, 2, 1, ())


def test_a_rank_that_dies_before_starting_is_an_error_not_a_hang() -> None:
    import time

    started = time.monotonic()
    with pytest.raises(XPError, match=r"rank 1 \(exit 1\) stopped before it started training"):
        run_ranks(_sum_ranks, 2, 1, (_BreaksOnArrival(),))
    assert time.monotonic() - started < 60  # the rendezvous alone would wait 300 s


def _batch_gradients(rank: Rank, enc, features, mcfg: ModelConfig, whole: np.ndarray) -> tuple[float, dict]:
    """This rank's share of one batch, its loss weighted by its share, and the reduced gradients."""
    torch.manual_seed(0)
    model = CartRanker(mcfg)
    model.set_features(features)
    model.train()
    idx = np.asarray(rank.share(whole))
    b = collate(enc, idx, mcfg.max_cart)
    loss = LOSSES["listwise"](batch_scores(model, b), b["labels"], b["cand_mask"], 5.0)
    loss.backward()
    weight = len(idx) / len(whole)
    (total,) = rank.reduce_gradients(model, weight, [weight * float(loss.detach())])
    return total, {n: p.grad.clone() for n, p in model.named_parameters()}


def test_reduced_gradients_equal_the_whole_batch_gradient(fixture_task, fixture_features) -> None:
    mcfg = ModelConfig(arch="xp", layers=1, dropout=0.0, n_platforms=len(fixture_task.platforms) + 1)
    enc = encode_split(fixture_task, "train")
    whole = np.arange(11)  # odd: the ranks' shares differ in size (6 and 5 carts)
    one = run_ranks(_batch_gradients, 1, 1, (enc, fixture_features, mcfg, whole))
    two = run_ranks(_batch_gradients, 2, 1, (enc, fixture_features, mcfg, whole))
    assert two[0] == pytest.approx(one[0], rel=1e-6)
    assert one[1].keys() == two[1].keys()
    for name, g in one[1].items():
        assert torch.allclose(g, two[1][name], atol=1e-6, rtol=1e-4), name
    assert any(float(g.abs().max()) > 1e-3 for g in one[1].values())


def test_two_workers_train_like_one(fixture_task, fixture_features) -> None:
    """End to end: the same epochs, carts and (up to float rounding, which Adam amplifies on
    near-zero gradients) the same losses as one process."""
    mcfg = ModelConfig(arch="xp", layers=1, n_platforms=len(fixture_task.platforms) + 1)
    train_enc, val_enc = encode_split(fixture_task, "train"), encode_split(fixture_task, "val")
    runs = {}
    for workers in (1, 2):
        cfg = TrainConfig(epochs=2, patience=5, batch_size=8, workers=workers, threads=workers, seed=3)
        runs[workers] = train(fixture_task, fixture_features, mcfg, cfg, train_enc=train_enc, val_enc=val_enc)
    one, two = runs[1], runs[2]
    assert [r["epoch"] for r in one.curve] == [r["epoch"] for r in two.curve] == [1, 2]
    assert two.n_train == one.n_train and two.parameters == one.parameters
    for a, b in zip(one.curve, two.curve):
        assert b["loss"] == pytest.approx(a["loss"], rel=0.03) and b["lr"] == a["lr"]
    assert two.curve[1]["loss"] < two.curve[0]["loss"]  # it learns

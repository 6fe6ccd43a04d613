"""Training-speed changes that must not change the model: numpy-drawn dropout, the split
first MLP layer, distinct-row item encoding, and the learning-rate schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from xpollinate.ranking.dropout import DropoutRNG, FastDropout, use_fast_dropout
from xpollinate.ranking.model import CartRanker, ModelConfig, masked_mean
from xpollinate.ranking.train import lr_factor


class TestFastDropout:
    def test_drops_p_and_keeps_the_mean(self) -> None:
        drop = FastDropout(0.1, DropoutRNG(0)).train()
        x = torch.ones(200_000)
        y = drop(x)
        dropped = float((y == 0).float().mean())
        assert abs(dropped - 0.1) < 0.003
        assert torch.allclose(y[y > 0], torch.full_like(y[y > 0], 65536 / (65536 - 6554)))
        assert abs(float(y.mean()) - 1.0) < 0.005

    def test_eval_is_identity_and_gradient_follows_the_mask(self) -> None:
        drop = FastDropout(0.5, DropoutRNG(3))
        x = torch.randn(64, requires_grad=True)
        assert drop.eval()(x) is x
        y = drop.train()(x)
        y.sum().backward()
        assert torch.equal(x.grad, torch.where(y == 0, 0.0, 2.0))

    def test_seeded_repeatable_and_layers_draw_apart(self) -> None:
        rng = DropoutRNG(7)
        a, b = FastDropout(0.3, rng).train(), FastDropout(0.3, rng).train()
        x = torch.ones(1000)
        first = (a(x), b(x))
        assert not torch.equal(first[0], first[1])  # one shared stream: the second layer's mask differs
        rng.seed(7)
        assert torch.equal(a(x), first[0]) and torch.equal(b(x), first[1])

    def test_bad_probability_is_refused(self) -> None:
        with pytest.raises(ValueError, match="dropout probability"):
            FastDropout(1.0, DropoutRNG())

    @pytest.mark.parametrize("arch", ["xp", "bilstm", "deepfm"])
    def test_every_dropout_of_a_ranker_is_replaced(self, arch: str) -> None:
        model = CartRanker(ModelConfig(arch=arch, layers=2, n_platforms=3))
        kinds = [type(m) for m in model.modules()]
        assert nn.Dropout not in kinds and FastDropout in kinds
        assert use_fast_dropout(model, DropoutRNG()) == 0  # nothing left to replace
        assert all(m.rng is model.dropout_rng for m in model.modules() if isinstance(m, FastDropout))


def _reference_scores(model: CartRanker, cart, mask, cands, persona, platform) -> torch.Tensor:
    """The model's function written plainly: item encoding per row, the MLP on the concatenated input."""
    items = model.items
    parts = [
        items.text_vectors[items.text_index[cands]],
        items.pt_vectors[items.pt_index[cands]],
        items.price(items.log_price[cands].unsqueeze(-1)),
        items.flag(items.flag_ids[cands]),
    ]
    if items.pop is not None:
        parts.append(items.pop(items.log_pop[cands].unsqueeze(-1)))
    cand = items.proj(torch.cat(parts, -1))
    t = model.encode_cart(cart, mask)
    pooled, e_u, e_p = masked_mean(t, mask), model.persona(persona), model.platform(platform)
    n = cand.shape[1]
    per_cart = lambda v: v.unsqueeze(1).expand(-1, n, -1)
    if model.cfg.arch == "deepfm":
        fields = torch.stack([cand, per_cart(pooled), per_cart(e_u), per_cart(model.fm_platform(e_p))], dim=2)
        flat = fields.flatten(2)
        fm = 0.5 * (fields.sum(2).pow(2) - fields.pow(2).sum(2)).sum(-1)
        return model.first_order(flat).squeeze(-1) + fm + model.mlp(flat).squeeze(-1)
    if model.cfg.arch == "xp":
        cand = model.cross_norm(cand + model.cross(cand, t, t, key_padding_mask=~mask, need_weights=False)[0])
    return model.mlp(torch.cat([per_cart(pooled), cand, per_cart(e_p), per_cart(e_u)], -1)).squeeze(-1)


@pytest.mark.parametrize("arch", ["xp", "transformer", "deepfm"])
def test_split_forward_equals_the_plain_formula(arch: str, fixture_features) -> None:
    torch.manual_seed(2)
    model = CartRanker(ModelConfig(arch=arch, layers=2, n_platforms=3)).eval()
    model.set_features(fixture_features)
    cart = torch.tensor([[1, 2, 4, 0], [3, 5, 6, 7]])
    cands = torch.tensor([[8, 9, 10, 9], [9, 11, 8, 0]])  # repeated rows: encoded once, scored each time
    args = (cart, cart > 0, cands, torch.rand(2, 64), torch.tensor([1, 2]))
    with torch.no_grad():
        assert torch.allclose(model(*args), _reference_scores(model, *args), atol=1e-5)


def test_distinct_row_encoding_gives_the_same_values_and_gradients(fixture_features) -> None:
    torch.manual_seed(0)
    model = CartRanker(ModelConfig(arch="xp", layers=1, n_platforms=2))
    model.set_features(fixture_features)
    rows = torch.tensor([[3, 8, 3, 0], [8, 8, 5, 3]])
    grads = []
    for encode in (model.items, model.items.unique_rows):
        model.zero_grad()
        out = encode(rows)
        (out * torch.arange(out.numel()).view_as(out)).sum().backward()
        grads.append(model.items.proj.weight.grad.clone())
        assert torch.allclose(out, model.items(rows), atol=1e-6)
    assert torch.allclose(grads[0], grads[1], atol=1e-4)


def test_learning_rate_schedules() -> None:
    total = 200
    assert all(lr_factor(s, total, "constant", 0.05) == 1.0 for s in range(total))
    cos = [lr_factor(s, total, "cosine", 0.05) for s in range(total)]
    assert cos[0] == pytest.approx(0.1) and cos[9] == pytest.approx(1.0)  # 10 warm-up steps
    assert all(a > b for a, b in zip(cos[10:], cos[11:]))  # then strictly decaying
    assert cos[-1] < 1e-3 and lr_factor(500, total, "cosine", 0.05) == 0.0  # past the plan: zero, never negative
    wsd = [lr_factor(s, total, "wsd", 0.05, decay=0.2) for s in range(total)]
    assert wsd[:10] == cos[:10]  # the same warm-up
    assert all(f == 1.0 for f in wsd[10:160])  # the peak rate until the last 20% of the steps
    assert all(a > b for a, b in zip(wsd[160:], wsd[161:])) and wsd[-1] == pytest.approx(1 / 40)  # a linear decay
    assert lr_factor(500, total, "wsd", 0.05) == 0.0
    assert sum(wsd) > 1.4 * sum(cos)  # why it exists: more steps at the peak rate in the same plan


def test_cosine_run_decays_to_zero_and_names_itself(fixture_task, fixture_features, rank_home) -> None:
    from xpollinate.ranking.runs import run_id, train_and_save
    from xpollinate.ranking.train import TrainConfig

    cfg = TrainConfig(epochs=2, patience=5, seed=0, schedule="cosine")
    assert run_id(ModelConfig(arch="xp", pop_dim=0), cfg, fixture_task) == "xp+cos-listwise-basket-c50-s0-e2-p5"
    path, metrics = train_and_save(
        fixture_task, ModelConfig(arch="xp", layers=1), cfg, rank_home, fixture_features, make_current=False
    )
    lrs = [row["lr"] for row in metrics["curve"]]
    assert len(lrs) == 2 and 0 < lrs[1] < 0.05 * cfg.lr < lrs[0] < cfg.lr  # the last step's rate, near zero
    assert path.name == "xp+cos+pop-listwise-basket-c50-s0-e2-p5"


def test_budget_epochs_fit_the_pace_with_a_margin() -> None:
    from xpollinate.ranking.train import budget_epochs

    assert budget_epochs(1, 60.0, 60.0, 900.0, 20) == 14  # 864 s of the 900 usable: the first + 13 more
    assert budget_epochs(1, 60.0, 60.0, 900.0, 10) == 10  # the cap
    assert budget_epochs(1, 60.0, 60.0, 50.0, 20) == 1  # the first epoch alone overran: stop after it
    # a slow first epoch (90 s, start-up) then a 60-s one: planning again from the second's pace
    # finds 11 more epochs in the 714 s left, where the first's pace alone found 8 after it
    assert budget_epochs(1, 90.0, 90.0, 900.0, 40) == 9
    assert budget_epochs(2, 150.0, 60.0, 900.0, 40) == 13
    assert budget_epochs(2, 880.0, 60.0, 900.0, 40) == 2  # never fewer than the epochs done


def test_fit_budget_plans_the_epochs_after_the_first_two(fixture_task, fixture_features) -> None:
    from xpollinate.ranking.train import TrainConfig, train

    mcfg = ModelConfig(arch="identity", n_platforms=len(fixture_task.platforms) + 1)
    roomy = train(
        fixture_task,
        fixture_features,
        mcfg,
        TrainConfig(epochs=3, patience=5, schedule="cosine", fit_budget=True, max_minutes=60),
    )
    assert [r["planned_epochs"] for r in roomy.curve] == [3, 3, 3]
    # each epoch's row splits off its validation time, a part of the epoch's own seconds
    starts = [0.0] + [r["seconds"] for r in roomy.curve[:-1]]
    assert all(0.0 <= r["val_seconds"] <= r["seconds"] - s + 0.1 for r, s in zip(roomy.curve, starts))
    tight = train(
        fixture_task,
        fixture_features,
        mcfg,
        TrainConfig(epochs=3, patience=5, schedule="cosine", fit_budget=True, max_minutes=0.0001),
    )
    assert [r["planned_epochs"] for r in tight.curve] == [1]
    # wsd plans again after epoch 3 as well (still at its peak rate there): the roomy plan holds
    wsd = train(
        fixture_task,
        fixture_features,
        mcfg,
        TrainConfig(epochs=4, patience=5, schedule="wsd", fit_budget=True, max_minutes=60),
    )
    assert [r["planned_epochs"] for r in wsd.curve] == [4, 4, 4, 4]


def test_a_budget_fitted_run_names_its_budget(fixture_task) -> None:
    from xpollinate.ranking.runs import run_id
    from xpollinate.ranking.train import TrainConfig

    cfg = TrainConfig(epochs=20, patience=20, schedule="cosine", fit_budget=True, max_minutes=15)
    assert run_id(ModelConfig(arch="xp", pop_dim=0), cfg, fixture_task) == "xp+cos-listwise-basket-c50-s0-e20-p20-fit15"


def test_replan_moves_only_a_plan_nothing_depends_on_yet() -> None:
    from xpollinate.ranking.train import TrainConfig, replan

    wsd = TrainConfig(schedule="wsd", fit_budget=True, epochs=40)  # warm-up 5%, decay over the last 20%
    cos = TrainConfig(schedule="cosine", fit_budget=True, epochs=40)
    spe = 100  # steps per epoch
    assert replan(2, 200, 36, 30, spe, cos) == 30 and replan(2, 200, 36, 30, spe, wsd) == 30  # epochs 1-2: always
    assert replan(20, 2000, 36, 31, spe, cos) == 36  # cosine: a decay under way is not bent
    assert replan(20, 2000, 36, 31, spe, wsd) == 31  # wsd at the peak rate: shorter when the pace slowed
    assert replan(20, 2000, 31, 36, spe, wsd) == 36  # ... or longer when it quickened
    assert replan(29, 2900, 36, 31, spe, wsd) == 36  # the decay began at step 2,880: the plan holds
    assert replan(3, 300, 36, 200, spe, wsd) == 36  # a plan whose warm-up (1,000 steps) is not over yet: kept

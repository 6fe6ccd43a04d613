"""The training-mode cart encoder and cross-attention (`ranking.attention`) compute what torch's
modules compute, values and gradients, and draw every dropout from the model's FastDropout stream."""

from __future__ import annotations

import pytest
import torch

from xpollinate.ranking import attention
from xpollinate.ranking.dropout import FastDropout
from xpollinate.ranking.model import CartRanker, ModelConfig

MASK = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5]).bool()  # carts of 7, 4 and 2 items


def _model(norm_first: bool, dropout: float = 0.0) -> CartRanker:
    torch.manual_seed(0)
    return CartRanker(ModelConfig(arch="xp", layers=2, dropout=dropout, norm_first=norm_first, n_platforms=3)).train()


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_values_and_gradients_equal_torchs(norm_first: bool) -> None:
    model = _model(norm_first)
    x = torch.randn(3, 7, 128, requires_grad=True)
    weights = [x, model.encoder.layers[0].self_attn.in_proj_weight, model.encoder.layers[1].linear1.weight]
    ours = attention.encode(model.encoder, x, ~MASK)
    theirs = model.encoder(x, src_key_padding_mask=~MASK)
    assert torch.allclose(ours[MASK], theirs[MASK], atol=1e-5)  # padded positions are never read
    for a, b in zip(
        torch.autograd.grad(ours[MASK].pow(2).sum(), weights), torch.autograd.grad(theirs[MASK].pow(2).sum(), weights)
    ):
        assert torch.allclose(a, b, atol=1e-4)


def test_cross_attention_equals_torchs() -> None:
    model = _model(False)
    cart, cand = torch.randn(3, 7, 128), torch.randn(3, 5, 128, requires_grad=True)
    ours = attention.cross_attention(
        model.cross, cand, cart, attention.key_bias(~MASK, cart.dtype), model.cross_dropout
    )
    theirs, _ = model.cross(cand, cart, cart, key_padding_mask=~MASK, need_weights=False)
    assert torch.allclose(ours, theirs, atol=1e-5)
    (g1,) = torch.autograd.grad(ours.sum(), cand)
    (g2,) = torch.autograd.grad(theirs.sum(), cand)
    assert torch.allclose(g1, g2, atol=1e-5)


def test_padded_keys_get_no_attention() -> None:
    model = _model(False)
    cart = torch.randn(3, 7, 128)
    bias = attention.key_bias(~MASK, cart.dtype)
    q = torch.randn(3, 5, 128)
    before = attention.cross_attention(model.cross, q, cart, bias, model.cross_dropout)
    cart[~MASK] = 1e3  # whatever sits in the padding
    assert torch.allclose(before, attention.cross_attention(model.cross, q, cart, bias, model.cross_dropout))


def test_training_forward_uses_the_model_dropout_stream_and_repeats_with_its_seed() -> None:
    model = _model(False, dropout=0.3)
    assert isinstance(model.cross_dropout, FastDropout) and model.cross_dropout.rng is model.dropout_rng
    x = torch.randn(3, 7, 128)
    model.seed_dropout(5)
    first = attention.encode(model.encoder, x, ~MASK)
    model.seed_dropout(5)
    assert torch.equal(first, attention.encode(model.encoder, x, ~MASK))
    assert not torch.allclose(first, attention.encode(model.encoder, x, ~MASK))  # the stream moved on
    model.eval()  # evaluation: torch's forward, no dropout
    assert torch.allclose(
        model.contextualise(x, MASK)[MASK],
        model.encoder(
            x + model.position((MASK.sum(1, keepdim=True) - 1 - torch.arange(7)).clamp(0, 49)),
            src_key_padding_mask=~MASK,
        )[MASK],
        atol=1e-5,
    )

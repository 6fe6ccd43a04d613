"""The cart encoder and the cross-attention for training, written out on the modules' own weights.

Why: in training mode `nn.TransformerEncoderLayer` and `nn.MultiheadAttention` draw their
attention-probability dropout from torch's CPU generator (`bernoulli_`, one element at a time)
and pass through generic checks, reshapes and copies made for any input; on the README's
2-vCPU machine a 4-layer encoder over a batch of 16 carts of ~23 items spent as long in those
as in its matrix products. These functions compute the same layers (post-norm or pre-norm,
ReLU feed-forward, padded keys masked) with every dropout drawn by the model's `FastDropout`s,
so the weights, their names and the saved state are the modules' own; evaluation keeps torch's
forward (its fused inference path). Tests check values and gradients against torch's modules.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from xpollinate.ranking.dropout import FastDropout


def key_bias(key_padding: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, 1, 1, L] additive attention bias: -inf on padded keys (`key_padding` True), 0 elsewhere."""
    bias = torch.zeros(key_padding.shape, dtype=dtype).masked_fill_(key_padding, float("-inf"))
    return bias[:, None, None, :]


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor,
    heads: int,
    drop: FastDropout,
    out: nn.Linear,
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_h) + bias) v over `heads` heads, then the output projection.

    q [B, Q, d], k and v [B, L, d] (already projected), bias [B, 1, 1, L]; returns [B, Q, d]."""
    B, Q, d = q.shape
    L, dh = k.shape[1], d // heads
    q = q.view(B, Q, heads, dh).transpose(1, 2)
    k = k.view(B, L, heads, dh).transpose(1, 2)
    v = v.view(B, L, heads, dh).transpose(1, 2)
    probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)).mul_(1.0 / math.sqrt(dh)).add_(bias), dim=-1)
    mixed = torch.matmul(drop(probs), v)  # [B, heads, Q, dh]
    return out(mixed.transpose(1, 2).reshape(B, Q, d))


def self_attention(mha: nn.MultiheadAttention, x: torch.Tensor, bias: torch.Tensor, drop: FastDropout) -> torch.Tensor:
    q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
    return attend(q, k, v, bias, mha.num_heads, drop, mha.out_proj)


def cross_attention(
    mha: nn.MultiheadAttention,
    query: torch.Tensor,
    memory: torch.Tensor,
    bias: torch.Tensor,
    drop: FastDropout,
) -> torch.Tensor:
    """MHA(query, memory, memory) as `nn.MultiheadAttention` computes it (packed in-projection)."""
    d = query.shape[-1]
    w, b = mha.in_proj_weight, mha.in_proj_bias
    q = F.linear(query, w[:d], b[:d])
    k, v = F.linear(memory, w[d:], b[d:]).chunk(2, dim=-1)
    return attend(q, k, v, bias, mha.num_heads, drop, mha.out_proj)


def encoder_layer(layer: nn.TransformerEncoderLayer, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """One `nn.TransformerEncoderLayer` (ReLU, either norm placement) in training mode.

    The attention probabilities are dropped with the layer's feed-forward dropout module: the
    same probability, drawn from the same FastDropout stream."""
    attn = lambda h: layer.dropout1(self_attention(layer.self_attn, h, bias, cast(FastDropout, layer.dropout)))
    ff = lambda h: layer.dropout2(layer.linear2(layer.dropout(F.relu(layer.linear1(h)))))
    if layer.norm_first:
        x = x + attn(layer.norm1(x))
        return x + ff(layer.norm2(x))
    x = layer.norm1(x + attn(x))
    return layer.norm2(x + ff(x))


def encode(encoder: nn.TransformerEncoder, x: torch.Tensor, key_padding: torch.Tensor) -> torch.Tensor:
    """`encoder(x, src_key_padding_mask=key_padding)` in training mode, via `encoder_layer`."""
    bias = key_bias(key_padding, x.dtype)
    for layer in encoder.layers:
        x = encoder_layer(layer, x, bias)
    return encoder.norm(x) if encoder.norm is not None else x

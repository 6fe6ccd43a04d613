"""Ranking losses over padded candidate lists (mask True = a real candidate).

- listwise softmax (XP paper eq. 8): -1/|P| sum_{i in P} log softmax(s / tau)_i over P u N,
  tau = 5, averaged over carts;
- pairwise hinge: mean over (positive, negative) pairs of max(0, margin - (s_p - s_n)),
  margin = 5, averaged over carts.
"""

from __future__ import annotations

import torch


def listwise_softmax(
    scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, temperature: float = 5.0
) -> torch.Tensor:
    logits = (scores / temperature).masked_fill(~mask, float("-inf"))
    log_p = torch.log_softmax(logits, dim=-1)
    pos = labels & mask
    per_cart = -(log_p.masked_fill(~pos, 0.0)).sum(-1) / pos.sum(-1).clamp_min(1)
    return per_cart[pos.any(-1)].mean()


def pairwise_hinge(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, margin: float = 5.0) -> torch.Tensor:
    pos = labels & mask
    neg = (~labels) & mask
    diff = scores.unsqueeze(-1) - scores.unsqueeze(-2)  # [B, C, C]: s_i - s_j
    pairs = pos.unsqueeze(-1) & neg.unsqueeze(-2)
    hinge = torch.relu(margin - diff).masked_fill(~pairs, 0.0)
    per_cart = hinge.sum((-1, -2)) / pairs.sum((-1, -2)).clamp_min(1)
    return per_cart[pairs.any(-1).any(-1)].mean()


LOSSES = {"listwise": listwise_softmax, "pairwise": pairwise_hinge}

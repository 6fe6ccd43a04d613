"""InfoNCE over in-batch, sampled and same-subclass negatives, with the STARS popularity prior.

For row i (a user and its positive item p_i) the candidates are every positive of the
batch (in-batch negatives), `S` uniformly sampled items shared by the batch and, per row,
`H` hard negatives of the positive's own product type. Logits are s(u, v_k) / tau + b_k,
where b_k = -gamma log pi_k is fixed (STARS eq. 2; b = 0 turns the prior off). Candidates
that are the row's own positive item (the same item drawn twice) are masked out, so an
item is never its own negative.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def popularity_prior(counts: np.ndarray, gamma: float, alpha: float = 1.0) -> np.ndarray:
    """b_k = -gamma log pi_k, pi_k = (c_k + alpha) / (sum c + alpha |I|) (STARS eq. 2)."""
    counts = counts.astype(np.float64)
    pi = (counts + alpha) / (counts.sum() + alpha * len(counts))
    if alpha == 0:
        pi = np.where(pi > 0, pi, np.finfo(np.float64).tiny)
    return (-gamma * np.log(pi)).astype(np.float32)


def info_nce(
    user: torch.Tensor,
    pos: torch.Tensor,
    pos_ids: torch.Tensor,
    *,
    temperature: float,
    prior: torch.Tensor | None = None,
    sampled: torch.Tensor | None = None,
    sampled_ids: torch.Tensor | None = None,
    hard: torch.Tensor | None = None,
    hard_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of each row's positive against its candidates.

    user (B, d), pos (B, d), pos_ids (B,); sampled (S, d) + sampled_ids (S,);
    hard (B, H, d) + hard_ids (B, H); prior (N,) indexed by item id (row) or None.
    """
    if user.shape != pos.shape or user.shape[0] != pos_ids.shape[0]:
        raise ValueError(
            f"user {tuple(user.shape)}, positives {tuple(pos.shape)} and ids {tuple(pos_ids.shape)} disagree"
        )
    blocks = [user @ pos.T / temperature]
    ids = [pos_ids[None, :].expand(len(pos_ids), -1)]
    if sampled is not None and sampled_ids is not None and sampled.shape[0] > 0:
        blocks.append(user @ sampled.T / temperature)
        ids.append(sampled_ids[None, :].expand(len(pos_ids), -1))
    if hard is not None and hard_ids is not None and hard.shape[1] > 0:
        blocks.append(torch.einsum("bd,bhd->bh", user, hard) / temperature)
        ids.append(hard_ids)
    logits, cand = torch.cat(blocks, 1), torch.cat(ids, 1)
    if prior is not None:
        logits = logits + prior[cand]
    diag = torch.arange(len(pos_ids))
    same = cand == pos_ids[:, None]
    same[diag, diag] = False  # the row's own positive stays
    logits = logits.masked_fill(same, float("-inf"))
    return nn.functional.cross_entropy(logits, diag)

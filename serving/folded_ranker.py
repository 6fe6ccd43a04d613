"""The trained cart ranker folded for serving: the same scores with far less arithmetic per request.

In `CartRanker.forward` (archs `xp` and `transformer`) most per-candidate work depends only
on the item, or is shared by every candidate of a request (NOTES: "folded that way it is ~4x
fewer operations"):

- r_i, the item encoder's output, is item-only: computed once for every catalog row at load
  (the embedding store beside the model, XP paper 3.3.2);
- the cross-attention query projection W_q r_i is item-only: precomputed too;
- the first MLP layer sees [avg(T(c)), A(i, c), e_p, e_u]: only the A(i, c) block varies per
  candidate; the pooled-cart, platform and persona blocks are one bias vector per request.

The cart encoder T(c) (~20 tokens) runs as the model's own module (`encode_cart`), and the
rest of the MLP is the model's own layers. `FoldedCartRanker` keeps `CartRanker`'s forward
signature, so `NeuralScorer` serves it unchanged (same bad-input handling); a test checks
its scores equal the eager model's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xpollinate.errors import XPError
from xpollinate.ranking.model import CartRanker, masked_mean

FOLDABLE = ("xp", "transformer")


class FoldedCartRanker(nn.Module):
    def __init__(self, model: CartRanker, chunk: int = 8192):
        super().__init__()
        if model.cfg.arch not in FOLDABLE:
            raise XPError(f"only the {FOLDABLE} rankers can be folded (got {model.cfg.arch!r}); serve it with --no-fold")
        self.model = model.eval()
        self.cfg = model.cfg
        d, pd = model.cfg.d_model, model.cfg.platform_dim
        with torch.inference_mode():
            n = model.items.text_index.shape[0]
            self.items = torch.cat([model.items(torch.arange(s, min(s + chunk, n))) for s in range(0, n, chunk)])
            lin1 = model.mlp[0]
            w1 = lin1.weight.detach()
            self.w1_pool, self.w1_cand = w1[:, :d].T.contiguous(), w1[:, d : 2 * d].T.contiguous()
            self.w1_plat, self.w1_user = w1[:, 2 * d : 2 * d + pd].T.contiguous(), w1[:, 2 * d + pd :].T.contiguous()
            self.b1 = lin1.bias.detach()
            if model.cfg.arch == "xp":
                w, b = model.cross.in_proj_weight.detach(), model.cross.in_proj_bias.detach()
                self.queries = self.items @ w[:d].T + b[:d]
                self.wk, self.bk = w[d : 2 * d].T.contiguous(), b[d : 2 * d]
                self.wv, self.bv = w[2 * d :].T.contiguous(), b[2 * d :]
                self.wo, self.bo = model.cross.out_proj.weight.detach().T.contiguous(), model.cross.out_proj.bias.detach()
        self.rest = model.mlp[1:]

    def forward(
        self, cart_rows: torch.Tensor, cart_mask: torch.Tensor, cand_rows: torch.Tensor, persona: torch.Tensor,
        platform: torch.Tensor,
    ) -> torch.Tensor:
        m = self.model
        cart = m.encode_cart(cart_rows, cart_mask)  # T(c) [B, L, d]
        pooled = masked_mean(cart, cart_mask)
        shared = pooled @ self.w1_pool + m.platform(platform) @ self.w1_plat + m.persona(persona) @ self.w1_user + self.b1
        cand = self.items[cand_rows]  # r_i [B, C, d]
        if self.cfg.arch == "xp":
            b, c, d = cand.shape
            h = self.cfg.heads
            q = self.queries[cand_rows].view(b, c, h, d // h).transpose(1, 2)
            k = (cart @ self.wk + self.bk).view(b, -1, h, d // h).transpose(1, 2)
            v = (cart @ self.wv + self.bv).view(b, -1, h, d // h).transpose(1, 2)
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=cart_mask[:, None, None, :])
            cand = m.cross_norm(cand + (att.transpose(1, 2).reshape(b, c, d) @ self.wo + self.bo))  # A(i, c)
        return self.rest(cand @ self.w1_cand + shared.unsqueeze(1)).squeeze(-1)

"""Inference path of the paper's model with the per-item work precomputed (NOTES: budget).

Most of the ranker's arithmetic depends only on the item, or only on the request:

- the item projection r_i = W_r [t, v, p, tau] and the cross-attention query r_i W_Q
  (pre-scaled by 1/sqrt(d_head)) are per item: computed once for every catalog item into an
  embedding store (`item_repr`, `item_query`), as the paper's "embedding store hosted
  alongside the ranker";
- the cart encoding, the cross-attention keys/values and the cart, persona and platform
  part of the first MLP layer are per request: computed once, shared by all candidates.

Per candidate there remain the attention over the cart, the output projection, residual +
layer norm, and the candidate's slice of the MLP. Without cross-attention (archs
`transformer`, `bilstm`, `identity`) the candidate's slice of the first MLP layer depends
only on the item, so it is precomputed too (`item_hidden`, 512 floats per item): per
candidate only a gather and the last two MLP layers remain. DeepFM likewise, with its
first-order and FM terms split into a per-item and a per-request part (two gathers per
candidate: the 512-wide hidden slice, then the 129-wide first-order/FM row). Results equal the
eager model's (eval mode) to float rounding; a test checks every arch.

Several requests at once (`score_many`, what the service's micro-batcher calls): the cart
encoder runs once over the padded batch, since its 20-row matrix products are where a
single request wastes most time (2-3 ms alone against ~1 ms per cart in batches of 8 on a
2-vCPU Zen 3); the
per-candidate work then runs request by request on that request's own cart (no padded
keys, and a 300-row hidden layer stays in cache where a batched [B*300, 512] one does not).

Candidate rows are gathered from tables of every catalog item (a DeepFM row is 2.5 KB, the
table 236 MB): on the README's 2-vCPU Zen 3 VM, 300 random rows cost ~0.3 ms, DRAM-bound.
A service's candidates come from a small set (2.3k distinct items in the historical
table), so `with_hot_rows(rows)` returns the same ranker with compact copies of its
candidate-side tables for those rows (6 MB: cache-resident); a request whose candidates
are all hot reads them there, any other the full tables. Same values, same scores (tested).

`bf16=True` runs the matrix products in bfloat16 (`torch.autocast`; layer norms and
softmax stay float32): faster only on CPUs with AVX512-BF16 or AMX, scores equal to the
float32 path to ~1e-2 (tested: the same top candidates), so it is an option, not the default.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from xpollinate.errors import XPError
from xpollinate.ranking.model import CartRanker, masked_mean, split_columns

FAST_ARCHS: tuple[str, ...] = ("xp", "transformer", "bilstm", "identity", "deepfm")


@dataclass(frozen=True)
class _HotTables:
    slot: torch.Tensor  # int64 per feature-table row: its row in `tables`, -1 when not hot
    tables: dict[str, torch.Tensor]  # compact copies of the candidate-side tables


class FastRanker(nn.Module):
    """`model` (put in eval mode) with its per-item work precomputed. `rows`: the only feature-table
    rows that will be scored or read as cart items (default: all); training's validation passes the
    validation carts' rows, so that each epoch computes the per-item tables for those alone (the
    other rows stay zero and must not be scored)."""

    # buffers, by arch (registered in __init__)
    item_repr: torch.Tensor
    item_hidden: torch.Tensor
    item_wide: torch.Tensor
    item_query: torch.Tensor

    def __init__(self, model: CartRanker, bf16: bool = False, rows: np.ndarray | None = None):
        super().__init__()
        self.bf16 = bf16
        if model.cfg.arch not in FAST_ARCHS:
            raise XPError(f"the fast path supports archs {', '.join(FAST_ARCHS)}, not {model.cfg.arch}")
        model = model.eval()
        self.model = model
        self.cfg = model.cfg  # NeuralScorer reads cfg.max_cart: a FastRanker stands in for the CartRanker it wraps
        self.arch = model.cfg.arch
        self.heads = model.cfg.heads
        d = model.cfg.d_model
        n = model.items.text_index.shape[0]
        which = torch.arange(n) if rows is None else torch.as_tensor(np.unique(np.asarray(rows, dtype=np.int64)))
        with torch.inference_mode():
            reprs = torch.cat([model.items(which[s : s + 8192]) for s in range(0, len(which), 8192)])

        def per_item(values: torch.Tensor) -> torch.Tensor:
            """A table over every feature row from the values of the `which` rows (zeros elsewhere)."""
            return (
                values.clone() if rows is None else values.new_zeros(n, values.shape[1]).index_copy_(0, which, values)
            )

        self.register_buffer("item_repr", per_item(reprs))
        first = cast(nn.Linear, model.mlp[0])
        w = first.weight.detach()
        self.b1 = first.bias.detach()
        # The MLP after its first layer: (W^T, b) of each Linear, a ReLU before each (dropout is off in eval mode).
        linears = [m for m in list(model.mlp.children())[1:] if isinstance(m, nn.Linear)]
        self.tail_layers = [(m.weight.detach().T.contiguous(), m.bias.detach()) for m in linears]
        # the first MLP layer's input is [cart, candidate, rest...]; deepfm's is [candidate, cart, persona, platform]
        self.w_cand, self.w_shared = split_columns(w, model.candidate_at(), d)
        if self.arch != "xp":  # the candidate's slice of the first layer depends on the item alone
            self.register_buffer("item_hidden", per_item(reprs @ self.w_cand.T))
        if self.arch == "deepfm":
            # Per item, besides its first-layer slice: [first-order term (1) | r_i (d)] for the first-order and FM terms.
            fo = model.first_order.weight.detach()[0]
            self.register_buffer("item_wide", per_item(torch.cat([(reprs @ fo[:d]).unsqueeze(1), reprs], 1)))
            self.fo_shared, self.fo_bias = fo[d:], model.first_order.bias.detach()
        self._hot: _HotTables | None = None
        if self.arch == "xp":
            attn = model.cross
            wq, wk, wv = attn.in_proj_weight.detach().chunk(3)
            bq, bk, bv = attn.in_proj_bias.detach().chunk(3)
            self.w_kv, self.b_kv = torch.cat([wk, wv]), torch.cat([bk, bv])
            scale = 1.0 / math.sqrt(d // self.heads)
            self.register_buffer("item_query", per_item((reprs @ wq.T + bq) * scale))
            self.wo, self.bo = attn.out_proj.weight.detach(), attn.out_proj.bias.detach()
            self.norm = model.cross_norm

    def _candidate_tables(self) -> dict[str, torch.Tensor]:
        """The per-item tables that a candidate's scoring gathers from (by arch)."""
        if self.arch == "deepfm":
            return {"hidden": self.item_hidden, "wide": self.item_wide}
        if self.arch == "xp":
            return {"query": self.item_query, "repr": self.item_repr}
        return {"hidden": self.item_hidden}

    def with_hot_rows(self, rows: np.ndarray | Sequence[int]) -> FastRanker:
        """This ranker, sharing its weights and tables, plus compact copies of the candidate-side rows `rows`."""
        hot_rows = torch.as_tensor(np.unique(np.asarray(rows, dtype=np.int64)))
        n = self.item_repr.shape[0]
        hot_rows = hot_rows[(hot_rows > 0) & (hot_rows < n)]  # row 0 is padding
        slot = torch.full((n,), -1, dtype=torch.long)
        slot[hot_rows] = torch.arange(len(hot_rows))
        hot = copy.copy(self)  # shallow: the same weights and full tables
        object.__setattr__(
            hot,
            "_hot",
            _HotTables(
                slot, {k: t.index_select(0, hot_rows).contiguous() for k, t in self._candidate_tables().items()}
            ),
        )
        return hot

    @property
    def hot_rows(self) -> int:
        """How many items have compact candidate rows (0: none)."""
        return 0 if self._hot is None else int((self._hot.slot >= 0).sum())

    def _gather(self, cand_rows: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The tables to read the candidates from, and their positions there: the compact ones if all are hot."""
        hot = self._hot
        if hot is not None:
            slots = hot.slot.index_select(0, cand_rows)
            if bool((slots >= 0).all()):
                return hot.tables, slots
        return self._candidate_tables(), cand_rows

    @torch.inference_mode()
    def forward(
        self,
        cart_rows: torch.Tensor,
        cart_mask: torch.Tensor,
        cand_rows: torch.Tensor,
        persona: torch.Tensor,
        platform: torch.Tensor,
    ) -> torch.Tensor:
        """The eager model's contract: scores [B, C] for padded candidate rows [B, C] (row 0 = padding)."""
        with self._precision():
            shared, kv = self._encode(cart_rows, cart_mask, persona, platform)
            return torch.stack(
                [
                    self._candidates(None if kv is None else kv[i][cart_mask[i]], cand_rows[i], shared[i])
                    for i in range(len(cand_rows))
                ]
            ).float()

    @torch.inference_mode()
    def score_many(
        self, carts: Sequence[np.ndarray], cands: Sequence[np.ndarray], persona: np.ndarray, platform: np.ndarray
    ) -> list[np.ndarray]:
        """Scores of several requests: cart rows and candidate rows per request (feature-table rows, none 0)."""
        lengths = torch.tensor([len(c) for c in carts])
        cart_rows = torch.zeros(len(carts), int(lengths.max()), dtype=torch.long)
        for i, c in enumerate(carts):  # right-padded, as in training
            cart_rows[i, : len(c)] = torch.from_numpy(np.asarray(c, dtype=np.int64))
        cart_mask = torch.arange(cart_rows.shape[1]) < lengths.unsqueeze(1)
        with self._precision():
            shared, kv = self._encode(cart_rows, cart_mask, torch.from_numpy(persona), torch.from_numpy(platform))
            return [
                self._candidates(
                    None if kv is None else kv[i, :n], torch.from_numpy(np.asarray(c, dtype=np.int64)), shared[i]
                )
                .float()
                .numpy()
                for i, (n, c) in enumerate(zip(lengths.tolist(), cands))
            ]

    def _precision(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast when asked; otherwise nothing (entering a disabled autocast still costs ~10 us a call)."""
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()

    def _encode(self, cart_rows: torch.Tensor, cart_mask: torch.Tensor, persona: torch.Tensor, platform: torch.Tensor):
        """Per request: the shared terms [B, H] (deepfm: [B, H + 1 + d]), cross-attention keys|values [B, L, 2d]."""
        m = self.model
        B, L = cart_rows.shape
        cart = m.contextualise(self.item_repr.index_select(0, cart_rows.reshape(-1)).view(B, L, -1), cart_mask)
        pooled = masked_mean(cart, cart_mask)
        e_p, e_u = m.platform(platform), m.persona(persona)
        if self.arch == "deepfm":
            plat = m.fm_platform(e_p)
            rest = torch.cat([pooled, e_u, plat], dim=-1)
            s = pooled + e_u + plat  # FM: 0.5 (|r + s|^2 - |r|^2 - sum |f|^2) = r.s + 0.5 (|s|^2 - sum |f|^2)
            fm_const = 0.5 * (s.pow(2).sum(-1) - rest.pow(2).sum(-1))
            shared = torch.cat(
                [
                    torch.addmm(self.b1, rest, self.w_shared.T),
                    (rest @ self.fo_shared + self.fo_bias + fm_const).unsqueeze(-1),
                    s,
                ],
                dim=-1,
            )
            return shared, None
        shared = torch.addmm(self.b1, torch.cat([pooled, e_p, e_u], dim=-1), self.w_shared.T)  # [B, H]
        kv = torch.matmul(cart, self.w_kv.T) + self.b_kv if self.arch == "xp" else None
        return shared, kv

    def _candidates(self, kv: torch.Tensor | None, cand_rows: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """Scores [C] of one request's candidates, given its cart's keys|values [L, 2d] (no padding) and shared terms."""
        tables, at = self._gather(cand_rows)
        if self.arch != "xp":  # a gather of the first layer's item slice, then the per-request part added in place
            h = self.b1.shape[0]
            hidden = tables["hidden"].index_select(0, at).add_(shared[:h])
            if self.arch != "deepfm":
                return self._tail(hidden)
            wide = tables["wide"].index_select(0, at)  # [C, 1 + d]
            return self._tail(hidden) + torch.addmv(
                wide[:, 0] + shared[h], wide[:, 1:], shared[h + 1 :]
            )  # + first order + FM
        assert kv is not None  # the xp arch always has keys|values
        C, L, d, h = len(cand_rows), kv.shape[0], self.item_repr.shape[1], self.heads
        k, v = kv.view(L, 2, h, d // h).permute(1, 2, 0, 3)  # [h, L, dh] each
        q = tables["query"].index_select(0, at).view(C, h, d // h).transpose(0, 1)  # [h, C, dh], pre-scaled
        att = torch.bmm(torch.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1), v)  # [h, C, dh]
        att = torch.addmm(self.bo, att.transpose(0, 1).reshape(C, d), self.wo.T)
        cand = self.norm(tables["repr"].index_select(0, at) + att)  # A(i, c)
        return self._tail(torch.addmm(shared, cand, self.w_cand.T))

    def _tail(self, hidden: torch.Tensor) -> torch.Tensor:
        """The MLP after its first layer's pre-activation [C, H]: ReLU, Linear, ..., down to scores [C].

        `hidden` must be a buffer of the caller's own (a gather's or a product's output): the ReLUs run in place,
        saving a [C, H] write and read per layer (the 300 x 512 first one is most of a DeepFM request)."""
        x = hidden
        for wt, b in self.tail_layers:
            x = torch.addmm(b, x.relu_(), wt)
        return x.squeeze(-1)

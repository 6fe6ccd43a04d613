"""The cart-XP ranker (XP paper 2.2, Appendix C) and its neural baselines, in torch.

    f(c, i) = MLP([avg(T(c)), A(i, c), e_p, e_u])

- item representation r_i = W_r [t_i, v_i, p_i, tau_i]: title and PT text embeddings,
  log-price projected to 16, OG/GM flag embedded in 8, projected to d = 128;
- T(c): a 4-layer, 4-head transformer encoder over the cart (up to 50 items, most
  recent last, with learned position-from-the-end embeddings); post-norm layers, or
  pre-norm ones with a final layer norm (`norm_first`, our option: the paper states neither);
- A(i, c): one cross-attention layer, candidate r_i attending over T(c); as in a
  transformer layer it keeps a residual and a layer norm, LN(r_i + MHA(r_i, T(c), T(c))),
  so the candidate's own identity reaches the MLP;
- popularity prior (our extension, `pop_dim` > 0): the item's training-week log basket
  count projected to `pop_dim` and concatenated before W_r; `pop_dim = 0` is the paper's
  item representation exactly;
- e_p: platform embedding (the store of the basket: Complete Journey has no web/app
  platform; 456 stores, rare ones share a bucket); e_u: 64 persona scores -> 128.

Training cost (same function, fewer operations): the first MLP layer multiplies the per-cart
inputs once per cart (`_split_linear`), candidate rows are encoded once per distinct item in
a batch (`ItemEncoder.unique_rows`), the frozen text columns of W_r get no input gradient,
and dropout masks come from numpy (`ranking.dropout`): ~1.5x faster training steps.

Variants (`ModelConfig.arch`): `xp` (the paper's model), `transformer` (no
cross-attention: A(i, c) replaced by r_i), `bilstm` and `identity` cart encoders (no
cross-attention, as in Table 8), and `deepfm` (fields: candidate, mean cart item, persona,
platform; first-order + FM second-order + deep part).
"""

from __future__ import annotations

from typing import Literal, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from xpollinate.errors import XPError
from xpollinate.ranking import attention
from xpollinate.ranking.dropout import DropoutRNG, FastDropout, use_fast_dropout
from xpollinate.ranking.item_features import ItemFeatures
from xpollinate.ranking.persona import N_PERSONA

Arch = Literal["xp", "transformer", "bilstm", "identity", "deepfm"]
ARCHS: tuple[str, ...] = ("xp", "transformer", "bilstm", "identity", "deepfm")
TRANSFORMER_ARCHS: tuple[str, ...] = (
    "xp",
    "transformer",
)  # the archs whose cart encoder is a transformer (norm_first applies)


class ModelConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    arch: Arch = "xp"
    d_model: int = Field(128, ge=8, le=1024)
    layers: int = Field(4, ge=1, le=12)
    norm_first: bool = Field(
        False,
        description="pre-norm encoder layers and a final layer norm (our option; "
        "False: post-norm, PyTorch's default and the original transformer's)",
    )
    heads: int = Field(4, ge=1, le=16)
    ff: int = Field(512, ge=8, le=4096, description="transformer feed-forward width")
    max_cart: int = Field(50, ge=1, le=500, description="cart items seen (most recent kept)")
    price_dim: int = 16
    flag_dim: int = 8
    pop_dim: int = Field(8, ge=0, le=64, description="popularity prior width (0: the paper's item representation)")
    platform_dim: int = 16
    n_platforms: int = Field(460, ge=1, description="platform vocabulary size (index 0 = unknown/rare)")
    mlp: tuple[int, ...] = (512, 64)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    text_dim: int = 384


class ItemEncoder(nn.Module):
    """r_i = W_r [text, pt, price16, flag8(, pop)] for feature-table rows (row 0 = padding)."""

    # the frozen feature tables: buffers outside the state dict (set_features)
    text_index: torch.Tensor
    text_vectors: torch.Tensor
    pt_index: torch.Tensor
    pt_vectors: torch.Tensor
    log_price: torch.Tensor
    flag_ids: torch.Tensor
    log_pop: torch.Tensor

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.price = nn.Linear(1, cfg.price_dim)
        self.flag = nn.Embedding(3, cfg.flag_dim)
        self.pop = nn.Linear(1, cfg.pop_dim) if cfg.pop_dim else None
        self.proj = nn.Linear(2 * cfg.text_dim + cfg.price_dim + cfg.flag_dim + cfg.pop_dim, cfg.d_model)
        for name in ("text_index", "text_vectors", "pt_index", "pt_vectors", "log_price", "flag_ids", "log_pop"):
            self.register_buffer(name, torch.zeros(1), persistent=False)

    def set_features(self, f: ItemFeatures) -> None:
        """Attach the (frozen) item feature tables; kept out of the state dict. NaN features are refused."""
        for name in ("text_vectors", "pt_vectors", "log_price", "log_pop"):
            bad = ~np.isfinite(getattr(f, name))
            if bad.any():
                rows = np.unique(np.nonzero(bad)[0])[:5].tolist()
                raise XPError(
                    f"item features: {int(bad.sum())} non-finite values in {name} (rows {rows}); "
                    "rebuild them with `xp ranker prepare --force`"
                )
        self.text_index = torch.as_tensor(f.text_index, dtype=torch.long)
        self.text_vectors = torch.as_tensor(f.text_vectors)
        self.pt_index = torch.as_tensor(f.pt_index, dtype=torch.long)
        self.pt_vectors = torch.as_tensor(f.pt_vectors)
        self.log_price = torch.as_tensor(f.log_price)
        self.flag_ids = torch.as_tensor(f.flag, dtype=torch.long)
        self.log_pop = torch.as_tensor(f.log_pop)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """W_r [t, v, p, tau] as two products: the frozen text part [t, v] then gets no input
        gradient in training (a [rows, 768] product saved per step); same function."""
        frozen = torch.cat([self.text_vectors[self.text_index[rows]], self.pt_vectors[self.pt_index[rows]]], dim=-1)
        learned = [self.price(self.log_price[rows].unsqueeze(-1)), self.flag(self.flag_ids[rows])]
        if self.pop is not None:
            learned.append(self.pop(self.log_pop[rows].unsqueeze(-1)))
        w, split = self.proj.weight, frozen.shape[-1]
        return F.linear(frozen, w[:, :split]) + F.linear(torch.cat(learned, dim=-1), w[:, split:], self.proj.bias)

    def unique_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """forward(rows), computed once per distinct row: a batch's candidate pools overlap
        (~2.6 candidates per distinct item in training batches of 32 carts)."""
        distinct, inverse = torch.unique(rows, return_inverse=True)
        return self(distinct)[inverse]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


class CartRanker(nn.Module):
    """Scores [B, C] for candidate rows [B, C] given cart rows [B, L], persona [B, 64], platform [B]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.dropout_rng = DropoutRNG(0)  # training seeds it (`seed_dropout`)
        self.items = ItemEncoder(cfg)
        self.persona = nn.Linear(N_PERSONA, d)
        self.platform = nn.Embedding(cfg.n_platforms, cfg.platform_dim)
        if cfg.arch in TRANSFORMER_ARCHS:
            self.position = nn.Embedding(cfg.max_cart, d)
            layer = nn.TransformerEncoderLayer(
                d, cfg.heads, cfg.ff, cfg.dropout, batch_first=True, norm_first=cfg.norm_first
            )
            self.encoder = nn.TransformerEncoder(
                layer, cfg.layers, norm=nn.LayerNorm(d) if cfg.norm_first else None, enable_nested_tensor=False
            )
        elif cfg.arch == "bilstm":
            self.lstm = nn.LSTM(d, d // 2, batch_first=True, bidirectional=True)
        if cfg.arch == "xp":
            self.cross = nn.MultiheadAttention(d, cfg.heads, dropout=cfg.dropout, batch_first=True)
            self.cross_norm = nn.LayerNorm(d)
            self.cross_dropout = FastDropout(cfg.dropout, self.dropout_rng)  # its attention probabilities, in training
        if cfg.arch == "deepfm":
            self.fm_platform = nn.Linear(cfg.platform_dim, d)
            self.first_order = nn.Linear(4 * d, 1)
        width = 3 * d + cfg.platform_dim if cfg.arch != "deepfm" else 4 * d
        layers: list[nn.Module] = []
        for h in cfg.mlp:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)
        use_fast_dropout(self, self.dropout_rng)

    def seed_dropout(self, seed: int | list[int]) -> None:
        self.dropout_rng.seed(seed)

    def set_features(self, f: ItemFeatures) -> None:
        self.items.set_features(f)

    def encode_cart(self, cart_rows: torch.Tensor, cart_mask: torch.Tensor) -> torch.Tensor:
        """T(c): [B, L, d] (identity: the item representations themselves)."""
        return self.contextualise(self.items(cart_rows), cart_mask)

    def contextualise(self, x: torch.Tensor, cart_mask: torch.Tensor) -> torch.Tensor:
        """T(c) from the cart's item representations [B, L, d] (right-padded; `cart_mask` marks real items)."""
        arch = self.cfg.arch
        if arch in TRANSFORMER_ARCHS:
            lengths = cart_mask.sum(1, keepdim=True)
            pos = (lengths - 1 - torch.arange(x.shape[1], device=x.device)).clamp(0, self.cfg.max_cart - 1)
            if self.training:  # the same layers, written out (`ranking.attention`: 6-8% faster steps)
                x = attention.encode(self.encoder, x + self.position(pos), ~cart_mask)
            else:
                x = self.encoder(x + self.position(pos), src_key_padding_mask=~cart_mask)
        elif arch == "bilstm":
            lengths = cart_mask.sum(1).clamp_min(1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            x, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return x

    def forward(
        self,
        cart_rows: torch.Tensor,
        cart_mask: torch.Tensor,
        cand_rows: torch.Tensor,
        persona: torch.Tensor,
        platform: torch.Tensor,
    ) -> torch.Tensor:
        cart = self.encode_cart(cart_rows, cart_mask)
        pooled = masked_mean(cart, cart_mask)  # avg(T(c))  [B, d]
        cand = self.items.unique_rows(cand_rows)  # r_i  [B, C, d]
        e_u = self.persona(persona)
        e_p = self.platform(platform)
        if self.cfg.arch == "deepfm":
            rest = torch.cat([pooled, e_u, self.fm_platform(e_p)], dim=-1)  # the per-cart fields  [B, 3d]
            fields = torch.cat([cand, rest.unsqueeze(1).expand(-1, cand.shape[1], -1)], dim=-1)
            fields = fields.unflatten(-1, (4, cand.shape[-1]))  # [B, C, 4, d]
            fm = 0.5 * (fields.sum(2).pow(2) - fields.pow(2).sum(2)).sum(-1)
            first = self._split_linear(self.first_order, cand, rest, self.candidate_at())
            return first.squeeze(-1) + fm + self._mlp(cand, rest, self.candidate_at())
        if self.cfg.arch == "xp":
            if self.training:
                bias = attention.key_bias(~cart_mask, cand.dtype)
                attended = attention.cross_attention(self.cross, cand, cart, bias, self.cross_dropout)
            else:
                attended, _ = self.cross(cand, cart, cart, key_padding_mask=~cart_mask, need_weights=False)
            cand = self.cross_norm(cand + attended)  # A(i, c)
        return self._mlp(cand, torch.cat([pooled, e_p, e_u], dim=-1), self.candidate_at())

    def candidate_at(self) -> int:
        """Where the candidate's d columns sit in the first MLP layer's input (deepfm: first; else after avg(T(c)))."""
        return 0 if self.cfg.arch == "deepfm" else self.cfg.d_model

    @staticmethod
    def _split_linear(layer: nn.Linear, cand: torch.Tensor, rest: torch.Tensor, at: int) -> torch.Tensor:
        """layer(input) where input = rest[:at] ++ cand ++ rest[at:] per candidate ([B, C, .] and [B, .]):
        the per-cart columns are multiplied once per cart, not once per candidate."""
        w_cand, w_rest = split_columns(layer.weight, at, cand.shape[-1])
        return F.linear(cand, w_cand) + F.linear(rest, w_rest, layer.bias).unsqueeze(1)

    def _mlp(self, cand: torch.Tensor, rest: torch.Tensor, at: int) -> torch.Tensor:
        """MLP(rest[:at] ++ cand ++ rest[at:]) -> scores [B, C], the first layer split as in `_split_linear`."""
        x = self._split_linear(cast(nn.Linear, self.mlp[0]), cand, rest, at)
        for layer in list(self.mlp)[1:]:
            x = layer(x)
        return x.squeeze(-1)


def split_columns(w: torch.Tensor, at: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A layer's weight split into the candidate's columns [at, at + d) and all the others (the per-cart ones)."""
    return w[:, at : at + d], torch.cat([w[:, :at], w[:, at + d :]], dim=1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

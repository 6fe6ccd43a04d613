"""The two towers (torch).

Item tower: frozen MiniLM text vector -> linear projection, plus (STARS) a learned
per-item delta that is masked to zero for items never seen in training (they keep their
content-only embedding), plus embeddings of product type, department, price bucket,
item class and brand kind, plus (STARS) a projection of the multi-hot attribute tags;
summed, then an MLP to `dim`, L2-normalised.

User tower: the mean of the item tower's vectors over the long-term history window (tied
item representations), plus an MLP residual over that mean, the household's persona vector
and a history-size feature -> h_gen. With `dual_user`, a second head reads the next-basket
window as well -> h_next. A household with no history is represented by its demographics alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from xpollinate.retrieval.twotower.config import TwoTowerConfig
from xpollinate.retrieval.twotower.features import CLASSES, PRICE_BUCKETS, ItemFeatures


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, n_out))


class ItemTower(nn.Module):
    # buffers: the item feature tables (registered in __init__)
    text_vectors: torch.Tensor
    text_row: torch.Tensor
    pt: torch.Tensor
    dept: torch.Tensor
    price_bucket: torch.Tensor
    item_class: torch.Tensor
    private_brand: torch.Tensor
    seen: torch.Tensor
    tags: torch.Tensor

    def __init__(self, items: ItemFeatures, tags: np.ndarray | None, seen: np.ndarray, cfg: TwoTowerConfig) -> None:
        super().__init__()
        ext, h = cfg.extensions, cfg.hidden
        self.register_buffer("text_vectors", torch.tensor(items.text_vectors, dtype=torch.float32))
        for name in ("text_row", "pt", "dept", "price_bucket", "item_class", "private_brand"):
            self.register_buffer(name, torch.tensor(getattr(items, name)))
        self.register_buffer("seen", torch.from_numpy(seen.astype(np.float32))[:, None])
        self.text_proj = nn.Linear(items.text_vectors.shape[1], h)
        self.pt_emb = nn.Embedding(len(items.pt_names) + 1, h)
        self.dept_emb = nn.Embedding(len(items.dept_names) + 1, h)
        self.price_emb = nn.Embedding(PRICE_BUCKETS + 1, h)
        self.class_emb = nn.Embedding(len(CLASSES), h)
        self.brand_emb = nn.Embedding(3, h)
        self.delta: nn.Embedding | None = None
        if ext.text_delta:
            self.delta = nn.Embedding(items.n, h, sparse=True)
            nn.init.zeros_(self.delta.weight)
        self.tag_proj: nn.Linear | None = None
        if ext.tags:
            if tags is None:
                raise ValueError("the tags extension needs a tag matrix")
            self.register_buffer("tags", torch.from_numpy(tags.astype(np.float32)))
            self.tag_proj = nn.Linear(tags.shape[1], h, bias=False)
        self.norm = nn.LayerNorm(h)
        self.head = _mlp(h, h, cfg.dim)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        # project each distinct text once (the batch's items share a few thousand texts)
        texts, inverse = torch.unique(self.text_row[rows], return_inverse=True)
        x = self.text_proj(self.text_vectors[texts])[inverse]
        if self.delta is not None:
            x = x + self.delta(rows) * self.seen[rows]
        if self.tag_proj is not None:
            x = x + self.tag_proj(self.tags[rows])
        x = (
            x
            + self.pt_emb(self.pt[rows])
            + self.dept_emb(self.dept[rows])
            + self.price_emb(self.price_bucket[rows])
            + self.class_emb(self.item_class[rows])
            + self.brand_emb(self.private_brand[rows])
        )
        return nn.functional.normalize(self.head(self.norm(x)), dim=-1)


ItemLookup = Callable[[torch.Tensor], torch.Tensor]  # item rows (any shape) -> their item-tower vectors


class UserTower(nn.Module):
    """Histories are read through the item tower's own vectors (tied, as STARS ties e_k): the mean
    of the window's item vectors is the user's starting point, and an MLP over it, the persona and
    the history size adds a residual. Repeat purchases - the strongest grocery signal - are then
    one step away: a user vector near the mean of its items scores those items high."""

    def __init__(self, n_persona: int, cfg: TwoTowerConfig) -> None:
        super().__init__()
        h, d = cfg.hidden, cfg.dim
        self.dual = cfg.extensions.dual_user
        self.persona = nn.Linear(n_persona, h)
        self.gen_head = _mlp(d + h + 1, h, d)
        self.next_head = _mlp(2 * d + h + 1, h, d) if self.dual else None

    @staticmethod
    def _bag(window: torch.Tensor, lookup: ItemLookup) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean item vector of the window (padding -1 excluded; zeros when empty), and log(1 + count)."""
        mask = (window >= 0).float()
        vecs = lookup(window.clamp(min=0)) * mask[..., None]
        count = mask.sum(1, keepdim=True)
        return vecs.sum(1) / count.clamp(min=1.0), torch.log1p(count)

    def forward(
        self, long_window: torch.Tensor, short_window: torch.Tensor | None, persona: torch.Tensor, lookup: ItemLookup
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(h_gen, h_next or None), each L2-normalised."""
        long_bag, n_long = self._bag(long_window, lookup)
        p = self.persona(persona)
        h_gen = nn.functional.normalize(long_bag + self.gen_head(torch.cat([long_bag, p, n_long], 1)), dim=-1)
        if self.next_head is None or short_window is None:
            return h_gen, None
        short_bag, n_short = self._bag(short_window, lookup)
        h_next = nn.functional.normalize(
            short_bag + self.next_head(torch.cat([short_bag, long_bag, p, n_short], 1)), dim=-1
        )
        return h_gen, h_next


class TwoTower(nn.Module):
    def __init__(
        self, items: ItemFeatures, tags: np.ndarray | None, seen: np.ndarray, n_persona: int, cfg: TwoTowerConfig
    ) -> None:
        super().__init__()
        self.items = ItemTower(items, tags, seen, cfg)
        self.users = UserTower(n_persona, cfg)

    @torch.no_grad()
    def item_vectors(self, chunk: int = 8192) -> np.ndarray:
        """Every catalog item's embedding, float32 (N, dim)."""
        self.eval()
        n = self.items.text_row.shape[0]
        out = [self.items(torch.arange(s, min(s + chunk, n))) for s in range(0, n, chunk)]
        return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, 0), np.float32)

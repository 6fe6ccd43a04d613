"""Examples as padded tensors: feature-table rows (catalog row + 1, 0 = padding)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.persona import PersonaTable


@dataclass(frozen=True)
class Encoded:
    """One split, ready for batching. Row lists hold feature-table rows."""

    cart: list[np.ndarray]
    cands: list[np.ndarray]
    labels: list[np.ndarray]
    cart_ids: list[np.ndarray]
    cand_ids: list[np.ndarray]
    household: np.ndarray
    store: np.ndarray
    persona: np.ndarray  # float32 [N, 64]
    platform: np.ndarray  # int64 [N]
    n_context: np.ndarray

    def __len__(self) -> int:
        return len(self.cands)

    def subset(self, idx: np.ndarray) -> Encoded:
        pick = lambda xs: [xs[i] for i in idx]
        return Encoded(
            pick(self.cart),
            pick(self.cands),
            pick(self.labels),
            pick(self.cart_ids),
            pick(self.cand_ids),
            self.household[idx],
            self.store[idx],
            self.persona[idx],
            self.platform[idx],
            self.n_context[idx],
        )


def encode(frame: pd.DataFrame, catalog: CatalogView, persona: PersonaTable, platforms: dict[int, int]) -> Encoded:
    carts, cands, labels, cart_ids, cand_ids = [], [], [], [], []
    for cart, cand, lab in zip(frame["cart"], frame["candidates"], frame["labels"]):
        cart = np.asarray(cart, dtype=np.int64)
        cand = np.asarray(cand, dtype=np.int64)
        carts.append(catalog.rows(cart) + 1)
        cands.append(catalog.rows(cand) + 1)
        labels.append(np.asarray(lab, dtype=bool))
        cart_ids.append(cart)
        cand_ids.append(cand)
    hh = frame["household_id"].to_numpy(np.int64)
    return Encoded(
        carts,
        cands,
        labels,
        cart_ids,
        cand_ids,
        hh,
        frame["store_id"].to_numpy(np.int64),
        np.stack([persona.vector(int(h)) for h in hh]) if len(hh) else np.zeros((0, 64), np.float32),
        np.array([platforms.get(int(s), 0) for s in frame["store_id"]], dtype=np.int64),
        frame["n_context"].to_numpy(np.int64),
    )


def pad(rows: list[np.ndarray], width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    width = width or max((len(r) for r in rows), default=1) or 1
    out = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r[:width]
    t = torch.from_numpy(out)
    return t, t > 0


def collate(
    enc: Encoded,
    idx: np.ndarray,
    max_cart: int,
    neg_per_cart: int | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """A batch; carts keep their last `max_cart` items; training may sample negatives."""
    carts = [enc.cart[i][-max_cart:] for i in idx]
    cands, labels = [], []
    for i in idx:
        c, y = enc.cands[i], enc.labels[i]
        if neg_per_cart is not None and rng is not None and (~y).sum() > neg_per_cart:
            neg = np.flatnonzero(~y)
            keep = np.sort(np.r_[np.flatnonzero(y), rng.choice(neg, neg_per_cart, replace=False)])
            c, y = c[keep], y[keep]
        cands.append(c)
        labels.append(y)
    cart_rows, cart_mask = pad(carts)
    cand_rows, cand_mask = pad(cands)
    lab = torch.zeros(cand_rows.shape, dtype=torch.bool)
    for i, y in enumerate(labels):
        lab[i, : len(y)] = torch.from_numpy(y)
    return {
        "cart_rows": cart_rows,
        "cart_mask": cart_mask,
        "cand_rows": cand_rows,
        "cand_mask": cand_mask,
        "labels": lab,
        "persona": torch.from_numpy(enc.persona[idx]),
        "platform": torch.from_numpy(enc.platform[idx]),
    }

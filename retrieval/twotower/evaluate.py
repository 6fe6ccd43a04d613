"""Held-out evaluation of the two-tower model against the baselines, in two scopes:
`all` (every item of each household's next basket, full catalog) and `gm` (the GM items
of next baskets that hold any, recommendations filtered to GM after search)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from xpollinate.retrieval.twotower.baselines import ItemKNN, popularity, previous_purchases
from xpollinate.retrieval.twotower.config import TwoTowerConfig
from xpollinate.retrieval.twotower.index import ItemIndex, round_robin
from xpollinate.retrieval.twotower.metrics import KS, topk_metrics
from xpollinate.retrieval.twotower.model import TwoTower
from xpollinate.retrieval.twotower.training import TrainingData, user_inputs

SCOPES = ("all", "gm")
USER_CHUNK = 1024


@dataclass(frozen=True)
class Scope:
    name: str
    baskets: np.ndarray  # test baskets evaluated
    targets: list[np.ndarray]
    allowed: np.ndarray | None
    n_items: int


def scope(data: TrainingData, name: str) -> Scope:
    seq = data.seq
    targets, baskets = [], []
    for b in data.split.test:
        rows = np.unique(seq.stream[seq.basket_start[b] : seq.basket_end[b]])
        if name == "gm":
            rows = rows[data.items.is_gm[rows]]
        if len(rows):
            targets.append(rows)
            baskets.append(b)
    allowed = data.items.is_gm if name == "gm" else None
    return Scope(
        name, np.array(baskets, np.int64), targets, allowed, int(allowed.sum()) if allowed is not None else data.items.n
    )


@torch.no_grad()
def user_vectors(
    model: TwoTower,
    data: TrainingData,
    cfg: TwoTowerConfig,
    baskets: np.ndarray,
    end: np.ndarray | None = None,
    item_vectors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(h_gen, h_next or None) for the histories before `baskets` (or before stream offsets `end`);
    histories are read from `item_vectors` (the saved ones; computed from the model if None)."""
    model.eval()
    table = torch.from_numpy(item_vectors if item_vectors is not None else model.item_vectors())
    gens, nexts = [], []
    for s in range(0, len(baskets), USER_CHUNK):
        e = None if end is None else end[s : s + USER_CHUNK]
        gen, nxt = model.users(*user_inputs(data, cfg, baskets[s : s + USER_CHUNK], end=e), lambda rows: table[rows])
        gens.append(gen.numpy())
        if nxt is not None:
            nexts.append(nxt.numpy())
    dim = model.items.head[-1].out_features
    gen = np.concatenate(gens) if gens else np.zeros((0, dim), np.float32)
    return gen, (np.concatenate(nexts) if nexts else None)


def model_rankings(
    model: TwoTower, data: TrainingData, cfg: TwoTowerConfig, index: ItemIndex, sc: Scope, k: int
) -> dict[str, np.ndarray]:
    """The model's top-k per query: round-robin of GI and NI when dual (plus each alone), else GI."""
    gen, nxt = user_vectors(model, data, cfg, sc.baskets, item_vectors=index.vectors)
    _, gi = index.search(gen, k, sc.allowed)
    if nxt is None:
        return {"two-tower": gi}
    _, ni = index.search(nxt, k, sc.allowed)
    return {"two-tower (RR of GI, NI)": round_robin(ni, gi, k=k), "two-tower GI only": gi, "two-tower NI only": ni}


def baseline_rankings(data: TrainingData, sc: Scope, k: int, knn: ItemKNN | None = None) -> dict[str, np.ndarray]:
    knn = knn or ItemKNN(data.seq, data.split.train, data.items.n)
    return {
        "popularity": popularity(data.counts, len(sc.baskets), k, sc.allowed),
        "previous purchases": previous_purchases(data.seq, sc.baskets, data.counts, k, sc.allowed),
        "item-KNN co-occurrence": knn.rank(data.seq, sc.baskets, data.counts, k, sc.allowed),
    }


def score(rankings: dict[str, np.ndarray], sc: Scope) -> dict[str, dict[str, float]]:
    return {name: topk_metrics(r, sc.targets, sc.n_items, KS) for name, r in rankings.items()}

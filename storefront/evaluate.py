"""The re-ranking experiment: two-tower retrieval alone, + the LightGBM re-ranker, previous purchases and
popularity on the two-tower evaluation's next-basket test.

Weeks (the two-tower split, `test_weeks` of the model in use, 8 by default: weeks 46-53 held out):

- test: each household's first basket in the held-out weeks, its whole earlier history as input
  (the same households and targets as `xp twotower eval`, scope `all`), candidates from the model in use
  (trained on the weeks before);
- re-ranker training: every basket in the `VALIDATION_WEEKS` weeks before the held-out ones (42-45), each
  with the household's history before it as input, candidates from a second two-tower model with the same settings trained only on the weeks
  before those (1-41), so the two-tower scores the re-ranker learns from are out-of-sample, as at test time;
  rebuying cycles over weeks 1-41.

Rankings are scored on every item of the target basket over the full catalog (Recall/NDCG/Hit@5/10/20).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.retrieval.twotower import artifacts
from xpollinate.retrieval.twotower.baselines import popularity, previous_purchases
from xpollinate.retrieval.twotower.config import Extensions, TwoTowerConfig
from xpollinate.retrieval.twotower.index import ItemIndex
from xpollinate.retrieval.twotower.metrics import KS, topk_metrics
from xpollinate.retrieval.twotower.model import TwoTower
from xpollinate.retrieval.twotower.training import TrainingData
from xpollinate.storefront.candidates import N_HISTORY, N_RETRIEVED, CandidatePool, pool
from xpollinate.storefront.features import FEATURES, ShopperHistory, category_cycles, joint_features, shopper_history
from xpollinate.storefront.learned_reranker import FitResult, RerankerConfig, fit, save

VALIDATION_WEEKS = 4
Progress = Callable[[str, int, int], None]
Metrics = dict[str, dict[str, float]]


@dataclass
class Models:
    """The two-tower model in use (test candidates) and the one trained before the validation weeks."""

    test: tuple[TrainingData, TwoTower, TwoTowerConfig, np.ndarray, str]
    valid: tuple[TrainingData, TwoTower, TwoTowerConfig, np.ndarray, str]
    trained: list[str] = field(default_factory=list)  # what this run had to train, with seconds


def default_two_tower_config() -> TwoTowerConfig:
    """The default settings, without tags when no tag table was built (`xp twotower tag`)."""
    from xpollinate.retrieval.twotower.tags import TagsNotBuiltError, load_tags

    try:
        load_tags()
        return TwoTowerConfig()
    except TagsNotBuiltError:
        return TwoTowerConfig(extensions=Extensions(tags=False))


def two_tower_models(
    store: DataStore,
    home: Path | None = None,
    progress: Progress | None = None,
    threads: int | None = 1,
    default: TwoTowerConfig | None = None,
) -> Models:
    """The model in use (trained now with the default settings if there is none; without tags when no
    tag table exists) and its twin cut `VALIDATION_WEEKS` earlier (trained once, saved unpublished)."""
    from xpollinate.retrieval.twotower.experiments import train_and_save
    from xpollinate.retrieval.twotower.training import restore

    trained = []
    try:
        data, model, saved = restore(store, home)
    except artifacts.ModelNotTrainedError:
        cfg = default or default_two_tower_config()
        result, path, data = train_and_save(store, cfg, home, progress, threads)
        trained.append(f"model in use {path.name}: {result.seconds:.0f} s")
        data, model, saved = restore(store, home)
    cfg = saved.config
    test = (data, model, cfg, saved.item_vectors, saved.path.name)
    vcfg = cfg.model_copy(update={"test_weeks": cfg.test_weeks + VALIDATION_WEEKS})
    name = f"{store.build_id}-{vcfg.key()}"
    if (artifacts.models_dir(home) / name / "manifest.json").is_file():
        vdata, vmodel, vsaved = restore(store, home, name)
        valid = (vdata, vmodel, vcfg, vsaved.item_vectors, name)
    else:
        purpose = "candidates for training the learned re-ranker (weeks before the validation weeks)"
        result, _, vdata = train_and_save(
            store, vcfg, home, progress, threads, name=name, publish=False, purpose=purpose
        )
        trained.append(f"validation twin {name}: {result.seconds:.0f} s")
        result.model.eval()
        valid = (vdata, result.model, vcfg, result.item_vectors, name)
    return Models(test, valid, trained)


def target_rows(data: TrainingData, baskets: np.ndarray) -> list[np.ndarray]:
    """The distinct item rows of each basket."""
    seq = data.seq
    return [np.unique(seq.stream[seq.basket_start[b] : seq.basket_end[b]]) for b in baskets]


def labels_of(p: CandidatePool, targets: list[np.ndarray], n_items: int) -> np.ndarray:
    """1 where the candidate is in its query's target basket."""
    keys = np.concatenate([q * n_items + t for q, t in enumerate(targets)]) if targets else np.zeros(0, np.int64)
    return np.isin(p.query * n_items + p.item, keys).astype(np.int64)


def features_of(hs: ShopperHistory, p: CandidatePool, as_of_day: np.ndarray) -> pd.DataFrame:
    return joint_features(hs, p.history, as_of_day, p.query, p.item, p.tt_rank, p.score_long, p.score_next)


def ranked_by(p: CandidatePool, scores: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) item rows of each query's candidates ordered by `scores` (-1 padded)."""
    order = np.lexsort((-scores, p.query))
    q, it = p.query[order], p.item[order]
    pos = np.arange(len(q)) - np.searchsorted(q, q, side="left")
    out = np.full((p.n_queries, k), -1, np.int64)
    keep = pos < k
    out[q[keep], pos[keep]] = it[keep]
    return out


def _pad(ranked: np.ndarray, k: int) -> np.ndarray:
    return np.pad(ranked, ((0, 0), (0, max(0, k - ranked.shape[1]))), constant_values=-1)


def pool_recall(p: CandidatePool, targets: list[np.ndarray], n_items: int) -> float:
    """Mean share of each query's target items that made its candidate pool (the re-ranker's ceiling)."""
    hit = labels_of(p, targets, n_items)
    per = np.bincount(p.query, weights=hit, minlength=p.n_queries)
    return float(np.mean(per / np.maximum([len(t) for t in targets], 1)))


def _sample(baskets: np.ndarray, data: TrainingData, households: set[int] | None) -> np.ndarray:
    if households is None:
        return baskets
    return baskets[np.isin(data.seq.household_id[baskets], list(households))]


@dataclass
class RerankRun:
    metrics: Metrics
    pool_recall: float
    fit: FitResult
    artifact: Path
    settings: dict[str, Any]
    timings: dict[str, float]


def run_rerank(
    store: DataStore,
    households: int | None = None,
    seed: int = 13,
    n: int = N_RETRIEVED,
    n_history: int = N_HISTORY,
    cfg: RerankerConfig | None = None,
    home: Path | None = None,
    progress: Progress | None = None,
    threads: int | None = 1,
    two_tower: TwoTowerConfig | None = None,
) -> RerankRun:
    """Train the re-ranker on the validation weeks, publish it, and score every method on the test baskets."""
    cfg = cfg or RerankerConfig(seed=seed)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    models = two_tower_models(store, home, progress, threads, two_tower)
    timings["two-tower models (load or train)"] = time.perf_counter() - t0
    data, model, tcfg, vectors, test_name = models.test
    vdata, vmodel, vcfg, vvectors, valid_name = models.valid
    first_test = data.split.first_test_week
    first_valid = vdata.split.first_test_week

    chosen: set[int] | None = None
    if households is not None:
        if households < 2:
            raise XPError(f"--households {households}: sample at least 2 households")
        pool_ids = np.unique(data.seq.household_id[data.split.test])
        rng = np.random.default_rng(seed)
        chosen = set(rng.choice(pool_ids, min(households, len(pool_ids)), replace=False).tolist())

    # training queries: every basket in the validation weeks (its history before it), candidates from the
    # earlier model
    t = time.perf_counter()
    vseq = vdata.seq
    vb = np.flatnonzero((vseq.week >= first_valid) & (vseq.week < first_test) & (vseq.basket_end > vseq.basket_start))
    vb = _sample(vb, vdata, chosen)
    if len(vb) < 2:
        raise XPError(f"only {len(vb)} households shop in the validation weeks {first_valid}-{first_test - 1}")
    cycles = category_cycles(store, vdata.items, first_valid - 1)
    vhs = shopper_history(store, vdata.seq, vdata.items, vdata.counts, cycles)
    vpool = pool(vdata, vmodel, vcfg, ItemIndex(vvectors), vb, n=n, n_history=n_history)
    vframe = features_of(vhs, vpool, vhs.basket_day[vb])
    vlabels = labels_of(vpool, target_rows(vdata, vb), vdata.items.n)
    timings["training candidates and features"] = time.perf_counter() - t

    t = time.perf_counter()
    result = fit(vframe, vlabels, vpool.query, cfg, households=vseq.household_id[vb])
    timings["LightGBM fit (1 thread)"] = time.perf_counter() - t

    # test queries: the two-tower evaluation's test baskets, candidates from the model in use
    t = time.perf_counter()
    tb = _sample(data.split.test, data, chosen)
    ths = shopper_history(store, data.seq, data.items, data.counts, cycles)
    tpool = pool(data, model, tcfg, ItemIndex(vectors), tb, n=n, n_history=n_history)
    tframe = features_of(ths, tpool, ths.basket_day[tb])
    targets = target_rows(data, tb)
    scores = np.asarray(result.booster.predict(tframe[list(FEATURES)], num_iteration=result.best_iteration))
    k = max(KS)
    rankings = {
        f"two-tower retrieval (top {n}, RR of next-basket and long-term)": _pad(tpool.retrieval[:, :k], k),
        "two-tower + LightGBM re-ranker": ranked_by(tpool, scores, k),
        "previous purchases": previous_purchases(data.seq, tb, data.counts, k),
        "popularity": popularity(data.counts, len(tb), k),
    }
    metrics = {name: topk_metrics(r, targets, data.items.n, KS) for name, r in rankings.items()}
    recall_pool = pool_recall(tpool, targets, data.items.n)
    timings["test candidates, features and scoring"] = time.perf_counter() - t

    settings = {
        "data_build": store.build_id,
        "two_tower_test_model": test_name,
        "two_tower_validation_model": valid_name,
        "two_tower_trained_this_run": models.trained,
        "two_tower_extensions": tcfg.extensions.label(),
        "test_weeks": f"{first_test}-{data.seq.last_week}",
        "validation_weeks": f"{first_valid}-{first_test - 1}",
        "households_sampled": None if chosen is None else len(chosen),
        "seed": seed,
        "candidates_retrieved": n,
        "candidates_from_history": n_history,
        "test_queries": len(tb),
        "training_queries": len(vb),
        "training_households": len(np.unique(vseq.household_id[vb])),
        "training_rows": len(vframe),
        "training_positive_rate": float(vlabels.mean()) if len(vlabels) else 0.0,
        "test_rows": len(tframe),
        "mean_candidates_per_test_query": len(tframe) / max(len(tb), 1),
        "reranker": cfg.model_dump(),
    }
    manifest = {
        "build_id": store.build_id,
        "two_tower_training_model": valid_name,
        "two_tower_test_model": test_name,
        "validation_weeks": settings["validation_weeks"],
        "candidates": {"retrieved": n, "history": n_history},
        "test_metrics": {name: {m: round(v, 4) for m, v in row.items()} for name, row in metrics.items()},
    }
    names = vdata.items.category_names
    cycle_table = {names[c - 1]: float(cycles[c]) for c in range(1, len(cycles)) if np.isfinite(cycles[c])}
    path = save(result, cfg, cycle_table, manifest, home)
    return RerankRun(metrics, recall_pool, result, path, settings, timings)

"""The learned re-ranker: LightGBM lambdarank over joint household x item features.

Training (`fit`): one query per target basket (the household's history before it), its candidate pool as rows
(`storefront.candidates`), label 1 where the item is in the target basket; queries without a
positive carry no ranking signal and are dropped. A seeded share of the households is held out
for early stopping on NDCG@10. One LightGBM thread (the machine is shared).

Artifact (`save`), published atomically under `$XP_HOME/storefront/reranker/<name>/` with
`CURRENT` naming the one in use::

    model.txt       the LightGBM booster at its best iteration
    config.json     the RerankerConfig
    features.json   the feature columns, in the order the booster reads them
    cycles.json     rebuying cycle (days) per product category, as used in training
    manifest.json   data build, two-tower models, training counts, validation score, gains

Serving API (what the storefront calls)::

    from xpollinate.storefront.learned_reranker import LearnedReranker
    reranker = LearnedReranker.load(store)             # the saved booster + the two-tower candidates
    cands = reranker.source.candidates(household_id)   # top-100 two-tower + previous purchases
    ranked = reranker.rank(household_id, cands)        # -> list[RankedItem], best first
    ranked = reranker.rank(household_id, [item_id, ...])  # any list of catalog item ids

`RankedItem` holds item_id, score (the booster's), rank (1-based), from_history and tt_rank. An
unknown household, an empty candidate list or a missing artifact raise `XPError` subclasses whose
message says what to do (the artifact is built by `xp experiments run rerank`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from xpollinate.errors import XPError
from xpollinate.publish import publish_dir, read_pointer, write_pointer
from xpollinate.settings import ensure_dir, run_home
from xpollinate.storefront.features import FEATURES, ShopperHistory, joint_features

if TYPE_CHECKING:
    import lightgbm as lgb

    from xpollinate.catalog.store import DataStore
    from xpollinate.storefront.candidates import Candidates, CandidateSource

BUILD_COMMAND = "xp experiments run rerank"


class RerankerNotTrainedError(XPError):
    """No saved learned re-ranker."""


class RerankerConfig(BaseModel):
    """LightGBM settings of the re-ranker (hashed into the artifact name)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    n_estimators: int = Field(400, ge=1, le=5000, description="boosting rounds at most (early stopping picks fewer)")
    learning_rate: float = Field(0.05, gt=0, le=1.0)
    num_leaves: int = Field(15, ge=2, le=1024)
    min_child_samples: int = Field(200, ge=1)
    early_stopping_rounds: int = Field(
        100, ge=1, description="patience: validation NDCG@10 is noisy, 30 rounds stopped at iteration 4"
    )
    holdout: float = Field(0.2, gt=0, lt=1, description="share of training households held out for early stopping")
    seed: int = 13
    threads: int = Field(1, ge=1, le=64)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class FitResult:
    booster: lgb.Booster
    best_iteration: int
    valid_ndcg10: float
    train_queries: int
    valid_queries: int
    valid_households: int
    train_rows: int
    dropped_queries: int  # queries without a positive
    gains: dict[str, float] = field(default_factory=dict)  # share of total gain per feature


def fit(
    frame: pd.DataFrame,
    labels: np.ndarray,
    query: np.ndarray,
    cfg: RerankerConfig,
    households: np.ndarray | None = None,
) -> FitResult:
    """Train `LGBMRanker(objective="lambdarank")` on rows grouped by `query` (ascending). `households`
    (the household of each query id) makes the early-stopping slice whole households, so no household's
    other baskets sit on both sides."""
    import lightgbm as lgb

    query = np.asarray(query, np.int64)
    labels = np.asarray(labels, np.int64)
    if len(frame) != len(labels) or len(labels) != len(query):
        raise XPError(f"{len(frame)} feature rows, {len(labels)} labels and {len(query)} query ids: they must match")
    if len(query) and np.any(np.diff(query) < 0):
        raise XPError("rows must be grouped by query (query ids ascending)")
    positives = np.bincount(query, weights=labels, minlength=int(query.max()) + 1 if len(query) else 0)
    useful = np.flatnonzero(positives > 0)
    if len(useful) < 2:
        raise XPError(f"only {len(useful)} training queries hold a purchased candidate; need at least 2")
    rng = np.random.default_rng(cfg.seed)
    owner = np.arange(len(positives)) if households is None else np.asarray(households)[: len(positives)]
    if len(owner) != len(positives):
        raise XPError(f"{len(owner)} households for {len(positives)} query ids")
    units = np.unique(owner[useful])
    if len(units) < 2:
        raise XPError(f"the training queries come from {len(units)} household(s); need at least 2")
    held = rng.choice(units, max(1, min(len(units) - 1, int(round(len(units) * cfg.holdout)))), replace=False)
    valid_q = np.isin(owner, held) & (positives > 0)
    train_q = np.zeros(len(positives), bool)
    train_q[useful] = True
    train_q &= ~valid_q
    tr, va = train_q[query], valid_q[query]

    def sizes(mask: np.ndarray) -> np.ndarray:
        counts = np.bincount(query[mask], minlength=len(positives))
        return counts[counts > 0]

    ranker = lgb.LGBMRanker(
        objective="lambdarank",
        n_estimators=cfg.n_estimators,
        learning_rate=cfg.learning_rate,
        num_leaves=cfg.num_leaves,
        min_child_samples=cfg.min_child_samples,
        random_state=cfg.seed,
        n_jobs=cfg.threads,
        verbose=-1,
    )
    x = frame[list(FEATURES)]
    ranker.fit(
        x[tr],
        labels[tr],
        group=sizes(tr),
        eval_X=(x[va],),
        eval_y=(labels[va],),
        eval_group=[sizes(va)],
        eval_at=[10],
        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
    )
    booster = ranker.booster_
    best = int(ranker.best_iteration_ or cfg.n_estimators)
    gain = booster.feature_importance("gain", iteration=best)
    total = float(gain.sum()) or 1.0
    return FitResult(
        booster=booster,
        best_iteration=best,
        valid_ndcg10=float(ranker.best_score_["valid_0"]["ndcg@10"]),
        train_queries=int(train_q.sum()),
        valid_queries=int(valid_q.sum()),
        valid_households=len(held),
        train_rows=int(tr.sum()),
        dropped_queries=int(len(positives) - len(useful)),
        gains={f: float(g) / total for f, g in zip(FEATURES, gain)},
    )


def reranker_dir(home: Path | None = None) -> Path:
    return (home or run_home()) / "storefront" / "reranker"


def save(
    result: FitResult,
    cfg: RerankerConfig,
    cycles: dict[str, float],
    manifest: dict[str, Any],
    home: Path | None = None,
) -> Path:
    """Publish the booster with its config, feature list and cycles; it becomes the re-ranker in use."""
    root = ensure_dir(reranker_dir(home))
    name = f"{manifest.get('build_id', 'data')}-{cfg.key()}"
    tmp = root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    result.booster.save_model(str(tmp / "model.txt"), num_iteration=result.best_iteration)
    (tmp / "config.json").write_text(cfg.model_dump_json(indent=2), encoding="utf-8")
    (tmp / "features.json").write_text(json.dumps(list(FEATURES)), encoding="utf-8")
    (tmp / "cycles.json").write_text(json.dumps(cycles, indent=1, sort_keys=True), encoding="utf-8")
    full = {
        **manifest,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "best_iteration": result.best_iteration,
        "valid_ndcg@10": round(result.valid_ndcg10, 4),
        "train_queries": result.train_queries,
        "valid_queries": result.valid_queries,
        "train_rows": result.train_rows,
        "gain_share": {k: round(v, 4) for k, v in result.gains.items()},
    }
    (tmp / "manifest.json").write_text(json.dumps(full, indent=2), encoding="utf-8")
    final = root / name
    publish_dir(tmp, final)
    write_pointer(root, name)
    return final


@dataclass(frozen=True)
class RankedItem:
    item_id: int
    score: float
    rank: int  # 1-based
    from_history: bool  # the household bought it before
    tt_rank: int | None  # rank in the two-tower list; None when only the history brought it


def cycles_by_code(cycles: dict[str, float], category_names: list[str]) -> np.ndarray:
    """Cycle days per category code (0 = none) from a name -> days table."""
    return np.array([np.nan] + [cycles.get(n, np.nan) for n in category_names], np.float64)


class LearnedReranker:
    """A saved booster and the feature tables of the store it ranks for."""

    def __init__(self, booster: lgb.Booster, features: list[str], path: Path, manifest: dict[str, Any]) -> None:
        if features != list(FEATURES):
            raise RerankerNotTrainedError(
                f"the re-ranker in {path} reads features {features}, not this version's; run `{BUILD_COMMAND}` again"
            )
        self.booster, self.features, self.path, self.manifest = booster, features, path, manifest
        self.source: CandidateSource | None = None
        self.history: ShopperHistory | None = None

    @classmethod
    def read(cls, home: Path | None = None, name: str | None = None) -> LearnedReranker:
        """Only the booster (no store): enough for `score`."""
        import lightgbm as lgb

        root = reranker_dir(home)
        name = name or read_pointer(root)
        if name is None:
            raise RerankerNotTrainedError(f"no learned re-ranker under {root}; run `{BUILD_COMMAND}` first")
        path = root / name
        try:
            booster = lgb.Booster(model_file=str(path / "model.txt"))
            features = json.loads((path / "features.json").read_text(encoding="utf-8"))
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            manifest["cycles"] = json.loads((path / "cycles.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, lgb.basic.LightGBMError) as exc:
            raise RerankerNotTrainedError(
                f"the re-ranker in {path} is incomplete or unreadable ({exc}); run `{BUILD_COMMAND}` again"
            ) from exc
        return cls(booster, features, path, manifest)

    @classmethod
    def load(cls, store: DataStore, home: Path | None = None, source: CandidateSource | None = None) -> LearnedReranker:
        """The saved booster with the two-tower candidate source and the store's feature tables."""
        from xpollinate.storefront.candidates import CandidateSource
        from xpollinate.storefront.features import shopper_history

        reranker = cls.read(home)
        src = source or CandidateSource(store, home)
        reranker.source = src
        reranker.history = shopper_history(
            store,
            src.data.seq,
            src.data.items,
            src.data.counts,
            cycles_by_code(reranker.manifest["cycles"], src.data.items.category_names),
            basket_day=src.basket_day,
        )
        return reranker

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's scores of feature rows (columns `FEATURES`)."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise XPError(f"feature rows lack the columns {missing}")
        return np.asarray(self.booster.predict(frame[self.features], num_threads=1), np.float64)

    def rank(self, household_id: int, candidates: Candidates | Sequence[int]) -> list[RankedItem]:
        """The candidates of a household ordered by the booster, best first."""
        from xpollinate.storefront.candidates import Candidates

        if self.source is None or self.history is None:
            raise XPError("this re-ranker was read without a store; use LearnedReranker.load(store)")
        if not isinstance(candidates, Candidates):
            ids = [int(i) for i in candidates]
            if not ids:
                raise XPError(f"empty candidate list for household {household_id}: nothing to rank")
            candidates = self.source.for_items(household_id, ids)
        elif candidates.household_id != household_id:
            raise XPError(f"the candidates are household {candidates.household_id}'s, not {household_id}'s")
        if len(candidates) == 0:
            raise XPError(f"empty candidate list for household {household_id}: nothing to rank")
        p = candidates.pool
        frame = joint_features(
            self.history,
            p.history,
            np.array([candidates.as_of_day]),
            p.query,
            p.item,
            p.tt_rank,
            p.score_long,
            p.score_next,
        )
        scores = self.score(frame)
        order = np.argsort(-scores, kind="stable")
        return [
            RankedItem(
                item_id=int(candidates.item_ids[i]),
                score=round(float(scores[i]), 5),
                rank=r + 1,
                from_history=bool(candidates.from_history[i]),
                tt_rank=None if np.isnan(candidates.tt_rank[i]) else int(candidates.tt_rank[i]),
            )
            for r, i in enumerate(order)
        ]

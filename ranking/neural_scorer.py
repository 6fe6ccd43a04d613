"""A trained neural ranker behind the `CartScorer` protocol (what `load_ranker` returns).

`score` takes one cart; `score_many` takes several `ScoreRequest`s and hands them to the
model in one call where it can batch (`FastRanker.score_many`, what the service's
micro-batcher uses), each request keeping its own outcome and report (`last_reports`).

Bad input, per request (each case has a test):

- cart ids not in the catalog, or with no embedding (never bought): skipped, listed in
  `last_report["unknown_cart"]`;
- a cart longer than the model's context (50): the most recent items are kept (the
  earliest-added dropped), counted in `last_report["truncated"]`;
- an empty cart (after skipping): `XPError` — with nothing in the cart there is no cart
  context to rank against (and no pool either);
- candidates not in the catalog or with no embedding: score `-inf`, listed in
  `last_report["unknown_candidates"]`;
- non-finite persona scores (NaN): replaced by 0 (the anonymous value), counted in
  `last_report["nan_persona"]`; a non-finite model output raises `XPError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.item_features import ItemFeatures, build_item_features
from xpollinate.ranking.model import CartRanker, ModelConfig
from xpollinate.ranking.persona import PersonaTable
from xpollinate.ranking.pool import Ids, as_ids
from xpollinate.ranking.scorer import ScoreRequest


@dataclass
class _Refused:
    report: dict
    error: XPError


@dataclass
class _Prepared:
    report: dict
    cart_rows: np.ndarray  # feature-table rows, at most max_cart, most recent last
    cand_rows: np.ndarray  # the known candidates' rows
    known: np.ndarray  # bool per candidate id
    persona: np.ndarray  # float32 [64], finite
    platform: int = 0


class NeuralScorer:
    def __init__(
        self,
        model: CartRanker,
        catalog: CatalogView,
        features: ItemFeatures,
        persona: PersonaTable,
        platforms: dict[int, int],
        name: str = "xp-ranker",
    ):
        self.model = model.eval()
        self.catalog, self.features, self.persona, self.platforms, self.name = (
            catalog,
            features,
            persona,
            platforms,
            name,
        )
        self.last_report: dict = {}

    def with_model(self, model, catalog: CatalogView | None = None, name: str | None = None) -> NeuralScorer:
        """The same scorer (features, persona, platforms) around another model of the same weights, e.g. its fast path;
        `catalog` may stand in for its own only when it holds the same items in the same rows."""
        return NeuralScorer(
            model,
            self.catalog if catalog is None else catalog,
            self.features,
            self.persona,
            self.platforms,
            name=self.name if name is None else name,
        )

    @property
    def max_cart(self) -> int:
        return self.model.cfg.max_cart

    def score(
        self,
        cart_item_ids: Ids,
        candidate_ids: Ids,
        household_id: int | None = None,
        platform: int | None = None,
    ) -> np.ndarray:
        (result,) = self.score_many([ScoreRequest(cart_item_ids, candidate_ids, household_id, platform)])
        self.last_report = self.last_reports[0]
        if isinstance(result, Exception):
            raise result
        return result

    def score_many(self, requests: Sequence[ScoreRequest]) -> list[np.ndarray | XPError]:
        """Scores for several carts in one model call where the model can batch (`FastRanker.score_many`).

        Each request's outcome stands alone: its scores, or the `XPError` that refused it (an empty cart);
        one request's refusal never fails another. Reports per request in `last_reports`.
        """
        prepared = [self._prepare(r) for r in requests]
        self.last_reports = [p.report for p in prepared]
        todo = [p for p in prepared if isinstance(p, _Prepared) and p.known.any()]
        raw = iter(self._model_scores(todo) if todo else [])
        out: list[np.ndarray | XPError] = []
        for p in prepared:
            if isinstance(p, _Refused):
                out.append(p.error)
                continue
            scores = np.full(len(p.known), -np.inf, dtype=np.float64)
            if p.known.any():
                s = next(raw)
                if not np.isfinite(s).all():
                    out.append(
                        XPError(
                            f"the ranker produced {int((~np.isfinite(s)).sum())} non-finite scores; "
                            "check the item features (`xp ranker prepare --force`)"
                        )
                    )
                    continue
                scores[p.known] = s
            out.append(scores)
        return out

    def _prepare(self, r: ScoreRequest) -> _Prepared | _Refused:
        cart_ids = as_ids(r.cart_item_ids)
        cart_rows = self.catalog.rows(cart_ids) + 1
        ok = self.features.has_embedding[cart_rows]
        report = {"unknown_cart": cart_ids[~ok].tolist(), "truncated": 0, "unknown_candidates": [], "nan_persona": 0}
        cart_rows = cart_rows[ok]
        if len(cart_rows) == 0:
            return _Refused(
                report,
                XPError(
                    "empty cart: no known cart items to rank against"
                    + (f" (unknown ids skipped: {report['unknown_cart'][:10]})" if report["unknown_cart"] else "")
                ),
            )
        if len(cart_rows) > self.max_cart:
            report["truncated"] = int(len(cart_rows) - self.max_cart)
            cart_rows = cart_rows[-self.max_cart :]
        cand_ids = as_ids(r.candidate_ids)
        if r.candidate_rows is not None and len(r.candidate_rows) != len(cand_ids):
            return _Refused(report, XPError(f"{len(r.candidate_rows)} candidate rows for {len(cand_ids)} candidates"))
        cand_rows = (self.catalog.rows(cand_ids) if r.candidate_rows is None else r.candidate_rows) + 1
        known = self.features.has_embedding[cand_rows]
        report["unknown_candidates"] = cand_ids[~known].tolist()
        persona = self.persona.vector(r.household_id).astype(np.float32, copy=True)
        bad = ~np.isfinite(persona)
        report["nan_persona"] = int(bad.sum())
        persona[bad] = 0.0
        plat = self.platforms.get(int(r.platform), 0) if r.platform is not None else 0
        return _Prepared(report, cart_rows, cand_rows[known], known, persona, plat)

    def _model_scores(self, batch: list[_Prepared]) -> list[np.ndarray]:
        persona = np.stack([p.persona for p in batch])
        platform = np.array([p.platform for p in batch], dtype=np.int64)
        many = getattr(self.model, "score_many", None)
        if many is not None:
            return many([p.cart_rows for p in batch], [p.cand_rows for p in batch], persona, platform)
        out = []
        with torch.inference_mode():  # the eager model: one request at a time, as trained
            for i, p in enumerate(batch):
                cart_t = torch.from_numpy(p.cart_rows).unsqueeze(0)
                out.append(
                    self.model(
                        cart_t,
                        torch.ones_like(cart_t, dtype=torch.bool),
                        torch.from_numpy(p.cand_rows).unsqueeze(0),
                        torch.from_numpy(persona[i : i + 1]),
                        torch.from_numpy(platform[i : i + 1]),
                    )
                    .squeeze(0)
                    .numpy()
                )
        return out

    @classmethod
    def load(cls, run: Path, home: Path | None = None) -> NeuralScorer:
        from xpollinate.ranking.artifacts import read_json
        from xpollinate.ranking.task import load_task

        config = read_json(run, "config")
        data = read_json(run, "data")
        store = DataStore.open(home)
        if store.build_id != data["data_build"]:
            raise XPError(
                f"the ranker in {run} was trained on data build {data['data_build']}, the store in use is "
                f"{store.build_id}; retrain with `xp ranker train`"
            )
        task = load_task(Path(data["task_path"]), store, home)
        subset = data.get("feature_items")
        features = build_item_features(
            task.catalog, task.popularity, home, item_ids=None if subset is None else np.asarray(subset)
        )
        model = CartRanker(ModelConfig.model_validate(config["model"]))
        model.load_state_dict(torch.load(run / "weights.pt", weights_only=True))
        model.set_features(features)
        return cls(model, task.catalog, features, task.persona, task.platforms, name=config["model"]["arch"])

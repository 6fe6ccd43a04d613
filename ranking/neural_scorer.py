"""A trained neural ranker behind the `CartScorer` protocol (what `load_ranker` returns).

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

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.item_features import ItemFeatures, build_item_features
from xpollinate.ranking.model import CartRanker, ModelConfig
from xpollinate.ranking.persona import PersonaTable
from xpollinate.ranking.pool import as_ids


class NeuralScorer:
    def __init__(
        self, model: CartRanker, catalog: CatalogView, features: ItemFeatures, persona: PersonaTable,
        platforms: dict[int, int], name: str = "xp-ranker",
    ):
        self.model = model.eval()
        self.catalog, self.features, self.persona, self.platforms, self.name = catalog, features, persona, platforms, name
        self.last_report: dict = {}

    @property
    def max_cart(self) -> int:
        return self.model.cfg.max_cart

    def score(
        self, cart_item_ids: Sequence[int], candidate_ids: Sequence[int], household_id: int | None = None,
        platform: int | None = None,
    ) -> np.ndarray:
        cart_ids = as_ids(cart_item_ids)
        cart_rows = self.catalog.rows(cart_ids) + 1
        ok = self.features.has_embedding[cart_rows]
        report = {"unknown_cart": cart_ids[~ok].tolist(), "truncated": 0, "unknown_candidates": [], "nan_persona": 0}
        cart_rows = cart_rows[ok]
        if len(cart_rows) == 0:
            self.last_report = report
            raise XPError("empty cart: no known cart items to rank against" +
                          (f" (unknown ids skipped: {report['unknown_cart'][:10]})" if report["unknown_cart"] else ""))
        if len(cart_rows) > self.max_cart:
            report["truncated"] = int(len(cart_rows) - self.max_cart)
            cart_rows = cart_rows[-self.max_cart :]
        cand_ids = as_ids(candidate_ids)
        cand_rows = self.catalog.rows(cand_ids) + 1
        known = self.features.has_embedding[cand_rows]
        report["unknown_candidates"] = cand_ids[~known].tolist()
        out = np.full(len(cand_ids), -np.inf, dtype=np.float64)
        self.last_report = report
        if not known.any():
            return out
        persona = self.persona.vector(household_id).copy()
        bad = ~np.isfinite(persona)
        report["nan_persona"] = int(bad.sum())
        persona[bad] = 0.0
        plat = self.platforms.get(int(platform), 0) if platform is not None else 0
        with torch.inference_mode():
            cart_t = torch.from_numpy(cart_rows).unsqueeze(0)
            cand_t = torch.from_numpy(cand_rows[known]).unsqueeze(0)
            s = self.model(cart_t, torch.ones_like(cart_t, dtype=torch.bool), cand_t,
                           torch.from_numpy(persona).unsqueeze(0), torch.tensor([plat])).squeeze(0).numpy()
        if not np.isfinite(s).all():
            raise XPError(f"the ranker produced {int((~np.isfinite(s)).sum())} non-finite scores; "
                          "check the item features (`xp ranker prepare --force`)")
        out[known] = s
        return out

    @classmethod
    def load(cls, run: Path, home: Path | None = None) -> "NeuralScorer":
        from xpollinate.ranking.artifacts import read_json
        from xpollinate.ranking.task import load_task

        config = read_json(run, "config")
        data = read_json(run, "data")
        store = DataStore.open(home)
        if store.build_id != data["data_build"]:
            raise XPError(f"the ranker in {run} was trained on data build {data['data_build']}, the store in use is "
                          f"{store.build_id}; retrain with `xp ranker train`")
        task = load_task(Path(data["task_path"]), store, home)
        subset = data.get("feature_items")
        features = build_item_features(task.catalog, task.popularity, home, item_ids=None if subset is None else np.asarray(subset))
        model = CartRanker(ModelConfig.model_validate(config["model"]))
        model.load_state_dict(torch.load(run / "weights.pt", weights_only=True))
        model.set_features(features)
        return cls(model, task.catalog, features, task.persona, task.platforms, name=config["model"]["arch"])

"""The folded serving ranker gives the eager CartRanker's scores (random weights, fixture catalog)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.item_features import build_item_features
from xpollinate.ranking.model import CartRanker, ModelConfig
from xpollinate.ranking.neural_scorer import NeuralScorer
from xpollinate.ranking.persona import PersonaTable
from xpollinate.serving.folded_ranker import FoldedCartRanker


def fake_embed(texts: list[str]) -> np.ndarray:  # deterministic vectors per text (tests only)
    return np.stack([np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(384) for t in texts]).astype(np.float32)


@pytest.fixture(scope="module")
def parts(fixture_store: DataStore, tmp_path_factory: pytest.TempPathFactory):
    catalog = CatalogView.from_items(fixture_store.items())
    features = build_item_features(catalog, tmp_path_factory.mktemp("emb"), embed_fn=fake_embed)
    persona = PersonaTable.build(fixture_store.households(), fixture_store.baskets(), catalog)
    return catalog, features, persona


def model_for(arch: str, features) -> CartRanker:
    torch.manual_seed(0)
    model = CartRanker(ModelConfig(arch=arch, d_model=32, heads=4, layers=2, ff=64, mlp=(64, 16), n_platforms=8))
    model.set_features(features)
    return model.eval()


@pytest.mark.parametrize("arch", ["xp", "transformer"])
def test_folded_scores_equal_eager_scores(parts, arch: str) -> None:
    catalog, features, persona = parts
    model = model_for(arch, features)
    folded = FoldedCartRanker(model)
    rows = torch.tensor([[1, 3, 4, 0], [2, 5, 0, 0]])  # catalog rows + 1, 0 = padding
    mask = rows > 0
    cands = torch.tensor([[7, 8, 9, 10, 11], [8, 9, 12, 7, 10]])
    pers = torch.rand(2, 64)
    plat = torch.tensor([1, 3])
    with torch.inference_mode():
        eager, fast = model(rows, mask, cands, pers, plat), folded(rows, mask, cands, pers, plat)
    assert fast.shape == eager.shape == (2, 5)
    torch.testing.assert_close(fast, eager, rtol=1e-5, atol=1e-5)

    eager_scorer = NeuralScorer(model, catalog, features, persona, {100: 1})
    folded_scorer = NeuralScorer(folded, catalog, features, persona, {100: 1})
    cart, cand = [1, 3, 4, 999], [11, 12, 13, 15, 16, 12345]
    a, b = eager_scorer.score(cart, cand, household_id=1, platform=100), folded_scorer.score(cart, cand, household_id=1, platform=100)
    assert np.isneginf(a[-1]) and np.isneginf(b[-1])  # unknown candidate, handled by NeuralScorer for both
    np.testing.assert_allclose(b[:-1], a[:-1], rtol=1e-5, atol=1e-5)


def test_other_archs_are_refused(parts) -> None:
    with pytest.raises(XPError, match="folded"):
        FoldedCartRanker(model_for("bilstm", parts[1]))

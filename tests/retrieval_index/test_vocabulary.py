"""The grounding vocabulary and the shortlist on the real weeks 1-8 slice (its GM catalog index),
exact product-type matching, and the errors a user meets when the vocabulary cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.retrieval_index.conftest import synthetic_index
from xpollinate.agents.normalize import clean
from xpollinate.catalog.build import BuildOptions, build
from xpollinate.catalog.store import DataStore
from xpollinate.errors import XPError
from xpollinate.graphs.deps import default_deps
from xpollinate.retrieval.catalog_index import CatalogIndex
from xpollinate.retrieval.matcher import SemanticMatcher
from xpollinate.retrieval.shortlist import Shortlister
from xpollinate.retrieval.vocabulary import GMVocabulary, VocabularyError


@pytest.fixture(scope="module")
def real_matcher(indexed_home: Path, real_store: DataStore) -> SemanticMatcher:
    return SemanticMatcher.open(real_store, home=indexed_home)


@pytest.fixture(scope="module")
def vocabulary(real_matcher: SemanticMatcher, real_store: DataStore) -> GMVocabulary:
    items = real_store.items()
    return GMVocabulary.from_matcher(real_matcher, set(items.loc[items["is_grocery"], "product_type"]))


def test_vocabulary_holds_gm_types_only_with_names_that_survive_cleaning(
    vocabulary: GMVocabulary, real_store: DataStore
) -> None:
    items = real_store.items()
    grocery = set(items.loc[items["is_grocery"], "product_type"])
    assert len(vocabulary) > 300 and not set(vocabulary.product_types) & grocery
    assert "COFFEE FILTERS" in vocabulary and vocabulary.product_type("coffee  filters") == "COFFEE FILTERS"
    assert vocabulary.label("Coffee Filters") == "Coffee Filters"  # category equal to the name is not repeated
    assert all(clean(n) == n for n in vocabulary.names)  # a picked name reaches the matcher unchanged
    assert vocabulary.product_type("Espresso Machine") is None
    with pytest.raises(VocabularyError, match="Espresso Machine"):
        vocabulary.check(["Coffee Filters", "Espresso Machine"])


def test_shortlist_and_exact_matching(vocabulary: GMVocabulary, real_matcher: SemanticMatcher) -> None:
    short = Shortlister(vocabulary).shortlist("Ground Coffee", "GROUND COFFEE", ["morning routine", "office"], 20)
    assert 5 <= len(short) <= 20 and len(set(short)) == len(short)
    assert "Coffee Filters" in short and all(vocabulary.product_type(n) for n in short)
    from xpollinate.graphs.matching import CatalogMatcher

    found = CatalogMatcher(real_matcher).match_product_types(["Coffee Filters"], ["COFFEE FILTERS"], 3)[0]
    assert 1 <= len(found) <= 3 and all(m.product_type == "COFFEE FILTERS" and m.category for m in found)
    assert CatalogMatcher(real_matcher).match_product_types(["Nothing"], ["NO SUCH TYPE"], 3) == [[]]


def test_empty_vocabulary_names_the_command(tmp_path: Path) -> None:
    import numpy as np

    index = synthetic_index([(1, "", 5, 0)], np.ones((1, 4), dtype=np.float32), tmp_path)
    with pytest.raises(VocabularyError, match="xp index build"):
        GMVocabulary.from_matcher(SemanticMatcher(index), set())


def test_a_changed_data_build_needs_a_new_index(
    indexed_home: Path, real_store: DataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store rebuilt from other weeks is a new build: the old index (and its vocabulary) is refused by name."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "index").symlink_to(indexed_home / "index")
    monkeypatch.delenv("XP_SOURCE_DIR", raising=False)
    build(home=home, options=BuildOptions(weeks=(1, 4)))
    store = DataStore.open(home)
    assert store.build_id != real_store.build_id
    with pytest.raises(XPError, match="xp index build"):
        default_deps(store)
    assert isinstance(CatalogIndex, type)

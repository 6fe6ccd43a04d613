"""One real run: the embedded SmolLM2-135M and MiniLM on the fixture store. A toy model's themes may be
poor, but the constraints must hold: every keyword is a vocabulary name, every item a shown catalog item
of its keyword's product type, and every re-ranked id one of the candidates (0 hallucinated)."""

from __future__ import annotations

from pathlib import Path

from xpollinate.catalog.store import DataStore
from xpollinate.llm import get_llm
from xpollinate.storefront.data import StorefrontData
from xpollinate.storefront.keywords import placement_keywords
from xpollinate.storefront.llm_reranker import Candidate, llm_rerank
from xpollinate.storefront.ordering import ItemOrder
from xpollinate.storefront.page import PageOptions, Storefront
from xpollinate.storefront.schemas import PlacementIdea
from xpollinate.storefront.vocabulary import StorefrontVocabulary


def test_smollm2_page_keeps_keywords_in_the_vocabulary_and_ids_among_the_candidates(
    fixture_store: DataStore, tmp_path: Path
) -> None:
    data = StorefrontData.from_store(fixture_store)
    llm = get_llm("local-small", cache=False)
    sf = Storefront(
        data, llm, order=ItemOrder(data.items), vocabulary=lambda: StorefrontVocabulary.build(data, folder=tmp_path)
    )
    page = sf.page(1, context="hosting a barbecue", options=PageOptions(k=1, items=4, llm_rerank=True))
    vocab = sf.vocabulary
    assert page.provenance.keywords_outside_vocabulary == 0 and page.provenance.hallucinated_ids == 0
    assert page.provenance.llm.endswith("smollm2-135m-instruct") and page.provenance.llm_calls
    ids = []
    for placement in page.placements:
        assert all(vocab.product_type(k) is not None for k in placement.keywords)
        for item in placement.items:
            assert item.item_id in data.items.index and item.product_type == data.items.at[item.item_id, "product_type"]
            ids.append(item.item_id)
    assert len(ids) == len(set(ids)) > 0

    # the two constrained stages asked directly, so they are exercised whatever the themes were
    idea = PlacementIdea(title="Backyard Grill", why="hot dog buns and charcoal")
    shortlist = vocab.shortlist([f"{idea.title}: {idea.why}"], 6)[0]
    kw = placement_keywords(llm, vocab, idea, shortlist, "hosting a barbecue", 3, [])
    assert kw.failure is None and kw.keywords and kw.outside == []
    assert set(kw.keywords) <= set(shortlist) and all(vocab.product_type(k) for k in kw.keywords)
    cands = [Candidate(int(i), str(data.items.at[i, "text"])) for i in data.items.index[:8]]
    ranked = llm_rerank(llm, cands, page.history_summary, "hosting a barbecue")
    assert ranked.failure is None and ranked.hallucinated == []
    assert sorted(ranked.order) == sorted(c.item_id for c in cands) and ranked.placed_by_llm >= 1

"""Stand-ins for the lean plan's parts (tests only): a small grounding vocabulary, a shortlister
over it, historical product types, and a scripted model that answers the lean prompts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from tests.graphs.test_item_xp_graph import CATALOG, KeywordMatcher, OverlapScorer
from xpollinate.graphs.item_xp import ItemXPDeps
from xpollinate.records import Match
from xpollinate.retrieval.shortlist import HistoricalPT, Shortlister
from xpollinate.retrieval.vocabulary import GMVocabulary, display_name

PTS = ["COFFEE FILTERS", "CHARCOAL", "ALKALINE BATTERIES", "GADGETS/TOOLS", "PAPER CUPS", "LAWN MOWERS"]
ITEMS = CATALOG + [
    (17, "Paper Cups (Disposable Tableware, Drug Gm)", "PAPER CUPS"),
    (18, "Lawn Mowers (Lawn And Garden, Drug Gm)", "LAWN MOWERS"),
]
LEAN_THEMES = ["Morning Brew", "Office Break", "morning brew", "Entertaining", "Camping Trip"]


def vocabulary() -> GMVocabulary:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(PTS), 8)).astype(np.float32)
    return GMVocabulary(
        tuple(PTS), tuple(display_name(p) for p in PTS), vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    )


def embed(texts: Sequence[str]) -> np.ndarray:
    """Deterministic stand-in vectors: a text is closest to the product type it names."""
    vocab = vocabulary()
    out = []
    for t in texts:
        hit = next((i for i, n in enumerate(vocab.names) if n.lower().split()[0] in t.lower()), 0)
        out.append(vocab.vectors[hit])
    return np.stack(out)


class History:
    """Historical product types: coffee filters (also a pick) and lawn mowers (basket noise)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def of(self, anchor_pt: str) -> list[HistoricalPT]:
        self.asked.append(anchor_pt)
        return [HistoricalPT("COFFEE FILTERS", 12.5, "co-purchase"), HistoricalPT("LAWN MOWERS", 3.0, "co-purchase")]


class ExactMatcher(KeywordMatcher):
    def match_product_types(self, texts: Sequence[str], product_types: Sequence[str], k: int) -> list[list[Match]]:
        return [
            [
                Match(rec_id="", item_id=i, item_text=t, product_type=pt, similarity=0.9, rank=r)
                for r, (i, t, pt) in enumerate([c for c in ITEMS if c[2] == want][:k], start=1)
            ]
            for want in product_types
        ]


# P(yes) per product type, for the evaluator (fit) and the judge (relevance)
P_YES = {
    "Coffee Filters": 0.9,
    "Paper Cups": 0.7,
    "Charcoal": 0.35,
    "Alkaline Batteries": 0.1,
    "Lawn Mowers": 0.05,
    "Gadgets/Tools": 0.6,
}


def lean_script(schema: str, prompt: str) -> Any:
    if schema == "ThemeNames":
        return {"themes": LEAN_THEMES}
    if schema == "Picks":
        offered = re.findall(r"^- (.+)$", prompt, re.M)
        if "Office Break" in prompt:
            return {"picks": ["Alkaline Batteries", "Coffee Filters"]}
        if "Camping" in prompt:
            return {"picks": ["Charcoal", "Charcoal"]}  # a repeat within one answer
        return {
            "picks": [n for n in offered if n in ("Coffee Filters", "Paper Cups", "Gadgets/Tools")][:3]
            or ["Coffee Mug"]
        }
    if schema == "YesProbability":
        named = re.findall(r"Is (.+?) a product", prompt)
        return P_YES.get(named[0].strip(), 0.5) if named else 0.5
    raise AssertionError(schema)


def lean_deps(llm, history: History | None = None) -> ItemXPDeps:  # type: ignore[no-untyped-def]
    vocab = vocabulary()
    hist = history or History()
    return ItemXPDeps(
        llm=llm,
        matcher=ExactMatcher(),
        scorer=OverlapScorer(),
        names=vocab,
        shortlister=Shortlister(vocab, hist, embed=embed),
        history=hist,
    )

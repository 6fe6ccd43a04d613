"""Stand-ins for the storefront tests (tests only): a word-hashing embedder and a scripted storefront model
that answers each storefront prompt from the prompt text (the real LLM layer runs on top of it)."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tests.graphs.scripted import scripted_llm
from xpollinate.catalog.store import DataStore
from xpollinate.llm import LLM
from xpollinate.storefront.data import StorefrontData
from xpollinate.storefront.ordering import ItemOrder
from xpollinate.storefront.page import Storefront
from xpollinate.storefront.vocabulary import StorefrontVocabulary

IDEAS = [
    {"title": "Coffee Corner", "why": "you buy ground coffee often"},
    {"title": "Cookout Night", "why": "hot dog buns and charcoal"},
    {"title": "coffee corner", "why": "a repeat title"},
]


def word_embed(texts: Sequence[str]) -> np.ndarray:
    """A text's vector: its words hashed into 64 dimensions (shared words make texts close)."""
    out = np.zeros((len(texts), 64), np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"[a-z]+", text.lower()):
            out[row, zlib.crc32(word.encode()) % 64] += 1.0
    return out


def offered(prompt: str) -> list[str]:
    return re.findall(r"^- (.+)$", prompt, re.M)


def default_script(schema: str, prompt: str) -> Any:
    """Placements: the three IDEAS (one repeat); keywords: the shortlist names sharing a word with the title;
    judge: yes except for milk; re-ranker: the candidate ids reversed."""
    if schema == "PlacementIdeas":
        k = int(re.search(r"Propose (\d+)", prompt).group(1))  # type: ignore[union-attr]
        return {"placements": (IDEAS * 4)[:k]}
    if schema == "Keywords":
        title = re.search(r'The section is "(.+?)"', prompt).group(1).lower()  # type: ignore[union-attr]
        names = offered(prompt)
        if "coffee" in title:
            return {"keywords": [n for n in names if "Coffee" in n][:3] or names[:1]}
        return {"keywords": [n for n in names if n in ("Hot Dog Buns", "Charcoal")] or names[:1]}
    if schema == "YesProbabilities":
        items = re.findall(r"^\d+\. (.+)$", prompt, re.M)
        return [0.05 if "Milk" in t else 0.9 for t in items]
    if schema == "Ranking":
        ids = [int(i) for i in re.findall(r"^(\d+): ", prompt, re.M)]
        return {"ranking": ids[::-1]}
    raise AssertionError(schema)


def storefront(
    store: DataStore,
    script: Callable[[str, str], Any] = default_script,
    data: StorefrontData | None = None,
    cache: Any = None,
    page_cache: Any = None,
) -> tuple[Storefront, Any, LLM]:
    data = data or StorefrontData.from_store(store)
    llm, provider = scripted_llm(script, cache=cache)
    sf = Storefront(
        data,
        llm,
        page_cache,
        order=ItemOrder(data.items),
        vocabulary=lambda: StorefrontVocabulary.build(data, embed=lambda t: word_embed(t)),
    )
    return sf, provider, llm

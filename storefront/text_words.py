"""Words of short texts for the model-free checks (description quality, reasoning alignment)."""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    "a an the and or of for to in on with by from at as is are be it its this that these those their them they "
    "used use uses using such other all any various many most more often can into your you".split()
)
_WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    """Lower-case alphabetic words."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """Distinct words of `text` that carry meaning (3+ letters, not a stopword)."""
    return {w for w in words(text) if len(w) >= 3 and w not in STOPWORDS}

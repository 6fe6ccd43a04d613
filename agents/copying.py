"""Copy detection: a small model given a prompt full of examples often answers with the examples.

Each prompt version declares the items its examples recommend (`examples` in its `.toml`).
A recommendation whose identity (`normalize.key`: case, spacing and plural folded) equals
one of them is a copy. Copies are counted, not dropped: every run reports its copy rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from xpollinate.agents.normalize import key


@lru_cache(maxsize=64)
def _keys(examples: tuple[str, ...]) -> frozenset[str]:
    return frozenset(key(e) for e in examples)


def copies(texts: Iterable[str], examples: tuple[str, ...]) -> list[str]:
    """The texts that repeat one of the prompt's example items."""
    if not examples:
        return []
    known = _keys(examples)
    return [t for t in texts if key(t) in known]

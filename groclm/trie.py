"""A token trie over category names: the constraint of GroCLM's decoding (paper section 3.3).

At each step the LM may only emit a token that continues some valid category name, or the end-of-name token
once a whole name is spelled, so every output is a real category and no post-hoc matching is needed. Names
are token id sequences from any tokenizer with `encode(text) -> list[int]`, each closed by the end-of-name id
the caller passes (e.g. the separator the prompt uses between categories).

New categories are inserted in place (no rebuild, no retraining); `restrict` gives the trie of a household's
own past categories (the paper's production set-up), and `without` drops the names already generated, so
one answer never repeats a category. Pure Python: a node is a dict from token id to child node.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...


Node = dict[int, "Node"]


class CategoryTrie:
    """The valid category names as token sequences, each ending with `end`."""

    def __init__(self, end: int) -> None:
        self.end = end
        self.root: Node = {}
        self._tokens: dict[str, tuple[int, ...]] = {}
        self._names: dict[tuple[int, ...], str] = {}

    @classmethod
    def from_names(cls, names: Iterable[str], tokenizer: Tokenizer, end: int) -> CategoryTrie:
        trie = cls(end)
        for name in names:
            trie.insert(name, tokenizer)
        return trie

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, name: object) -> bool:
        return name in self._tokens

    @property
    def names(self) -> list[str]:
        return sorted(self._tokens)

    def tokens(self, name: str) -> tuple[int, ...]:
        """The name's token ids, end token included."""
        return self._tokens[name]

    def insert(self, name: str, tokenizer: Tokenizer) -> None:
        self.add(name, tokenizer.encode(name))

    def add(self, name: str, tokens: Sequence[int]) -> None:
        """Insert `name` spelled by `tokens` (without the end token); a name already present is left as is."""
        if name in self._tokens:
            return
        if not tokens or self.end in tokens:
            raise ValueError(f"category {name!r}: its tokens must be non-empty and hold no end-of-name id")
        seq = (*tokens, self.end)
        if seq in self._names:
            raise ValueError(f"categories {self._names[seq]!r} and {name!r} share their tokens {list(tokens)}")
        node = self.root
        for t in seq:
            node = node.setdefault(t, {})
        self._tokens[name] = seq
        self._names[seq] = name

    def remove(self, name: str) -> None:
        """Drop `name`, pruning the branches no other name uses."""
        seq = self._tokens.pop(name)
        del self._names[seq]
        path = [self.root]
        for t in seq[:-1]:
            path.append(path[-1][t])
        for node, t in zip(reversed(path), reversed(seq)):
            if node[t]:
                break
            del node[t]

    def allowed(self, prefix: Sequence[int]) -> set[int]:
        """Tokens that continue a valid name after `prefix` (the end token where `prefix` spells a whole name);
        empty when `prefix` leads nowhere."""
        node = self.root
        for t in prefix:
            if t not in node:
                return set()
            node = node[t]
        return set(node)

    def name_of(self, tokens: Sequence[int]) -> str | None:
        """The name spelled by `tokens` (with or without its end token), or None."""
        seq = tuple(tokens)
        return self._names.get(seq if seq and seq[-1] == self.end else (*seq, self.end))

    def finished(self, generated: Sequence[int]) -> list[str]:
        """The names completed so far in a generated token stream (names each closed by the end token)."""
        out, start = [], 0
        for i, t in enumerate(generated):
            if t == self.end:
                name = self.name_of(generated[start : i + 1])
                if name is not None:
                    out.append(name)
                start = i + 1
        return out

    def restrict(self, names: Iterable[str]) -> CategoryTrie:
        """A new trie holding only `names` (e.g. a household's past categories); each must be in this one."""
        sub = CategoryTrie(self.end)
        for name in names:
            if name not in self._tokens:
                raise KeyError(f"category {name!r} is not in the trie")
            sub.add(name, self._tokens[name][:-1])
        return sub

    def without(self, names: Iterable[str]) -> CategoryTrie:
        """A copy minus `names` (those absent are ignored)."""
        gone = set(names)
        return self.restrict(n for n in self._tokens if n not in gone)


def remaining(trie: CategoryTrie, generated: Sequence[int]) -> CategoryTrie:
    """The trie for the next name of an answer: `trie` minus the names `generated` already finished, so the
    answer holds no duplicates."""
    return trie.without(trie.finished(generated))

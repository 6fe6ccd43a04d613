from __future__ import annotations

import pytest

from xpollinate.groclm.trie import CategoryTrie, remaining

END = 0


class WordTokenizer:
    """A fake tokenizer: one id per distinct lower-case word, in order of first sight (0 is the end id)."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}

    def encode(self, text: str) -> list[int]:
        return [self.vocab.setdefault(w, len(self.vocab) + 1) for w in text.lower().split()]


@pytest.fixture
def trie() -> tuple[CategoryTrie, WordTokenizer]:
    tok = WordTokenizer()  # pork 1, rib 2, eye 3, steak 4, chop 5
    return CategoryTrie.from_names(["Pork Rib", "Pork Rib Eye Steak", "Pork Chop"], tok, END), tok


def test_allowed_tokens_continue_or_close_a_name(trie) -> None:
    t, _ = trie
    assert len(t) == 3 and t.names == ["Pork Chop", "Pork Rib", "Pork Rib Eye Steak"]
    assert t.allowed([]) == {1}
    assert t.allowed([1]) == {2, 5}
    assert t.allowed([1, 2]) == {3, END}  # "Pork Rib" may close or go on to "Pork Rib Eye Steak"
    assert t.allowed([1, 2, 3]) == {4}
    assert t.allowed([1, 2, 3, 4]) == {END}
    assert t.allowed([1, 2, 3, 4, END]) == set()
    assert t.allowed([9]) == set() and t.allowed([2]) == set()
    assert t.name_of([1, 5]) == "Pork Chop" and t.name_of([1, 5, END]) == "Pork Chop" and t.name_of([1]) is None


def test_finished_names_are_not_offered_again(trie) -> None:
    t, _ = trie
    generated = [1, 2, END, 1, 5, END, 1]  # "Pork Rib", "Pork Chop", then a name under way
    assert t.finished(generated) == ["Pork Rib", "Pork Chop"]
    rest = remaining(t, generated)
    assert rest.names == ["Pork Rib Eye Steak"]
    assert rest.allowed([1]) == {2} and rest.allowed([1, 2]) == {3}  # neither closing "Pork Rib" nor "Pork Chop"
    assert len(t) == 3  # the full trie is untouched


def test_insert_a_new_name_without_rebuilding(trie) -> None:
    t, tok = trie
    t.insert("Beef Rib", tok)  # beef 6
    assert t.allowed([]) == {1, 6} and t.allowed([6]) == {2} and t.allowed([6, 2]) == {END}
    t.insert("Beef Rib", tok)  # already there: no change
    assert len(t) == 4
    with pytest.raises(ValueError, match="share their tokens"):
        t.add("beef rib (again)", [6, 2])
    with pytest.raises(ValueError, match="non-empty"):
        t.add("empty", [])


def test_household_trie_holds_only_its_categories_and_remove_prunes(trie) -> None:
    t, _ = trie
    mine = t.restrict(["Pork Chop", "Pork Rib Eye Steak"])
    assert mine.allowed([1]) == {2, 5} and mine.allowed([1, 2]) == {3}
    with pytest.raises(KeyError, match="not in the trie"):
        t.restrict(["Lamb"])
    mine.remove("Pork Chop")
    assert mine.allowed([1]) == {2} and mine.root == {1: {2: {3: {4: {END: {}}}}}}
    mine.remove("Pork Rib Eye Steak")
    assert mine.root == {} and mine.allowed([]) == set()

"""Trie-constrained generation of a basket's category list (paper section 3.3).

The answer is one category per line: every name is spelled in lower case (`prompting.spell`) and closed by
the newline token, so a name's tokens do not depend on what came before it (after a newline a word starts
without its leading space, exactly as the name tokenizes alone). At each step only these tokens are allowed:

- a token that continues a category name not yet in the answer (names already finished are dropped from
  the trie, so the list holds no duplicates);
- the newline once a whole name is spelled;
- the end of the list (the model's end-of-turn token) at the start of a line, after at least one name
  (after at least `min_names` names when that is set: a tuned model that stops after a few names is made to
  go on); after `k` names, or when no name is left, the end of the list is the only choice.

Generation is transformers' `generate` with a `LogitsProcessor` that masks every other token to -inf (greedy,
or beam search with `beams` > 1: the paper's beam search, 1-3 beams to fit a CPU), batched with left padding.
`constrained=False` is the "without the trie" ablation: free text, parsed line by line (a leading bullet or
number is stripped) and counted as valid, invalid (not a category of the trie) or duplicate.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from xpollinate.groclm.prompting import spell
from xpollinate.groclm.trie import CategoryTrie

SEPARATOR = "\n"
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


def separator_id(tokenizer: Any) -> int:
    ids = tokenizer.encode(SEPARATOR, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"the tokenizer spells the separator {SEPARATOR!r} with {len(ids)} tokens, not one")
    return int(ids[0])


def name_ids(tokenizer: Any, name: str) -> list[int]:
    """The token ids of a category name as the decoder spells it (no special tokens)."""
    return [int(t) for t in tokenizer.encode(spell(name), add_special_tokens=False)]


def category_trie(tokenizer: Any, names: Sequence[str]) -> CategoryTrie:
    """The trie of `names` (keyed by their original spelling) closed by the separator token."""
    trie = CategoryTrie(separator_id(tokenizer))
    for name in names:
        trie.add(name, name_ids(tokenizer, name))
    return trie


class AllowedTokens:
    """The allowed-token function: the ids the trie permits after a generated token stream (see the module
    docstring). Caches the trie minus each set of finished names, so a step costs a trie walk."""

    def __init__(self, eos: int, k: int, min_names: int = 0) -> None:
        if not 0 <= min_names <= k:
            raise ValueError(f"min_names must be 0 to k ({k}), got {min_names}")
        self.eos, self.k, self.min_names = eos, k, min_names
        self._without: dict[tuple[int, frozenset[str]], CategoryTrie] = {}

    def __call__(self, trie: CategoryTrie, generated: Sequence[int]) -> list[int]:
        if self.eos in generated:
            return [self.eos]
        finished = trie.finished(generated)
        last = max((i for i, t in enumerate(generated) if t == trie.end), default=-1)
        prefix = generated[last + 1 :]
        if not prefix and len(finished) >= self.k:
            return [self.eos]
        key = (id(trie), frozenset(finished))
        rest = self._without.get(key)
        if rest is None:
            rest = self._without[key] = trie.without(finished) if finished else trie
        allowed = rest.allowed(prefix)
        if not prefix and finished and len(finished) >= self.min_names:
            allowed.add(self.eos)
        return sorted(allowed) if allowed else [self.eos]


def _processor(tries: Sequence[CategoryTrie], prompt_len: int, beams: int, allowed: AllowedTokens) -> Any:
    import torch
    from transformers import LogitsProcessor

    class TrieMask(LogitsProcessor):  # type: ignore[misc]
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            mask = torch.full_like(scores, float("-inf"))
            rows = input_ids[:, prompt_len:].tolist()
            for row, generated in enumerate(rows):
                mask[row, allowed(tries[row // beams], generated)] = 0.0
            return scores + mask  # type: ignore[return-value]

    return TrieMask()


@dataclass(frozen=True)
class Generated:
    """One answer: the distinct valid categories in the order generated, and what the raw answer held."""

    names: list[str]
    text: str
    lines: int  # names (constrained) or non-empty lines (free) produced
    invalid: int  # lines naming no category of the trie
    duplicates: int  # lines repeating an earlier category
    tokens: int  # generated tokens, the end of the list included


def parse_lines(text: str, trie: CategoryTrie) -> tuple[list[str], int, int, int]:
    """Free text to (distinct valid names, lines, invalid, duplicates), matching names case-insensitively."""
    by_spelling = {spell(n): n for n in trie.names}
    names: list[str] = []
    lines = invalid = duplicates = 0
    for raw in text.split("\n"):
        line = raw.strip().lower()
        if not line:
            continue
        lines += 1
        name = by_spelling.get(line) or by_spelling.get(_BULLET.sub("", line).rstrip(".,;").strip())
        if name is None:
            invalid += 1
        elif name in names:
            duplicates += 1
        else:
            names.append(name)
    return names, lines, invalid, duplicates


def max_new_tokens(trie: CategoryTrie, k: int) -> int:
    """Room for the k longest names of the trie, each with its newline, and the end of the list."""
    lengths = sorted((len(trie.tokens(n)) for n in trie.names), reverse=True)
    return sum(lengths[:k]) + 1


def generate_lists(
    backbone: Any,
    prompts: Sequence[str],
    tries: Sequence[CategoryTrie],
    k: int,
    beams: int = 1,
    constrained: bool = True,
    min_names: int = 0,
) -> tuple[list[Generated], float]:
    """One answer per prompt (a batch, left-padded), each decoded under its own trie (the list not closed
    before `min_names` names while names are left); and the batch's seconds. Free answers
    (`constrained=False`) get room for k lines of 8 tokens."""
    import torch
    from transformers import GenerationConfig, LogitsProcessorList

    if len(prompts) != len(tries) or not prompts:
        raise ValueError("one trie per prompt, and at least one prompt")
    if k < 1 or beams < 1:
        raise ValueError(f"k and beams must be at least 1, got k={k}, beams={beams}")
    tok, model = backbone.tokenizer, backbone.model
    eos = int(tok.eos_token_id)
    started = time.perf_counter()
    enc = tok(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    prompt_len = int(enc["input_ids"].shape[1])
    limit = max(max_new_tokens(t, k) for t in tries) if constrained else 8 * k + 8
    config = GenerationConfig(
        max_new_tokens=limit,
        num_beams=beams,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=int(tok.pad_token_id),
    )
    processors = LogitsProcessorList(
        [_processor(tries, prompt_len, beams, AllowedTokens(eos, k, min_names))] if constrained else []
    )
    with torch.inference_mode():
        out = model.generate(**enc, generation_config=config, logits_processor=processors)
    seconds = time.perf_counter() - started
    answers = []
    for trie, row in zip(tries, out[:, prompt_len:].tolist()):
        ids = row[: row.index(eos) + 1] if eos in row else row
        body = [t for t in ids if t != eos]
        text = tok.decode(body, skip_special_tokens=True)
        if constrained:
            found = trie.finished(body)
            names = list(dict.fromkeys(found))
            invalid = body.count(trie.end) - len(found)  # closed lines that name no category
            answers.append(Generated(names, text, len(found), invalid, len(found) - len(names), len(ids)))
        else:
            names, lines, invalid, duplicates = parse_lines(text, trie)
            answers.append(Generated(names, text, lines, invalid, duplicates, len(ids)))
    return answers, seconds

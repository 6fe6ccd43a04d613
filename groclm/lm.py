"""The language model as a GroCLM model: SmolLM2 prompted with a household's history (`prompting`), its
answer decoded under the category trie (`decode`). Untuned, it is the paper's AS1 row (the vanilla instruct
model); with the two LoRA stages merged in (`adapter.load_tuned`, `label` "groclm") it is GroCLM.

Every list holds k distinct categories: the generated names first, then, when the model ends its list early,
the trie's other categories by popularity (the restock variant pads with the household's other past
categories first), then every other category by popularity. Examples with fewer than `min_history` earlier
baskets get the popularity list, as the personal baselines do (fallbacks). Prompts are sorted by length and
generated in batches; a basket's seconds are its batch's wall time over the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xpollinate.groclm.baselines import Ranked
from xpollinate.groclm.decode import Generated, category_trie, generate_lists
from xpollinate.groclm.prompting import MAX_TOKENS, Cycles, Prompt, build_prompt
from xpollinate.groclm.tasks import Examples
from xpollinate.groclm.trie import CategoryTrie


@dataclass(frozen=True)
class Recommendation:
    categories: list[int]  # category indices, k of them (fewer for a restock list of a small history)
    generated: Generated | None  # None: the popularity fallback
    prompt: Prompt | None
    padded: int  # slots filled by popularity


@dataclass
class LMRanker:
    """SmolLM2 + trie as a model of the evaluation (`rank`) and of `xp groclm recommend` (`recommend`)."""

    backbone: Any
    names: tuple[str, ...]
    popularity: np.ndarray
    constrained: bool = True
    restock: bool = False
    beams: int = 1
    batch_size: int = 8
    min_history: int = 1
    max_prompt_tokens: int = MAX_TOKENS
    label: str = "lm"  # "lm": the untuned backbone; "groclm": the fine-tuned one
    min_names: int = 0  # the list is not closed before this many names (0: the model decides)
    cycles: Cycles | None = None  # rebuying cycles stated in the prompt (an adapter trained with them)
    trie: CategoryTrie = field(init=False)

    def __post_init__(self) -> None:
        self.trie = category_trie(self.backbone.tokenizer, self.names)
        self._by_popularity = np.lexsort((np.arange(len(self.names)), -self.popularity))
        self._index = {n: i for i, n in enumerate(self.names)}

    @property
    def name(self) -> str:
        """lm_trie, lm_trie_restock, lm_no_trie (untuned); groclm, groclm_restock, groclm_no_trie (tuned); a
        beam search adds _beamN."""
        if self.label == "lm":
            base = "lm_no_trie" if not self.constrained else ("lm_trie_restock" if self.restock else "lm_trie")
        else:
            base = self.label + ("_no_trie" if not self.constrained else ("_restock" if self.restock else ""))
        return (
            base
            + (f"_min{self.min_names}" if self.min_names else "")
            + (f"_beam{self.beams}" if self.beams > 1 else "")
        )

    def household_trie(self, counts: np.ndarray) -> CategoryTrie:
        """The full trie, or (restock) the household's past categories only."""
        return self.trie.restrict(self.names[c] for c in np.flatnonzero(counts > 0)) if self.restock else self.trie

    def _fill(self, names: list[str], counts: np.ndarray, k: int, beyond: bool) -> tuple[list[int], int]:
        chosen = [self._index[n] for n in names][:k]
        taken = set(chosen)
        first = [c for c in self._by_popularity if (counts[c] > 0 or not self.restock) and c not in taken]
        pad = first[: k - len(chosen)]
        if beyond and len(chosen) + len(pad) < k:
            taken |= set(pad)
            pad += [c for c in self._by_popularity if c not in taken][: k - len(chosen) - len(pad)]
        return chosen + [int(c) for c in pad], len(pad)

    def recommend_many(
        self, states: list[tuple[np.ndarray, np.ndarray, int, np.ndarray | None]], k: int, beyond: bool = True
    ) -> tuple[list[Recommendation], list[float]]:
        """Per (counts, since, earlier baskets, given categories) its list, and per example its seconds."""
        tok = self.backbone.tokenizer
        recs: list[Recommendation | None] = [None] * len(states)
        seconds = [0.0] * len(states)
        todo = []
        for i, (counts, since, n_baskets, given) in enumerate(states):
            if n_baskets < max(self.min_history, 1):
                cats, padded = self._fill([], np.zeros_like(counts), k, True)
                recs[i] = Recommendation(cats, None, None, padded)
                continue
            prompt = build_prompt(tok, self.names, counts, since, n_baskets, given, self.max_prompt_tokens, self.cycles)
            todo.append((i, prompt, self.household_trie(counts)))
        todo.sort(key=lambda t: t[1].n_tokens)
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            answers, secs = generate_lists(
                self.backbone,
                [p.text for _, p, _ in batch],
                [t for _, _, t in batch],
                k,
                self.beams,
                self.constrained,
                min(self.min_names, k),
            )
            for (i, prompt, _), answer in zip(batch, answers):
                cats, padded = self._fill(answer.names, states[i][0], k, beyond)
                recs[i] = Recommendation(cats, answer, prompt, padded)
                seconds[i] = secs / len(batch)
        return [r for r in recs if r is not None], seconds

    def rank(self, ex: Examples, k: int) -> Ranked:
        states = [
            (ex.counts[i], ex.since[i], int(ex.n_history[i]), ex.given[i] if ex.given is not None else None)
            for i in range(len(ex))
        ]
        recs, seconds = self.recommend_many(states, k)
        generated = [r.generated for r in recs if r.generated is not None]
        lines = sum(g.lines for g in generated)
        timed = [s for r, s in zip(recs, seconds) if r.generated is not None]
        info = {
            "generated": len(generated),
            "stopped_early": sum(1 for r in recs if r.generated is not None and len(r.generated.names) < k),
            "padded_slots": sum(r.padded for r in recs if r.generated is not None),
            "lines": lines,
            "invalid": sum(g.invalid for g in generated),
            "duplicates": sum(g.duplicates for g in generated),
            "invalid_rate": sum(g.invalid for g in generated) / lines if lines else 0.0,
            "duplicate_rate": sum(g.duplicates for g in generated) / lines if lines else 0.0,
            "prompt_tokens_mean": float(np.mean([r.prompt.n_tokens for r in recs if r.prompt])) if generated else 0.0,
            "history_cut": sum(1 for r in recs if r.prompt and r.prompt.shown < r.prompt.bought),
            "history_shown_mean": float(np.mean([r.prompt.shown for r in recs if r.prompt])) if generated else 0.0,
            "history_bought_mean": float(np.mean([r.prompt.bought for r in recs if r.prompt])) if generated else 0.0,
            "names_mean": float(np.mean([len(g.names) for g in generated])) if generated else 0.0,
            "new_names_share": _new_share(recs, states),
            "seconds_p50": float(np.median(timed)) if timed else 0.0,
            "seconds_total": float(sum(seconds)),
            "baskets_per_second": len(timed) / sum(timed) if timed and sum(timed) > 0 else 0.0,
            "batch_size": self.batch_size,
            "beams": self.beams,
        }
        cats = np.array([r.categories for r in recs], np.int64).reshape(len(recs), k)
        return Ranked(cats, len(recs) - len(generated), info)


def _new_share(recs: list[Recommendation], states: list[tuple[np.ndarray, np.ndarray, int, Any]]) -> float:
    """Of the generated names, the share the household never bought (the rest repeat its history)."""
    new = total = 0
    for rec, (counts, _since, _n, _given) in zip(recs, states):
        if rec.generated is None:
            continue
        k = len(rec.generated.names)
        total += k
        new += sum(1 for c in rec.categories[:k] if counts[c] == 0)
    return new / total if total else 0.0


def latency(ranker: LMRanker, states: list[tuple[np.ndarray, np.ndarray, int, Any]], k: int) -> list[float]:
    """Seconds per household decoded alone (batch of 1): the per-request latency a service sees."""
    alone = LMRanker(
        ranker.backbone,
        ranker.names,
        ranker.popularity,
        constrained=ranker.constrained,
        restock=ranker.restock,
        beams=ranker.beams,
        batch_size=1,
        min_history=ranker.min_history,
        max_prompt_tokens=ranker.max_prompt_tokens,
        label=ranker.label,
        min_names=ranker.min_names,
        cycles=ranker.cycles,
    )
    out = []
    for state in states:
        _, seconds = alone.recommend_many([state], k)
        out.append(seconds[0])
    return out

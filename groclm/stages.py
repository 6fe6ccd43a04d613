"""The training examples of GroCLM's two LoRA stages, as token ids with the loss on the answer only.

- **Stage 1** (paper section 3.1): one example per category with a rebuying cycle: "Predict the mean and
  standard deviation of the rebuying cycle in days for the following product category" -> "mean 7.3 days,
  sd 1.0 days" (a category with a single gap per household has no sd: "sd unknown").
- **Stage 2** (section 3.2): a household's history before a training-week basket, as the evaluation's prompt
  (`prompting.build_prompt`), -> that basket's categories. The answer is spelled exactly as the trie decoder
  spells it (each name's own tokens, then the newline token, then the end of turn), so what the model learns
  is what constrained decoding can produce. Targets are in a fixed order: the order the prompt lists the
  history (most baskets first, then most recent), then new categories by training-week popularity; at most
  `max_targets` of them.

Baskets for Stage 2 come from the training weeks only (from `from_week` on, so the history is not a week or
two long while the test histories are months long), sampled with the seed; each needs an earlier basket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xpollinate.errors import XPError
from xpollinate.groclm.baskets import CategoryBaskets
from xpollinate.groclm.decode import name_ids, separator_id
from xpollinate.groclm.prompting import SYSTEM, Cycles, build_prompt, history_order, spell
from xpollinate.groclm.rebuy import household_state

STAGE1_TASK = (
    "Task: Predict the mean and standard deviation of the rebuying cycle in days for the following product category."
)


@dataclass(frozen=True)
class Example:
    """Prompt and answer token ids; the loss is taken on the answer."""

    prompt: list[int]
    answer: list[int]

    def __len__(self) -> int:
        return len(self.prompt) + len(self.answer)


def _chat(tokenizer: Any, user: str) -> str:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def _ids(tokenizer: Any, text: str) -> list[int]:
    return [int(t) for t in tokenizer.encode(text, add_special_tokens=False)]


def stage1_prompt(tokenizer: Any, name: str) -> str:
    return _chat(tokenizer, f"{STAGE1_TASK}\nProduct category: {spell(name)}")


def stage1_answer(mean_days: float, sd_days: float) -> str:
    sd = "unknown" if sd_days != sd_days else f"{sd_days:.1f} days"
    return f"mean {mean_days:.1f} days, sd {sd}"


def stage1_examples(tokenizer: Any, stats: pd.DataFrame) -> list[Example]:
    """One example per row of `rebuy.cycle_stats` (name, mean_days, sd_days)."""
    eos = int(tokenizer.eos_token_id)
    return [
        Example(
            _ids(tokenizer, stage1_prompt(tokenizer, r.name)),
            [*_ids(tokenizer, stage1_answer(r.mean_days, r.sd_days)), eos],
        )
        for r in stats.itertuples(index=False)
    ]


def answer_ids(tokenizer: Any, names: Sequence[str]) -> list[int]:
    """The answer as the constrained decoder produces it: each name's tokens and the separator, then the end."""
    sep, out = separator_id(tokenizer), []
    for name in names:
        out += [*name_ids(tokenizer, name), sep]
    return [*out, int(tokenizer.eos_token_id)]


def target_order(target: np.ndarray, counts: np.ndarray, since: np.ndarray, popularity: np.ndarray) -> list[int]:
    """The basket's categories in the fixed answer order: as the history lists them, then by popularity."""
    inside = set(int(c) for c in target)
    known = [int(c) for c in history_order(counts, since) if int(c) in inside]
    new = sorted(inside - set(known), key=lambda c: (-popularity[c], c))
    return known + new


@dataclass(frozen=True)
class Stage2Data:
    examples: list[Example]
    rows: np.ndarray  # the baskets used (rows of the CategoryBaskets)
    candidates: int  # training baskets eligible
    targets_cut: int  # answers cut to max_targets
    history_cut: int  # prompts whose history was cut to fit
    shown_mean: float = 0.0  # history categories shown per prompt, on average


def cycle_lookup(stats: pd.DataFrame) -> Cycles:
    """`rebuy.cycle_stats` as the prompt's in-context cycles: category index -> (mean, sd) days."""
    return {int(r.category): (float(r.mean_days), float(r.sd_days)) for r in stats.itertuples(index=False)}


def stage2_examples(
    tokenizer: Any,
    cb: CategoryBaskets,
    popularity: np.ndarray,
    train_until: int,
    n: int,
    seed: int = 0,
    from_week: int = 21,
    max_prompt_tokens: int = 256,
    max_targets: int = 20,
    cycles: Cycles | None = None,
) -> Stage2Data:
    """`n` training-week baskets (weeks `from_week`-`train_until`, with an earlier basket) as examples."""
    if not 1 <= from_week <= train_until:
        raise XPError(f"--from-week {from_week}: choose a week from 1 to the last training week {train_until}")
    spans = cb.households()
    first_row = np.array([spans[int(h)][0] for h in cb.household], np.int64) if len(cb.household) else np.zeros(0)
    eligible = np.flatnonzero((cb.week >= from_week) & (cb.week <= train_until) & (np.arange(len(cb.week)) > first_row))
    if len(eligible) == 0:
        raise XPError(f"no training basket with an earlier one in weeks {from_week}-{train_until}")
    rng = np.random.default_rng([seed, 7])
    rows = rng.choice(eligible, size=min(n, len(eligible)), replace=False)
    examples, targets_cut, history_cut, shown = [], 0, 0, 0
    for r in rows:
        start, _ = spans[int(cb.household[r])]
        stop = start + int(np.searchsorted(cb.seconds[start : int(r) + 1], cb.seconds[r], side="left"))
        counts, since = household_state(cb, start, stop, int(cb.day[r]))
        prompt = build_prompt(tokenizer, cb.names, counts, since, stop - start, None, max_prompt_tokens, cycles)
        shown += prompt.shown
        order = target_order(cb.categories(int(r)), counts, since, popularity)
        targets_cut += len(order) > max_targets
        history_cut += prompt.shown < prompt.bought
        names = [cb.names[c] for c in order[:max_targets]]
        examples.append(Example(_ids(tokenizer, prompt.text), answer_ids(tokenizer, names)))
    return Stage2Data(
        examples, np.asarray(rows, np.int64), len(eligible), targets_cut, history_cut, round(shown / len(rows), 2)
    )

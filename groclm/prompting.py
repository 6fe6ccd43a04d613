"""GroCLM's Stage-2 prompt (paper section 3.2) for one household, built with the tokenizer's chat template.

The paper's condition is the user's previous conversions and its context the current search session. Complete
Journey has no searches, so the condition is the household's history compacted per category (baskets holding
it and days since its last purchase, most bought first, ties to the most recent) and the context, in the
in-basket task only, the categories of the basket's given half. Category names are written in lower case, as
the decoder spells them (`decode.py`), one per line. The history is cut to fit `max_tokens` (default 384)
for the whole prompt, chat markup included; the cut is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SYSTEM = "You are a grocery shopping assistant who predicts which product categories a household will buy."
TASK = (
    "Task: Given the household's previous purchases and its current basket, predict the product categories "
    "of its next basket."
)
OUTPUT = "List the product categories of the next basket, one per line, most likely first."
MAX_TOKENS = 384


def spell(name: str) -> str:
    """How the prompt and the decoder write a category name."""
    return name.lower()


@dataclass(frozen=True)
class Prompt:
    text: str  # the chat-formatted prompt, ending with the assistant's turn
    n_tokens: int
    shown: int  # history categories shown
    bought: int  # history categories the household bought


def history_order(counts: np.ndarray, since: np.ndarray) -> np.ndarray:
    """Bought categories, most baskets first, then most recent, then index."""
    bought = np.flatnonzero(counts > 0)
    return bought[np.lexsort((bought, since[bought], -counts[bought]))]


Cycles = dict[int, tuple[float, float]]  # category index -> (mean, sd) days of its rebuying cycle (sd NaN: unknown)


def _line(name: str, count: float, since: float, cycle: tuple[float, float] | None | bool = False) -> str:
    """One history line; with `cycle` (not False) the category's rebuying cycle follows (None: no cycle)."""
    days = "today" if since == 0 else ("1 day ago" if since == 1 else f"{int(since)} days ago")
    line = f"- {spell(name)}: {int(count)} basket{'s' if count != 1 else ''}, {days}"
    if cycle is False:
        return line
    if cycle is None or isinstance(cycle, bool):
        return line + ", cycle unknown"
    mean, sd = cycle
    return line + (f", every {mean:.0f} days" + (f" ± {sd:.0f}" if sd == sd else ""))


def build_prompt(
    tokenizer: Any,
    names: Sequence[str],
    counts: np.ndarray,
    since: np.ndarray,
    n_baskets: int,
    given: Sequence[int] | np.ndarray | None = None,
    max_tokens: int = MAX_TOKENS,
    cycles: Cycles | None = None,
) -> Prompt:
    """The prompt for one example: `counts`/`since` per category of `names` (the household's history),
    `given` the category indices already in the basket (in-basket task), `cycles` the rebuying cycles to
    state beside each shown category (the in-context alternative to Stage 1; fewer categories fit)."""
    order = history_order(counts, since)
    lines = [_line(names[c], counts[c], since[c], False if cycles is None else cycles.get(int(c))) for c in order]
    context = (
        "Current basket: " + ", ".join(spell(names[c]) for c in given) + "\n"
        if given is not None and len(given)
        else ""
    )

    def render(shown: list[str]) -> str:
        if shown:
            cyc = ", rebuying cycle" if cycles is not None else ""
            head = f"Previous purchases ({n_baskets} baskets; category: baskets holding it, last bought{cyc}):\n"
            history = head + "\n".join(shown) + ("\n- ..." if len(shown) < len(lines) else "") + "\n"
        else:
            history = "Previous purchases: none\n"
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{TASK}\n{history}{context}{OUTPUT}"},
        ]
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    def length(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    base = length(render([]))
    sizes = [len(ids) + 1 for ids in tokenizer(lines, add_special_tokens=False)["input_ids"]] if lines else []
    budget, shown = max_tokens - base - 24, 0  # 24: the history's heading and the "..." line
    for size in sizes:
        if size > budget:
            break
        budget -= size
        shown += 1
    text = render(lines[:shown])
    return Prompt(text, length(text), shown, len(lines))
